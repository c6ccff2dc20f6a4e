// The local run store: searches, their trials (config, status, fidelity, final metrics, artefact paths) and each
// trial's per-epoch metrics in one SQLite file (better-sqlite3). Only the process running a search writes to it;
// every write is one transaction, so a killed process leaves either the old or the new row, never half of one.
import Database from "better-sqlite3";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { EpochMetrics } from "../train/reporter.js";
import { DataError, TsdistillError } from "../util/errors.js";

export const STORE_SCHEMA_VERSION = 1;

export type TrialStatus = "pending" | "running" | "finished" | "failed" | "skipped" | "interrupted";
export type SearchStatus = "running" | "finished" | "budget" | "interrupted" | "failed";

export interface SearchRow {
  id: number;
  outDir: string;
  status: SearchStatus;
  createdAt: string;
  updatedAt: string;
  /** Everything that defines the search (teacher and data hashes, constraints, space, rungs, seed). */
  settings: Record<string, unknown>;
  /** Seconds spent over all invocations (the time budget counts them all). */
  elapsedSeconds: number;
  bestTrialId: number | null;
  /** The final summary (fronts, best, counts), once the search has been finalised. */
  result: Record<string, unknown> | null;
}

export interface TrialRow {
  id: number;
  searchId: number;
  /** Stable name within the search, e.g. b0-c3-r1 (bracket 0, candidate 3, rung 1). */
  key: string;
  bracket: number;
  candidate: number;
  rung: number;
  config: Record<string, unknown>;
  spec: string;
  params: number | null;
  latencyMs: number | null;
  /** Epochs this trial trains for (its resource); 0 for candidates skipped before training. */
  fidelity: number;
  status: TrialStatus;
  /** Why a trial was skipped or failed. */
  reason: string | null;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  seconds: number | null;
  valAccuracy: number | null;
  valAgreement: number | null;
  valLoss: number | null;
  testAccuracy: number | null;
  /** Other final metrics (best epoch, test agreement, bytes on disk, …). */
  metrics: Record<string, unknown>;
  modelDir: string | null;
}

/** What a new trial row is created with; the rest is filled as it runs. */
export type NewTrial = Pick<TrialRow, "key" | "bracket" | "candidate" | "rung" | "config" | "spec" | "params" | "latencyMs" | "fidelity">;

export interface TrialOutcome {
  seconds: number;
  valAccuracy: number;
  valAgreement: number;
  valLoss: number;
  metrics: Record<string, unknown>;
  modelDir: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS searches (
  id INTEGER PRIMARY KEY,
  out_dir TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  settings TEXT NOT NULL,
  elapsed_seconds REAL NOT NULL DEFAULT 0,
  best_trial_id INTEGER,
  result TEXT
);
CREATE TABLE IF NOT EXISTS trials (
  id INTEGER PRIMARY KEY,
  search_id INTEGER NOT NULL REFERENCES searches(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  bracket INTEGER NOT NULL,
  candidate INTEGER NOT NULL,
  rung INTEGER NOT NULL,
  config TEXT NOT NULL,
  spec TEXT NOT NULL,
  params INTEGER,
  latency_ms REAL,
  fidelity INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending','running','finished','failed','skipped','interrupted')),
  reason TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at TEXT,
  finished_at TEXT,
  seconds REAL,
  val_accuracy REAL,
  val_agreement REAL,
  val_loss REAL,
  test_accuracy REAL,
  metrics TEXT NOT NULL DEFAULT '{}',
  model_dir TEXT,
  UNIQUE (search_id, key)
);
CREATE INDEX IF NOT EXISTS trials_by_search ON trials (search_id, bracket, candidate, rung);
CREATE TABLE IF NOT EXISTS epochs (
  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  epoch INTEGER NOT NULL,
  loss REAL,
  lr REAL,
  val_accuracy REAL,
  val_loss REAL,
  seconds REAL,
  PRIMARY KEY (trial_id, epoch)
);
`;

type Raw = Record<string, unknown>;
const json = (s: unknown): Record<string, unknown> => (typeof s === "string" && s ? (JSON.parse(s) as Record<string, unknown>) : {});
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toSearch(r: Raw): SearchRow {
  return {
    id: Number(r.id),
    outDir: String(r.out_dir),
    status: r.status as SearchStatus,
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
    settings: json(r.settings),
    elapsedSeconds: Number(r.elapsed_seconds),
    bestTrialId: num(r.best_trial_id),
    result: r.result ? json(r.result) : null,
  };
}

function toTrial(r: Raw): TrialRow {
  return {
    id: Number(r.id),
    searchId: Number(r.search_id),
    key: String(r.key),
    bracket: Number(r.bracket),
    candidate: Number(r.candidate),
    rung: Number(r.rung),
    config: json(r.config),
    spec: String(r.spec),
    params: num(r.params),
    latencyMs: num(r.latency_ms),
    fidelity: Number(r.fidelity),
    status: r.status as TrialStatus,
    reason: (r.reason as string | null) ?? null,
    attempts: Number(r.attempts),
    startedAt: (r.started_at as string | null) ?? null,
    finishedAt: (r.finished_at as string | null) ?? null,
    seconds: num(r.seconds),
    valAccuracy: num(r.val_accuracy),
    valAgreement: num(r.val_agreement),
    valLoss: num(r.val_loss),
    testAccuracy: num(r.test_accuracy),
    metrics: json(r.metrics),
    modelDir: (r.model_dir as string | null) ?? null,
  };
}

export class RunStore {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    private readonly now: () => Date,
  ) {}

  /** Opens (creating when `create`) the store at `path`; a file that is not a tsdistill store is a DataError. */
  static open(path: string, opts: { create?: boolean; readonly?: boolean; now?: () => Date } = {}): RunStore {
    const full = resolve(path);
    if (!existsSync(full)) {
      if (!opts.create) throw new DataError(full, "no run store here; run 'tsdistill auto' first or pass --db");
      mkdirSync(dirname(full), { recursive: true });
    }
    let db: Database.Database;
    try {
      db = new Database(full, { readonly: Boolean(opts.readonly), fileMustExist: !opts.create });
      if (!opts.readonly) {
        db.pragma("journal_mode = WAL");
        db.pragma("foreign_keys = ON");
        db.pragma("busy_timeout = 5000");
        db.exec(SCHEMA);
        db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)").run(String(STORE_SCHEMA_VERSION));
      }
      const row = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
      if (!row || Number(row.value) !== STORE_SCHEMA_VERSION) throw new Error(`schema version ${row?.value ?? "missing"}, expected ${STORE_SCHEMA_VERSION}`);
    } catch (err) {
      throw new DataError(full, `is not a tsdistill run store (${(err as Error).message.split("\n")[0]})`);
    }
    return new RunStore(db, full, opts.now ?? (() => new Date()));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  // ---- searches -------------------------------------------------------------------------------------------

  createSearch(outDir: string, settings: Record<string, unknown>): SearchRow {
    const t = this.stamp();
    const info = this.db
      .prepare("INSERT INTO searches (out_dir, status, created_at, updated_at, settings) VALUES (?, 'running', ?, ?, ?)")
      .run(resolve(outDir), t, t, JSON.stringify(settings));
    return this.search(Number(info.lastInsertRowid))!;
  }

  search(id: number): SearchRow | null {
    const r = this.db.prepare("SELECT * FROM searches WHERE id = ?").get(id) as Raw | undefined;
    return r ? toSearch(r) : null;
  }

  searchByOutDir(outDir: string): SearchRow | null {
    const r = this.db.prepare("SELECT * FROM searches WHERE out_dir = ?").get(resolve(outDir)) as Raw | undefined;
    return r ? toSearch(r) : null;
  }

  listSearches(): SearchRow[] {
    return (this.db.prepare("SELECT * FROM searches ORDER BY id").all() as Raw[]).map(toSearch);
  }

  updateSearch(id: number, patch: { status?: SearchStatus; addSeconds?: number; bestTrialId?: number | null; result?: Record<string, unknown> | null }): void {
    const cur = this.search(id);
    if (!cur) throw new TsdistillError(`run store ${this.path}: no search ${id}`);
    this.db
      .prepare("UPDATE searches SET status = ?, updated_at = ?, elapsed_seconds = elapsed_seconds + ?, best_trial_id = ?, result = ? WHERE id = ?")
      .run(
        patch.status ?? cur.status,
        this.stamp(),
        patch.addSeconds ?? 0,
        patch.bestTrialId === undefined ? cur.bestTrialId : patch.bestTrialId,
        patch.result === undefined ? (cur.result ? JSON.stringify(cur.result) : null) : patch.result === null ? null : JSON.stringify(patch.result),
        id,
      );
  }

  deleteSearch(id: number): void {
    this.db.prepare("DELETE FROM searches WHERE id = ?").run(id);
  }

  // ---- trials ---------------------------------------------------------------------------------------------

  trial(id: number): TrialRow | null {
    const r = this.db.prepare("SELECT * FROM trials WHERE id = ?").get(id) as Raw | undefined;
    return r ? toTrial(r) : null;
  }

  trialByKey(searchId: number, key: string): TrialRow | null {
    const r = this.db.prepare("SELECT * FROM trials WHERE search_id = ? AND key = ?").get(searchId, key) as Raw | undefined;
    return r ? toTrial(r) : null;
  }

  trials(searchId: number): TrialRow[] {
    return (this.db.prepare("SELECT * FROM trials WHERE search_id = ? ORDER BY bracket, candidate, rung").all(searchId) as Raw[]).map(toTrial);
  }

  /** Adds a trial (status pending), or returns the existing one with this key. */
  ensureTrial(searchId: number, t: NewTrial): TrialRow {
    return this.db.transaction(() => {
      const existing = this.trialByKey(searchId, t.key);
      if (existing) return existing;
      const info = this.db
        .prepare("INSERT INTO trials (search_id, key, bracket, candidate, rung, config, spec, params, latency_ms, fidelity, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')")
        .run(searchId, t.key, t.bracket, t.candidate, t.rung, JSON.stringify(t.config), t.spec, t.params, t.latencyMs, t.fidelity);
      return this.trial(Number(info.lastInsertRowid))!;
    })();
  }

  /** Marks a trial as started (again): earlier per-epoch metrics of an unfinished attempt are dropped. */
  startTrial(id: number): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM epochs WHERE trial_id = ?").run(id);
      this.db.prepare("UPDATE trials SET status = 'running', attempts = attempts + 1, started_at = ?, finished_at = NULL, reason = NULL WHERE id = ?").run(this.stamp(), id);
    })();
  }

  addEpoch(trialId: number, m: EpochMetrics): void {
    this.db
      .prepare("INSERT OR REPLACE INTO epochs (trial_id, epoch, loss, lr, val_accuracy, val_loss, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(trialId, m.epoch, m.loss, m.lr, m.valAccuracy ?? null, m.valLoss ?? null, m.seconds);
  }

  epochs(trialId: number): EpochMetrics[] {
    const rows = this.db.prepare("SELECT * FROM epochs WHERE trial_id = ? ORDER BY epoch").all(trialId) as Raw[];
    return rows.map((r) => ({
      epoch: Number(r.epoch),
      loss: Number(r.loss),
      lr: Number(r.lr),
      seconds: Number(r.seconds),
      samplesPerSecond: NaN,
      ...(r.val_accuracy === null ? {} : { valAccuracy: Number(r.val_accuracy) }),
      ...(r.val_loss === null ? {} : { valLoss: Number(r.val_loss) }),
    }));
  }

  finishTrial(id: number, o: TrialOutcome): void {
    this.db
      .prepare("UPDATE trials SET status = 'finished', finished_at = ?, seconds = ?, val_accuracy = ?, val_agreement = ?, val_loss = ?, metrics = ?, model_dir = ? WHERE id = ?")
      .run(this.stamp(), o.seconds, o.valAccuracy, o.valAgreement, o.valLoss, JSON.stringify(o.metrics), o.modelDir, id);
  }

  /** failed / skipped / interrupted, with the reason. */
  endTrial(id: number, status: "failed" | "skipped" | "interrupted", reason: string): void {
    this.db.prepare("UPDATE trials SET status = ?, reason = ?, finished_at = ? WHERE id = ?").run(status, reason, this.stamp(), id);
  }

  /** Trials left running by a process that died (or was interrupted) become 'interrupted'. */
  markInterrupted(searchId: number, reason: string): number {
    return this.db.prepare("UPDATE trials SET status = 'interrupted', reason = ? WHERE search_id = ? AND status = 'running'").run(reason, searchId).changes;
  }

  setTestMetrics(id: number, testAccuracy: number | null, extra: Record<string, unknown>): void {
    this.db.transaction(() => {
      const t = this.trial(id);
      if (!t) throw new TsdistillError(`run store ${this.path}: no trial ${id}`);
      this.db.prepare("UPDATE trials SET test_accuracy = ?, metrics = ? WHERE id = ?").run(testAccuracy, JSON.stringify({ ...t.metrics, ...extra }), id);
    })();
  }

  setModelDir(id: number, dir: string | null): void {
    this.db.prepare("UPDATE trials SET model_dir = ? WHERE id = ?").run(dir, id);
  }
}
