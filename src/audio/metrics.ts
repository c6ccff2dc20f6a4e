/** Frame-level measures of a VAD against reference decisions. */

/** Share of frames where (score > threshold) equals the reference decision. */
export function agreementRate(scores: ArrayLike<number>, reference: ArrayLike<number>, threshold = 0.5): number {
  let same = 0;
  for (let i = 0; i < scores.length; i++) if ((scores[i] > threshold ? 1 : 0) === reference[i]) same++;
  return same / Math.max(scores.length, 1);
}

export { rocAuc } from "../eval/roc.js";

/** Share of the more frequent class: what a constant predictor would agree on. */
export function majorityRate(labels: ArrayLike<number>): number {
  let ones = 0;
  for (let i = 0; i < labels.length; i++) ones += labels[i];
  return Math.max(ones, labels.length - ones) / Math.max(labels.length, 1);
}
