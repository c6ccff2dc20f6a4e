// A tiny problem for the auto tests (not a test file itself): an MNIST-format folder of 8×8 images in 10
// classes (a noisy prototype per class) and a small teacher trained on it, both made in a second or two.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeIdx } from "../src/data/idx.js";
import { loadSplits } from "../src/data/sources.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { train } from "../src/train/distill.js";
import { Rng } from "../src/util/rng.js";

const SIDE = 8;

function writeSplit(dir: string, split: "train" | "t10k", n: number, protos: Float32Array[], rng: Rng): void {
  const px = new Uint8Array(n * SIDE * SIDE);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(10);
    labels[i] = c;
    for (let j = 0; j < SIDE * SIDE; j++) px[i * SIDE * SIDE + j] = Math.max(0, Math.min(255, Math.round(protos[c][j] * 110 + 90 * rng.normal() + 70)));
  }
  writeFileSync(join(dir, `${split}-images-idx3-ubyte`), encodeIdx("uint8", [n, SIDE, SIDE], px));
  writeFileSync(join(dir, `${split}-labels-idx1-ubyte`), encodeIdx("uint8", [n], labels));
}

/** Writes `<dir>/data` (idx files) and `<dir>/teacher` (mlp:32, 8 epochs); returns their paths. */
export async function makeTinyProblem(dir: string, { trainCount = 700, testCount = 200, seed = 5 } = {}): Promise<{ data: string; teacher: string }> {
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { recursive: true });
  const rng = new Rng(seed, "auto-fixture");
  const protos = Array.from({ length: 10 }, () => Float32Array.from({ length: SIDE * SIDE }, () => (rng.next() < 0.3 ? 1 : 0)));
  writeSplit(dataDir, "train", trainCount, protos, rng);
  writeSplit(dataDir, "t10k", testCount, protos, rng);
  const data = `idx:${dataDir}`;
  const { train: trainSet } = loadSplits(data, { validationSize: 100, seed: 1 });
  const teacher = new SequentialModel(modelConfigFromSpec("mlp:32", { inputShape: [SIDE, SIDE, 1], numClasses: 10 }), seed);
  await train(teacher, trainSet, { epochs: 8, batchSize: 32, seed, optimizer: { kind: "adam", lr: 5e-3 } });
  const teacherDir = join(dir, "teacher");
  await saveModel(teacher, teacherDir, { role: "teacher" });
  teacher.dispose();
  return { data, teacher: teacherDir };
}

/** A space of tiny students for the tests. */
export const TINY_SPACE = { mlpWidths: [8, 16, 32], mlpMaxDepth: 2, cnnShare: 0.25, cnnChannels: [2, 4], cnnDense: [8], lrMin: 3e-3, lrMax: 1e-2 };
