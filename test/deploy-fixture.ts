// Tiny data sets of every raw kind and students trained on them, saved the way `tsdistill train` saves them
// (metadata `data: <spec>`, preprocess.json beside model.json): for the deployment tests (not a test file itself).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { loadImageData } from "../src/data/sources.js";
import { PREPROCESS_FILE } from "../src/data/preprocess.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { train } from "../src/train/distill.js";
import { Rng } from "../src/util/rng.js";

export interface DeployFixture {
  root: string;
  /** Data specs. */
  mixedCsv: string;
  numericCsv: string;
  jsonl: string;
  images: string;
  /** Model folders trained on each. */
  mixed: string;
  numeric: string;
  text: string;
  image: string;
  /** Raw samples to predict: records (some values missing), texts, image PNG bytes (10×10, the model is 8×8 gray). */
  records: Record<string, unknown>[];
  numericRecords: Record<string, unknown>[];
  texts: string[];
  pngs: Buffer[];
}

const COLORS = ["red", "green", "blue"];
const WORDS = { pos: ["good", "great", "lovely", "fine", "happy"], neg: ["bad", "awful", "sad", "poor", "ugly"] };

export function pngBytes(w: number, h: number, f: (x: number, y: number) => [number, number, number]): Buffer {
  const p = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) p.data.set([...f(x, y), 255], (y * w + x) * 4);
  return PNG.sync.write(p);
}

function imageOf(cls: number, rng: Rng): Buffer {
  // Class 0 is bright on the left, class 1 on the right; colours and noise vary.
  const tint = [rng.int(80), rng.int(80), rng.int(80)];
  return pngBytes(10, 10, (x) => {
    const bright = cls === 0 ? x < 5 : x >= 5;
    return tint.map((t) => Math.max(0, Math.min(255, (bright ? 170 : 20) + t + Math.round(rng.normal() * 15)))) as [number, number, number];
  });
}

/** Trains mlp:16 for a few epochs on `spec` and saves it like `tsdistill train` does. */
async function trainOn(spec: string, dir: string, seed: number): Promise<void> {
  const data = loadImageData(spec);
  const model = new SequentialModel(modelConfigFromSpec("mlp:16", { inputShape: data.train.sampleShape, numClasses: data.train.numClasses }), seed);
  try {
    await train(model, data.train, { epochs: 6, batchSize: 16, seed, optimizer: { kind: "adam", lr: 1e-2 } });
    const files: Record<string, string> = data.preprocess ? { [PREPROCESS_FILE]: JSON.stringify(data.preprocess, null, 2) + "\n" } : {};
    await saveModel(model, dir, { spec: "mlp:16", data: spec, outputs: "logits" }, files);
  } finally {
    model.dispose();
  }
}

export async function makeDeployFixture(root: string): Promise<DeployFixture> {
  const rng = new Rng(3, "deploy-fixture");
  mkdirSync(root, { recursive: true });
  // Mixed tabular: two numeric columns (x2 sometimes missing), one categorical, label a/b/c from x1 and colour.
  const mixedRows = ["x1,x2,color,y"];
  for (let i = 0; i < 150; i++) {
    const c = rng.int(3);
    const x1 = rng.normal() * 2 + c;
    const x2 = rng.next() < 0.15 ? "?" : (rng.normal() * 5 + 10).toFixed(3);
    const y = x1 + c > 2.5 ? "c" : x1 + c > 1 ? "b" : "a";
    mixedRows.push(`${x1.toFixed(3)},${x2},${COLORS[c]},${y}`);
  }
  writeFileSync(join(root, "mixed.csv"), mixedRows.join("\n") + "\n");
  // Numeric tabular: three numeric columns, some missing; label lo/hi.
  const numRows = ["a,b,c,label"];
  for (let i = 0; i < 150; i++) {
    const a = rng.normal() * 3 + 5;
    const b = rng.normal() * 100;
    const c = rng.normal();
    numRows.push(`${rng.next() < 0.1 ? "" : a.toFixed(3)},${b.toFixed(2)},${rng.next() < 0.1 ? "NA" : c.toFixed(4)},${a + c * 2 > 5 ? "hi" : "lo"}`);
  }
  writeFileSync(join(root, "numeric.csv"), numRows.join("\n") + "\n");
  // Texts: a few sentiment words among filler.
  const lines: string[] = [];
  for (let i = 0; i < 120; i++) {
    const label = rng.next() < 0.5 ? "pos" : "neg";
    const words = Array.from({ length: 3 + rng.int(4) }, () => (rng.next() < 0.6 ? WORDS[label][rng.int(5)] : ["the", "a", "day", "film", "très"][rng.int(5)]));
    lines.push(JSON.stringify({ text: words.join(" "), label }));
  }
  writeFileSync(join(root, "texts.jsonl"), lines.join("\n") + "\n");
  // Images: two classes of 10×10 RGB PNGs.
  for (const [k, cls] of ["left", "right"].entries()) {
    mkdirSync(join(root, "images", cls), { recursive: true });
    for (let i = 0; i < 14; i++) writeFileSync(join(root, "images", cls, `${i}.png`), imageOf(k, rng));
  }
  const f: DeployFixture = {
    root,
    mixedCsv: `csv:${join(root, "mixed.csv")}?label=y`,
    numericCsv: `csv:${join(root, "numeric.csv")}?label=label`,
    jsonl: `jsonl:${join(root, "texts.jsonl")}?buckets=64&words=1&chars=2-3`,
    images: `images:${join(root, "images")}?size=8x8&gray`,
    mixed: join(root, "models", "mixed"),
    numeric: join(root, "models", "numeric"),
    text: join(root, "models", "text"),
    image: join(root, "models", "image"),
    records: [
      { x1: 1.5, x2: 9.2, color: "red" },
      { x1: "-0.7", color: "blue" }, // x2 absent: missing
      { x1: 3, x2: null, color: "purple" }, // an unseen category
      { x1: 0.2, x2: "12", color: "green", y: "b" }, // the label column is allowed (and ignored)
    ],
    numericRecords: [
      { a: 6.1, b: -40, c: 0.3 },
      { a: null, b: 120.5, c: -1.2 },
      { a: "4.5", b: "3" }, // c absent: missing
      { a: 9, b: 0, c: "NA" },
    ],
    texts: ["good lovely film", "awful sad day", "très bien", ""],
    pngs: [imageOf(0, rng), imageOf(1, rng), pngBytes(12, 7, (x, y) => [x * 20, y * 30, 90]), pngBytes(8, 8, (x) => (x < 4 ? [250, 250, 250] : [0, 0, 0]))],
  };
  await trainOn(f.mixedCsv, f.mixed, 1);
  await trainOn(f.numericCsv, f.numeric, 2);
  await trainOn(f.jsonl, f.text, 3);
  await trainOn(f.images, f.image, 4);
  return f;
}
