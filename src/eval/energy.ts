// CPU time and an energy estimate per 1,000 predictions, for teacher and student. CPU time is the process's
// (process.cpuUsage: user + system, every thread of this process, so a multi-threaded backend's threads count);
// a remote teacher (an API) uses CPU elsewhere, so only its local share is measured and its token cost is given
// instead. The energy estimate is CPU seconds × watts per busy core: DEFAULT_WATTS_PER_CORE is a server core's
// share of its package power (AMD EPYC 7763: 280 W TDP / 64 cores ≈ 4.4 W, rounded up to 5), overridable
// because it depends on the machine (a laptop core is nearer 2–3 W, a desktop core 8–15 W).

export const DEFAULT_WATTS_PER_CORE = 5;

export interface CpuCost {
  predictions: number;
  /** Process CPU time (user + system) over the pass. */
  cpuMs: number;
  wallMs: number;
  cpuMsPer1000: number;
}

function cost(predictions: number, start: NodeJS.CpuUsage, t0: number): CpuCost {
  const d = process.cpuUsage(start);
  const cpuMs = (d.user + d.system) / 1000;
  return { predictions, cpuMs, wallMs: performance.now() - t0, cpuMsPer1000: predictions > 0 ? (cpuMs / predictions) * 1000 : 0 };
}

/** Runs fn (which makes `predictions` predictions) and measures the process CPU time it took. */
export function measureCpu<T>(predictions: number, fn: () => T): { value: T; cpu: CpuCost } {
  const start = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  return { value, cpu: cost(predictions, start, t0) };
}

export async function measureCpuAsync<T>(predictions: number, fn: () => Promise<T>): Promise<{ value: T; cpu: CpuCost }> {
  const start = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  return { value, cpu: cost(predictions, start, t0) };
}

export interface EnergySide {
  cpuMsPer1000: number;
  /** cpuMsPer1000 / 1000 × wattsPerCore. */
  joulesPer1000: number;
  /** Only this machine's share (the model runs elsewhere). */
  remote: boolean;
}

export interface EnergyFigures {
  wattsPerCore: number;
  teacher: EnergySide | null;
  student: EnergySide;
  /** Teacher CPU time / student CPU time per prediction; null without a local teacher. */
  cpuRatio: number | null;
  /** An API teacher's token cost per 1,000 labels (US$, from its pricing); null otherwise. */
  apiCostPer1000LabelsUSD: number | null;
}

export function energySide(cpu: CpuCost, wattsPerCore: number, remote = false): EnergySide {
  return { cpuMsPer1000: cpu.cpuMsPer1000, joulesPer1000: (cpu.cpuMsPer1000 / 1000) * wattsPerCore, remote };
}

export function energyFigures(student: CpuCost, teacher: (CpuCost & { remote?: boolean }) | null, wattsPerCore: number, apiCostPer1000LabelsUSD: number | null = null): EnergyFigures {
  const s = energySide(student, wattsPerCore);
  const t = teacher ? energySide(teacher, wattsPerCore, teacher.remote ?? false) : null;
  return { wattsPerCore, teacher: t, student: s, cpuRatio: t && !t.remote && s.cpuMsPer1000 > 0 ? t.cpuMsPer1000 / s.cpuMsPer1000 : null, apiCostPer1000LabelsUSD };
}

/** An API teacher's cost per 1,000 labels from its stats (costUSD over labelled inputs). */
export function apiCostPer1000(stats: Record<string, unknown> | undefined | null): number | null {
  if (!stats) return null;
  const cost = stats.costUSD;
  const labelled = stats.labelled;
  return typeof cost === "number" && typeof labelled === "number" && labelled > 0 ? (cost / labelled) * 1000 : null;
}

/** One line for the terminal: both sides, the ratio, the stated watts figure. */
export function formatEnergy(e: EnergyFigures): string {
  const side = (name: string, s: EnergySide) => `${name} ${s.cpuMsPer1000.toFixed(1)} ms CPU, ${s.joulesPer1000.toFixed(3)} J${s.remote ? " (this machine's share only; it runs remotely)" : ""}`;
  const parts = [e.teacher ? side("teacher", e.teacher) : null, side("student", e.student)].filter(Boolean);
  const ratio = e.cpuRatio !== null ? `; the teacher uses ${e.cpuRatio.toFixed(1)}× the student's CPU time` : "";
  const api = e.apiCostPer1000LabelsUSD !== null ? `; API tokens $${e.apiCostPer1000LabelsUSD.toFixed(4)} per 1,000 labels` : "";
  return `per 1,000 predictions: ${parts.join(", ")}${ratio}${api} (energy = process CPU time × ${e.wattsPerCore} W per busy core; --watts-per-core)`;
}
