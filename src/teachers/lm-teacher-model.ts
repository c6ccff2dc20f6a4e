import { createHash } from "node:crypto";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { generate } from "../generate/generate.js";
import { CONFIG_FILE, loadTransformer, WEIGHTS_FILE } from "../students/transformer-io.js";
import type { TransformerModel } from "../students/transformer.js";
import { TOKENIZER_FILE } from "../tokenizers/io.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { TsdistillError } from "../util/errors.js";
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

/**
 * A tsdistill LM (TransformerModel with an LM head) as a CausalLmTeacher, run in-process and frozen: full logits,
 * top-k and token log-probs from its forward pass, generations with its KV cache (generate/generate.ts).
 */
export class TransformerLmTeacher implements CausalLmTeacher {
  readonly kind = "tsdistill" as const;
  readonly vocab: number;
  readonly ctx: number;
  readonly capabilities: LmTeacherCapabilities;

  constructor(
    readonly model: TransformerModel,
    readonly tokenizer: Tokenizer,
    readonly name: string,
    readonly hash: string,
    private readonly owned = false,
  ) {
    const c = model.config;
    if (c.head !== "lm" || !c.causal) throw new TsdistillError(`LM teacher ${name}: the model has a ${c.head} head${c.causal ? "" : " and non-causal attention"}; an LM teacher needs head=lm with causal attention`);
    if (tokenizer.vocabSize > c.vocab) throw new TsdistillError(`LM teacher ${name}: its ${tokenizer.kind} tokenizer has ${tokenizer.vocabSize} ids, the model's vocabulary ${c.vocab}`);
    this.vocab = c.vocab;
    this.ctx = c.ctx;
    this.capabilities = { logits: true, maxTopK: c.vocab, tokenLogprobs: true };
  }

  /** The logits as a tensor [B·T, V] (the caller disposes it); synchronous, for in-process loops. */
  logitsTensor(w: TokenWindows): tf.Tensor2D {
    checkWindows(this, w, false);
    return tf.tidy(() => this.model.forward(tf.tensor2d(Float32Array.from(w.ids), [w.batch, w.length])).logits);
  }

  async logits(w: TokenWindows): Promise<Float32Array> {
    const t = this.logitsTensor(w);
    try {
      return Float32Array.from(t.dataSync() as Float32Array);
    } finally {
      t.dispose();
    }
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

  async generate(prompts: readonly string[], opts: LmGenerateOptions): Promise<LmTeacherGeneration[][]> {
    const { n, seed, promptIndexBase: base } = checkGenerateOptions(opts, this.name);
    const eos = this.tokenizer.special.eos;
    return prompts.map((prompt, p) => {
      const ids = promptIds(this.tokenizer, prompt, this.name, opts.documentStart);
      return Array.from({ length: n }, (_, s) => {
        const g = generate(this.model, ids, { maxTokens: opts.maxTokens, temperature: opts.temperature, topK: opts.topK, topP: opts.topP, eos, seed: generationSeed(seed, base + p, s) });
        return { text: this.tokenizer.decode(g.ids), ids: g.ids, finish: g.stop === "eos" ? ("stop" as const) : ("length" as const) };
      });
    });
  }

  async close(): Promise<void> {
    if (this.owned) this.model.dispose();
  }
}

/** A model already in memory as an LM teacher; `hash` defaults to a digest of its config, weights and tokenizer. */
export function transformerLmTeacher(model: TransformerModel, tokenizer: Tokenizer, opts: { name?: string; hash?: string } = {}): TransformerLmTeacher {
  let hash = opts.hash;
  if (!hash) {
    const h = createHash("sha256").update(JSON.stringify(model.config)).update(JSON.stringify(tokenizer.toFiles().tokenizer));
    for (const { name, tensor } of model.namedWeights()) {
      const data = tensor.dataSync() as Float32Array;
      h.update(name).update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    hash = h.digest("hex");
  }
  return new TransformerLmTeacher(model, tokenizer, opts.name ?? "tsdistill:in-memory", hash);
}

/** Opens a folder written by saveTransformer as an LM teacher; its hash covers config.json, the weights and tokenizer.json. */
export async function openTransformerLmTeacher(dir: string): Promise<TransformerLmTeacher> {
  const { model, tokenizer } = await loadTransformer(dir);
  const hash = hashFiles([CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE].map((f) => join(dir, f)));
  try {
    return new TransformerLmTeacher(model, tokenizer, `tsdistill:${dir}`, hash, true);
  } catch (err) {
    model.dispose();
    throw err;
  }
}
