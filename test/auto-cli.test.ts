// `tsdistill auto` as users run it: interrupted with SIGINT, then killed with SIGKILL, then run again with the same
// --out: no finished trial is redone, and the final search equals an uninterrupted one. `tsdistill runs` reads
// the store. (CLI tests run dist/ when built: `npm run build` first, as `npm test` does.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { useBackend } from "../src/engine/backend.js";
import { runAutoSearch } from "../src/auto/search.js";
import { RunStore, type TrialRow } from "../src/runs/store.js";
import { makeTinyProblem } from "./auto-fixture.js";
import { runCli, tempDir } from "./helpers.js";

await useBackend("wasm");
const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

function finishedTrials(db: string): TrialRow[] {
  try {
    const store = RunStore.open(db, { readonly: true });
    try {
      return store.listSearches().flatMap((s) => store.trials(s.id)).filter((t) => t.status === "finished");
    } finally {
      store.close();
    }
  } catch {
    return []; // not created yet
  }
}

/** Starts the CLI and sends `signal` once more than `after` trials have finished; resolves with the exit code. */
function interruptAfter(args: string[], db: string, after: number, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "tsdistill.js"), ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    let sent = false;
    const timer = setInterval(() => {
      if (!sent && finishedTrials(db).length > after) {
        sent = true;
        child.kill(signal);
      }
    }, 40);
    const guard = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("error", fail);
    child.on("exit", (code, sig) => {
      clearInterval(timer);
      clearTimeout(guard);
      if (!sent) return fail(new Error(`auto finished before it could be interrupted (code ${code}); stderr: ${stderr}`));
      done({ code, signal: sig, stderr });
    });
  });
}

test("auto CLI: SIGINT, then SIGKILL, then a rerun with the same --out finishes the search without redoing finished trials; same result as uninterrupted", { timeout: 240_000 }, async () => {
  const { dir, cleanup } = tempDir("tsdistill-auto-cli-");
  try {
    const problem = await makeTinyProblem(dir);
    const db = join(dir, "runs.db");
    const out = join(dir, "search");
    const args = ["auto", "--teacher", problem.teacher, "--data", problem.data, "--validation-size", "100", "--seed", "3", "--max-params", "20000", "--trials", "6", "--workers", "1", "--max-epochs", "3", "--batch-size", "32", "--out", out, "--db", db, "--quiet", "--backend", "wasm"]; // the in-process reference below runs on wasm

    const first = await interruptAfter(args, db, 0, "SIGINT");
    assert.equal(first.code, 130, `SIGINT exits with 130 (stderr: ${first.stderr})`);
    assert.match(first.stderr, /interrupted; run the same command again to continue/, "and says how to continue");
    const afterInt = finishedTrials(db);
    let store = RunStore.open(db, { readonly: true });
    assert.equal(store.listSearches()[0].status, "interrupted", "the store knows the search was interrupted");
    assert.ok(store.trials(1).every((t) => t.status !== "running"), "no trial is left 'running'");
    store.close();

    const second = await interruptAfter(args, db, afterInt.length, "SIGKILL");
    assert.equal(second.signal, "SIGKILL", "killed");
    const beforeRerun = finishedTrials(db);
    assert.ok(beforeRerun.length > afterInt.length, "the second run finished more trials");

    const last = await runCli([...args.filter((a) => a !== "--quiet"), "--json"], 120_000);
    assert.equal(last.code, 0, last.stderr);
    const result = JSON.parse(last.stdout);
    assert.equal(result.status, "finished", "the search completes");
    assert.match(last.stderr, /resuming search 1/, "the rerun resumes");

    store = RunStore.open(db, { readonly: true });
    const final = store.trials(1);
    store.close();
    for (const t of beforeRerun) {
      const now = final.find((x) => x.id === t.id)!;
      assert.deepEqual([now.status, now.attempts, now.startedAt, now.finishedAt, now.valAccuracy], ["finished", t.attempts, t.startedAt, t.finishedAt, t.valAccuracy], `trial ${t.key} finished before the kill and was not redone`);
    }
    assert.ok(final.filter((t) => t.status === "finished").length > beforeRerun.length, "the rerun trained the rest");

    // The same search without interruptions, in this process.
    const reference = await runAutoSearch({
      teacher: problem.teacher,
      data: problem.data,
      validationSize: 100,
      seed: 3,
      constraints: { maxParams: 20000 },
      objective: "accuracy",
      trials: 6,
      workers: 0,
      out: join(dir, "reference"),
      db: join(dir, "reference.db"),
      backend: "wasm",
      halving: { minEpochs: 1, maxEpochs: 3, eta: 3 },
      batchSize: 32,
    });
    const refStore = RunStore.open(join(dir, "reference.db"), { readonly: true });
    const ref = refStore.trials(reference.searchId);
    refStore.close();
    const strip = (ts: TrialRow[]) => ts.filter((t) => t.status !== "skipped").map((t) => ({ key: t.key, status: t.status, config: t.config, fidelity: t.fidelity, valAccuracy: t.valAccuracy, valAgreement: t.valAgreement }));
    assert.deepEqual(strip(final), strip(ref), "the interrupted search ends with exactly the uninterrupted one's trials and scores");
    assert.equal(result.summary.best.key, reference.summary.best?.key, "and the same best student");
    assert.equal(result.summary.best.valAccuracy, reference.summary.best?.valAccuracy, "with the same validation accuracy");

    // tsdistill runs reads the store.
    const list = await runCli(["runs", "--db", db, "list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const searches = JSON.parse(list.stdout);
    assert.equal(searches.length, 1, "one search");
    assert.equal(searches[0].status, "finished", "listed as finished");
    assert.equal(searches[0].best.id, result.summary.best.trialId, "with its best trial");
    const [t1, t2] = final.filter((t) => t.status === "finished");
    const compare = await runCli(["runs", "--db", db, "compare", String(t1.id), String(t2.id)]);
    assert.equal(compare.code, 0, compare.stderr);
    assert.match(compare.stdout, /val acc epoch 1/, "per-epoch metrics compared");
    assert.ok(compare.stdout.includes(t1.spec) && compare.stdout.includes(t2.spec), "both trials shown");
    const bad = await runCli(["runs", "--db", db, "show", "99"]);
    assert.equal(bad.code, 2, "unknown search: usage error");
    assert.match(bad.stderr, /^tsdistill: error: runs show: no search 99 in /, "one line naming it");
  } finally {
    cleanup();
  }
});
