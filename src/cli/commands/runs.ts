import { parseOptions } from "../args.js";
import { printResult } from "./common.js";
import { DEFAULT_DB } from "../../auto/search.js";
import { formatFronts, summarizeSearch } from "../../auto/summary.js";
import { RunStore, type TrialRow } from "../../runs/store.js";
import { UsageError } from "../../util/errors.js";

export const RUNS_HELP = `tsdistill runs [--db PATH] [list | show SEARCH | compare TRIAL TRIAL… | pareto SEARCH] [--json]

Reads the run store written by 'tsdistill auto' (default ${DEFAULT_DB}).

  list                   every search: status, folder, trials, best candidate (the default)
  show SEARCH            one search's trials: config, status, fidelity (epochs), metrics, artefacts
  compare TRIAL TRIAL…   trials side by side, with their validation accuracy per epoch
  pareto SEARCH          the Pareto fronts of a search (validation score vs latency and vs parameters)
  --db PATH              the run store
  --json                 print the result as one JSON object`;

const pct = (x: number | null | undefined) => (x == null ? "–" : `${(x * 100).toFixed(2)}%`);

function textTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? "").padEnd(w[i])).join("  ").trimEnd();
  return [line(head), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}

function id(raw: string | undefined, what: string): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < 1) throw new UsageError(`runs: expected a ${what} id (a positive integer), got ${raw === undefined ? "nothing" : `"${raw}"`}`);
  return n;
}

function trialCells(t: TrialRow): string[] {
  return [
    String(t.id),
    t.key,
    t.status,
    t.spec,
    String(t.config.method ?? ""),
    String(t.fidelity),
    t.params === null ? "–" : t.params.toLocaleString("en-US"),
    t.latencyMs === null ? "–" : `${t.latencyMs.toFixed(3)} ms`,
    pct(t.valAccuracy),
    pct(t.valAgreement),
    pct(t.testAccuracy),
    t.seconds === null ? "–" : `${t.seconds.toFixed(1)} s`,
    t.reason ?? t.modelDir ?? "",
  ];
}

export async function runsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseOptions("runs", argv, { db: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, true);
  if (values.help) return void process.stdout.write(RUNS_HELP + "\n");
  const [action = "list", ...args] = positionals;
  const store = RunStore.open((values.db as string | undefined) ?? DEFAULT_DB, { readonly: true });
  try {
    if (action === "list") {
      const searches = store.listSearches();
      const rows = searches.map((s) => {
        const trials = store.trials(s.id);
        const best = s.bestTrialId === null ? null : store.trial(s.bestTrialId);
        return { ...s, finished: trials.filter((t) => t.status === "finished").length, trials: trials.length, best };
      });
      printResult(
        values,
        rows.map(({ best, ...r }) => ({ ...r, best: best ? { id: best.id, spec: best.spec, valAccuracy: best.valAccuracy, testAccuracy: best.testAccuracy } : null })),
        rows.length === 0
          ? `no searches in ${store.path}`
          : textTable(
              ["search", "status", "trials finished", "best", "val acc", "test acc", "time", "updated", "folder"],
              rows.map((r) => [String(r.id), r.status, `${r.finished} / ${r.trials}`, r.best ? `${r.best.id} ${r.best.spec}` : "–", pct(r.best?.valAccuracy), pct(r.best?.testAccuracy), `${r.elapsedSeconds.toFixed(0)} s`, r.updatedAt, r.outDir]),
            ),
      );
    } else if (action === "show") {
      const sid = id(args[0], "search");
      const search = store.search(sid);
      if (!search) throw new UsageError(`runs show: no search ${sid} in ${store.path}`);
      const trials = store.trials(sid);
      printResult(
        values,
        { search, trials },
        `search ${sid}: ${search.status}, ${search.outDir}, teacher ${search.settings.teacher}, data ${search.settings.data}, ${search.elapsedSeconds.toFixed(0)} s\n` +
          textTable(["trial", "key", "status", "student", "method", "epochs", "params", "latency", "val acc", "val agree", "test acc", "time", "reason / model"], trials.map(trialCells)),
      );
    } else if (action === "compare") {
      if (args.length < 2) throw new UsageError("runs compare: expected at least two trial ids");
      const trials = args.map((a) => {
        const t = store.trial(id(a, "trial"));
        if (!t) throw new UsageError(`runs compare: no trial ${a} in ${store.path}`);
        return t;
      });
      const epochs = trials.map((t) => store.epochs(t.id));
      const maxE = Math.max(0, ...epochs.map((e) => e.length));
      const field = (name: string, f: (t: TrialRow) => string) => [name, ...trials.map(f)];
      const rows = [
        field("search", (t) => String(t.searchId)),
        field("key", (t) => t.key),
        field("status", (t) => t.status),
        field("student", (t) => t.spec),
        ...["method", "temperature", "alpha", "dkdBeta", "lr"].map((k) => field(k, (t) => String(t.config[k] ?? "–"))),
        field("epochs", (t) => String(t.fidelity)),
        field("params", (t) => (t.params === null ? "–" : t.params.toLocaleString("en-US"))),
        field("latency b=1", (t) => (t.latencyMs === null ? "–" : `${t.latencyMs.toFixed(3)} ms`)),
        field("val accuracy", (t) => pct(t.valAccuracy)),
        field("val agreement", (t) => pct(t.valAgreement)),
        field("test accuracy", (t) => pct(t.testAccuracy)),
        field("train time", (t) => (t.seconds === null ? "–" : `${t.seconds.toFixed(1)} s`)),
        ...Array.from({ length: maxE }, (_, e) => [`val acc epoch ${e + 1}`, ...epochs.map((es) => pct(es[e]?.valAccuracy))]),
      ];
      printResult(values, trials.map((t, i) => ({ ...t, epochs: epochs[i] })), textTable(["", ...trials.map((t) => `trial ${t.id}`)], rows));
    } else if (action === "pareto") {
      const sid = id(args[0], "search");
      const search = store.search(sid);
      if (!search) throw new UsageError(`runs pareto: no search ${sid} in ${store.path}`);
      const summary = summarizeSearch(search, store.trials(sid));
      printResult(values, summary, formatFronts(summary));
    } else {
      throw new UsageError(`runs: unknown action "${action}"; expected list, show, compare or pareto`);
    }
  } finally {
    store.close();
  }
}
