import { z } from "zod";

export const ScheduleConfig = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("constant"), warmupEpochs: z.number().min(0).default(0) }),
  z.object({
    kind: z.literal("cosine"),
    /** Final learning rate as a fraction of the initial one. */
    minFactor: z.number().min(0).max(1).default(0),
    warmupEpochs: z.number().min(0).default(0),
  }),
  z.object({
    kind: z.literal("step"),
    /** Multiply the rate by gamma every `everyEpochs` epochs. */
    everyEpochs: z.number().positive(),
    gamma: z.number().positive().max(1).default(0.1),
    warmupEpochs: z.number().min(0).default(0),
  }),
]);
export type ScheduleConfig = z.infer<typeof ScheduleConfig>;

/**
 * Learning-rate multiplier at a (fractional) epoch `progress` in [0, totalEpochs): linear warm-up from 0,
 * then the schedule's shape. Evaluated every step, so cosine decays smoothly within epochs.
 */
export function lrFactor(schedule: ScheduleConfig, epoch: number, totalEpochs: number): number {
  const warm = schedule.warmupEpochs;
  if (warm > 0 && epoch < warm) return (epoch + 1e-9) / warm;
  switch (schedule.kind) {
    case "constant":
      return 1;
    case "cosine": {
      const span = Math.max(totalEpochs - warm, 1e-9);
      const t = Math.min(Math.max((epoch - warm) / span, 0), 1);
      return schedule.minFactor + (1 - schedule.minFactor) * 0.5 * (1 + Math.cos(Math.PI * t));
    }
    case "step":
      return schedule.gamma ** Math.floor((epoch - warm) / schedule.everyEpochs);
  }
}

/**
 * A number that may change during training (a loss weight, α, T): a constant, a ramp from `from` to `to`
 * between epochs `start` and `end` (linear or cosine; held before and after), or piecewise-constant steps
 * (`steps: [[epoch, value], …]`, each value holding from its epoch on).
 */
export const ScheduledValue = z.union([
  z.number(),
  z.object({
    kind: z.enum(["linear", "cosine"]),
    from: z.number(),
    to: z.number(),
    start: z.number().min(0).default(0),
    /** Epoch where the ramp ends; default: the end of training. */
    end: z.number().positive().optional(),
  }),
  z.object({
    kind: z.literal("step"),
    steps: z.array(z.tuple([z.number().min(0), z.number()])).min(1),
  }),
]);
export type ScheduledValue = z.infer<typeof ScheduledValue>;

/** The value at fractional epoch `epoch` of a run of `totalEpochs`. */
export function valueAt(v: ScheduledValue, epoch: number, totalEpochs: number): number {
  if (typeof v === "number") return v;
  if (v.kind === "step") {
    let value = v.steps[0][1];
    for (const [at, val] of [...v.steps].sort((a, b) => a[0] - b[0])) if (epoch >= at) value = val;
    return value;
  }
  const end = v.end ?? totalEpochs;
  const span = Math.max(end - v.start, 1e-9);
  const t = Math.min(Math.max((epoch - v.start) / span, 0), 1);
  const shape = v.kind === "linear" ? t : 0.5 * (1 - Math.cos(Math.PI * t));
  return v.from + (v.to - v.from) * shape;
}
