// The SQLite run store: searches, trials and per-epoch metrics written, read back, updated and deleted; a
// reopened store keeps everything; a file that is not a store is refused with one line naming it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { RunStore } from "../src/runs/store.js";
import { DataError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

const trial = (key: string, rung = 0) => ({ key, bracket: 0, candidate: Number(key.slice(-1)), rung, config: { student: "mlp:8", method: "kd", lr: 0.01 }, spec: "mlp:8", params: 610, latencyMs: 0.02, fidelity: 1 + rung });

test("run store: create, read, update and delete searches, trials and epochs; reopen keeps them", () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, "sub", "runs.db");
    let clock = Date.parse("2025-01-02T03:04:05.000Z");
    const now = () => new Date((clock += 1000));
    const store = RunStore.open(path, { create: true, now });
    const s = store.createSearch(join(dir, "out"), { seed: 3, constraints: { maxParams: 100 } });
    assert.equal(s.status, "running", "a new search is running");
    assert.equal(s.outDir, join(dir, "out"), "out dir stored resolved");
    assert.deepEqual(s.settings, { seed: 3, constraints: { maxParams: 100 } }, "settings round-trip as JSON");
    assert.equal(store.searchByOutDir(join(dir, "out"))?.id, s.id, "found by its folder");
    assert.throws(() => store.createSearch(join(dir, "out"), {}), /UNIQUE/, "one search per folder");

    const a = store.ensureTrial(s.id, trial("b0-c0"));
    assert.equal(a.status, "pending", "new trials are pending");
    assert.equal(store.ensureTrial(s.id, { ...trial("b0-c0"), spec: "other" }).id, a.id, "ensureTrial is idempotent per key");
    assert.equal(store.trial(a.id)?.spec, "mlp:8", "the existing row is not overwritten");

    store.startTrial(a.id);
    store.addEpoch(a.id, { epoch: 1, loss: 1.5, lr: 0.01, seconds: 0.5, samplesPerSecond: 100, valAccuracy: 0.4, valLoss: 1.4 });
    store.startTrial(a.id); // a rerun of an unfinished trial drops its earlier epochs
    assert.equal(store.epochs(a.id).length, 0, "restart clears the epochs");
    store.addEpoch(a.id, { epoch: 1, loss: 1.2, lr: 0.01, seconds: 0.5, samplesPerSecond: 100, valAccuracy: 0.5, valLoss: 1.1 });
    store.addEpoch(a.id, { epoch: 2, loss: 0.9, lr: 0.005, seconds: 0.5, samplesPerSecond: 100 });
    assert.equal(store.trial(a.id)?.attempts, 2, "attempts counted");
    assert.equal(store.trial(a.id)?.status, "running", "running after start");
    store.finishTrial(a.id, { seconds: 1.0, valAccuracy: 0.55, valAgreement: 0.6, valLoss: 1.0, metrics: { bestEpoch: 1 }, modelDir: "/m/a" });
    const done = store.trial(a.id)!;
    assert.equal(done.status, "finished", "finished");
    assert.equal(done.valAccuracy, 0.55, "val accuracy stored");
    assert.deepEqual(done.metrics, { bestEpoch: 1 }, "metrics JSON stored");
    assert.equal(done.modelDir, "/m/a", "artefact path stored");
    store.setTestMetrics(a.id, 0.5, { testAgreement: 0.7 });
    assert.deepEqual(store.trial(a.id)?.metrics, { bestEpoch: 1, testAgreement: 0.7 }, "test metrics merged into metrics");
    assert.equal(store.trial(a.id)?.testAccuracy, 0.5, "test accuracy stored");

    const b = store.ensureTrial(s.id, trial("b0-c1"));
    store.startTrial(b.id);
    const c = store.ensureTrial(s.id, trial("b0-c2"));
    store.endTrial(c.id, "skipped", "params 610 > 100");
    assert.equal(store.markInterrupted(s.id, "process died"), 1, "only the running trial is marked interrupted");
    assert.equal(store.trial(b.id)?.status, "interrupted", "running → interrupted");
    assert.equal(store.trial(c.id)?.reason, "params 610 > 100", "skip reason kept");
    assert.deepEqual(store.trials(s.id).map((t) => t.key), ["b0-c0", "b0-c1", "b0-c2"], "trials ordered by bracket, candidate, rung");

    store.updateSearch(s.id, { status: "finished", addSeconds: 12.5, bestTrialId: a.id, result: { best: a.id } });
    store.updateSearch(s.id, { addSeconds: 2.5 });
    store.close();

    const again = RunStore.open(path);
    const s2 = again.search(s.id)!;
    assert.equal(s2.status, "finished", "status persisted");
    assert.equal(s2.elapsedSeconds, 15, "seconds accumulate over updates");
    assert.equal(s2.bestTrialId, a.id, "best trial persisted");
    assert.deepEqual(s2.result, { best: a.id }, "result persisted");
    assert.deepEqual(again.epochs(a.id).map((e) => [e.epoch, e.loss, e.valAccuracy]), [[1, 1.2, 0.5], [2, 0.9, undefined]], "epochs persisted in order");
    assert.equal(again.listSearches().length, 1, "one search listed");
    again.deleteSearch(s.id);
    assert.equal(again.trials(s.id).length, 0, "deleting a search deletes its trials");
    assert.equal(again.epochs(a.id).length, 0, "and their epochs");
    again.close();
  } finally {
    cleanup();
  }
});

test("run store: a missing store or a file that is not one is a one-line DataError naming it", () => {
  const { dir, cleanup } = tempDir();
  try {
    const missing = join(dir, "none.db");
    assert.throws(() => RunStore.open(missing, { readonly: true }), (e: Error) => e instanceof DataError && e.message.startsWith(missing) && !e.message.includes("\n"), "missing store");
    const junk = join(dir, "junk.db");
    writeFileSync(junk, "this is not sqlite at all, just text that is long enough to look like a header".repeat(20));
    assert.throws(() => RunStore.open(junk, { create: true }), (e: Error) => e instanceof DataError && e.message.startsWith(junk) && /not a tsdistill run store/.test(e.message), "junk file");
  } finally {
    cleanup();
  }
});
