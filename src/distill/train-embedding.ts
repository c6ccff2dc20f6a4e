// Training an embedding student (bag-of-embeddings, a static table being refined, or a transformer with head
// "embed") to reproduce a teacher's sentence vectors on unlabeled text. The loss is a weighted sum of registry terms
// (distill/terms.ts): by default 1 − cos(s, t); "logit-mse", and the relation terms "rkd-distance", "rkd-angle",
// "sp" on the batch, mix in as further terms. A small loop rather than fit(): each batch is cut to its longest
// text, so short texts do not pay for a long context (fit() feeds fixed-shape samples).
import * as tf from "@tensorflow/tfjs-core";
import { encodeSequences } from "../data/token-sequences.js";
import { WeightedSumLoss, type TermSpec } from "./terms.js";
import type { TrainableModel } from "../students/trainable.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { createOptimizer, OptimizerConfig } from "../train/optimizers.js";
import { ProgressTracker, type TrainingReporter } from "../train/reporter.js";
import { lrFactor, ScheduleConfig } from "../util/schedules.js";
import { TsdistillError } from "../util/errors.js";
import { Rng } from "../util/rng.js";

export interface EmbeddingTrainOptions {
  epochs: number;
  batchSize?: number;
  /** Default adam, lr 1e-3. */
  optimizer?: Partial<OptimizerConfig> & { kind?: "adam" | "sgd" };
  /** Default cosine decay to 0. */
  schedule?: ScheduleConfig;
  seed?: number;
  /** Loss terms (registry names; layer terms read "logits" unless told). Default [{loss: "cosine"}]. */
  terms?: Partial<TermSpec>[];
  /** Tokens per text (longer texts are cut), default 128. */
  ctx?: number;
  /** Start each text with BOS (transformers with first-token pooling); default false. */
  addBos?: boolean;
  /** L2-normalise student and teacher vectors before the terms (default true: what the student serves). */
  normalize?: boolean;
  /** Progress: a ProgressEvent after every batch and every epoch, as fit() gives them (label: `label`, default "embedding"). */
  reporter?: TrainingReporter;
  label?: string;
  /** Stops before the next batch; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Probability that each token of a training text is left out of that step's input (the text keeps at least one;
   * the target stays the teacher's vector of the whole text): word dropout as augmentation. Default 0.
   */
  tokenDropout?: number;
  /**
   * Weight λ of λ·mean((θ − θ₀)²) over the student's parameters, θ₀ their values before training: holds a
   * distilled (static) table near its rows where the texts say little. Default 0.
   */
  anchor?: number;
}

export interface EmbeddingTrainResult {
  losses: number[];
  seconds: number;
  /** Texts cut to ctx tokens. */
  truncated: number;
}

function normalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-12))) as tf.Tensor2D;
}

/**
 * Trains `student` so that its vector for texts[i] matches targets[i] (row-major [n, targetDim], the teacher's
 * vectors or their projection into the student's space). A student narrower than the targets is matched through a
 * learned linear projector where the loss allows one (cosine, fitnets); relation terms need no projector.
 */
export async function trainEmbeddingStudent(student: TrainableModel, tokenizer: Tokenizer, texts: readonly string[], targets: Float32Array, opts: EmbeddingTrainOptions): Promise<EmbeddingTrainResult> {
  const n = texts.length;
  if (n < 2) throw new TsdistillError(`trainEmbeddingStudent: ${n} text(s); expected at least 2`);
  if (targets.length % n !== 0 || targets.length === 0) throw new TsdistillError(`trainEmbeddingStudent: ${targets.length} target values for ${n} texts; expected n × teacher dim`);
  if (!(Number.isInteger(opts.epochs) && opts.epochs >= 1)) throw new TsdistillError(`trainEmbeddingStudent: epochs: expected an integer ≥ 1, got ${opts.epochs}`);
  const targetDim = targets.length / n;
  const dim = student.numOutputs;
  const batchSize = Math.min(opts.batchSize ?? 64, n);
  const ctx = opts.ctx ?? 128;
  const seed = opts.seed ?? 42;
  const normalize = opts.normalize ?? true;
  const tokenDropout = opts.tokenDropout ?? 0;
  if (!(tokenDropout >= 0 && tokenDropout < 1)) throw new TsdistillError(`trainEmbeddingStudent: tokenDropout: expected a probability in [0, 1), got ${tokenDropout}`);
  const anchorWeight = opts.anchor ?? 0;
  if (!(anchorWeight >= 0 && Number.isFinite(anchorWeight))) throw new TsdistillError(`trainEmbeddingStudent: anchor: expected a weight ≥ 0, got ${anchorWeight}`);
  const specs = (opts.terms ?? [{ loss: "cosine" }]).map((t) => {
    const full = { weight: 1, options: {}, projector: "auto", ...t } as TermSpec;
    return ["logit-mse", "kd", "ce"].includes(full.loss) ? full : { student: "logits", teacher: "logits", ...full };
  });
  const loss = WeightedSumLoss.compile(specs, {
    studentLayer: (l) => (l === "logits" ? [dim] : undefined),
    teacherLayer: (l) => (l === "logits" ? [targetDim] : undefined),
    studentLayers: [],
    teacherLayers: [],
  }, seed, "terms");
  const optimizer = createOptimizer(OptimizerConfig.parse({ kind: "adam", ...opts.optimizer }));
  const schedule = opts.schedule ?? { kind: "cosine", minFactor: 0, warmupEpochs: 0 };
  const params = [...student.params, ...loss.extraParams];
  const { ids, lengths, truncated } = encodeSequences(texts, tokenizer, { ctx, addBos: opts.addBos ?? false, addEos: false });
  const pad = tokenizer.special.pad!; // encodeSequences required it
  const firstKept = opts.addBos ? 1 : 0; // BOS is never dropped
  const anchors = anchorWeight > 0 ? student.params.map((p) => tf.keep(p.clone())) : [];
  const losses: number[] = [];
  const start = performance.now();
  const needsPairs = specs.some((s) => ["rkd-distance", "rkd-angle"].includes(s.loss));
  const progress = new ProgressTracker(opts.reporter, opts.label ?? "embedding", opts.epochs, n, Math.ceil(n / batchSize));
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const epochStart = performance.now();
      const order = new Rng(seed, "embedding-shuffle", epoch).permutation(n);
      const dropRng = new Rng(seed, "embedding-token-dropout", epoch);
      let sum = 0;
      let seen = 0;
      let step = 0;
      let lr = 0;
      for (let b = 0; b < n; b += batchSize) {
        opts.signal?.throwIfAborted();
        const rows = order.subarray(b, Math.min(b + batchSize, n));
        if (needsPairs && rows.length < 2) break; // RKD needs two samples; the last lone text waits for the next epoch
        const seqs = Array.from(rows, (r) => keptTokens(ids.subarray(r * ctx, r * ctx + lengths[r]), tokenDropout, firstKept, dropRng));
        let T = 1;
        for (const q of seqs) T = Math.max(T, q.length);
        const x = new Float32Array(rows.length * T).fill(pad);
        const t = new Float32Array(rows.length * targetDim);
        rows.forEach((r, i) => {
          x.set(seqs[i], i * T);
          t.set(targets.subarray(r * targetDim, (r + 1) * targetDim), i * targetDim);
        });
        lr = optimizer.config.lr * lrFactor(schedule, epoch + b / n, opts.epochs);
        const value = tf.tidy(() => {
          const xs = tf.tensor2d(x, [rows.length, T]);
          const teacher = tf.tensor2d(t, [rows.length, targetDim]);
          const { value: l, grads } = tf.variableGrads(() => {
            const out = student.forward(xs, { training: true, rng: new Rng(seed, "embedding-dropout", epoch, b) }).logits;
            const distill = loss.compute({
              studentLogits: normalize ? normalizeRows(out) : out,
              teacherLogits: normalize ? normalizeRows(teacher) : teacher,
              studentFeatures: new Map(),
              teacherFeatures: new Map(),
              labels: tf.zeros([rows.length], "int32") as tf.Tensor1D,
              epoch: epoch + b / n,
              epochs: opts.epochs,
            }).total;
            if (anchors.length === 0) return distill;
            const pulls = student.params.map((p, i) => tf.sum(tf.square(tf.sub(p, anchors[i]))));
            const count = student.params.reduce((c, p) => c + p.size, 0);
            return tf.add(distill, tf.mul(anchorWeight / count, tf.addN(pulls))) as tf.Scalar;
          }, params);
          optimizer.step(params, params.map((p) => grads[p.name] ?? tf.zerosLike(p)), lr);
          return l.dataSync()[0];
        });
        if (!Number.isFinite(value)) throw new TsdistillError(`trainEmbeddingStudent: loss became ${value} at epoch ${epoch + 1}; try a lower learning rate`);
        sum += value * rows.length;
        seen += rows.length;
        progress.batch(epoch, ++step, rows.length, seen, sum / seen);
      }
      losses.push(sum / Math.max(seen, 1));
      const seconds = (performance.now() - epochStart) / 1000;
      progress.epoch({ epoch: epoch + 1, loss: losses[epoch], lr, seconds, samplesPerSecond: seen / seconds }, step);
    }
  } finally {
    optimizer.dispose();
    loss.dispose();
    for (const a of anchors) a.dispose();
    progress.end();
  }
  return { losses, seconds: (performance.now() - start) / 1000, truncated };
}

/** The text's ids with each (after the first `firstKept`) dropped with probability p; at least one token stays. */
export function keptTokens(seq: Int32Array, p: number, firstKept: number, rng: Rng): Int32Array {
  if (p === 0 || seq.length <= 1) return seq;
  const kept: number[] = [];
  for (let k = 0; k < seq.length; k++) if (k < firstKept || rng.next() >= p) kept.push(seq[k]);
  if (kept.length === firstKept) kept.push(seq[firstKept + Math.floor(rng.next() * (seq.length - firstKept))]);
  return Int32Array.from(kept);
}
