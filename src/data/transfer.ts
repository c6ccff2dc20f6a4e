import { DataError, UsageError } from "../util/errors.js";
import { Rng } from "../util/rng.js";
import { randomShift } from "./augment.js";
import { InMemoryDataset } from "./dataset.js";
import { concatRawViews } from "./raw.js";

/**
 * Transfer sets: the inputs a student learns the teacher's outputs on. Besides the labelled training samples
 * they may hold samples that only the teacher can label (unlabeled data, mixup blends, noisy copies marked
 * unlabeled). Those carry the label UNLABELED (−1). Hard-label losses must never see them: training on hard
 * labels calls assertLabeled (or trains on labeledOnly), and a distillation mix with a cross-entropy term
 * must mask out rows whose label is −1 — tf.oneHot(−1) is a zero row, so an unmasked CE would silently count
 * them as zero loss in its mean. Evaluation and test splits never contain them.
 */
export const UNLABELED = -1;

export function countUnlabeled(data: InMemoryDataset): number {
  let n = 0;
  for (let i = 0; i < data.size; i++) if (data.y[i] < 0) n++;
  return n;
}

/** Refuses a dataset with unlabeled samples where hard labels are needed; `purpose` says for what. */
export function assertLabeled(data: InMemoryDataset, purpose: string): void {
  const n = countUnlabeled(data);
  if (n > 0) {
    throw new DataError(data.name, `has ${n} unlabeled samples (label −1) but ${purpose} needs a label on every sample; distil them from a teacher with no hard-label term, or drop them (labeledOnly)`);
  }
}

/** The labelled samples only. */
export function labeledOnly(data: InMemoryDataset): InMemoryDataset {
  const keep: number[] = [];
  for (let i = 0; i < data.size; i++) if (data.y[i] >= 0) keep.push(i);
  return keep.length === data.size ? data : data.subset(keep, data.name);
}

/** The same inputs with every label set to −1 (for the teacher to label). */
export function asUnlabeled(data: InMemoryDataset, name = `${data.name}/unlabeled`): InMemoryDataset {
  return data.withLabels(new Int32Array(data.size).fill(UNLABELED), name);
}

/** Samples of several datasets of one shape and class count, in order (raw views kept when every part has one of one kind). */
export function concatDatasets(parts: InMemoryDataset[], name: string): InMemoryDataset {
  if (parts.length === 0) throw new Error("concatDatasets needs at least one dataset");
  const [first] = parts;
  for (const p of parts) {
    if (p.sampleShape.join("x") !== first.sampleShape.join("x") || p.numClasses !== first.numClasses) {
      throw new DataError(p.name, `has samples [${p.sampleShape}] and ${p.numClasses} classes; expected [${first.sampleShape}] and ${first.numClasses} like ${first.name}`);
    }
  }
  const x = new Float32Array(parts.reduce((s, p) => s + p.x.length, 0));
  const y = new Int32Array(parts.reduce((s, p) => s + p.size, 0));
  let xo = 0;
  let yo = 0;
  for (const p of parts) {
    x.set(p.x, xo);
    y.set(p.y, yo);
    xo += p.x.length;
    yo += p.size;
  }
  return new InMemoryDataset(name, x, y, first.sampleShape, first.numClasses, concatRawViews(parts.map((p) => p.rawView())));
}

export interface NoiseOptions {
  /** Noisy copies of each sample. */
  copies: number;
  /** Standard deviation of the gaussian noise added to every input value. */
  std: number;
  /** Clamp the noisy values, e.g. [0, 1] for pixels. */
  clip?: [number, number];
  /** "keep": a copy keeps its sample's label (default); "unlabeled": the teacher labels it. */
  labels?: "keep" | "unlabeled";
}

/** `copies` noisy copies of every sample (copy c of sample i at row c·n + i). */
export function noiseCopies(data: InMemoryDataset, opts: NoiseOptions, seed: number): InMemoryDataset {
  if (!(Number.isInteger(opts.copies) && opts.copies >= 1)) throw new UsageError(`noise copies: expected an integer ≥ 1, got ${opts.copies}`);
  if (!(opts.std > 0)) throw new UsageError(`noise std: expected a number > 0, got ${opts.std}`);
  const rng = new Rng(seed, "transfer-noise");
  const x = new Float32Array(data.x.length * opts.copies);
  for (let c = 0; c < opts.copies; c++) {
    const o = c * data.x.length;
    for (let k = 0; k < data.x.length; k++) {
      let v = data.x[k] + opts.std * rng.normal();
      if (opts.clip) v = Math.min(opts.clip[1], Math.max(opts.clip[0], v));
      x[o + k] = v;
    }
  }
  const y = new Int32Array(data.size * opts.copies);
  for (let c = 0; c < opts.copies; c++) y.set(opts.labels === "unlabeled" ? new Int32Array(data.size).fill(UNLABELED) : data.y, c * data.size);
  return new InMemoryDataset(`${data.name}/noise`, x, y, data.sampleShape, data.numClasses);
}

/** Gamma(shape, 1) by Marsaglia–Tsang (shape < 1 boosted through Gamma(shape + 1)·U^(1/shape)). */
function gamma(rng: Rng, shape: number): number {
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = rng.next();
    return gamma(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let z: number;
    let v: number;
    do {
      z = rng.normal();
      v = 1 + c * z;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * z ** 4 || Math.log(u) < 0.5 * z * z + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** One draw of Beta(a, b). */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  const y = gamma(rng, b);
  return x + y > 0 ? x / (x + y) : 0.5;
}

export interface MixupOptions {
  /** Number of blended samples to make. */
  count: number;
  /** λ ~ Beta(alpha, alpha). */
  alpha: number;
  /** "unlabeled" (default): the teacher labels the blends; "dominant": the label of the sample with λ ≥ 0.5. */
  labels?: "unlabeled" | "dominant";
}

/** Mixup blends λ·x_i + (1 − λ)·x_j of random pairs, with the pairs and λs used (for inspection and tests). */
export function mixup(data: InMemoryDataset, opts: MixupOptions, seed: number): { data: InMemoryDataset; pairs: Int32Array; lambdas: Float32Array } {
  if (!(Number.isInteger(opts.count) && opts.count >= 1)) throw new UsageError(`mixup count: expected an integer ≥ 1, got ${opts.count}`);
  if (!(opts.alpha > 0)) throw new UsageError(`mixup alpha: expected a number > 0, got ${opts.alpha}`);
  if (data.size < 2) throw new DataError(data.name, `has ${data.size} sample; mixup needs at least 2`);
  const rng = new Rng(seed, "transfer-mixup");
  const d = data.sampleSize;
  const x = new Float32Array(opts.count * d);
  const y = new Int32Array(opts.count);
  const pairs = new Int32Array(2 * opts.count);
  const lambdas = new Float32Array(opts.count);
  for (let k = 0; k < opts.count; k++) {
    const i = rng.int(data.size);
    const j = (i + 1 + rng.int(data.size - 1)) % data.size;
    const lam = sampleBeta(rng, opts.alpha, opts.alpha);
    for (let t = 0; t < d; t++) x[k * d + t] = lam * data.x[i * d + t] + (1 - lam) * data.x[j * d + t];
    y[k] = opts.labels === "dominant" ? (lam >= 0.5 ? data.y[i] : data.y[j]) : UNLABELED;
    pairs[2 * k] = i;
    pairs[2 * k + 1] = j;
    lambdas[k] = lam;
  }
  return { data: new InMemoryDataset(`${data.name}/mixup`, x, y, data.sampleShape, data.numClasses), pairs, lambdas };
}

/** `copies` copies of every image, each shifted by up to maxShift pixels (augment.ts's randomShift); labels kept. */
export function shiftCopies(data: InMemoryDataset, opts: { copies: number; maxShift: number }, seed: number): InMemoryDataset {
  if (data.sampleShape.length !== 3) throw new DataError(data.name, `has samples [${data.sampleShape}]; random shifts need images [height, width, channels]`);
  if (!(Number.isInteger(opts.copies) && opts.copies >= 1)) throw new UsageError(`shift copies: expected an integer ≥ 1, got ${opts.copies}`);
  if (!(Number.isInteger(opts.maxShift) && opts.maxShift >= 1)) throw new UsageError(`shift: expected a whole number of pixels ≥ 1, got ${opts.maxShift}`);
  const shift = randomShift(opts.maxShift);
  const rng = new Rng(seed, "transfer-shift");
  const all = Int32Array.from({ length: data.size }, (_, i) => i);
  const parts: InMemoryDataset[] = [];
  for (let c = 0; c < opts.copies; c++) {
    const b = shift(data.gather(all), data.sampleShape, rng);
    parts.push(new InMemoryDataset(`${data.name}/shift`, b.x, b.y, data.sampleShape, data.numClasses));
  }
  return parts.length === 1 ? parts[0] : concatDatasets(parts, `${data.name}/shift`);
}

export interface TransferOptions {
  /** Samples without labels (label −1 or not: they are marked −1) added for the teacher to label. */
  unlabeled?: InMemoryDataset;
  noise?: NoiseOptions;
  mixup?: MixupOptions;
  shift?: { copies: number; maxShift: number };
  seed: number;
}

/**
 * A transfer set: the base samples, then the unlabeled ones, then noisy copies, mixup blends and shifted
 * copies of the base samples (each from its own stream of the seed). Same seed → same dataset.
 */
export function buildTransferSet(base: InMemoryDataset, opts: TransferOptions): InMemoryDataset {
  const parts: InMemoryDataset[] = [base];
  if (opts.unlabeled) parts.push(asUnlabeled(opts.unlabeled));
  if (opts.noise) parts.push(noiseCopies(base, opts.noise, opts.seed));
  if (opts.mixup) parts.push(mixup(base, opts.mixup, opts.seed).data);
  if (opts.shift) parts.push(shiftCopies(base, opts.shift, opts.seed));
  return parts.length === 1 ? base : concatDatasets(parts, `${base.name}/transfer`);
}
