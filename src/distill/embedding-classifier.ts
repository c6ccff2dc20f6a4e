// Fine-tune, then distil (the seed's "combining distillation with fine-tuning"; DistilBERT's task-specific stage):
// a classification head is fine-tuned on a frozen sentence encoder with labelled text, and the fine-tuned teacher
// (encoder + head) is distilled into a small text classifier on labelled + unlabeled text. The student reads raw
// token ids (a bag-of-embeddings model whose head outputs class logits), so it needs neither the encoder nor its
// vectors at inference.
import * as tf from "@tensorflow/tfjs-core";
import { encodeSequences } from "../data/token-sequences.js";
import { crossEntropy } from "../losses/cross-entropy.js";
import { softKl } from "../losses/kd.js";
import { logitMse } from "../losses/response.js";
import type { TrainableModel } from "../students/trainable.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { createOptimizer, OptimizerConfig } from "../train/optimizers.js";
import { ProgressTracker, type TrainingReporter } from "../train/reporter.js";
import { lrFactor, ScheduleConfig } from "../util/schedules.js";
import { TsdistillError } from "../util/errors.js";
import { Rng } from "../util/rng.js";
import { fitLinearClassifier, type ProbeOptions } from "../eval/embedding-metrics.js";
import { BagOfEmbeddingsModel, bagEmbedder } from "../embeddings/embedding-model.js";

export interface ClassifierDistillOptions {
  epochs: number;
  batchSize?: number;
  /** Default adam, lr 3e-3. */
  optimizer?: Partial<OptimizerConfig> & { kind?: "adam" | "sgd" };
  /** Default cosine decay to 0. */
  schedule?: ScheduleConfig;
  /** Softmax temperature T of the soft term (default 2). */
  temperature?: number;
  /**
   * The soft term: "kl" (default), T²·KL(softmax(t/T) ‖ softmax(s/T)) (Hinton et al. 2015), or "mse", the mean
   * squared difference of the logits (Ba & Caruana 2014; Tang et al. 2019 distil BERT into small text classifiers
   * with it); T is not used by "mse".
   */
  soft?: "kl" | "mse";
  /** Weight α of the hard-label cross-entropy on the labelled rows (default 0.5); the soft term gets 1 − α. */
  hardWeight?: number;
  /** Tokens per text (longer texts are cut), default 128. */
  ctx?: number;
  seed?: number;
  /** Progress: a ProgressEvent after every batch and every epoch, as fit() gives them (label: `label`, default "classifier"). */
  reporter?: TrainingReporter;
  label?: string;
  /** Stops before the next batch; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Variables of the student kept as they are (e.g. a bag model's table: only its head trains). */
  freeze?: readonly tf.Variable[];
  /**
   * A weight per text for the soft term (default 1 each): the batch's soft term is Σ_i w_i·KL_i / B. E.g.
   * classBalancedWeights, so that a transfer set whose texts are mostly of a few classes does not shift the
   * student's class prior.
   */
  weights?: Float32Array;
}

export interface ClassifierDistillResult {
  losses: number[];
  seconds: number;
  labelled: number;
  unlabeled: number;
}

/**
 * Trains `student` (logits [B, C] from token ids) on texts[i] with the fine-tuned teacher's logits teacherLogits[i]
 * ([n, C] row-major) and, where labels[i] ≥ 0, its label (−1: unlabeled):
 *   L = (1 − α)·T²·(1/B)·Σ_i KL(softmax(t_i/T) ‖ softmax(s_i/T)) + α·(1/|labelled|)·Σ_{i labelled} CE(y_i, s_i)
 * (Hinton et al. 2015 on every row; the hard term only where a label exists); with soft "mse" the first term is
 * (1 − α)·(1/(B·C))·Σ_{i,c} (s_ic − t_ic)². Deterministic for a seed.
 */
export async function distillClassifier(
  student: TrainableModel,
  tokenizer: Tokenizer,
  texts: readonly string[],
  teacherLogits: Float32Array,
  labels: Int32Array,
  opts: ClassifierDistillOptions,
): Promise<ClassifierDistillResult> {
  const n = texts.length;
  if (n < 2) throw new TsdistillError(`distillClassifier: ${n} text(s); expected at least 2`);
  if (labels.length !== n) throw new TsdistillError(`distillClassifier: ${labels.length} labels for ${n} texts; expected one per text (−1: unlabeled)`);
  const C = student.numOutputs;
  if (teacherLogits.length !== n * C) throw new TsdistillError(`distillClassifier: ${teacherLogits.length} teacher logits; expected ${n} texts × ${C} classes (the student's outputs)`);
  for (const y of labels) if (!(Number.isInteger(y) && y >= -1 && y < C)) throw new TsdistillError(`distillClassifier: label ${y}; expected −1 (unlabeled) or a class in [0, ${C})`);
  if (!(Number.isInteger(opts.epochs) && opts.epochs >= 1)) throw new TsdistillError(`distillClassifier: epochs: expected an integer ≥ 1, got ${opts.epochs}`);
  const T = opts.temperature ?? 2;
  const alpha = opts.hardWeight ?? 0.5;
  const softKind = opts.soft ?? "kl";
  if (softKind !== "kl" && softKind !== "mse") throw new TsdistillError(`distillClassifier: soft: expected "kl" or "mse", got ${String(softKind)}`);
  if (!(T > 0)) throw new TsdistillError(`distillClassifier: temperature: expected > 0, got ${T}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new TsdistillError(`distillClassifier: hardWeight: expected 0 ≤ α ≤ 1, got ${alpha}`);
  const weights = opts.weights;
  if (weights && (weights.length !== n || weights.some((w) => !(w >= 0 && Number.isFinite(w))))) throw new TsdistillError(`distillClassifier: weights: expected ${n} finite weights ≥ 0 (one per text), got ${weights.length}`);
  const batchSize = Math.min(opts.batchSize ?? 64, n);
  const ctx = opts.ctx ?? 128;
  const seed = opts.seed ?? 42;
  const optimizer = createOptimizer(OptimizerConfig.parse({ kind: "adam", lr: 3e-3, ...opts.optimizer }));
  const schedule = opts.schedule ?? { kind: "cosine", minFactor: 0, warmupEpochs: 0 };
  const frozen = new Set(opts.freeze ?? []);
  const params = student.params.filter((p) => !frozen.has(p));
  if (params.length === 0) throw new TsdistillError("distillClassifier: every variable of the student is frozen; nothing to train");
  const { ids, lengths } = encodeSequences(texts, tokenizer, { ctx, addBos: false, addEos: false });
  const losses: number[] = [];
  const start = performance.now();
  const progress = new ProgressTracker(opts.reporter, opts.label ?? "classifier", opts.epochs, n, Math.ceil(n / batchSize));
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const epochStart = performance.now();
      const order = new Rng(seed, "classifier-shuffle", epoch).permutation(n);
      let sum = 0;
      let step = 0;
      let lr = 0;
      for (let b = 0; b < n; b += batchSize) {
        opts.signal?.throwIfAborted();
        const rows = order.subarray(b, Math.min(b + batchSize, n));
        let len = 1;
        for (const r of rows) len = Math.max(len, lengths[r]);
        const x = new Float32Array(rows.length * len);
        const t = new Float32Array(rows.length * C);
        const y = new Int32Array(rows.length);
        const w = new Float32Array(rows.length).fill(1);
        rows.forEach((r, i) => {
          if (weights) w[i] = weights[r];
          x.set(ids.subarray(r * ctx, r * ctx + len), i * len);
          t.set(teacherLogits.subarray(r * C, (r + 1) * C), i * C);
          y[i] = labels[r];
        });
        lr = optimizer.config.lr * lrFactor(schedule, epoch + b / n, opts.epochs);
        const value = tf.tidy(() => {
          const xs = tf.tensor2d(x, [rows.length, len]);
          const teacher = tf.tensor2d(t, [rows.length, C]);
          const ys = tf.tensor1d(y, "int32");
          const anyLabelled = y.some((v) => v >= 0);
          const { value: l, grads } = tf.variableGrads(() => {
            const s = student.forward(xs, { training: true, rng: new Rng(seed, "classifier-dropout", epoch, b) }).logits;
            const perRow = () => (softKind === "mse" ? tf.mean(tf.squaredDifference(s, teacher), 1) : rowKl(s, teacher, T));
            const term = weights ? tf.div(tf.sum(tf.mul(perRow(), tf.tensor1d(w))), rows.length) : softKind === "mse" ? logitMse(s, teacher) : softKl(s, teacher, T);
            const soft = tf.mul(term, (1 - alpha) * (softKind === "mse" ? 1 : T * T));
            return (alpha > 0 && anyLabelled ? tf.add(soft, tf.mul(crossEntropy(s, ys), alpha)) : soft) as tf.Scalar;
          }, params);
          optimizer.step(params, params.map((p) => grads[p.name] ?? tf.zerosLike(p)), lr);
          return l.dataSync()[0];
        });
        if (!Number.isFinite(value)) throw new TsdistillError(`distillClassifier: loss became ${value} at epoch ${epoch + 1}; try a lower learning rate`);
        sum += value * rows.length;
        progress.batch(epoch, ++step, rows.length, b + rows.length, sum / (b + rows.length));
      }
      losses.push(sum / n);
      const seconds = (performance.now() - epochStart) / 1000;
      progress.epoch({ epoch: epoch + 1, loss: losses[epoch], lr, seconds, samplesPerSecond: n / seconds }, step);
    }
  } finally {
    progress.end();
    optimizer.dispose();
  }
  let labelled = 0;
  for (const v of labels) if (v >= 0) labelled++;
  return { losses, seconds: (performance.now() - start) / 1000, labelled, unlabeled: n - labelled };
}

/** KL(softmax(t/T) ‖ softmax(s/T)) per row [B]. */
function rowKl(student: tf.Tensor2D, teacher: tf.Tensor2D, T: number): tf.Tensor1D {
  const logPt = tf.logSoftmax(tf.div(teacher, T));
  const logPs = tf.logSoftmax(tf.div(student, T));
  return tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), 1) as tf.Tensor1D;
}

/**
 * Weights that give every class the same total weight: a text's class is its label where it has one (≥ 0), else
 * the teacher's argmax; weight n / (C · count of its class), so the weights average 1. A transfer set drawn from
 * unbalanced categories (fortunes: 1050 computers quotes, 147 sports) otherwise pulls the student's prior towards
 * the big ones.
 */
export function classBalancedWeights(teacherLogits: Float32Array, labels: Int32Array, numClasses: number): Float32Array {
  const n = labels.length;
  if (teacherLogits.length !== n * numClasses) throw new TsdistillError(`classBalancedWeights: ${teacherLogits.length} logits; expected ${n} texts × ${numClasses} classes`);
  const cls = new Int32Array(n);
  const count = new Float64Array(numClasses);
  for (let i = 0; i < n; i++) {
    let c = labels[i];
    if (c < 0) {
      c = 0;
      for (let k = 1; k < numClasses; k++) if (teacherLogits[i * numClasses + k] > teacherLogits[i * numClasses + c]) c = k;
    }
    cls[i] = c;
    count[c]++;
  }
  const present = count.filter((c) => c > 0).length;
  return Float32Array.from(cls, (c) => n / (present * count[c]));
}

/**
 * A classifier student that starts from a static (distilled) table: its rows, mean-pooled, then a linear head to
 * `numClasses` logits (no normalisation: logits). With labelled texts the table's columns are rescaled to unit
 * standard deviation of the pooled vectors (the static table's rows are small after SIF weighting; rescaled, Adam's
 * steps are the same size for every column) and the head starts as a logistic regression fitted on them. A table
 * with a context layer (withContext) keeps it: the student pools through the layer, its rows are not rescaled (the
 * layer reads them as trained), and the head is fitted on the layer's pooled vectors.
 */
export function classifierFromStatic(table: BagOfEmbeddingsModel, tokenizer: Tokenizer, numClasses: number, init: { texts: readonly string[]; labels: Int32Array; probe?: ProbeOptions } | null = null, seed = 0): BagOfEmbeddingsModel {
  const { vocab, width, padId, head, context } = table.config;
  if (head) throw new TsdistillError("classifierFromStatic: expected a static table without a head");
  if (context > 0) return contextClassifier(table, tokenizer, numClasses, init, seed);
  const rows = Float32Array.from(table.tensors().embeddings.data as Float32Array);
  const spec = { kind: "bag" as const, vocab, width, dim: numClasses, padId, normalize: false };
  if (!init) return new BagOfEmbeddingsModel(spec, { seed, table: rows });
  const pooled = meanPool(rows, width, padId, init.texts.map((t) => tokenizer.encode(t)));
  const n = init.texts.length;
  for (let j = 0; j < width; j++) {
    let m = 0;
    let v = 0;
    for (let i = 0; i < n; i++) m += pooled[i * width + j] / n;
    for (let i = 0; i < n; i++) v += (pooled[i * width + j] - m) ** 2 / n;
    const scale = v > 0 ? 1 / Math.sqrt(v) : 1;
    for (let r = 0; r < vocab; r++) rows[r * width + j] *= scale;
    for (let i = 0; i < n; i++) pooled[i * width + j] *= scale;
  }
  const { kernel, bias } = fitLinearClassifier({ x: pooled, y: init.labels }, numClasses, { seed, ...init.probe }).affine();
  const model = new BagOfEmbeddingsModel(spec, { seed, table: rows });
  const w = [tf.tensor2d(rows, [vocab, width]), tf.tensor2d(kernel, [width, numClasses]), tf.tensor1d(bias)];
  model.setWeights(w);
  tf.dispose(w);
  return model;
}

/** classifierFromStatic for a table with a context layer: the table and the layer copied, a head on the layer's pooled vectors. */
function contextClassifier(table: BagOfEmbeddingsModel, tokenizer: Tokenizer, numClasses: number, init: { texts: readonly string[]; labels: Int32Array; probe?: ProbeOptions } | null, seed: number): BagOfEmbeddingsModel {
  const { vocab, width, padId, context } = table.config;
  const src = table.tensors();
  const copy = (m: BagOfEmbeddingsModel) => {
    const w = m.namedWeights().map(({ name, tensor }) => (src[name] ? tf.tensor(src[name].data as Float32Array, src[name].shape) : tf.clone(tensor)));
    m.setWeights(w);
    tf.dispose(w);
    return m;
  };
  const model = copy(new BagOfEmbeddingsModel({ kind: "bag", vocab, width, dim: numClasses, padId, normalize: false, context }, { seed, table: src.embeddings.data as Float32Array }));
  if (!init) return model;
  // The pooled vectors as the runtime computes them: the same table and layer, without head or normalisation.
  const pooler = copy(new BagOfEmbeddingsModel({ kind: "static", vocab, width, padId, normalize: false, context }, { table: src.embeddings.data as Float32Array }));
  const pooled = bagEmbedder(pooler, tokenizer).embed(init.texts);
  pooler.dispose();
  const { kernel, bias } = fitLinearClassifier({ x: pooled, y: init.labels }, numClasses, { seed, ...init.probe }).affine();
  const named = model.namedWeights();
  const w = named.map(({ name, tensor }) => (name === "head/kernel" ? tf.tensor2d(kernel, [width, numClasses]) : name === "head/bias" ? tf.tensor1d(bias) : tf.clone(tensor)));
  model.setWeights(w);
  tf.dispose(w);
  return model;
}

/** Mean of each id list's rows (pad ids skipped; no ids: the zero vector), as the runtime pools. */
function meanPool(table: Float32Array, width: number, padId: number | null, ids: number[][]): Float32Array {
  const out = new Float32Array(ids.length * width);
  ids.forEach((seq, i) => {
    let count = 0;
    for (const id of seq) {
      if (id === padId) continue;
      count++;
      for (let j = 0; j < width; j++) out[i * width + j] += table[id * width + j];
    }
    if (count > 0) for (let j = 0; j < width; j++) out[i * width + j] /= count;
  });
  return out;
}
