// Embedding teachers: models whose output for a text is a vector (sentence encoders), not class scores. They read
// raw texts through their own tokenizer, so they do not implement the class-score Teacher of teacher.ts; static
// and trained embedding students (src/embeddings) learn from them.
import type { Tokenizer } from "../../tokenizers/tokenizer.js";
import { TsdistillError } from "../../util/errors.js";

export type EmbeddingTeacherKind = "tfjs" | "onnx" | "function" | "api";

export interface EmbeddingTeacher {
  readonly name: string;
  readonly kind: EmbeddingTeacherKind;
  /** Width of the vectors. */
  readonly dim: number;
  /** sha256 of what decides its vectors (weights, tokenizer files, settings); null when unknown. */
  readonly hash: string | null;
  /** The teacher's own tokenizer when tsdistill runs it (tfjs, onnx): static distillation can use its vocabulary. */
  readonly tokenizer?: Tokenizer;
  /** Weights in the model files, where known. */
  readonly paramCount?: number;
  /** Vectors for texts, row-major [n, dim]. A text without tokens (the empty string) is the zero vector. */
  embed(texts: readonly string[]): Promise<Float32Array>;
  /** Vectors for id sequences in the teacher's own vocabulary, bypassing its tokenizer (e.g. one-token inputs). */
  embedIds?(ids: readonly (readonly number[])[]): Promise<Float32Array>;
  close(): Promise<void>;
}

export interface EmbedAllOptions {
  /** Texts per teacher call (default 32). */
  batchSize?: number;
  /** Called after each batch with the number of texts done. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Every text's vector [n, dim], in batches of similar length (texts are sorted by length first, as model2vec
 * batches its vocabulary, so short texts are not padded to long ones), returned in the input order.
 */
export async function embedAll(teacher: EmbeddingTeacher, texts: readonly string[], opts: EmbedAllOptions = {}): Promise<Float32Array> {
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TsdistillError(`embedAll: batchSize: expected an integer ≥ 1, got ${batchSize}`);
  const order = Array.from(texts.keys()).sort((a, b) => texts[a].length - texts[b].length || a - b);
  const out = new Float32Array(texts.length * teacher.dim);
  for (let start = 0; start < order.length; start += batchSize) {
    const idx = order.slice(start, start + batchSize);
    const v = await teacher.embed(idx.map((i) => texts[i]));
    checkVectors(v, idx.length, teacher.dim, `teacher ${teacher.name}`);
    idx.forEach((row, k) => out.set(v.subarray(k * teacher.dim, (k + 1) * teacher.dim), row * teacher.dim));
    opts.onProgress?.(Math.min(start + batchSize, order.length), order.length);
  }
  return out;
}

/** Throws one line when a teacher's answer is not n finite vectors of width dim. */
export function checkVectors(v: Float32Array, n: number, dim: number, where: string): void {
  if (v.length !== n * dim) throw new TsdistillError(`${where}: returned ${v.length} values for ${n} texts; expected ${n}×${dim}`);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new TsdistillError(`${where}: vector ${Math.floor(i / dim)} has a non-finite value (${v[i]}) at position ${i % dim}`);
  }
}

/**
 * Token states [B, T, H] → one vector per row [B, H]: the mean over the positions whose mask is 1 (a row without
 * any: zeros), or the first position.
 */
export function poolTokens(hidden: ArrayLike<number>, B: number, T: number, H: number, mask: ArrayLike<number> | null, how: "mean" | "first"): Float32Array {
  const out = new Float32Array(B * H);
  for (let b = 0; b < B; b++) {
    if (how === "first") {
      for (let h = 0; h < H; h++) out[b * H + h] = hidden[b * T * H + h];
      continue;
    }
    const acc = new Float64Array(H);
    let count = 0;
    for (let t = 0; t < T; t++) {
      if (mask && !mask[b * T + t]) continue;
      count++;
      const base = (b * T + t) * H;
      for (let h = 0; h < H; h++) acc[h] += hidden[base + h];
    }
    for (let h = 0; h < H; h++) out[b * H + h] = count ? acc[h] / count : 0;
  }
  return out;
}

/** L2-normalises each row of [n, d] in place (zero rows stay zero). */
export function normalizeRows(v: Float32Array, n: number, d: number): Float32Array {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[i * d + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) v[i * d + j] *= inv;
  }
  return v;
}
