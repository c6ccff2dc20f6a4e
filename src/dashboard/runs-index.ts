// What the dashboard knows about run folders: the finished ones in the runs folder and the hidden partial ones
// of runs still training (`.<name>.partial`, whose owner.json names the process) or killed. A run keeps its id
// (the final folder name) when its partial folder is renamed into place at the end.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { EpochMetrics } from "../train/reporter.js";
import { ownerAlive } from "../util/process-owner.js";

export type RunStatus = "running" | "interrupted" | "finished";

export interface PhaseSummary {
  name: string;
  epochs: number;
  lastLoss: number | null;
  lastValAccuracy: number | null;
}

export interface RunSummary {
  id: string;
  status: RunStatus;
  /** The command (config.json's "command"), or the process's run kind while it trains. */
  kind: string | null;
  /** When metrics.json (else the folder) last changed. */
  updatedAt: string;
  phases: PhaseSummary[];
}

export type Metrics = Record<string, EpochMetrics[]>;

const PARTIAL = /^\.(.+)\.partial$/;
const RUN_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** metrics.json as {phase: epochs}; {} while there is none (metrics.json is written atomically, never half). */
export function readMetrics(dir: string): Metrics {
  const raw = readJson(join(dir, "metrics.json"));
  if (!isObj(raw)) return {};
  const out: Metrics = {};
  for (const [phase, list] of Object.entries(raw)) if (Array.isArray(list)) out[phase] = list.filter(isObj) as unknown as EpochMetrics[];
  return out;
}

function isRunFolder(dir: string): boolean {
  // Search folders of `tsdistill auto` (search.json) are shown as searches, from the run store.
  return !existsSync(join(dir, "search.json")) && ["config.json", "metrics.json", "results.json"].some((f) => existsSync(join(dir, f)));
}

/** Where run `id` is now, and its status; null for an id that is no run folder here. */
export function locateRun(runsDir: string, id: string): { dir: string; status: RunStatus; kind: string | null } | null {
  if (!RUN_ID.test(id)) return null;
  const final = join(runsDir, id);
  if (existsSync(final) && statSync(final).isDirectory() && isRunFolder(final)) {
    const cmd = (readJson(join(final, "config.json")) as { command?: unknown } | undefined)?.command;
    return { dir: final, status: "finished", kind: typeof cmd === "string" ? cmd : null };
  }
  const partial = join(runsDir, `.${id}.partial`);
  if (!existsSync(partial) || !statSync(partial).isDirectory()) return null;
  const owner = readJson(join(partial, "owner.json")) as { pid?: unknown; start?: string | null; kind?: unknown } | undefined;
  const alive = typeof owner?.pid === "number" && ownerAlive({ pid: owner.pid, start: owner.start ?? null });
  const cmd = (readJson(join(partial, "config.json")) as { command?: unknown } | undefined)?.command;
  return { dir: partial, status: alive ? "running" : "interrupted", kind: typeof cmd === "string" ? cmd : typeof owner?.kind === "string" ? owner.kind : null };
}

export function summarizeRun(id: string, where: { dir: string; status: RunStatus; kind: string | null }): RunSummary {
  const metrics = readMetrics(where.dir);
  const stamp = existsSync(join(where.dir, "metrics.json")) ? statSync(join(where.dir, "metrics.json")).mtime : statSync(where.dir).mtime;
  return {
    id,
    status: where.status,
    kind: where.kind,
    updatedAt: stamp.toISOString(),
    phases: Object.entries(metrics).map(([name, epochs]) => {
      const last = epochs[epochs.length - 1];
      return { name, epochs: epochs.length, lastLoss: num(last?.loss), lastValAccuracy: num(last?.valAccuracy) };
    }),
  };
}

/** Every run in `runsDir`, newest change first. */
export function listRuns(runsDir: string): RunSummary[] {
  if (!existsSync(runsDir)) return [];
  const ids = new Set<string>();
  for (const name of readdirSync(runsDir)) {
    const m = PARTIAL.exec(name);
    if (m) ids.add(m[1]);
    else if (!name.startsWith(".")) ids.add(name);
  }
  const out: RunSummary[] = [];
  for (const id of ids) {
    try {
      const where = locateRun(runsDir, id);
      if (where) out.push(summarizeRun(id, where));
    } catch {
      // A folder renamed or removed while we looked: it shows up (or not) at the next look.
    }
  }
  return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || a.id.localeCompare(b.id));
}

/** config.json and results.json of a run (null where absent or unreadable). */
export function runFiles(dir: string): { config: unknown; results: unknown } {
  return { config: readJson(join(dir, "config.json")) ?? null, results: readJson(join(dir, "results.json")) ?? null };
}
