// The search's folder and its row in the run store: a rerun with the same --out resumes it when the settings match.
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { RunStore, type SearchRow } from "../runs/store.js";
import { UsageError } from "../util/errors.js";
import { writeFileAtomic } from "../util/files.js";

export const DEFAULT_DB = join("runs", "tsdistill.db");
const SEARCH_FILE = "search.json";

/** The fields that define a search: a rerun with the same --out must match them (budgets and workers may change). */
function defining(s: Record<string, unknown>): Record<string, unknown> {
  const { timeBudgetSeconds: _t, trials: _n, workers: _w, ...rest } = s;
  return rest;
}

function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b as object)])].sort();
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
  }
  return `${path || "settings"} was ${JSON.stringify(a)}, now ${JSON.stringify(b)}`;
}

/** Opens the store and the search for `out`: resumes it when the settings match, else creates it. */
export function openSearch(opts: { out: string; db?: string }, settings: Record<string, unknown>): { store: RunStore; search: SearchRow; resumed: boolean } {
  const out = resolve(opts.out);
  const marker = join(out, SEARCH_FILE);
  let dbPath = opts.db ? resolve(opts.db) : null;
  if (existsSync(marker)) {
    const recorded = resolve(String((JSON.parse(readFileSync(marker, "utf8")) as { db?: string }).db ?? ""));
    if (dbPath && dbPath !== recorded) throw new UsageError(`--db: ${out} belongs to the run store ${recorded}, not ${dbPath}`);
    dbPath = recorded;
  } else if (existsSync(out) && readdirSync(out).length > 0) {
    throw new UsageError(`--out: ${out} exists and is not a tsdistill auto folder (no ${SEARCH_FILE}); choose a new folder`);
  }
  dbPath ??= resolve(DEFAULT_DB);
  const store = RunStore.open(dbPath, { create: true });
  try {
    const found = store.searchByOutDir(out);
    if (found) {
      const diff = firstDifference(defining(found.settings), defining(settings));
      if (diff) throw new UsageError(`--out: ${out} holds a search with other settings (${diff}); use a new --out to start another search`);
      return { store, search: found, resumed: true };
    }
    if (existsSync(marker)) throw new UsageError(`--out: ${out}/${SEARCH_FILE} names ${dbPath}, which has no search for it; choose a new folder`);
    mkdirSync(out, { recursive: true });
    const search = store.createSearch(out, settings);
    writeFileAtomic(marker, JSON.stringify({ db: dbPath, searchId: search.id }, null, 2) + "\n");
    return { store, search, resumed: false };
  } catch (err) {
    store.close();
    throw err;
  }
}
