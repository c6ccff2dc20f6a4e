// The CLI's progress output is drawn from the library's one progress shape: a Distiller's fit hands the same
// ProgressEvents to its callbacks and to the CLI's ProgressReporter, whose lines are those events, formatted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { useBackend } from "../src/engine/backend.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { modelTeacher } from "../src/teachers/teacher.js";
import { Distiller } from "../src/distill/distiller.js";
import { kd } from "../src/distill/term-builders.js";
import type { ProgressEvent } from "../src/train/reporter.js";
import { ProgressReporter } from "../src/cli/progress.js";
import { blobs } from "./helpers.js";

await useBackend("cpu");

function capture(): { stream: Writable & { columns: number }; text: () => string } {
  const chunks: string[] = [];
  const stream = Object.assign(new Writable({ write: (c, _e, done) => void (chunks.push(String(c)), done()) }), { columns: 200 });
  return { stream, text: () => chunks.join("") };
}

async function distillWith(progress: ProgressReporter): Promise<ProgressEvent[]> {
  const teacherModel = new SequentialModel(modelConfigFromSpec("mlp:10", { inputShape: [8], numClasses: 3 }), 1);
  const student = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [8], numClasses: 3 }), 2);
  const d = new Distiller({ teacher: modelTeacher(teacherModel), student, terms: [kd({ temperature: 4, alpha: 0.1 })] });
  const events: ProgressEvent[] = [];
  try {
    await d.fit(blobs(48, 3), { epochs: 2, batchSize: 16, seed: 5, validation: blobs(24, 4), label: "student", reporter: progress, callbacks: { onBatch: (e) => events.push(e), onEpoch: (e) => events.push(e) } });
  } finally {
    d.dispose();
    student.dispose();
    teacherModel.dispose();
  }
  return events;
}

test("not on a terminal: one line per epoch event, its numbers those of the event", async () => {
  const out = capture();
  const events = await distillWith(new ProgressReporter({ stream: out.stream, tty: false }));
  const epochs = events.filter((e) => e.kind === "epoch");
  assert.equal(epochs.length, 2);
  const expected = epochs.map((e) => {
    const m = e.metrics!;
    return `student epoch ${e.epoch}/${e.epochs}: loss ${e.loss.toFixed(4)}, val acc ${(m.valAccuracy! * 100).toFixed(2)}%, ${Math.round(e.samplesPerSecond).toLocaleString("en-US")} samples/s, ${m.seconds.toFixed(1)}s\n`;
  });
  assert.equal(out.text(), expected.join(""));
});

test("on a terminal: the live line shows the batch event's epoch (from 1), bar and ETA; quiet prints nothing", async () => {
  const out = capture();
  const events = await distillWith(new ProgressReporter({ stream: out.stream, tty: true }));
  const firstBatch = events.find((e) => e.kind === "batch")!;
  const live = out.text().split("\r\x1b[2K").filter((l) => l.startsWith("student ") && !l.includes("epoch"));
  assert.ok(live.length >= 1, JSON.stringify(out.text()));
  // The first batch is always drawn: 1 of 3 steps in epoch 1 of 2 is 17 % of the training.
  assert.match(live[0], new RegExp(`^student 1/2 [█░]{24}  17% ETA \\d+:\\d\\d  [\\d,]+ samples/s  loss ${firstBatch.loss.toFixed(4)}$`));
  assert.match(out.text(), /student epoch 2\/2: loss \d\.\d{4}, val acc/);

  const quiet = capture();
  await distillWith(new ProgressReporter({ stream: quiet.stream, tty: true, quiet: true }));
  assert.equal(quiet.text(), "");
});
