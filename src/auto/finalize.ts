// The end of a search: the finalists (both Pareto fronts and the best candidate) are evaluated on the test split
// and timed again side by side, the best student meeting the constraints is copied to <out>/best (a model folder
// that `tsdistill export` takes), and results.json, report.html and the store's search row are written.
import * as tf from "@tensorflow/tfjs-core";
import { cpSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { BackendName } from "../engine/backend.js";
import type { InMemoryDataset } from "../data/dataset.js";
import type { DataSummary } from "../data/summary.js";
import { loadModel } from "../students/io.js";
import type { SequentialModel } from "../students/model.js";
import { hashDataset, openLabelCache } from "../teachers/label-cache.js";
import { agreement, classificationMetrics, evaluate, predictLogits } from "../eval/classification.js";
import { regressionMetrics, targetValues, toUnits } from "../eval/regression.js";
import { measureInterleaved } from "../eval/timing.js";
import { bytesOnDisk } from "../eval/size.js";
import type { RunStore, SearchRow, SearchStatus } from "../runs/store.js";
import { writeDirAtomic, writeFileAtomic } from "../util/files.js";
import { renderParetoHtml } from "./pareto-html.js";
import { summarizeSearch, type AutoResult } from "./summary.js";

export type { AutoResult } from "./summary.js";

export interface FinalizeContext {
  status: "finished" | "budget";
  dataSummary?: DataSummary;
  test: InMemoryDataset;
  caches: { test: string };
  backend: BackendName;
  seconds: number;
  log: (m: string) => void;
}

export async function finalizeSearch(store: RunStore, search: SearchRow, ctx: FinalizeContext): Promise<AutoResult> {
  const { test } = ctx;
  const first = summarizeSearch(search, store.trials(search.id));
  const finalists = [...new Set([...first.frontLatency, ...first.frontParams, ...(first.best ? [first.best.trialId] : [])])];
  const cache = openLabelCache(ctx.caches.test, { datasetHash: hashDataset(test), numSamples: test.size });
  const teacherTest = cache.logitsFor(Int32Array.from({ length: test.size }, (_, i) => i));
  cache.close();
  // Regression: R² in place of accuracy, R² against the teacher's predictions in place of agreement (summary.ts).
  const regression = test.task === "regression";
  const truth = regression ? targetValues(test) : null;
  const teacherAccuracy = truth ? regressionMetrics(teacherTest, truth).r2 : classificationMetrics(teacherTest, test.y, test.numClasses).accuracy;

  const loaded: { id: number; model: SequentialModel }[] = [];
  try {
    for (const id of finalists) {
      const t = store.trial(id)!;
      if (!t.modelDir || !existsSync(t.modelDir)) continue;
      const { model } = await loadModel(t.modelDir);
      loaded.push({ id, model });
      if (truth) {
        const pred = toUnits(predictLogits((x) => model.predict(x), test), test.target!);
        const m = regressionMetrics(pred, truth);
        store.setTestMetrics(id, m.r2, { testAgreement: regressionMetrics(pred, teacherTest).r2, testRmse: m.rmse, testMae: m.mae, bytesOnDisk: bytesOnDisk(t.modelDir) });
        continue;
      }
      const ev = evaluate((x) => model.predict(x), test);
      store.setTestMetrics(id, ev.accuracy, { testAgreement: agreement(teacherTest, ev.logits, test.numClasses), testErrors: ev.errors, bytesOnDisk: bytesOnDisk(t.modelDir) });
    }
    if (loaded.length) {
      // All finalists timed round-robin in this process, so their latencies compare with each other.
      const one = tf.tensor(test.x.subarray(0, test.sampleSize), [1, ...test.sampleShape]);
      const stats = measureInterleaved(
        loaded.map(({ model }) => () => void tf.tidy(() => model.predict(one).dataSync())),
        { warmup: 20, runs: 300, maxSeconds: Math.min(10, 1 + loaded.length) },
      );
      one.dispose();
      loaded.forEach(({ id }, i) => store.setTestMetrics(id, store.trial(id)!.testAccuracy, { finalLatencyMs: stats[i].p50Ms }));
    }
  } finally {
    for (const l of loaded) l.model.dispose();
  }

  const summary = summarizeSearch(search, store.trials(search.id));
  const out = search.outDir;
  let bestDir: string | null = null;
  if (summary.best?.modelDir && existsSync(summary.best.modelDir)) {
    bestDir = join(out, "best");
    const from = summary.best.modelDir;
    await writeDirAtomic(bestDir, (tmp) => cpSync(from, tmp, { recursive: true }));
  }
  const settings = search.settings;
  const latest = store.search(search.id)!;
  const result: AutoResult = {
    searchId: search.id,
    db: store.path,
    outDir: out,
    status: ctx.status,
    task: regression ? "regression" : "classification",
    teacher: { spec: String(settings.teacher), testAccuracy: teacherAccuracy },
    data: String(settings.data),
    backend: ctx.backend,
    summary,
    ...(ctx.dataSummary ? { dataSummary: ctx.dataSummary } : {}),
    bestDir,
    reportPath: join(out, "report.html"),
    resultsPath: join(out, "results.json"),
    seconds: ctx.seconds,
    elapsedSeconds: latest.elapsedSeconds,
  };
  writeFileAtomic(result.resultsPath, JSON.stringify(result, null, 2) + "\n");
  writeFileAtomic(result.reportPath, renderParetoHtml(result));
  store.updateSearch(search.id, {
    status: ctx.status,
    bestTrialId: summary.best?.trialId ?? null,
    result: { best: summary.best, frontLatency: summary.frontLatency, frontParams: summary.frontParams, counts: summary.counts, teacherTestAccuracy: teacherAccuracy },
  });
  ctx.log(`${summary.counts.finished} trials finished (${summary.counts.skipped} candidates skipped before training); report ${result.reportPath}`);
  return result;
}
