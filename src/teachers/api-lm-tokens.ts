import type { Tokenizer } from "../tokenizers/tokenizer.js";

/*
 * The token strings an OpenAI-compatible /v1/completions server returns (echoed prompt tokens, top_logprobs keys)
 * mapped back to ids of a tokenizer the caller declared to be the server's:
 *   "token_id:N"        → N (vLLM with return_tokens_as_token_ids);
 *   "bytes:\xe2\x80"    → the byte's id, for byte-level tokenizers (one byte per token);
 *   any other string    → the id whose decoded text it is, when exactly one id decodes to it (special tokens by
 *                         their content, for Hugging Face tokenizers);
 * otherwise null: the string is not mappable (a partial UTF-8 token of a BPE vocabulary, or a string two ids
 * share). Callers put unmappable probability into the tail mass rather than guessing.
 */
export class ServerTokenMap {
  #table: Map<string, number> | null = null;

  constructor(readonly tokenizer: Tokenizer) {}

  idOf(token: string): number | null {
    const id = /^token_id:(\d+)$/.exec(token);
    if (id) {
      const n = Number(id[1]);
      return n < this.tokenizer.vocabSize ? n : null;
    }
    const bytes = /^bytes:((?:\\x[0-9a-fA-F]{2})+)$/.exec(token);
    if (bytes) {
      const values = bytes[1].split("\\x").slice(1).map((h) => parseInt(h, 16));
      return this.tokenizer.kind === "byte" && values.length === 1 ? values[0] : null;
    }
    const hit = this.table().get(token);
    return hit === undefined || hit < 0 ? null : hit;
  }

  /** decoded text → id (−1 where several ids decode to the same text), built on first use. */
  private table(): Map<string, number> {
    if (this.#table) return this.#table;
    const t = new Map<string, number>();
    for (let id = 0; id < this.tokenizer.vocabSize; id++) {
      const text = this.tokenizer.decode([id]);
      if (text === "" || text.includes("\uFFFD")) continue;
      t.set(text, t.has(text) ? -1 : id);
    }
    const added = (this.tokenizer.toFiles().tokenizer as { added_tokens?: { id?: unknown; content?: unknown }[] }).added_tokens;
    for (const a of Array.isArray(added) ? added : []) if (typeof a.content === "string" && Number.isInteger(a.id)) t.set(a.content, a.id as number);
    this.#table = t;
    return t;
  }
}
