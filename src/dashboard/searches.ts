// The dashboard's view of the run store: searches with their trial counts, and one search's trials, per-epoch
// metrics and Pareto fronts. The store is opened read-only (and only once it exists); `tsdistill auto` keeps
// writing it meanwhile (WAL), and every read sees its last committed state.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { RunStore, type SearchRow, type TrialRow } from "../runs/store.js";
import { summarizeSearch, type SearchSummary } from "../auto/summary.js";
import type { EpochMetrics } from "../train/reporter.js";

export interface SearchListItem {
  id: number;
  outDir: string;
  status: SearchRow["status"];
  createdAt: string;
  updatedAt: string;
  data: string | null;
  trials: { total: number; finished: number; running: number; failed: number; skipped: number };
  best: { trialId: number; key: string; spec: string; valAccuracy: number } | null;
}

export interface SearchDetail {
  search: SearchListItem & { settings: Record<string, unknown>; elapsedSeconds: number };
  summary: SearchSummary;
  trials: TrialRow[];
  /** Per-epoch metrics of each trial that has any, by trial id. */
  epochs: Record<number, EpochMetrics[]>;
  hasReport: boolean;
}

/** A read-only handle on the run store that opens it when the file appears. */
export class StoreReader {
  private store: RunStore | null = null;

  constructor(readonly path: string) {}

  get(): RunStore | null {
    if (this.store) return this.store;
    if (!existsSync(this.path)) return null;
    this.store = RunStore.open(this.path, { readonly: true });
    return this.store;
  }

  /** Changes whenever the store (or its write-ahead log) is written. */
  stamp(): string {
    const parts = [this.path, `${this.path}-wal`].map((p) => (existsSync(p) ? `${statSync(p).size}:${statSync(p).mtimeMs}` : "-"));
    return parts.join("|");
  }

  close(): void {
    this.store?.close();
    this.store = null;
  }
}

function listItem(s: SearchRow, trials: TrialRow[]): SearchListItem {
  const count = (st: TrialRow["status"]) => trials.filter((t) => t.status === st).length;
  const summary = summarizeSearch(s, trials);
  const b = summary.best;
  return {
    id: s.id,
    outDir: s.outDir,
    status: s.status,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    data: typeof s.settings.data === "string" ? s.settings.data : null,
    trials: { total: trials.length, finished: count("finished"), running: count("running"), failed: count("failed"), skipped: count("skipped") },
    best: b ? { trialId: b.trialId, key: b.key, spec: b.spec, valAccuracy: b.valAccuracy } : null,
  };
}

export function listSearches(store: RunStore | null): SearchListItem[] {
  if (!store) return [];
  return store
    .listSearches()
    .map((s) => listItem(s, store.trials(s.id)))
    .reverse();
}

export function searchDetail(store: RunStore | null, id: number): SearchDetail | null {
  const s = store?.search(id);
  if (!store || !s) return null;
  const trials = store.trials(id);
  const epochs: Record<number, EpochMetrics[]> = {};
  for (const t of trials) {
    const e = store.epochs(t.id);
    if (e.length) epochs[t.id] = e.map((m) => ({ ...m, samplesPerSecond: 0 }));
  }
  return {
    search: { ...listItem(s, trials), settings: s.settings, elapsedSeconds: s.elapsedSeconds },
    summary: summarizeSearch(s, trials),
    trials,
    epochs,
    hasReport: existsSync(join(s.outDir, "report.html")),
  };
}
