// A LOCAL stand-in for an OpenAI-compatible /v1/completions server (not a test file itself): node:http on
// 127.0.0.1 (port 0), answering from a real tsdistill byte-level LM in this process, so every log-prob it returns is
// the model's. It speaks the legacy completions protocol as vLLM does — prompt as text or token ids, echo, logprobs
// (top_logprobs dicts that also hold the echoed token), text_offset, n, seed, return_tokens_as_token_ids — and
// injects faults (status codes with headers, connection resets, slow answers) on chosen attempts of chosen prompts.
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as tf from "@tensorflow/tfjs-core";
import { generate } from "../src/generate/generate.js";
import type { TransformerModel } from "../src/students/transformer.js";
import { bytes, EOS } from "./lm-fixtures.js";

export type Fault = { kind: "status"; status: number; message?: string; headers?: Record<string, string> } | { kind: "reset" } | { kind: "sleep"; ms: number };

export interface StandInOptions {
  /** A fault for this attempt (0-based) of this prompt (its JSON), or null for a normal answer. */
  fault?: (prompt: string, attempt: number) => Fault | null;
}

export interface Logged {
  body: Record<string, unknown>;
  attempt: number;
  auth: string | undefined;
}

/** How the server spells token id `id`: vLLM-style, or "token_id:N" when asked. */
function tokenString(id: number, asIds: boolean): string {
  if (asIds) return `token_id:${id}`;
  if (id < 128) return String.fromCharCode(id);
  if (id < 256) return `bytes:\\x${id.toString(16).padStart(2, "0")}`;
  return ["<|pad|>", "<|bos|>", "<|eos|>", "<|unk|>"][id - 256];
}

function logSoftmaxRows(model: TransformerModel, ids: number[]): number[][] {
  return tf.tidy(() => tf.logSoftmax(model.forward(tf.tensor2d([ids])).logits).arraySync() as number[][]);
}

function answer(model: TransformerModel, body: Record<string, unknown>): { status: number; payload: unknown } {
  const asIds = body.return_tokens_as_token_ids === true;
  // A text prompt is tokenised by the server, which starts it with the document separator (as HF tokenizers add BOS).
  const ids: number[] = Array.isArray(body.prompt) ? (body.prompt as number[]) : [EOS, ...bytes.encode(String(body.prompt))];
  if (ids.some((id) => !(Number.isInteger(id) && id >= 0 && id < model.config.vocab))) return { status: 400, payload: { error: { message: "token id out of range" } } };
  const ctx = model.config.ctx;
  const maxTokens = Number(body.max_tokens ?? 16);
  const n = Number(body.n ?? 1);
  const usage = { prompt_tokens: ids.length, completion_tokens: 0 };
  if (body.echo === true) {
    if (ids.length > ctx) return { status: 400, payload: { error: { message: `This model's maximum context length is ${ctx} tokens` } } };
    const k = Number(body.logprobs ?? 0);
    const rows = logSoftmaxRows(model, ids);
    const tokens: string[] = [];
    const tokenLogprobs: (number | null)[] = [];
    const top: (Record<string, number> | null)[] = [];
    const offsets: number[] = [];
    let offset = 0;
    ids.forEach((id, i) => {
      tokens.push(tokenString(id, asIds));
      offsets.push(offset);
      offset += [...bytes.decode([id])].length;
      if (i === 0) return void (tokenLogprobs.push(null), top.push(null));
      const row = rows[i - 1];
      tokenLogprobs.push(row[id]);
      const order = row.map((v, j) => [v, j]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      const dict: Record<string, number> = {};
      for (const [v, j] of order.slice(0, k)) dict[tokenString(j, asIds)] = v;
      dict[tokenString(id, asIds)] = row[id]; // vLLM adds the echoed token to its top_logprobs
      top.push(dict);
    });
    // max_tokens 1: one greedy token after the prompt (callers read only the prompt's entries).
    if (maxTokens > 0) {
      const last = rows[ids.length - 1];
      const g = last.indexOf(Math.max(...last));
      tokens.push(tokenString(g, asIds)), tokenLogprobs.push(last[g]), top.push({ [tokenString(g, asIds)]: last[g] }), offsets.push(offset);
      usage.completion_tokens = 1;
    }
    const logprobs = { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: offsets };
    return { status: 200, payload: { id: "cmpl-standin", object: "text_completion", model: body.model, choices: [{ index: 0, text: bytes.decode(ids), logprobs, finish_reason: "length" }], usage } };
  }
  const choices = Array.from({ length: n }, (_, j) => {
    const g = generate(model, ids, { maxTokens, temperature: Number(body.temperature ?? 1), topP: Number(body.top_p ?? 1), topK: Number(body.top_k ?? 0), eos: EOS, seed: Number(body.seed ?? 0) * 31 + j });
    usage.completion_tokens += g.ids.length;
    return { index: j, text: bytes.decode(g.ids), logprobs: null, finish_reason: g.stop === "eos" ? "stop" : "length" };
  });
  // Answer the choices out of order: the client must sort them by index.
  return { status: 200, payload: { id: "cmpl-standin", object: "text_completion", model: body.model, choices: choices.reverse(), usage } };
}

export async function startStandIn(model: TransformerModel, opts: StandInOptions = {}) {
  const log: Logged[] = [];
  const attempts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const timers: NodeJS.Timeout[] = [];
      res.on("close", () => timers.forEach(clearTimeout));
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        if (res.writableEnded || res.destroyed) return;
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(payload));
      };
      if (req.url !== "/v1/completions") return send(404, { error: { message: `no route ${req.url}` } });
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      const key = JSON.stringify(body.prompt);
      const attempt = attempts.get(key) ?? 0;
      attempts.set(key, attempt + 1);
      log.push({ body, attempt, auth: req.headers.authorization });
      const fault = opts.fault?.(key, attempt) ?? null;
      if (fault?.kind === "reset") return void req.socket.destroy();
      if (fault?.kind === "status") return send(fault.status, { error: { message: fault.message ?? `injected ${fault.status}` } }, fault.headers);
      const reply = () => {
        const a = answer(model, body);
        send(a.status, a.payload);
      };
      if (fault?.kind === "sleep") timers.push(setTimeout(reply, fault.ms));
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
