import type { Rng } from "../util/rng.js";
import { TsdistillError } from "../util/errors.js";

export interface SamplingOptions {
  /** τ ≥ 0: logits are divided by τ; 0 is greedy (argmax, ties to the lowest id). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0: no limit). Default 0. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches p (1: no limit). Default 1. */
  topP?: number;
}

/** Validates sampling options; errors name the option and the expected range. */
export function checkSampling(opts: SamplingOptions, where = "generate"): Required<SamplingOptions> {
  const { temperature = 1, topK = 0, topP = 1 } = opts;
  if (!(Number.isFinite(temperature) && temperature >= 0)) throw new TsdistillError(`${where}: temperature ${temperature}: expected a number ≥ 0 (0 is greedy)`);
  if (!(Number.isSafeInteger(topK) && topK >= 0)) throw new TsdistillError(`${where}: topK ${topK}: expected an integer ≥ 0 (0 is no limit)`);
  if (!(topP > 0 && topP <= 1)) throw new TsdistillError(`${where}: topP ${topP}: expected a number in (0, 1]`);
  return { temperature, topK, topP };
}

/** log softmax(logits)[id], in float64. */
export function logprobOf(logits: ArrayLike<number>, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[id] - max - Math.log(sum);
}

function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * One token from a logits row (float64 on the host, so the choice depends only on the logits and the rng):
 * divide by τ, keep the top-k, then the top-p nucleus (in order of decreasing probability, ties to the lower id),
 * renormalise and invert one uniform draw over that order. τ = 0 is argmax and draws nothing.
 */
export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, rng: Rng): number {
  const { temperature, topK, topP } = checkSampling(opts);
  if (temperature === 0) return argmax(logits);
  const V = logits.length;
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const keep = topK > 0 ? Math.min(topK, V) : V;
  const max = logits[order[0]] / temperature;
  const weights = order.slice(0, keep).map((i) => Math.exp(logits[i] / temperature - max));
  let total = weights.reduce((a, b) => a + b, 0);
  let n = weights.length;
  if (topP < 1) {
    let cum = 0;
    for (n = 0; n < weights.length; ) {
      cum += weights[n++];
      if (cum >= topP * total) break;
    }
    total = cum;
  }
  const u = rng.next() * total;
  let cum = 0;
  for (let i = 0; i < n; i++) {
    cum += weights[i];
    if (u < cum) return order[i];
  }
  return order[n - 1];
}
