import type * as tf from "@tensorflow/tfjs-core";
import type { TransformerModel } from "../students/transformer.js";
import { TsdistillError } from "../util/errors.js";
import { Rng } from "../util/rng.js";
import { KvCache } from "./kv-cache.js";
import { checkSampling, logprobOf, sampleToken, type SamplingOptions } from "./sample.js";

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate (the EOS token counts). */
  maxTokens: number;
  /** Seed of the sampling stream (default 0): same seed, model and backend → same tokens. */
  seed?: number;
  /** Stop after this token (it is included in the output); null/undefined: generate maxTokens. */
  eos?: number | null;
}

export interface Generation {
  /** The generated tokens (the continuation, without the prompt). */
  ids: number[];
  /** log P(token | everything before it) under the model at temperature 1, one per generated token. */
  logprobs: number[];
  stop: "eos" | "length";
}

/** Validates generate's options against the model; errors name the option. */
function checkOptions(model: TransformerModel, prompt: readonly number[], opts: GenerateOptions): void {
  const { vocab } = model.config;
  if (!(Number.isSafeInteger(opts.maxTokens) && opts.maxTokens >= 0)) throw new TsdistillError(`generate: maxTokens ${opts.maxTokens}: expected an integer ≥ 0`);
  if (prompt.length === 0) throw new TsdistillError("generate: the prompt is empty; expected at least one token (e.g. BOS)");
  prompt.forEach((id, i) => {
    if (!(Number.isInteger(id) && id >= 0 && id < vocab)) throw new TsdistillError(`generate: prompt token ${i} is ${id}; expected an id in [0, ${vocab})`);
  });
  if (opts.eos != null && !(Number.isInteger(opts.eos) && opts.eos >= 0 && opts.eos < vocab)) throw new TsdistillError(`generate: eos ${opts.eos}: expected an id in [0, ${vocab})`);
  checkSampling(opts);
}

/**
 * Autoregressive generation from a causal LM with a KV cache: each step runs only the newest token. Greedy when
 * temperature = 0, otherwise seeded sampling with top-k / top-p. A prompt longer than the context keeps its last
 * ctx tokens; when the sequence fills the context, the cache restarts from the last ⌈ctx/2⌉ tokens (so each step's
 * logits are those of a full forward pass over the window in use, never over more than ctx tokens).
 */
export function generate(model: TransformerModel, promptIds: readonly number[], opts: GenerateOptions): Generation {
  checkOptions(model, promptIds, opts);
  const { ctx } = model.config;
  const rng = new Rng(opts.seed ?? 0, "generate");
  const cache = new KvCache(model);
  const seq = promptIds.slice(-ctx);
  const out: Generation = { ids: [], logprobs: [], stop: "length" };
  try {
    if (opts.maxTokens === 0) return out;
    let logits = lastRow(cache.append(seq));
    for (;;) {
      const id = sampleToken(logits, opts, rng);
      out.ids.push(id);
      out.logprobs.push(logprobOf(logits, id));
      seq.push(id);
      if (opts.eos != null && id === opts.eos) {
        out.stop = "eos";
        break;
      }
      if (out.ids.length >= opts.maxTokens) break;
      if (cache.length < ctx) {
        logits = lastRow(cache.append([id]));
      } else {
        cache.reset();
        logits = lastRow(cache.append(seq.slice(-Math.ceil(ctx / 2))));
      }
    }
    return out;
  } finally {
    cache.dispose();
  }
}

/** The last row of [n, V] logits as host values; disposes the tensor. */
function lastRow(logits: tf.Tensor2D): Float32Array {
  try {
    const [n, V] = logits.shape;
    return (logits.dataSync() as Float32Array).slice((n - 1) * V, n * V);
  } finally {
    logits.dispose();
  }
}
