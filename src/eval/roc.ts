/**
 * ROC-AUC of `scores` for binary `labels` (1 = positive): the probability that a random positive scores above a
 * random negative, ties counting one half (Mann–Whitney U over average ranks). NaN when a class is absent.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumPos = 0;
  let pos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]] === 1) {
      rankSumPos += avgRank;
      pos++;
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** ROC-AUC of a two-class model's logits (score: logit 1 − logit 0, monotone in p(class 1)) for labels 0/1. */
export function binaryAuc(logits: Float32Array, labels: Int32Array): number {
  const scores = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) scores[i] = logits[2 * i + 1] - logits[2 * i];
  return rocAuc(scores, labels);
}
