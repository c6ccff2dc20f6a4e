import { Rng } from "../util/rng.js";

/** Share of each class's labelled samples held out as the test split when a data set has no test file. */
export const DEFAULT_TEST_FRACTION = 0.2;
/** The held-out test rows depend on this seed only (not on --seed), so every command sees the same test split. */
export const DEFAULT_SPLIT_SEED = 0;

/**
 * A seeded stratified split: within each class, round(fraction × count) samples (shuffled with a stream
 * derived from the seed and the class) go to `test`, the rest to `train`. Samples labelled −1 (unlabeled) go to
 * neither and are returned as `unlabeled`. Index lists are in ascending order.
 */
export function stratifiedSplit(labels: ArrayLike<number>, fraction: number, seed: number): { train: Int32Array; test: Int32Array; unlabeled: Int32Array } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`test fraction ${fraction} must be in [0, 1)`);
  const byClass = new Map<number, number[]>();
  const unlabeled: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y < 0) unlabeled.push(i);
    else {
      let list = byClass.get(y);
      if (!list) byClass.set(y, (list = []));
      list.push(i);
    }
  }
  const train: number[] = [];
  const test: number[] = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = byClass.get(cls)!;
    const order = new Rng(seed, "stratified-split", cls).permutation(members.length);
    const nTest = Math.round(fraction * members.length);
    order.forEach((j, k) => (k < nTest ? test : train).push(members[j]));
  }
  const sorted = (a: number[]) => Int32Array.from(a).sort();
  return { train: sorted(train), test: sorted(test), unlabeled: Int32Array.from(unlabeled) };
}

/**
 * A seeded sample of n rows, stratified by label (unlabeled rows, −1, count as one more stratum): each label gets
 * its share of n by largest remainder (ties to the lower label), its rows drawn with a stream derived from the seed
 * and the label. Returns the rows in ascending order; all of them when n ≥ labels.length.
 */
export function stratifiedSample(labels: ArrayLike<number>, n: number, seed: number): Int32Array {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`sample size ${n} must be a whole number ≥ 0`);
  if (n >= labels.length) return Int32Array.from({ length: labels.length }, (_, i) => i);
  const byLabel = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    let list = byLabel.get(y);
    if (!list) byLabel.set(y, (list = []));
    list.push(i);
  }
  const keys = [...byLabel.keys()].sort((a, b) => a - b);
  const quota = keys.map((k) => (byLabel.get(k)!.length * n) / labels.length);
  const take = quota.map(Math.floor);
  let left = n - take.reduce((a, b) => a + b, 0);
  const byRemainder = keys.map((_, i) => i).sort((a, b) => quota[b] - take[b] - (quota[a] - take[a]) || a - b);
  for (const i of byRemainder) if (left > 0) (take[i]++, left--);
  const rows: number[] = [];
  keys.forEach((k, i) => {
    const members = byLabel.get(k)!;
    const order = new Rng(seed, "stratified-sample", k).permutation(members.length);
    for (let j = 0; j < take[i]; j++) rows.push(members[order[j]]);
  });
  return Int32Array.from(rows).sort();
}
