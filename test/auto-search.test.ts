// `tsdistill auto` on a tiny problem (8×8 images, tiny students, 1–3 epochs): the same seed gives the same
// trials, scores and best with 2 worker threads as in-process; constraints skip candidates before training;
// a rerun reuses every finished trial; the best student, report and results are written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { runAutoSearch, type AutoOptions } from "../src/auto/search.js";
import { RunStore } from "../src/runs/store.js";
import { loadModel } from "../src/students/io.js";
import { UsageError } from "../src/util/errors.js";
import { makeTinyProblem, TINY_SPACE } from "./auto-fixture.js";
import { tempDir } from "./helpers.js";

await useBackend("wasm");

const { dir, cleanup } = tempDir("tsdistill-auto-");
const problem = await makeTinyProblem(dir);
const base = (out: string, extra: Partial<AutoOptions> = {}): AutoOptions => ({
  teacher: problem.teacher,
  data: problem.data,
  validationSize: 100,
  seed: 3,
  constraints: { maxParams: 20000 },
  objective: "accuracy",
  trials: 6,
  workers: 0,
  out: join(dir, out),
  db: join(dir, "runs.db"),
  backend: "wasm",
  halving: { minEpochs: 1, maxEpochs: 3, eta: 3 },
  batchSize: 32,
  space: TINY_SPACE,
  latencySeconds: 0.02,
  ...extra,
});

/** What must not depend on workers or timing: each trial's config, fidelity and validation scores, and the best. */
function fingerprint(searchId: number) {
  const store = RunStore.open(join(dir, "runs.db"), { readonly: true });
  try {
    const trials = store.trials(searchId).map((t) => ({ key: t.key, status: t.status, config: t.config, fidelity: t.fidelity, params: t.params, valAccuracy: t.valAccuracy, valAgreement: t.valAgreement, valLoss: t.valLoss }));
    const best = store.search(searchId)!.bestTrialId;
    return { trials, best: best === null ? null : store.trial(best)!.key };
  } finally {
    store.close();
  }
}

test.after(cleanup);

test("auto: same seed → same trials, scores and best in-process and with 2 worker threads; outputs written; a rerun redoes nothing", { timeout: 120_000 }, async () => {
  const a = await runAutoSearch(base("a"));
  const b = await runAutoSearch(base("b", { workers: 2 }));
  const fa = fingerprint(a.searchId);
  const fb = fingerprint(b.searchId);
  assert.ok(fa.trials.length >= 6, `at least one trial per candidate (${fa.trials.length})`);
  assert.ok(fa.trials.some((t) => t.fidelity === 3 && t.status === "finished"), "some candidate reached the last rung (3 epochs)");
  assert.ok(fa.trials.filter((t) => t.fidelity === 1).length > fa.trials.filter((t) => t.fidelity === 3).length, "halving: fewer trials at the higher rung");
  assert.deepEqual(fb, fa, "workers = 2 gives exactly the in-process search");
  assert.equal(a.summary.counts.candidates, 6, "6 candidates as asked");

  // The default candidate (mlp:800-800 scaled to ≤ 20,000 params) came first and reached the last rung.
  const first = a.summary.candidates.find((c) => c.key.startsWith("b0-c0-"));
  assert.equal(first?.spec, "mlp:100-100", "the demo student halved three times to fit --max-params 20000");
  assert.equal(first?.epochs, 3, "and always promoted");

  // Outputs: the best student as a loadable model folder, report with both charts, results.json.
  assert.ok(a.summary.best, "a best student");
  const best = a.summary.best!;
  assert.ok(a.bestDir && existsSync(join(a.bestDir, "model.json")), "best saved as a model folder");
  const { model, metadata } = await loadModel(a.bestDir!);
  assert.equal(model.paramCount, best.params, "the saved best is the best trial's model");
  assert.equal((metadata as { spec?: string }).spec, best.spec, "with its spec in the metadata");
  model.dispose();
  assert.ok(best.testAccuracy !== null && best.finalLatencyMs !== null, "the best is evaluated on the test split and re-timed");
  assert.ok(a.summary.frontLatency.length >= 1 && a.summary.frontParams.length >= 1, "both fronts non-empty");
  assert.ok(a.summary.frontLatency.includes(best.trialId) || a.summary.candidates.some((c) => c.valAccuracy > best.valAccuracy), "the best is on the latency front unless something scored higher");
  const html = readFileSync(a.reportPath, "utf8");
  assert.equal((html.match(/<svg data-chart="pareto-/g) ?? []).length, 2, "two Pareto charts in the report");
  assert.ok(html.includes("<circle class=\"best\""), "the best is marked");
  assert.equal(JSON.parse(readFileSync(a.resultsPath, "utf8")).summary.best.trialId, best.trialId, "results.json names the best");

  // The same command again: every trial is finished, so nothing trains and the result is the same.
  const store = RunStore.open(join(dir, "runs.db"), { readonly: true });
  const before = store.trials(a.searchId).map((t) => [t.key, t.attempts, t.startedAt]);
  store.close();
  const again = await runAutoSearch(base("a"));
  const store2 = RunStore.open(join(dir, "runs.db"), { readonly: true });
  assert.deepEqual(store2.trials(a.searchId).map((t) => [t.key, t.attempts, t.startedAt]), before, "no trial was run again");
  store2.close();
  assert.equal(again.searchId, a.searchId, "the same search continues");
  assert.equal(again.summary.best?.trialId, best.trialId, "same best");
});

test("auto: --max-params and --max-latency-ms skip candidates before training", { timeout: 60_000 }, async () => {
  const r = await runAutoSearch(base("small", { constraints: { maxParams: 1000 }, trials: 3 }));
  const store = RunStore.open(join(dir, "runs.db"), { readonly: true });
  const trials = store.trials(r.searchId);
  store.close();
  const skipped = trials.filter((t) => t.status === "skipped");
  assert.ok(skipped.length >= 1, "some candidates are too large");
  for (const t of skipped) {
    assert.match(t.reason ?? "", /^params \d+ > --max-params 1000$/, `skip reason of ${t.key}`);
    assert.ok((t.params ?? 0) > 1000, `${t.key} skipped with ${t.params} params`);
    assert.equal(t.attempts, 0, `${t.key} never trained`);
  }
  assert.ok(skipped.some((t) => t.key === "b0-c0-r0" && t.spec === "mlp:50-50"), "the default cannot shrink enough: skipped at its smallest (mlp:50-50)");
  const trained = trials.filter((t) => t.status === "finished");
  assert.ok(trained.length >= 3, "three candidates trained");
  assert.ok(trained.every((t) => (t.params ?? Infinity) <= 1000), "every trained student fits");
  assert.ok(r.summary.best && r.summary.best.params! <= 1000, "the best fits");

  const none = await runAutoSearch(base("fast", { constraints: { maxLatencyMs: 1e-6 }, trials: 1, seedDefault: false }));
  assert.equal(none.summary.best, null, "nothing is that fast");
  assert.equal(none.bestDir, null, "no best folder");
  assert.equal(none.summary.counts.finished, 0, "nothing trained");
  assert.equal(none.summary.counts.skipped, 20, "sampling gives up after 20 draws per wanted candidate");
  const s2 = RunStore.open(join(dir, "runs.db"), { readonly: true });
  const reasons = s2.trials(none.searchId).map((t) => t.reason ?? "");
  s2.close();
  assert.ok(reasons.every((x) => /^latency \d+\.\d+ ms > --max-latency-ms 0\.000001$/.test(x)), `latency reasons: ${reasons[0]}`);
  assert.ok(readFileSync(none.reportPath, "utf8").includes("No finished candidate meets the constraints"), "the report says so");

  // A time budget already spent by the time the teacher outputs are cached: nothing starts, the status says why.
  const spent = await runAutoSearch(base("spent", { trials: undefined, timeBudgetSeconds: 0.001 }));
  assert.equal(spent.status, "budget", "stopped by the budget");
  assert.equal(spent.summary.counts.finished, 0, "no trial started after the budget");
  assert.ok(spent.elapsedSeconds > 0.001, `the elapsed time is recorded (${spent.elapsedSeconds} s)`);
});

test("auto: --min-agreement filters the best; other settings in the same --out are refused; a foreign --out is refused", { timeout: 60_000 }, async () => {
  const strict = await runAutoSearch(base("agree", { constraints: { minAgreement: 1 }, trials: 3 }));
  assert.ok(strict.summary.candidates.length >= 1, "candidates trained");
  for (const c of strict.summary.candidates) assert.equal(c.meetsConstraints, c.valAgreement >= 1, `${c.key}: meets iff agreement ≥ 100%`);
  if (strict.summary.candidates.every((c) => c.valAgreement < 1)) assert.equal(strict.summary.best, null, "no best when nobody agrees enough");

  await assert.rejects(runAutoSearch(base("agree", { constraints: { minAgreement: 0.5 }, trials: 3 })), (e: Error) => e instanceof UsageError && /other settings \(constraints\.minAgreement was 1, now 0\.5\)/.test(e.message), "changed constraint refused, naming the field");
  await assert.rejects(runAutoSearch(base("agree", { seed: 4, trials: 3, constraints: { minAgreement: 1 } })), (e: Error) => e instanceof UsageError && /other settings/.test(e.message), "changed seed refused");
  const foreign = join(dir, "foreign");
  mkdirSync(foreign);
  writeFileSync(join(foreign, "notes.txt"), "mine");
  await assert.rejects(runAutoSearch(base("foreign")), (e: Error) => e instanceof UsageError && e.message.includes("not a tsdistill auto folder"), "a folder of something else is refused");
  assert.equal(readFileSync(join(foreign, "notes.txt"), "utf8"), "mine", "and left alone");
});
