import { readDataFile } from "../util/files.js";
import { decodeImage, type RgbaImage } from "./image-decode.js";

/**
 * The second view of a sample: what the user gave, before tsdistill featurised it for the student. A teacher with
 * its own preprocessing (a text model with its tokenizer, an image model with its size and normalisation, a JS
 * function over CSV records) reads this view; the student reads the features.
 *
 * - text: the string;
 * - record: a tabular row as column name → cell (null where missing), every column but the label;
 * - image: the decoded 8-bit RGBA image at its own size.
 */
export type RawKind = "text" | "record" | "image";

export type RawRecord = Record<string, string | null>;

export interface RawView {
  readonly kind: RawKind;
  readonly size: number;
  /** The raw samples at these rows, in that order. */
  rows(indices: ArrayLike<number>): unknown[];
  /** The view restricted to these rows, in that order (aligned with InMemoryDataset.subset). */
  subset(indices: ArrayLike<number>): RawView;
}

function checkRows(view: RawView, indices: ArrayLike<number>): void {
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i];
    if (!(Number.isInteger(r) && r >= 0 && r < view.size)) throw new RangeError(`raw ${view.kind} view: row ${r} is outside 0..${view.size - 1}`);
  }
}

/** Raw samples held in memory (texts, records). */
export class ArrayRawView implements RawView {
  constructor(
    readonly kind: RawKind,
    readonly items: readonly unknown[],
  ) {}

  get size(): number {
    return this.items.length;
  }

  rows(indices: ArrayLike<number>): unknown[] {
    checkRows(this, indices);
    return Array.from(indices, (i) => this.items[i]);
  }

  subset(indices: ArrayLike<number>): RawView {
    return new ArrayRawView(this.kind, this.rows(indices));
  }
}

/** Image files, decoded when a batch asks for them (a folder of large photos never sits decoded in memory). */
export class ImageFileRawView implements RawView {
  readonly kind = "image" as const;

  constructor(readonly files: readonly string[]) {}

  get size(): number {
    return this.files.length;
  }

  rows(indices: ArrayLike<number>): RgbaImage[] {
    checkRows(this, indices);
    return Array.from(indices, (i) => decodeImage(readDataFile(this.files[i], "a PNG or JPEG image"), this.files[i]));
  }

  subset(indices: ArrayLike<number>): RawView {
    checkRows(this, indices);
    return new ImageFileRawView(Array.from(indices, (i) => this.files[i]));
  }
}

/**
 * Images whose only form is their pixels in [0, 1] (idx files such as MNIST, shifted or noisy transfer copies):
 * each row rendered back to 8-bit RGBA, so teachers with their own image preprocessing see every image sample alike.
 */
export class PixelRawView implements RawView {
  readonly kind = "image" as const;
  private readonly sampleSize: number;

  constructor(
    readonly x: Float32Array,
    /** [height, width, channels] with 1 or 3 channels. */
    readonly shape: number[],
  ) {
    this.sampleSize = shape[0] * shape[1] * shape[2];
  }

  get size(): number {
    return this.x.length / this.sampleSize;
  }

  rows(indices: ArrayLike<number>): RgbaImage[] {
    checkRows(this, indices);
    const [h, w, c] = this.shape;
    const byte = (v: number) => Math.max(0, Math.min(255, Math.round(v * 255)));
    return Array.from(indices, (r) => {
      const src = this.x.subarray(r * this.sampleSize, (r + 1) * this.sampleSize);
      const data = new Uint8Array(h * w * 4);
      for (let p = 0; p < h * w; p++) {
        const v0 = byte(src[p * c]);
        data[4 * p] = v0;
        data[4 * p + 1] = c === 1 ? v0 : byte(src[p * c + 1]);
        data[4 * p + 2] = c === 1 ? v0 : byte(src[p * c + 2]);
        data[4 * p + 3] = 255;
      }
      return { width: w, height: h, data };
    });
  }

  subset(indices: ArrayLike<number>): RawView {
    checkRows(this, indices);
    const out = new Float32Array(indices.length * this.sampleSize);
    for (let i = 0; i < indices.length; i++) out.set(this.x.subarray(indices[i] * this.sampleSize, (indices[i] + 1) * this.sampleSize), i * this.sampleSize);
    return new PixelRawView(out, this.shape);
  }
}

/** Several views of one kind back to back (a transfer set made of parts). */
export class ConcatRawView implements RawView {
  readonly kind: RawKind;
  readonly size: number;
  private readonly starts: number[];

  constructor(readonly parts: readonly RawView[]) {
    if (parts.length === 0) throw new Error("ConcatRawView needs at least one part");
    const kinds = new Set(parts.map((p) => p.kind));
    if (kinds.size !== 1) throw new Error(`ConcatRawView: parts of different kinds (${[...kinds].join(", ")})`);
    this.kind = parts[0].kind;
    this.starts = [];
    let n = 0;
    for (const p of parts) {
      this.starts.push(n);
      n += p.size;
    }
    this.size = n;
  }

  private locate(r: number): [number, number] {
    let k = this.parts.length - 1;
    while (k > 0 && this.starts[k] > r) k--;
    return [k, r - this.starts[k]];
  }

  rows(indices: ArrayLike<number>): unknown[] {
    checkRows(this, indices);
    return Array.from(indices, (r) => {
      const [k, j] = this.locate(r);
      return this.parts[k].rows([j])[0];
    });
  }

  subset(indices: ArrayLike<number>): RawView {
    checkRows(this, indices);
    // Runs of rows from one part stay one view; the common case (a contiguous range of one part) stays unwrapped.
    const pieces: RawView[] = [];
    let i = 0;
    while (i < indices.length) {
      const [k] = this.locate(indices[i]);
      const local: number[] = [];
      while (i < indices.length && this.locate(indices[i])[0] === k) local.push(this.locate(indices[i++])[1]);
      pieces.push(this.parts[k].subset(local));
    }
    if (pieces.length === 0) return new ArrayRawView(this.kind, []);
    return pieces.length === 1 ? pieces[0] : new ConcatRawView(pieces);
  }
}

/** One view over parts laid end to end, or null when any part has none or they differ in kind. */
export function concatRawViews(parts: readonly (RawView | undefined)[]): RawView | undefined {
  if (parts.length === 0 || parts.some((p) => !p)) return undefined;
  const views = parts as RawView[];
  if (new Set(views.map((v) => v.kind)).size !== 1) return undefined;
  return views.length === 1 ? views[0] : new ConcatRawView(views);
}
