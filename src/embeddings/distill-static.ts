// Static embeddings distilled from a sentence encoder without training data (Model2Vec, MinishLab 2024), as a
// straight line: vocabulary → ids → one vector per token (each token alone through the teacher) → PCA to d
// dimensions → Zipf/SIF weights → a table whose sentence vector is the mean of its tokens' rows.
import type { EmbeddingTeacher } from "../teachers/embedding/embedding-teacher.js";
import { openEmbeddingTeacher, type EmbeddingTeacherConfig } from "../teachers/embedding/embedding-teacher-config.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { SentencePieceTokenizer } from "../tokenizers/sentencepiece.js";
import { TsdistillError } from "../util/errors.js";
import { BagOfEmbeddingsModel, type Projection } from "./embedding-model.js";
import { explainedVariance, fitPca, projectPca } from "./pca.js";
import { sifWeights } from "./sif.js";

export interface StaticDistillOptions {
  /**
   * The student's vocabulary. "teacher" (default): the teacher's own tokenizer; each token goes in as a one-token
   * id sequence. A Tokenizer (a tokenizer.json, a BPE trained on the user's corpus): each token's text (its
   * decoding, trimmed) goes through the teacher's tokenizer; tokens that decode to nothing (special tokens) get
   * the zero row. Ids are assumed sorted by frequency for the SIF weights (as model2vec assumes).
   */
  vocabulary?: "teacher" | Tokenizer;
  /** PCA to this many dimensions; "auto": as many as the teacher has (a rotation, centred); null: no PCA. Default 256. */
  pcaDims?: number | "auto" | null;
  /** SIF coefficient a in w_i = a / (a + p_i); null: every weight 1. Default 1e-4 (model2vec's). */
  sifCoefficient?: number | null;
  /** L2-normalise sentence vectors (default true). */
  normalize?: boolean;
  /** Tokens per teacher call (default 256). */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** The teacher's token vectors from an earlier call (result.tokenVectors) for the same vocabulary: skips step 2. */
  tokenVectors?: TokenVectors;
  /**
   * Whole words added after the teacher's pieces (Model2Vec's vocabulary step; vocabulary "teacher" with a
   * SentencePiece teacher): each word's row is the teacher's vector of the word as a text, and a student text takes
   * the word whole where it has it (see SentencePieceTokenizer). Pick them with frequentWords (words.ts).
   */
  words?: string[];
}

/** One teacher vector per token id [vocab, teacherDim]; `embedded[id]` false for rows left zero. */
export interface TokenVectors {
  vectors: Float32Array;
  embedded: boolean[];
}

export interface StaticDistillResult {
  model: BagOfEmbeddingsModel;
  tokenizer: Tokenizer;
  /** Teacher space → the table's space (null without PCA: the same space). */
  projection: Projection | null;
  /** Step 2's output, to distil other widths from the same teacher without running it again. */
  tokenVectors: TokenVectors;
  info: {
    teacher: { name: string; hash: string | null; dim: number };
    vocabulary: "teacher" | "tokenizer";
    vocabSize: number;
    /** Tokens that went through the teacher (the rest have zero rows). */
    embedded: number;
    pcaDims: number | null;
    /** Share of the token vectors' variance the kept components hold. */
    explainedVariance: number | null;
    sifCoefficient: number | null;
    seconds: number;
  };
}

function validate(opts: StaticDistillOptions, teacher: EmbeddingTeacher): void {
  const { pcaDims, sifCoefficient, batchSize } = opts;
  if (typeof pcaDims === "number" && !(Number.isInteger(pcaDims) && pcaDims >= 1 && pcaDims <= teacher.dim)) {
    throw new TsdistillError(`distillStatic: pcaDims: ${pcaDims}; expected an integer from 1 to the teacher's ${teacher.dim} dimensions, "auto" or null`);
  }
  if (sifCoefficient !== undefined && sifCoefficient !== null && !(sifCoefficient > 0 && sifCoefficient < 1)) throw new TsdistillError(`distillStatic: sifCoefficient: ${sifCoefficient}; expected 0 < a < 1, or null`);
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1)) throw new TsdistillError(`distillStatic: batchSize: expected an integer ≥ 1, got ${batchSize}`);
  if (opts.vocabulary === "teacher" || opts.vocabulary === undefined) {
    if (!teacher.tokenizer || !teacher.embedIds) throw new TsdistillError(`distillStatic: vocabulary "teacher": teacher ${teacher.name} exposes no tokenizer it can be fed ids of; pass a tokenizer (tokenizer.json or one trained on your corpus) as vocabulary`);
  }
  if (opts.words && opts.words.length > 0) {
    if (opts.vocabulary !== undefined && opts.vocabulary !== "teacher") throw new TsdistillError("distillStatic: words: only with vocabulary \"teacher\" (a tokenizer given as vocabulary already decides its words)");
    if (!(teacher.tokenizer instanceof SentencePieceTokenizer)) throw new TsdistillError(`distillStatic: words: teacher ${teacher.name}'s tokenizer is ${teacher.tokenizer?.kind ?? "missing"}; whole words are supported for SentencePiece teachers (USE-lite)`);
  }
}

/** The teacher's tokenizer, with the whole words after its pieces where there are any. */
function studentTokenizer(teacher: EmbeddingTeacher, opts: StaticDistillOptions): Tokenizer {
  const byId = opts.vocabulary === undefined || opts.vocabulary === "teacher";
  if (!byId) return opts.vocabulary as Tokenizer;
  const words = opts.words ?? [];
  return words.length > 0 ? (teacher.tokenizer as SentencePieceTokenizer).withWords(words) : teacher.tokenizer!;
}

/** One vector per token id [vocab, dim]; rows of the pad id and of tokens without text stay zero. */
async function createEmbeddings(teacher: EmbeddingTeacher, tokenizer: Tokenizer, byId: boolean, opts: StaticDistillOptions): Promise<TokenVectors> {
  const V = tokenizer.vocabSize;
  const D = teacher.dim;
  const pad = tokenizer.special.pad;
  const vectors = new Float32Array(V * D);
  const embedded = new Array<boolean>(V).fill(false);
  // Ids of the teacher's own vocabulary go in as one-id sequences (byId); whole words and a given tokenizer's
  // tokens as texts.
  const pieces = byId ? teacher.tokenizer!.vocabSize : 0;
  const items: { id: number; text: string }[] = [];
  for (let id = 0; id < V; id++) {
    if (id === pad) continue;
    const text = id < pieces ? "" : tokenizer.decode([id]).trim();
    if (id < pieces || text) items.push({ id, text });
  }
  const batchSize = opts.batchSize ?? 256;
  // Batches never mix the two kinds (ids come first: pieces precede words).
  const starts: number[] = [];
  for (let start = 0; start < items.length; ) {
    starts.push(start);
    const kind = items[start].id < pieces;
    let end = start;
    while (end < items.length && end - start < batchSize && items[end].id < pieces === kind) end++;
    start = end;
  }
  starts.push(items.length);
  for (let k = 0; k + 1 < starts.length; k++) {
    const part = items.slice(starts[k], starts[k + 1]);
    const v = part[0].id < pieces ? await teacher.embedIds!(part.map((p) => [p.id])) : await teacher.embed(part.map((p) => p.text));
    part.forEach((p, r) => {
      const row = v.subarray(r * D, (r + 1) * D);
      let nonZero = false;
      for (let j = 0; j < D; j++) if (row[j] !== 0 && Number.isFinite(row[j])) nonZero = true;
      if (!nonZero) return;
      for (let j = 0; j < D; j++) vectors[p.id * D + j] = Number.isFinite(row[j]) ? row[j] : 0; // model2vec: nan_to_num
      embedded[p.id] = true;
    });
    opts.onProgress?.(starts[k + 1], items.length);
  }
  return { vectors, embedded };
}

/** PCA of the embedded rows (zero rows stay zero); null dims: the vectors as they are. */
function applyPca(vectors: Float32Array, embedded: boolean[], D: number, dims: number | null): { table: Float32Array; projection: Projection | null; explained: number | null } {
  if (dims === null) return { table: Float32Array.from(vectors), projection: null, explained: null }; // a copy: tokenVectors stay the teacher's
  const V = embedded.length;
  const pca = fitPca(vectors, V, D, dims, (i) => embedded[i]);
  const projected = projectPca(pca, vectors, V);
  for (let i = 0; i < V; i++) if (!embedded[i]) projected.fill(0, i * dims, (i + 1) * dims);
  return { table: projected, projection: { mean: Float32Array.from(pca.mean), components: Float32Array.from(pca.components), teacherDim: D, dim: dims }, explained: explainedVariance(pca) };
}

/** Distils a static embedding model from an opened embedding teacher (the caller closes it). */
export async function distillStaticFromTeacher(teacher: EmbeddingTeacher, opts: StaticDistillOptions = {}): Promise<StaticDistillResult> {
  validate(opts, teacher);
  const start = performance.now();
  const byId = opts.vocabulary === undefined || opts.vocabulary === "teacher";
  const tokenizer = studentTokenizer(teacher, opts);
  const given = opts.tokenVectors;
  if (given && (given.embedded.length !== tokenizer.vocabSize || given.vectors.length !== tokenizer.vocabSize * teacher.dim)) {
    throw new TsdistillError(`distillStatic: tokenVectors hold ${given.embedded.length} rows of ${given.vectors.length / Math.max(given.embedded.length, 1)}; expected ${tokenizer.vocabSize} of ${teacher.dim}`);
  }
  const { vectors, embedded } = given ?? (await createEmbeddings(teacher, tokenizer, byId, opts));
  const count = embedded.filter(Boolean).length;
  const dims = opts.pcaDims === undefined ? Math.min(256, teacher.dim) : opts.pcaDims === "auto" ? teacher.dim : opts.pcaDims;
  if (dims !== null && count < 2) throw new TsdistillError(`distillStatic: only ${count} token(s) got a non-zero vector from teacher ${teacher.name}; PCA needs at least 2`);
  const { table, projection, explained } = applyPca(vectors, embedded, teacher.dim, dims);
  const width = dims ?? teacher.dim;
  const a = opts.sifCoefficient === undefined ? 1e-4 : opts.sifCoefficient;
  if (a !== null) {
    const w = sifWeights(tokenizer.vocabSize, a);
    for (let i = 0; i < tokenizer.vocabSize; i++) for (let j = 0; j < width; j++) table[i * width + j] *= w[i];
  }
  const model = new BagOfEmbeddingsModel({ kind: "static", vocab: tokenizer.vocabSize, width, normalize: opts.normalize ?? true, padId: tokenizer.special.pad }, { table });
  return {
    model,
    tokenizer,
    projection,
    tokenVectors: { vectors, embedded },
    info: {
      teacher: { name: teacher.name, hash: teacher.hash, dim: teacher.dim },
      vocabulary: byId ? "teacher" : "tokenizer",
      vocabSize: tokenizer.vocabSize,
      embedded: count,
      pcaDims: dims,
      explainedVariance: explained,
      sifCoefficient: a,
      seconds: (performance.now() - start) / 1000,
    },
  };
}

/** Opens the teacher ("use-lite", a teacher.yaml, or a config), distils a static model from it, and closes it. */
export async function distillStatic(teacher: string | EmbeddingTeacherConfig, opts: StaticDistillOptions = {}): Promise<StaticDistillResult> {
  const t = await openEmbeddingTeacher(teacher);
  try {
    return await distillStaticFromTeacher(t, opts);
  } finally {
    await t.close();
  }
}
