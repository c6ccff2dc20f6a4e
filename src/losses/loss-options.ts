import { z } from "zod";
import { ScheduledValue } from "../util/schedules.js";

/** A number option that may be scheduled. */
const num = (d: number) => ScheduledValue.default(d);
const tempOption = num(1);

/**
 * The options of every built-in loss, by name: the registry validates recipes with them and the Distiller's term
 * builders (distill/term-builders.ts) take their input types from them, so editors complete option names.
 */
export const LOSS_OPTIONS = {
  "ce": z.object({}).strict(),
  "kd": z.object({ temperature: num(4), alpha: num(0) }).strict(),
  "logit-mse": z.object({}).strict(),
  "dkd": z.object({ alpha: num(1), beta: num(8), temperature: num(4), warmupEpochs: num(0) }).strict(),
  "dist": z.object({ beta: num(1), gamma: num(1), tau: num(1) }).strict(),
  "jsd": z.object({ beta: num(0.5), temperature: num(1) }).strict(),
  "topk-kd": z.object({ k: z.number().int().positive().default(5), temperature: num(1), tail: z.enum(["uniform", "bucket"]).default("bucket") }).strict(),
  "fitnets": z.object({}).strict(),
  "at": z.object({ p: num(2) }).strict(),
  "pkt": z.object({ eps: num(1e-7) }).strict(),
  "cosine": z.object({}).strict(),
  "rkd-distance": z.object({}).strict(),
  "rkd-angle": z.object({}).strict(),
  "sp": z.object({}).strict(),
  "cc": z.object({ gamma: num(0.4), order: z.number().int().min(0).default(2) }).strict(),
  "token-ce": z.object({}).strict(),
  "token-kl": z.object({ temperature: tempOption }).strict(),
  "token-reverse-kl": z.object({ temperature: tempOption }).strict(),
  "token-jsd": z.object({ beta: num(0.5), temperature: tempOption }).strict(),
  "token-skew-kl": z.object({ alpha: num(0.1), temperature: tempOption }).strict(),
  "token-skew-reverse-kl": z.object({ alpha: num(0.1), temperature: tempOption }).strict(),
  "token-topk-kd": z.object({ k: z.number().int().positive().default(20), temperature: tempOption, tail: z.enum(["uniform", "bucket"]).default("bucket") }).strict(),
  "token-sampled-reverse-kl": z.object({}).strict(),
} as const;

export type BuiltinLossName = keyof typeof LOSS_OPTIONS;
/** What a built-in loss's options accept (before defaults). */
export type LossOptionsInput<N extends BuiltinLossName> = z.input<(typeof LOSS_OPTIONS)[N]>;
