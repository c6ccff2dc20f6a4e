import { Rng } from "../util/rng.js";
import { PixelRawView, type RawView } from "./raw.js";

/** One mini-batch: inputs flattened row-major, integer labels, and each sample's index in its dataset. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  /** Regression: each sample's standardised target (0 where y is −1, i.e. unlabeled). */
  targets?: Float32Array;
  /** Row of each sample in the dataset it came from (to look up cached teacher outputs). */
  indices: Int32Array;
  size: number;
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle with this stream (omit for dataset order). */
  rng?: Rng;
  dropLast?: boolean;
}

/**
 * A source of labelled samples for training and evaluation. In-memory datasets implement it directly;
 * streaming sources (files too large for memory) only need `batches`.
 */
export interface DataSource {
  readonly name: string;
  readonly size: number;
  readonly sampleShape: number[];
  readonly numClasses: number;
  /** "classification" when absent. */
  readonly task?: Task;
  batches(opts: BatchOptions): AsyncIterable<Batch>;
}

export type Task = "classification" | "regression";

/**
 * A regression data set's targets: standardised with the training split's mean and std (value = z·std + mean), so
 * a student learns numbers of order 1 whatever the target's units.
 */
export interface RegressionTarget {
  /** Standardised target per sample; 0 where the sample is unlabeled (y = −1). */
  values: Float32Array;
  mean: number;
  std: number;
  /** The label column. */
  name: string;
}

/**
 * Labelled samples held in memory as one Float32Array (the student's features), plus, where the source has one,
 * the raw view of every sample (texts, CSV records, image files: see raw.ts) kept aligned through subsets and splits.
 */
export class InMemoryDataset implements DataSource {
  readonly sampleSize: number;

  constructor(
    readonly name: string,
    readonly x: Float32Array,
    readonly y: Int32Array,
    readonly sampleShape: number[],
    readonly numClasses: number,
    readonly raw?: RawView,
    /**
     * Regression only: the targets (then y is 0 for a labelled sample, −1 for an unlabeled one, and numClasses is
     * 1, the student's single output).
     */
    readonly target?: RegressionTarget,
  ) {
    this.sampleSize = sampleShape.reduce((a, b) => a * b, 1);
    if (x.length !== y.length * this.sampleSize) {
      throw new Error(`dataset ${name}: ${x.length} input values do not make ${y.length} samples of shape [${sampleShape}]`);
    }
    if (raw && raw.size !== y.length) throw new Error(`dataset ${name}: ${raw.size} raw ${raw.kind} samples for ${y.length} samples`);
    if (target && (target.values.length !== y.length || numClasses !== 1)) {
      throw new Error(`dataset ${name}: ${target.values.length} regression targets for ${y.length} samples (and ${numClasses} outputs; expected 1)`);
    }
  }

  get task(): Task {
    return this.target ? "regression" : "classification";
  }

  /** Regression: the standardised targets (see RegressionTarget). */
  get targets(): Float32Array | undefined {
    return this.target?.values;
  }

  /** The same scale and column with other values. */
  private targetWith(values: Float32Array | undefined): RegressionTarget | undefined {
    return this.target && values ? { ...this.target, values } : undefined;
  }

  /**
   * The raw view: the source's own (texts, records, image files), else for image-shaped samples ([H, W, 1|3]) the
   * pixels rendered back to RGBA; undefined for plain feature vectors.
   */
  rawView(): RawView | undefined {
    if (this.raw) return this.raw;
    const s = this.sampleShape;
    if (s.length === 3 && (s[2] === 1 || s[2] === 3)) return new PixelRawView(this.x, s);
    return undefined;
  }

  /** The raw samples at these rows (see rawView), or undefined when the samples have no raw form. */
  rawRows(indices: ArrayLike<number>): unknown[] | undefined {
    return this.rawView()?.rows(indices);
  }

  /** The same samples with other labels (same features and raw view). */
  withLabels(y: Int32Array, name = this.name): InMemoryDataset {
    return new InMemoryDataset(name, this.x, y, this.sampleShape, this.numClasses, this.raw, this.target);
  }

  get size(): number {
    return this.y.length;
  }

  /** The samples at `indices`, in that order, as a new dataset. */
  subset(indices: ArrayLike<number>, name = this.name): InMemoryDataset {
    const d = this.sampleSize;
    const x = new Float32Array(indices.length * d);
    const y = new Int32Array(indices.length);
    const t = this.targets ? new Float32Array(indices.length) : undefined;
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      x.set(this.x.subarray(j * d, (j + 1) * d), i * d);
      y[i] = this.y[j];
      if (t) t[i] = this.targets![j];
    }
    return new InMemoryDataset(name, x, y, this.sampleShape, this.numClasses, this.raw?.subset(indices), this.targetWith(t));
  }

  /** The first n samples. */
  take(n: number): InMemoryDataset {
    const m = Math.min(n, this.size);
    const raw = this.raw?.subset(Int32Array.from({ length: m }, (_, i) => i));
    return new InMemoryDataset(this.name, this.x.slice(0, m * this.sampleSize), this.y.slice(0, m), this.sampleShape, this.numClasses, raw, this.targetWith(this.targets?.slice(0, m)));
  }

  /** A seeded random split into `train` and `validation` (validationSize samples). */
  split(validationSize: number, seed: number): { train: InMemoryDataset; validation: InMemoryDataset } {
    if (validationSize < 0 || validationSize >= this.size) {
      throw new Error(`validation size ${validationSize} must be in [0, ${this.size})`);
    }
    const perm = new Rng(seed, "split", this.name).permutation(this.size);
    const val = perm.subarray(0, validationSize).slice().sort();
    const train = perm.subarray(validationSize).slice().sort();
    return { train: this.subset(train, `${this.name}/train`), validation: this.subset(val, `${this.name}/validation`) };
  }

  /** Samples as a batch, in the order given. */
  gather(indices: Int32Array): Batch {
    const d = this.sampleSize;
    const x = new Float32Array(indices.length * d);
    const y = new Int32Array(indices.length);
    const targets = this.targets ? new Float32Array(indices.length) : undefined;
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      x.set(this.x.subarray(j * d, (j + 1) * d), i * d);
      y[i] = this.y[j];
      if (targets) targets[i] = this.targets![j];
    }
    return targets ? { x, y, targets, indices, size: indices.length } : { x, y, indices, size: indices.length };
  }

  *batchesSync(opts: BatchOptions): Generator<Batch> {
    const order = opts.rng ? opts.rng.permutation(this.size) : Int32Array.from({ length: this.size }, (_, i) => i);
    const n = this.size;
    for (let start = 0; start < n; start += opts.batchSize) {
      const end = Math.min(start + opts.batchSize, n);
      if (opts.dropLast && end - start < opts.batchSize) break;
      yield this.gather(order.subarray(start, end));
    }
  }

  async *batches(opts: BatchOptions): AsyncIterable<Batch> {
    yield* this.batchesSync(opts);
  }
}
