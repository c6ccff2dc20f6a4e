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
