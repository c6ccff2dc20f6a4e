import { TsdistillError } from "../util/errors.js";
import { MASK_NEG } from "../losses/loss-utils.js";
import type { LabelMatcher } from "./api-prompt.js";

// The api teacher's label maths: the top-k log-probs of the first generated token → a distribution over the label
// set (the rules are documented at the top of api.ts), and that distribution as dense soft labels or as top-k.

export interface TokenLogprob {
  token: string;
  logprob: number;
}

export interface ApiLabel {
  /** Position in the inputs of the labelBatch call. */
  index: number;
  /** Dense distribution over the labels (sums to 1): found labels plus the even tail share of the missing ones. */
  probs: Float32Array;
  /** The labels found in the top-k, most probable first, with their log-probabilities normalised over the label set. */
  topK: { labelIndex: number; logprob: number }[];
  /** Label indices none of whose tokens were in the top-k (they share `tailMass` in `probs`). */
  missing: number[];
  /** Total probability given to the missing labels. */
  tailMass: number;
  /** The first generated position's top-k, as returned. */
  rawTopLogprobs: TokenLogprob[];
  /** The label the model generated (by its whole text, else its first token), or null when it is not a label. */
  chosen: number | null;
  /** The generated text. */
  text: string;
  usage: { promptTokens: number; completionTokens: number };
  /** HTTP attempts this input took (1 = no retry). */
  attempts: number;
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/**
 * The label distribution from one position's top-k (see the top of this file): found labels by logsumexp of their
 * tokens, missing labels sharing t = min(R, m·p_min), renormalised over the labels.
 */
export function labelDistribution(
  top: readonly TokenLogprob[],
  matcher: LabelMatcher,
): Pick<ApiLabel, "probs" | "topK" | "missing" | "tailMass"> {
  const C = matcher.labels.length;
  const raw = new Array<number>(C).fill(-Infinity);
  const seen = new Set<string>();
  let shown = 0;
  let minLp = Infinity;
  for (const { token, logprob } of top) {
    if (seen.has(token)) continue; // a token listed twice counts once
    seen.add(token);
    const lp = Math.min(0, logprob); // servers can return +1e-7 for a near-certain token
    shown += Math.exp(lp);
    minLp = Math.min(minLp, lp);
    const j = matcher.labelOfToken(token);
    if (j >= 0) raw[j] = logAddExp(raw[j], lp);
  }
  const missing: number[] = [];
  for (let j = 0; j < C; j++) if (raw[j] === -Infinity) missing.push(j);
  const probs = new Float32Array(C);
  const m = missing.length;
  if (m === C) {
    probs.fill(1 / C);
    return { probs, topK: [], missing, tailMass: 1 };
  }
  const R = Math.max(0, 1 - shown);
  const logTail = m === 0 || R === 0 ? -Infinity : Math.min(Math.log(R), Math.log(m) + minLp);
  let logZ = logTail;
  for (let j = 0; j < C; j++) logZ = logAddExp(logZ, raw[j]);
  const topK: ApiLabel["topK"] = [];
  for (let j = 0; j < C; j++) if (raw[j] > -Infinity) topK.push({ labelIndex: j, logprob: raw[j] - logZ });
  topK.sort((a, b) => b.logprob - a.logprob || a.labelIndex - b.labelIndex);
  for (const { labelIndex, logprob } of topK) probs[labelIndex] = Math.exp(logprob);
  const tailMass = logTail === -Infinity ? 0 : Math.exp(logTail - logZ);
  for (const j of missing) probs[j] = tailMass / m;
  return { probs, topK, missing, tailMass };
}

/** Dense soft labels [n, numClasses] (row i = labels[i], by array position). */
export function toSoftLabels(labels: readonly ApiLabel[], numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  labels.forEach((l, i) => {
    if (l.probs.length !== numClasses) throw new TsdistillError(`toSoftLabels: label ${i} has ${l.probs.length} classes, expected ${numClasses}`);
    out.set(l.probs, i * numClasses);
  });
  return out;
}

/**
 * The k most probable labels per row, as topKKd wants them: indices int32 [n·k] and log-probabilities [n·k]
 * (row-major [n, k]), normalised over the label set so Σ exp ≤ 1 per row. Found labels come first (most probable
 * first); when fewer than k were found, missing labels (lowest index first) fill the row with their tail share,
 * which is what topKKd's "uniform" tail would give them anyway. A zero probability becomes MASK_NEG (−1e9), never
 * −∞, so the loss sees exp → 0 without NaN.
 */
export function toTopK(labels: readonly ApiLabel[], k: number): { indices: Int32Array; logprobs: Float32Array } {
  const n = labels.length;
  const indices = new Int32Array(n * k);
  const logprobs = new Float32Array(n * k);
  labels.forEach((l, i) => {
    const C = l.probs.length;
    if (!Number.isInteger(k) || k < 1 || k > C) throw new TsdistillError(`toTopK: k must be an integer in [1, ${C}], got ${k}`);
    const tailEach = l.missing.length && l.tailMass > 0 ? Math.log(l.tailMass / l.missing.length) : MASK_NEG;
    const order = [...l.topK.map((t) => ({ j: t.labelIndex, lp: t.logprob })), ...l.missing.map((j) => ({ j, lp: tailEach }))];
    for (let r = 0; r < k; r++) {
      indices[i * k + r] = order[r].j;
      logprobs[i * k + r] = Math.max(order[r].lp, MASK_NEG);
    }
  });
  return { indices, logprobs };
}

