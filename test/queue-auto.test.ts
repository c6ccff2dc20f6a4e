// `tsdistill auto --queue` against a local stand-in for the shared Redis (redis-server on 127.0.0.1) with two
// `tsdistill worker` processes finishes with the same run-store rows as the same search run locally: the same
// trials, statuses and settings, and the same scores and per-epoch losses (same backend; compared within float
// tolerance). The coordinator alone writes the store; results and epochs come back through the queue.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { RunStore, type TrialRow } from "../src/runs/store.js";
import type { EpochMetrics } from "../src/train/reporter.js";
import { useBackend } from "../src/engine/backend.js";
import { makeTinyProblem } from "./auto-fixture.js";
import { runCli, tempDir } from "./helpers.js";
import { CliProcess, LocalRedis, redisMissing, startWorker } from "./queue-helpers.js";

function rows(db: string): { trials: TrialRow[]; epochs: Map<string, EpochMetrics[]>; status: string } {
  const store = RunStore.open(db, { readonly: true });
  try {
    const [search] = store.listSearches();
    const trials = store.trials(search.id);
    return { trials, epochs: new Map(trials.map((t) => [t.key, store.epochs(t.id)])), status: search.status };
  } finally {
    store.close();
  }
}

const close = (a: number | null, b: number | null, what: string) => {
  if (a === null || b === null) return assert.equal(a, b, what);
  assert.ok(Math.abs(a - b) <= 1e-5 + 1e-5 * Math.abs(b), `${what}: ${a} vs ${b}`);
};

test("auto --queue with 2 workers (local stand-in Redis), one SIGKILLed mid-trial and replaced, gives the store rows of a local run: same trials, same scores and epochs", { skip: redisMissing, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir("tsdistill-queue-auto-");
  const redis = redisMissing ? null : await LocalRedis.start(join(dir, "redis"));
  const workers = redis ? [startWorker(redis.url), startWorker(redis.url)] : [];
  try {
    await useBackend("wasm");
    const problem = await makeTinyProblem(dir, { trainCount: 400, testCount: 100 });
    const args = (name: string) => ["auto", "--teacher", problem.teacher, "--data", problem.data, "--validation-size", "100", "--seed", "3", "--max-params", "20000", "--trials", "3", "--max-epochs", "3", "--batch-size", "32", "--out", join(dir, name), "--db", join(dir, `${name}.db`), "--json"];
    const local = await runCli([...args("local"), "--workers", "1", "--quiet"], 180_000);
    assert.equal(local.code, 0, local.stderr);
    await Promise.all(workers.map((w) => w.waitFor(/ready: 1 slot/)));
    const coord = CliProcess.start([...args("queued"), "--queue", redis!.url]);
    // The first worker to start a trial is killed mid-trial; a new worker joins.
    let victim = -1;
    let key = "";
    for (let i = 0; victim < 0 && i < 2400; i++) {
      workers.forEach((w, k) => {
        const m = victim < 0 ? /started trial (b\d+-c\d+-r\d+)/.exec(w.stderr) : null;
        if (m) [victim, key] = [k, m[1]];
      });
      if (victim < 0) await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(victim >= 0, `no worker started a trial; coordinator: ${coord.stderr}`);
    workers[victim].proc.kill("SIGKILL");
    workers.push(startWorker(redis!.url));
    const done = await coord.exited;
    assert.equal(done.code, 0, coord.stderr);
    const queued = { stdout: coord.stdout, stderr: coord.stderr };
    assert.match(queued.stderr, /running per worker: \S+ \(1\)/, "the coordinator shows the trials running per worker");
    assert.doesNotMatch(workers[victim].stderr, new RegExp(`finished trial ${key} `));
    const finishers = workers.filter((w) => new RegExp(`finished trial ${key} `).test(w.stderr));
    assert.equal(finishers.length, 1, `trial ${key} of the killed worker was finished by one other worker`);

    const a = rows(join(dir, "local.db"));
    const b = rows(join(dir, "queued.db"));
    assert.equal(b.status, a.status);
    assert.deepEqual(b.trials.map((t) => t.key), a.trials.map((t) => t.key), "the same trials");
    assert.ok(a.trials.filter((t) => t.status === "finished").length >= 4, "the search trained several trials");
    for (const [i, t] of a.trials.entries()) {
      const u = b.trials[i];
      for (const k of ["status", "spec", "params", "fidelity", "bracket", "candidate", "rung", "attempts"] as const) assert.deepEqual(u[k], t[k], `${t.key}.${k}`);
      assert.deepEqual(u.config, t.config, `${t.key}.config`);
      close(u.valAccuracy, t.valAccuracy, `${t.key}.valAccuracy`);
      close(u.valAgreement, t.valAgreement, `${t.key}.valAgreement`);
      close(u.valLoss, t.valLoss, `${t.key}.valLoss`);
      // Test accuracy is measured for the Pareto finalists, and the latency front depends on measured latencies.
      if (u.testAccuracy !== null && t.testAccuracy !== null) close(u.testAccuracy, t.testAccuracy, `${t.key}.testAccuracy`);
      const ea = a.epochs.get(t.key)!;
      const eb = b.epochs.get(t.key)!;
      assert.equal(eb.length, ea.length, `${t.key}: epochs recorded`);
      ea.forEach((e, j) => close(eb[j].loss, e.loss, `${t.key} epoch ${j + 1} loss`));
    }
    const ra = JSON.parse(local.stdout);
    const rb = JSON.parse(queued.stdout);
    assert.equal(rb.summary.best?.spec, ra.summary.best?.spec, "the same best student");
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    cleanup();
  }
});
