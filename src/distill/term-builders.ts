/**
 * Typed builders for the terms of a distillation loss: `kd({ temperature: 4, alpha: 0.1 })`,
 * `fitnets({ student: "h1", teacher: "h2", weight: 0.5 })`. Each builder's options are the loss's own zod schema
 * input (losses/loss-options.ts), so editors complete them and typos fail to compile; the result is a plain
 * TermSpec, the same object a recipe's `loss.terms` entry parses to.
 */
import type { z } from "zod";
import { LOSS_OPTIONS, type BuiltinLossName, type LossOptionsInput } from "../losses/loss-options.js";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import type { ScheduledValue } from "../util/schedules.js";
import { TermSpec } from "./terms.js";

/** What every term takes besides its loss's options. */
export interface TermCommon {
  /** The term's weight in the sum (a number or a schedule over epochs); default 1. */
  weight?: z.input<typeof ScheduledValue>;
}

/** What a term that compares a student layer with a teacher layer takes besides its options. */
export interface LayerTermCommon extends TermCommon {
  /** Student layer name ("logits" for the output). */
  student: string;
  /** Teacher layer name ("logits" for the output). */
  teacher: string;
  /** "auto" (default): a learned projector when the widths differ and the loss allows one. */
  projector?: "auto" | "none" | "linear" | "conv1x1";
}

/** A term of a built-in loss by name, with its options, weight and (for layer terms) layers. */
export function term<N extends BuiltinLossName>(loss: N, options?: OptionFields<N> & Partial<LayerTermCommon>): TermSpec {
  return build(loss, options as Record<string, unknown> | undefined);
}

/** Checks the options against the loss's schema at once (for callers without types), but keeps them as given. */
function build(loss: BuiltinLossName, options: Record<string, unknown> = {}): TermSpec {
  const { weight, student, teacher, projector, ...lossOptions } = options;
  const checked = LOSS_OPTIONS[loss].safeParse(lossOptions);
  if (!checked.success) throw new TsdistillError(describeZodError(checked.error, { base: `${loss}(options)` }));
  const given = Object.entries({ weight, student, teacher, projector }).filter(([, v]) => v !== undefined);
  return TermSpec.parse({ loss, options: lossOptions, ...Object.fromEntries(given) });
}

/** A loss's option fields (a loss without options has the input type Record<string, never>: no fields). */
type OptionFields<N extends BuiltinLossName> = { [K in keyof LossOptionsInput<N> as string extends K ? never : K]: LossOptionsInput<N>[K] };
type LogitTerm<N extends BuiltinLossName> = (options?: OptionFields<N> & TermCommon) => TermSpec;
type LayerTerm<N extends BuiltinLossName> = (options: OptionFields<N> & LayerTermCommon) => TermSpec;
const logitTerm =
  <N extends BuiltinLossName>(loss: N): LogitTerm<N> =>
  (options) =>
    build(loss, options as Record<string, unknown> | undefined);
const layerTerm =
  <N extends BuiltinLossName>(loss: N): LayerTerm<N> =>
  (options) =>
    build(loss, options as Record<string, unknown>);

/** Cross-entropy with the hard labels. */
export const ce = logitTerm("ce");
/** Hinton KD: α·CE(y, s) + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)). */
export const kd = logitTerm("kd");
/** Mean squared error between the logits. */
export const logitMse = logitTerm("logit-mse");
/** Decoupled KD (target and non-target parts weighted by α and β). */
export const dkd = logitTerm("dkd");
/** DIST: inter- and intra-class Pearson correlation of the softened predictions. */
export const dist = logitTerm("dist");
/** Generalised Jensen–Shannon divergence. */
export const jsd = logitTerm("jsd");
/** KD on the teacher's top-k classes (the rest bucketed or uniform). */
export const topKKd = logitTerm("topk-kd");
/** FitNets hint between a student and a teacher layer (projected when the widths differ). */
export const fitnets = layerTerm("fitnets");
/** Attention transfer between two layers' spatial attention maps. */
export const attention = layerTerm("at");
/** Probabilistic knowledge transfer between two layers. */
export const pkt = layerTerm("pkt");
/** Cosine distance between two layers. */
export const cosine = layerTerm("cosine");
/** Relational KD: pairwise distances within the batch. */
export const rkdDistance = layerTerm("rkd-distance");
/** Relational KD: angles of triplets within the batch. */
export const rkdAngle = layerTerm("rkd-angle");
/** Similarity-preserving KD. */
export const sp = layerTerm("sp");
/** Correlation congruence. */
export const cc = layerTerm("cc");
