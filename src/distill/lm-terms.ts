import * as tf from "@tensorflow/tfjs-core";
import { getLoss, listLosses, type LossDefinition, type TokenInputs } from "../losses/registry.js";
import { ScheduledValue, valueAt } from "../util/schedules.js";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";

// Token-level terms of LM distillation (the loss registry's terms of granularity "token"), shared by the
// teacher-forced loop (lm-distill.ts), the on-policy loop (lm-gkd.ts) and sequence-level KD (lm-seqkd.ts).

/** One weighted token-level term, as a recipe writes it. */
export interface LmTermSpec {
  /** A registered loss of granularity "token": token-ce, token-kl, token-reverse-kl, token-jsd, token-skew-kl, … */
  loss: string;
  weight?: ScheduledValue;
  options?: Record<string, unknown>;
}

/** A token-level term resolved against the registry: its definition, weight and parsed options. */
export interface CompiledLmTerm {
  def: LossDefinition;
  weight: ScheduledValue;
  options: Record<string, unknown>;
}

/**
 * Resolves token-level term specs (`at` names the list in errors, e.g. "terms"); `refuse` returns why a term cannot
 * run with this teacher and data (one line), or null.
 */
export function compileLmTerms(specs: LmTermSpec[], at: string, refuse: (def: LossDefinition, name: string) => string | null): CompiledLmTerm[] {
  if (specs.length === 0) throw new TsdistillError(`${at}: expected at least one token-level term`);
  const tokenNames = listLosses().filter((d) => d.granularity === "token").map((d) => d.name);
  return specs.map((spec, i) => {
    const where = `${at}[${i}]`;
    const def = getLoss(spec.loss);
    if (!def || def.granularity !== "token") throw new TsdistillError(`${where}.loss: "${spec.loss}" is not a token-level loss; expected one of ${tokenNames.join(", ")}`);
    const why = refuse(def, spec.loss);
    if (why) throw new TsdistillError(`${where}.loss: ${why}`);
    const weight = ScheduledValue.safeParse(spec.weight ?? 1);
    if (!weight.success) throw new TsdistillError(describeZodError(weight.error, { base: `${where}.weight` }));
    const parsed = def.options.safeParse(spec.options ?? {});
    if (!parsed.success) throw new TsdistillError(`${describeZodError(parsed.error, { base: `${where}.options` })} (loss ${spec.loss})`);
    return { def, weight: weight.data, options: parsed.data as Record<string, unknown> };
  });
}

/** Σ_i w_i·term_i at this point of training (scheduled weights and options resolved); `teacherLogits` may be [N, 0]. */
export function lmTermsValue(terms: readonly CompiledLmTerm[], logits: tf.Tensor2D, teacherLogits: tf.Tensor2D, tokens: TokenInputs, labels: tf.Tensor1D, progress: number, epochs: number): tf.Scalar {
  let total: tf.Scalar = tf.scalar(0);
  for (const term of terms) {
    const w = valueAt(term.weight, progress, epochs);
    if (w === 0) continue;
    const options = Object.fromEntries(Object.entries(term.options).map(([k, v]) => [k, typeof v === "object" && v !== null && "kind" in v ? valueAt(v as ScheduledValue, progress, epochs) : v]));
    const value = term.def.compute({ student: logits, teacher: teacherLogits, studentLogits: logits, teacherLogits, labels, epoch: progress, tokens }, options);
    total = tf.add(total, tf.mul(value, w));
  }
  return total;
}
