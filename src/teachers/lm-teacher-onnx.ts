import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { OnnxTokenRunner } from "../export/onnx-transformer-check.js";
import { onnxInputKind } from "../export/onnx.js";
import { checkSampling, sampleToken } from "../generate/sample.js";
import { tokenizerFingerprint } from "../tokenizers/compare.js";
import { loadTokenizer, TOKENIZER_FILE } from "../tokenizers/io.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { Rng } from "../util/rng.js";
import { hashFiles } from "../util/hashing.js";
import type { LmTopKRows } from "./lm-topk-cache.js";
import {
  checkGenerateOptions,
  checkWindows,
  generationSeed,
  logprobsOfTargets,
  promptIds,
  rowTargets,
  sequenceLogprobsByWindows,
  topKOfLogits,
  type CausalLmTeacher,
  type LmGenerateOptions,
  type LmTeacherCapabilities,
  type LmTeacherGeneration,
  type TokenWindows,
} from "./lm-teacher.js";

/*
 * An ONNX causal LM as a teacher, through onnxruntime-node's CPU provider, under the names of a Hugging Face Optimum
 * export: inputs input_ids and attention_mask int64 [batch, sequence] (attention_mask = ids ≠ padId), optional
 * position_ids (0…sequence−1); output logits [batch, sequence, vocab]. Exports with past key values are refused
 * (every call runs the whole window; generation re-runs the window at each step). tsdistill's own exports
 * (saveOnnx of a transformer) carry their config in the metadata, which gives the context and pad id.
 */

const MODEL_FILES = ["model.onnx", "decoder_model.onnx"];
const ALLOWED_INPUTS = ["input_ids", "attention_mask", "position_ids"];

export interface OnnxLmTeacherOptions {
  /** The teacher's tokenizer; default tokenizer.json beside the model. */
  tokenizer?: Tokenizer;
  /** Longest window per pass; default the export's tsdistill config, else config.json (n_positions, max_position_embeddings, n_ctx), else none. */
  ctx?: number | null;
  /** attention_mask is 0 where ids equal it; default the export's tsdistill config, else config.json pad_token_id, else the tokenizer's pad when it is not EOS. */
  padId?: number | null;
  threads?: number;
  /** Windows per session run (default 16). */
  batchSize?: number;
}

/** Hugging Face config.json fields beside the model, when present. */
function hfConfig(dir: string): { ctx: number | null; padId: number | null } {
  const path = join(dir, "config.json");
  if (!existsSync(path)) return { ctx: null, padId: null };
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readDataFile(path, "a Hugging Face config.json").toString("utf8")) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TsdistillError) throw err;
    throw new DataError(path, `is not valid JSON (${(err as Error).message})`);
  }
  const int = (v: unknown) => (Number.isInteger(v) ? (v as number) : null);
  return { ctx: int(json.n_positions) ?? int(json.max_position_embeddings) ?? int(json.n_ctx), padId: int(json.pad_token_id) };
}

/** The tsdistill config recorded in a transformer export's metadata, or null for other ONNX files. */
function tsdistillConfig(bytes: Uint8Array): { ctx: number; padId: number | null } | null {
  const raw = onnxInputKind(bytes).metadata["tsdistill.config"];
  if (!raw) return null;
  try {
    const c = JSON.parse(raw) as { ctx?: unknown; padId?: unknown };
    if (Number.isInteger(c.ctx)) return { ctx: c.ctx as number, padId: Number.isInteger(c.padId) ? (c.padId as number) : null };
  } catch {
    // not ours after all
  }
  return null;
}

export class OnnxLmTeacher implements CausalLmTeacher {
  readonly kind = "onnx" as const;
  readonly capabilities: LmTeacherCapabilities;

  constructor(
    private readonly runner: OnnxTokenRunner,
    readonly tokenizer: Tokenizer,
    readonly name: string,
    readonly hash: string,
    readonly vocab: number,
    readonly ctx: number | null,
    readonly padId: number | null,
    private readonly batchSize: number,
  ) {
    this.capabilities = { logits: true, maxTopK: vocab, tokenLogprobs: true };
  }

  /** Runs windows [B, T] (any B) in chunks of batchSize; returns [B·T·V]. */
  async logits(w: TokenWindows): Promise<Float32Array> {
    checkWindows(this, w, false);
    const { batch: B, length: T } = w;
    const V = this.vocab;
    const out = new Float32Array(B * T * V);
    for (let b0 = 0; b0 < B; b0 += this.batchSize) {
      const n = Math.min(this.batchSize, B - b0);
      const ids = w.ids.subarray(b0 * T, (b0 + n) * T);
      const mask = Int32Array.from(ids, (id) => (id === this.padId ? 0 : 1));
      let got: { data: Float32Array; dims: readonly number[] };
      try {
        got = await this.runner.run(ids, mask, n, T);
      } catch (err) {
        throw new TsdistillError(`LM teacher ${this.name}: onnxruntime failed on ${n} windows of ${T} tokens (${(err as Error).message.split("\n")[0]})`);
      }
      if (got.dims.join() !== [n, T, V].join()) throw new TsdistillError(`LM teacher ${this.name}: output ${this.runner.outputName} has dims [${got.dims}], expected [${n}, ${T}, ${V}] (logits [batch, sequence, vocab])`);
      out.set(got.data, b0 * T * V);
    }
    return out;
  }

  async topK(w: TokenWindows, k: number): Promise<LmTopKRows> {
    return topKOfLogits(await this.logits(w), w.batch * w.length, this.vocab, k);
  }

  async targetLogprobs(w: TokenWindows): Promise<Float32Array> {
    checkWindows(this, w, true);
    return logprobsOfTargets(await this.logits(w), this.vocab, rowTargets(w));
  }

  sequenceLogprobs(ids: readonly number[]): Promise<number[]> {
    return sequenceLogprobsByWindows(this.ctx, (w) => this.targetLogprobs(w), ids);
  }

  /**
   * The n continuations of a prompt are sampled together (one session run per step over the last ≤ ctx tokens),
   * each from its own seeded stream, with the sampling rules of generate/sample.ts.
   */
  async generate(prompts: readonly string[], opts: LmGenerateOptions): Promise<LmTeacherGeneration[][]> {
    const { n, seed, promptIndexBase: base } = checkGenerateOptions(opts, this.name);
    checkSampling(opts, `LM teacher ${this.name}`);
    const eos = this.tokenizer.special.eos;
    const V = this.vocab;
    const out: LmTeacherGeneration[][] = [];
    for (const [p, prompt] of prompts.entries()) {
      const start = promptIds(this.tokenizer, prompt, this.name, opts.documentStart);
      const rngs = Array.from({ length: n }, (_, s) => new Rng(generationSeed(seed, base + p, s), "generate"));
      const seqs = Array.from({ length: n }, () => [...start]);
      const gen: number[][] = Array.from({ length: n }, () => []);
      const done = new Array<boolean>(n).fill(false);
      for (let step = 0; step < opts.maxTokens && done.includes(false); step++) {
        const T = Math.min(seqs[0].length, this.ctx ?? Infinity);
        const ids = Int32Array.from(seqs.flatMap((s) => s.slice(-T)));
        const logits = await this.logits({ ids, batch: n, length: T });
        for (let s = 0; s < n; s++) {
          const row = logits.subarray((s * T + T - 1) * V, (s * T + T) * V);
          const id = done[s] ? (eos ?? 0) : sampleToken(row, opts, rngs[s]);
          seqs[s].push(id);
          if (done[s]) continue;
          gen[s].push(id);
          if (id === eos) done[s] = true;
        }
      }
      out.push(gen.map((ids, s) => ({ text: this.tokenizer.decode(ids), ids, finish: done[s] ? ("stop" as const) : ("length" as const) })));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.runner.release();
  }
}

/**
 * Opens an ONNX causal LM: `path` is a .onnx file or a folder holding model.onnx (or decoder_model.onnx), with
 * tokenizer.json (and optionally config.json) beside it. The vocabulary is read from one probe run.
 */
export async function openOnnxLmTeacher(path: string, opts: OnnxLmTeacherOptions = {}): Promise<OnnxLmTeacher> {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    const found = MODEL_FILES.map((f) => join(path, f)).find((f) => existsSync(f));
    if (!found) throw new DataError(path, `holds none of ${MODEL_FILES.join(", ")}; expected an ONNX causal LM export`);
    file = found;
  }
  const dir = dirname(file);
  const bytes = new Uint8Array(readDataFile(file, "an ONNX causal LM"));
  const tokenizerPath = join(dir, TOKENIZER_FILE);
  if (!opts.tokenizer && !existsSync(tokenizerPath)) throw new DataError(dir, `has no ${TOKENIZER_FILE} beside ${file}; put the teacher's tokenizer there or pass one`);
  const tokenizer = opts.tokenizer ?? loadTokenizer(tokenizerPath);
  const ours = tsdistillConfig(bytes);
  const hf = hfConfig(dir);
  const ctx = opts.ctx !== undefined ? opts.ctx : (ours?.ctx ?? hf.ctx);
  if (ctx !== null && !(Number.isInteger(ctx) && ctx >= 1)) throw new TsdistillError(`LM teacher onnx:${file}: ctx ${ctx}: expected a positive integer`);
  const tokenizerPad = tokenizer.special.pad !== tokenizer.special.eos ? tokenizer.special.pad : null;
  const padId = opts.padId !== undefined ? opts.padId : ours ? ours.padId : (hf.padId ?? tokenizerPad);
  const batchSize = opts.batchSize ?? 16;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new TsdistillError(`LM teacher onnx:${file}: batchSize ${batchSize}: expected a positive integer`);
  let runner: OnnxTokenRunner;
  try {
    runner = await OnnxTokenRunner.create(bytes, { threads: opts.threads ?? 1 });
  } catch (err) {
    if (err instanceof TsdistillError) throw new DataError(file, `${err.message.replace(/^ONNX model: /, "")}`);
    throw new DataError(file, `could not be loaded by onnxruntime (${(err as Error).message.split("\n")[0]})`);
  }
  const extra = runner.inputNames.filter((n) => !ALLOWED_INPUTS.includes(n));
  if (extra.length > 0) {
    await runner.release();
    const pkv = extra.some((n) => n.startsWith("past_key_values") || n === "use_cache_branch");
    throw new DataError(file, `has inputs ${extra.join(", ")}; expected only ${ALLOWED_INPUTS.join(", ")}${pkv ? " (an export without past key values: optimum-cli export onnx --task text-generation, not text-generation-with-past)" : ""}`);
  }
  const probeId = tokenizer.special.eos ?? tokenizer.special.bos ?? 0;
  let vocab: number;
  try {
    const probe = await runner.run([probeId], [1], 1, 1);
    if (probe.dims.length !== 3 || probe.dims[0] !== 1 || probe.dims[1] !== 1) throw new DataError(file, `output ${runner.outputName} has dims [${probe.dims}] for one token; expected logits [batch, sequence, vocab]`);
    vocab = probe.dims[2];
  } catch (err) {
    await runner.release();
    if (err instanceof TsdistillError) throw err;
    throw new DataError(file, `could not run one token (${(err as Error).message.split("\n")[0]})`);
  }
  if (tokenizer.vocabSize > vocab) {
    await runner.release();
    throw new DataError(file, `gives ${vocab} logits per token, but its ${tokenizer.kind} tokenizer has ${tokenizer.vocabSize} ids`);
  }
  const hash = opts.tokenizer ? createHash("sha256").update(`${hashFiles([file])}\n${tokenizerFingerprint(opts.tokenizer)}\n`).digest("hex") : hashFiles([file, tokenizerPath]);
  return new OnnxLmTeacher(runner, tokenizer, `onnx:${file}`, hash, vocab, ctx, padId, batchSize);
}
