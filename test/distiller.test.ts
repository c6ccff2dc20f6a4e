// The Distiller: typed term builders give the recipe's TermSpecs, fit is the same training as fit + WeightedSumLoss
// by hand (same numbers), progress arrives in one event shape, an AbortSignal stops it between batches, and
// bad terms are refused before training with the term named.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { modelTeacher, TeacherLogitCache } from "../src/teachers/teacher.js";
import { fit } from "../src/train/fit.js";
import { distill } from "../src/train/distill.js";
import { Distiller } from "../src/distill/distiller.js";
import { ce, fitnets, kd, term, rkdDistance } from "../src/distill/term-builders.js";
import { TermSpec, WeightedSumLoss } from "../src/distill/terms.js";
import type { ProgressEvent } from "../src/train/reporter.js";
import { blobs } from "./helpers.js";

await useBackend("cpu");

const mlp = (spec: string, seed: number) => new SequentialModel(modelConfigFromSpec(spec, { inputShape: [8], numClasses: 3 }), seed);

test("term builders give the TermSpecs a recipe's loss.terms parse to", () => {
  assert.deepEqual(kd({ temperature: 4, alpha: 0.1 }), TermSpec.parse({ loss: "kd", options: { temperature: 4, alpha: 0.1 } }));
  assert.deepEqual(ce({ weight: 0.5 }), TermSpec.parse({ loss: "ce", weight: 0.5 }));
  assert.deepEqual(
    fitnets({ student: "h1", teacher: "h2", weight: { kind: "linear", from: 1, to: 0 } }),
    TermSpec.parse({ loss: "fitnets", student: "h1", teacher: "h2", weight: { kind: "linear", from: 1, to: 0 } }),
  );
  assert.deepEqual(term("dkd", { beta: 4 }), TermSpec.parse({ loss: "dkd", options: { beta: 4 } }));
  // Option names and layer fields are typed from the registry's schemas: these do not compile.
  // @ts-expect-error misspelt option
  assert.throws(() => kd({ temprature: 4 }), /kd\(options\)/);
  // @ts-expect-error a layer term needs its layers
  assert.throws(() => WeightedSumLoss.compile([fitnets({ weight: 1 })], { studentLayer: () => [3], teacherLayer: () => [3], studentLayers: [], teacherLayers: [] }, 1));
});

test("Distiller.fit is fit + WeightedSumLoss by hand: same seed, same losses and weights", async () => {
  const data = blobs(90, 1);
  const teacherModel = mlp("mlp:16", 7);
  const teacher = modelTeacher(teacherModel);
  const terms = [kd({ temperature: 3, alpha: 0.2 })];
  const a = mlp("mlp:6", 3);
  const d = new Distiller({ teacher, student: a, terms, seed: 5 });
  const got = await d.fit(data, { epochs: 2, batchSize: 16, seed: 9, keepBest: false });

  const b = mlp("mlp:6", 3);
  const loss = WeightedSumLoss.compile(terms, { studentLayer: () => [3], teacherLayer: () => [3], studentLayers: [], teacherLayers: [] }, 5);
  const cache = await TeacherLogitCache.compute(teacher, data);
  const want = await fit(
    b,
    data,
    (logits, ctx) =>
      loss.compute({ studentLogits: logits, studentFeatures: ctx.features, teacherLogits: cache.gather(ctx.batch.indices), teacherFeatures: new Map(), labels: ctx.y, epoch: ctx.progress, epochs: 2 }).total,
    { epochs: 2, batchSize: 16, seed: 9, keepBest: false, label: "distill" },
  );
  assert.deepEqual(
    got.history.map((h) => h.loss),
    want.history.map((h) => h.loss),
  );
  const wa = a.snapshot().map((t) => Array.from(t.dataSync()));
  const wb = b.snapshot().map((t) => Array.from(t.dataSync()));
  assert.deepEqual(wa, wb);
  assert.ok(d.teacherLogits, "the teacher's logits are kept for the next stage");
  const ev = d.evaluate(blobs(30, 2));
  assert.ok(ev.accuracy >= 0 && ev.accuracy <= 1 && ev.agreement !== null && ev.agreement >= 0 && ev.agreement <= 1);
  d.dispose();
  loss.dispose();
  for (const m of [a, b, teacherModel]) m.dispose();
});

test("progress: one event shape after every batch and epoch; an AbortSignal stops before the next batch", async () => {
  const data = blobs(64, 3);
  const teacherModel = mlp("mlp:12", 1);
  const student = mlp("mlp:5", 2);
  const d = new Distiller({ teacher: modelTeacher(teacherModel), student, terms: [kd({ temperature: 4, alpha: 0.1 })] });
  const events: ProgressEvent[] = [];
  await d.fit(data, { epochs: 2, batchSize: 16, validation: blobs(30, 4), callbacks: { onBatch: (e) => events.push(e), onEpoch: (e) => events.push(e) } });
  assert.deepEqual(
    events.map((e) => `${e.kind}:${e.epoch}/${e.epochs}:${e.step}/${e.stepsPerEpoch}`),
    ["batch:1/2:1/4", "batch:1/2:2/4", "batch:1/2:3/4", "batch:1/2:4/4", "epoch:1/2:4/4", "batch:2/2:1/4", "batch:2/2:2/4", "batch:2/2:3/4", "batch:2/2:4/4", "epoch:2/2:4/4"],
  );
  for (const e of events) assert.ok(Number.isFinite(e.loss) && e.samplesPerSecond > 0 && e.label === "distill", JSON.stringify(e));
  const epochEvents = events.filter((e) => e.kind === "epoch");
  assert.ok(epochEvents.every((e) => e.metrics && typeof e.metrics.valAccuracy === "number"), "epoch events carry the validation metrics");

  const controller = new AbortController();
  let batches = 0;
  const stopped = d.fit(data, {
    epochs: 3,
    batchSize: 16,
    signal: controller.signal,
    callbacks: {
      onBatch: () => {
        if (++batches === 3) controller.abort(new Error("stop here"));
      },
    },
  });
  await assert.rejects(stopped, /stop here/);
  assert.equal(batches, 3, "no batch runs after the abort");
  d.dispose();
  student.dispose();
  teacherModel.dispose();
});

test("feature terms: a projector where widths differ; bad layers are refused before training, naming the term", async () => {
  const data = blobs(48, 5);
  const teacherModel = new SequentialModel(modelConfigFromSpec("mlp:16", { inputShape: [8], numClasses: 3 }), 1);
  const student = new SequentialModel(modelConfigFromSpec("mlp:6", { inputShape: [8], numClasses: 3 }), 2);
  const teacher = modelTeacher(teacherModel);
  const [sHidden] = student.layerNames();
  const [tHidden] = teacherModel.layerNames();
  const d = new Distiller({ teacher, student, terms: [ce(), fitnets({ student: sHidden, teacher: tHidden, weight: 0.5 }), rkdDistance({ student: sHidden, teacher: tHidden, weight: 2 })] });
  assert.equal(d.loss.extraParams.length > 0, true, "fitnets between widths 6 and 16 gets a projector");
  const r = await d.fit(data, { epochs: 1, batchSize: 16 });
  assert.ok(r.history.every((h) => Number.isFinite(h.loss)));
  d.dispose();
  assert.throws(() => new Distiller({ teacher, student, terms: [fitnets({ student: "nope", teacher: tHidden })] }), /terms\[0\]\.student: no student layer "nope"/);
  assert.throws(() => new Distiller({ teacherLogits: new TeacherLogitCache(new Float32Array(48 * 3), 3), student, terms: [fitnets({ student: sHidden, teacher: tHidden })] }), /terms\[0\]\.teacher: no teacher layer/);
  assert.throws(() => new Distiller({ teacherLogits: new TeacherLogitCache(new Float32Array(48 * 4), 4), student, terms: [kd()] }), /teacher has 4 outputs but the student has 3/);
  student.dispose();
  teacherModel.dispose();
  tf.disposeVariables();
});

test("a Distiller with one kd term trains exactly as distill() (the CLI's --teacher path moved onto it)", async () => {
  const data = blobs(80, 6);
  const teacherModel = mlp("mlp:10", 4);
  const teacherLogits = await TeacherLogitCache.compute(modelTeacher(teacherModel), data);
  const a = mlp("mlp:6", 8);
  const b = mlp("mlp:6", 8);
  const settings = { epochs: 2, batchSize: 32, seed: 3, validation: blobs(30, 7) };
  const viaDistill = await distill({ ...settings, teacherLogits, student: a, data, temperature: 3, alpha: 0.25 });
  const d = new Distiller({ teacherLogits, student: b, terms: [kd({ temperature: 3, alpha: 0.25 })] });
  const viaDistiller = await d.fit(data, settings);
  assert.deepEqual(
    viaDistiller.history.map(({ loss, valAccuracy, valLoss }) => ({ loss, valAccuracy, valLoss })),
    viaDistill.history.map(({ loss, valAccuracy, valLoss }) => ({ loss, valAccuracy, valLoss })),
  );
  assert.deepEqual(
    b.snapshot().map((t) => Array.from(t.dataSync())),
    a.snapshot().map((t) => Array.from(t.dataSync())),
  );
  d.dispose();
  for (const m of [a, b, teacherModel]) m.dispose();
});
