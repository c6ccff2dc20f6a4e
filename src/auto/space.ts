// The search space of `tsdistill auto`: student architecture (MLP depth/width, CNN channels), distillation method
// and its weights, temperature, α and learning rate. A candidate is plain JSON (it travels to worker threads and
// into the run store); sampling is seeded per (bracket, candidate), so the same seed always proposes the same
// candidates in the same order.
import { z } from "zod";
import type { TermSpec } from "../distill/terms.js";
import { SequentialModel } from "../students/model.js";
import { modelConfigFromSpec } from "../students/spec.js";
import { Rng } from "../util/rng.js";

export const METHODS = ["kd", "dkd", "dist", "logit-mse"] as const;
/** Regression: (1 − α)·MSE(teacher, student) + α·MSE(target, student), on the standardised target. */
export const REGRESSION_METHOD = "mse" as const;
export type Method = (typeof METHODS)[number];

export const Candidate = z
  .object({
    /** Student spec (src/students/spec.ts), e.g. mlp:512-256 or cnn:conv8-pool-conv16-pool-dense64. */
    student: z.string(),
    method: z.enum([...METHODS, REGRESSION_METHOD]),
    /** Softmax temperature for kd and dkd, τ for dist; unused by logit-mse and mse. */
    temperature: z.number().positive(),
    /** Weight of the hard-label cross-entropy term; 1 − α goes to the distillation term. */
    alpha: z.number().min(0).max(1),
    /** DKD's non-target weight β (DKD only). */
    dkdBeta: z.number().positive(),
    lr: z.number().positive(),
  })
  .strict();
export type Candidate = z.infer<typeof Candidate>;

/** Bounds of the space; the defaults suit MNIST-sized image classification on CPU. */
export interface SpaceOptions {
  /** Sample shape of the data ([h, w, c] images allow CNNs). */
  inputShape: number[];
  numClasses: number;
  /** Regression searches use the mse method only (absent: classification). */
  task?: "regression";
  mlpWidths: number[];
  mlpMaxDepth: number;
  /** Share of CNN candidates (0 disables them; ignored for non-image data). */
  cnnShare: number;
  cnnChannels: number[];
  cnnDense: number[];
  temperatures: number[];
  alphas: number[];
  dkdBetas: number[];
  /** Learning rate, log-uniform in [lrMin, lrMax]. */
  lrMin: number;
  lrMax: number;
}

export function defaultSpace(inputShape: number[], numClasses: number, task: "classification" | "regression" = "classification"): SpaceOptions {
  return {
    inputShape,
    numClasses,
    ...(task === "regression" ? { task } : {}),
    mlpWidths: [32, 64, 128, 256, 400, 512, 800, 1024],
    mlpMaxDepth: 3,
    cnnShare: inputShape.length === 3 ? 0.2 : 0,
    cnnChannels: [4, 8, 16, 32],
    cnnDense: [32, 64, 128],
    temperatures: [1, 2, 4, 8, 16],
    alphas: [0, 0.1, 0.3, 0.5],
    dkdBetas: [1, 2, 8],
    lrMin: 3e-4,
    lrMax: 3e-3,
  };
}

/** The known-good starting point (the demo's student and loss): mlp:800-800, Hinton KD, T = 8, α = 0.1, lr 1e-3. */
export const DEFAULT_CANDIDATE: Candidate = { student: "mlp:800-800", method: "kd", temperature: 8, alpha: 0.1, dkdBeta: 8, lr: 1e-3 };
/** The same start for regression: mlp:800-800, α = 0.1, lr 1e-3 (no temperature). */
export const DEFAULT_REGRESSION_CANDIDATE: Candidate = { ...DEFAULT_CANDIDATE, method: REGRESSION_METHOD, temperature: 1 };

/** Scales every hidden width (dense units, conv filters) by `factor`, keeping at least 4. */
export function scaleSpec(spec: string, factor: number): string {
  return spec.replace(/(\d+)/g, (m, _d, offset: number, s: string) => {
    // Only widths: mlp numbers, conv<filters> and dense<units>; not kernel sizes, strides or pool sizes.
    const before = s.slice(0, offset);
    const isWidth = /(mlp:|-|conv|dense)$/.test(before);
    return isWidth ? String(Math.max(4, Math.round(Number(m) * factor))) : m;
  });
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** Candidate number `index` of bracket `bracket` for this seed (independent of every other draw). */
export function sampleCandidate(space: SpaceOptions, seed: number, bracket: number, index: number): Candidate {
  const rng = new Rng(seed, "auto-sample", bracket, index);
  let student: string;
  if (rng.next() < space.cnnShare) {
    const c1 = pick(rng, space.cnnChannels);
    const c2 = pick(rng, space.cnnChannels.filter((c) => c >= c1));
    student = `cnn:conv${c1}-pool-conv${c2}-pool-dense${pick(rng, space.cnnDense)}`;
  } else {
    const depth = 1 + rng.int(space.mlpMaxDepth);
    const widths: number[] = [];
    // Non-increasing widths: a funnel towards the classes, the common shape of good small MLPs.
    for (let i = 0; i < depth; i++) widths.push(pick(rng, i === 0 ? space.mlpWidths : space.mlpWidths.filter((w) => w <= widths[i - 1])));
    student = `mlp:${widths.join("-")}`;
  }
  const draw = rng.next() < 0.4 ? "kd" : pick(rng, METHODS.filter((m) => m !== "kd"));
  const method = space.task === "regression" ? REGRESSION_METHOD : draw;
  const lr = Math.exp(Math.log(space.lrMin) + rng.next() * (Math.log(space.lrMax) - Math.log(space.lrMin)));
  const temperature = draw === "dist" ? pick(rng, [1, 2, 4]) : pick(rng, space.temperatures);
  return {
    student,
    method,
    temperature: method === REGRESSION_METHOD ? 1 : temperature,
    alpha: pick(rng, space.alphas),
    dkdBeta: pick(rng, space.dkdBetas),
    lr: Number(lr.toPrecision(3)),
  };
}

/**
 * The loss of a candidate as recipe terms: α·CE(y, s) + (1 − α)·(distillation term). Hinton KD's own α is 0
 * here because the hard-label share is the separate ce term.
 */
export function candidateTerms(c: Candidate): TermSpec[] {
  if (c.method === REGRESSION_METHOD) throw new Error("candidateTerms: a regression candidate trains with regressionDistillLoss, not recipe terms");
  const distill: TermSpec = {
    loss: c.method,
    weight: 1 - c.alpha,
    projector: "auto",
    options:
      c.method === "kd" ? { temperature: c.temperature, alpha: 0 }
      : c.method === "dkd" ? { alpha: 1, beta: c.dkdBeta, temperature: c.temperature, warmupEpochs: 1 }
      : c.method === "dist" ? { beta: 1, gamma: 1, tau: c.temperature }
      : {},
  };
  const terms: TermSpec[] = [];
  if (c.alpha > 0) terms.push({ loss: "ce", weight: c.alpha, options: {}, projector: "auto" });
  if (c.alpha < 1) terms.push(distill);
  return terms;
}

/** Parameter count of a student spec on this data (builds the model once; cheap next to training it). */
export function paramCount(spec: string, inputShape: number[], numClasses: number): number {
  const model = new SequentialModel(modelConfigFromSpec(spec, { inputShape, numClasses }), 0);
  try {
    return model.paramCount;
  } finally {
    model.dispose();
  }
}

/** A short human-readable summary, e.g. "mlp:512-256 kd T=4 α=0.1 lr=1.2e-3". */
export function describeCandidate(c: Candidate): string {
  const t = c.method === "logit-mse" || c.method === REGRESSION_METHOD ? "" : c.method === "dist" ? ` τ=${c.temperature}` : ` T=${c.temperature}`;
  const beta = c.method === "dkd" ? ` β=${c.dkdBeta}` : "";
  return `${c.student} ${c.method}${t}${beta} α=${c.alpha} lr=${c.lr.toExponential(1)}`;
}
