import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { resizeBilinear } from "../src/data/image-decode.js";
import { loadImageFolder } from "../src/data/image-folder.js";
import { applyPreprocess } from "../src/data/preprocess.js";
import { loadIdxImageSplit, mnistDataDir } from "../src/data/mnist.js";
import { DataError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

/** RGBA bytes of a w×h image whose pixel (x, y) is f(x, y) = [r, g, b]. */
function rgba(w: number, h: number, f: (x: number, y: number) => [number, number, number]): Uint8Array {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([...f(x, y), 255], (y * w + x) * 4);
  return data;
}

function png(w: number, h: number, f: (x: number, y: number) => [number, number, number]): Buffer {
  const p = new PNG({ width: w, height: h });
  p.data = Buffer.from(rgba(w, h, f));
  return PNG.sync.write(p);
}

function jpg(w: number, h: number, f: (x: number, y: number) => [number, number, number]): Buffer {
  return jpeg.encode({ width: w, height: h, data: rgba(w, h, f) }, 100).data;
}

function dataError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataError && !err.message.includes("\n"), `one-line DataError: ${(err as Error)?.message}`);
    for (const p of parts) assert.ok(err.message.includes(p), `${err.message} lacks ${p}`);
    return true;
  });
}

test("bilinear resize with half-pixel centres (golden, as tf.image.resizeBilinear halfPixelCenters)", () => {
  const up = resizeBilinear(Float32Array.from([0, 1, 2, 3]), 2, 2, 1, 4, 4);
  assert.deepEqual(Array.from(up), [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
  const src = Float32Array.from({ length: 16 }, (_, i) => i);
  assert.deepEqual(Array.from(resizeBilinear(src, 4, 4, 1, 2, 2)), [2.5, 4.5, 10.5, 12.5], "downscaling 2× averages each 2×2 block");
  const rgb = resizeBilinear(Float32Array.from([0, 10, 20, 1, 11, 21]), 1, 2, 3, 1, 1);
  assert.deepEqual(Array.from(rgb), [0.5, 10.5, 20.5], "channels interpolate independently");
});

test("image folder: classes sorted by name, PNG exact, JPEG close, RGB and gray, resized, NHWC in [0, 1]", () => {
  const { dir, cleanup } = tempDir();
  try {
    const root = join(dir, "root");
    for (const c of ["dog", "ant", "cat"]) mkdirSync(join(root, c), { recursive: true });
    const grad = (x: number, y: number): [number, number, number] => [x * 60, y * 60, 200];
    writeFileSync(join(root, "cat", "b.png"), png(4, 4, grad));
    writeFileSync(join(root, "cat", "a.jpg"), jpg(8, 8, () => [200, 100, 50]));
    writeFileSync(join(root, "ant", "z.jpeg"), jpg(8, 8, () => [0, 0, 0]));
    writeFileSync(join(root, "dog", "x.PNG"), png(2, 2, () => [255, 255, 255]));
    writeFileSync(join(root, "dog", "notes.txt"), "ignored");
    const d = loadImageFolder(root, { size: [4, 4], testFraction: 0 });
    assert.deepEqual(d.preprocess.labelNames, ["ant", "cat", "dog"]);
    assert.deepEqual(Array.from(d.train.y), [0, 1, 1, 2], "ant/z, cat/a, cat/b, dog/x");
    assert.deepEqual(d.train.sampleShape, [4, 4, 3]);
    const s = (i: number) => d.train.x.subarray(i * 48, (i + 1) * 48);
    const pngPixels = Array.from(s(2));
    const want = Array.from({ length: 16 }, (_, p) => grad(p % 4, Math.floor(p / 4)).map((v) => v / 255)).flat();
    pngPixels.forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-6, `PNG value ${k}: ${v} vs ${want[k]}`));
    for (let k = 0; k < 48; k += 3) {
      const [r, g, b] = s(1).subarray(k, k + 3);
      assert.ok(Math.abs(r - 200 / 255) < 3 / 255 && Math.abs(g - 100 / 255) < 3 / 255 && Math.abs(b - 50 / 255) < 3 / 255, `JPEG pixel ${k / 3}: ${r}, ${g}, ${b}`);
    }
    assert.ok(Array.from(s(3)).every((v) => v === 1), "2×2 white PNG upscaled stays white");
    assert.ok(d.train.x.every((v) => v >= 0 && v <= 1), "values in [0, 1]");
    const gray = loadImageFolder(root, { size: [4, 4], gray: true, testFraction: 0 });
    assert.deepEqual(gray.train.sampleShape, [4, 4, 1]);
    const luma = (x: number, y: number) => (0.299 * x * 60 + 0.587 * y * 60 + 0.114 * 200) / 255;
    for (let p = 0; p < 16; p++) assert.ok(Math.abs(gray.train.x[2 * 16 + p] - luma(p % 4, Math.floor(p / 4))) < 1e-6, `gray pixel ${p}`);
    // Serve side: the same bytes through the saved preprocessing give the same sample.
    const served = applyPreprocess(d.preprocess, [readFileSync(join(root, "cat", "b.png"))]);
    assert.deepEqual(Array.from(served), Array.from(s(2)));
  } finally {
    cleanup();
  }
});

test("MNIST digits written as PNG folders read back as exactly the idx pixels", () => {
  const { dir, cleanup } = tempDir();
  try {
    const mnist = loadIdxImageSplit(mnistDataDir(), "t10k").take(30);
    const root = join(dir, "digits");
    for (let i = 0; i < mnist.size; i++) {
      const cls = join(root, `digit-${mnist.y[i]}`);
      mkdirSync(cls, { recursive: true });
      const px = mnist.x.subarray(i * 784, (i + 1) * 784);
      writeFileSync(join(cls, `${String(i).padStart(3, "0")}.png`), png(28, 28, (x, y) => {
        const v = Math.round(px[y * 28 + x] * 255);
        return [v, v, v];
      }));
    }
    const d = loadImageFolder(root, { gray: true, testFraction: 0 });
    assert.deepEqual(d.train.sampleShape, [28, 28, 1]);
    // Classes are sorted folder names and files sorted by name, so sample k of class c is the k-th digit c.
    const order = Array.from({ length: mnist.size }, (_, i) => i).sort((a, b) => mnist.y[a] - mnist.y[b] || a - b);
    order.forEach((src, k) => {
      assert.equal(d.preprocess.labelNames[d.train.y[k]], `digit-${mnist.y[src]}`, `class of sample ${k}`);
      const got = d.train.x.subarray(k * 784, (k + 1) * 784);
      for (let p = 0; p < 784; p++) assert.ok(Math.abs(got[p] - mnist.x[src * 784 + p]) < 1e-6, `digit ${src} pixel ${p}: ${got[p]} vs ${mnist.x[src * 784 + p]}`);
    });
  } finally {
    cleanup();
  }
});

test("image folder: stratified test split, test and unlabeled folders", () => {
  const { dir, cleanup } = tempDir();
  try {
    const mk = (folder: string, n: number, v: number) => {
      mkdirSync(folder, { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(join(folder, `${i}.png`), png(3, 3, () => [v, v, v]));
    };
    mk(join(dir, "r", "a"), 10, 0);
    mk(join(dir, "r", "b"), 5, 255);
    const d = loadImageFolder(join(dir, "r"), { gray: true });
    assert.equal(d.test.size, 3, "20% of 10 and of 5");
    assert.deepEqual(Array.from(d.test.y).sort(), [0, 0, 1]);
    assert.deepEqual(d.train.sampleShape, [3, 3, 1], "default size: the images' own");
    mk(join(dir, "t", "b"), 2, 255);
    mk(join(dir, "u"), 4, 128);
    const e = loadImageFolder(join(dir, "r"), { gray: true, testDir: join(dir, "t"), unlabeledDir: join(dir, "u") });
    assert.equal(e.train.size, 15);
    assert.deepEqual(Array.from(e.test.y), [1, 1], "test class b keeps index 1 of the training classes");
    assert.deepEqual(Array.from(e.unlabeled!.y), [-1, -1, -1, -1]);
    assert.ok(Math.abs(e.unlabeled!.x[0] - 128 / 255) < 1e-6, "unlabeled images are decoded like the others");
  } finally {
    cleanup();
  }
});

test("bad image input: one DataError line naming the file", () => {
  const { dir, cleanup } = tempDir();
  try {
    const root = join(dir, "r");
    mkdirSync(join(root, "a"), { recursive: true });
    mkdirSync(join(root, "b"), { recursive: true });
    writeFileSync(join(root, "a", "1.png"), png(3, 3, () => [0, 0, 0]));
    writeFileSync(join(root, "b", "1.png"), png(5, 4, () => [0, 0, 0]));
    dataError(() => loadImageFolder(root), join(root, "b", "1.png"), "5×4", "size");
    writeFileSync(join(root, "b", "1.png"), "not an image");
    dataError(() => loadImageFolder(root, { size: [3, 3] }), join(root, "b", "1.png"), "neither a PNG nor a JPEG");
    const broken = png(3, 3, () => [1, 2, 3]);
    writeFileSync(join(root, "b", "1.png"), broken.subarray(0, 40));
    dataError(() => loadImageFolder(root, { size: [3, 3] }), join(root, "b", "1.png"), "could not be decoded as PNG");
    mkdirSync(join(root, "c"));
    dataError(() => loadImageFolder(root, { size: [3, 3] }), join(root, "c"), "no .png, .jpg or .jpeg");
    dataError(() => loadImageFolder(join(dir, "nope")), join(dir, "nope"), "not a readable folder");
  } finally {
    cleanup();
  }
});
