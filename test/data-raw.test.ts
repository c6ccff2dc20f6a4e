import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { InMemoryDataset } from "../src/data/dataset.js";
import { loadImageFolder } from "../src/data/image-folder.js";
import { loadCsv } from "../src/data/csv.js";
import { buildTransferSet, concatDatasets } from "../src/data/transfer.js";
import { ArrayRawView, type RawRecord } from "../src/data/raw.js";
import type { RgbaImage } from "../src/data/image-decode.js";
import { tempDir } from "./helpers.js";

function png(w: number, h: number, value: number): Buffer {
  const p = new PNG({ width: w, height: h });
  p.data = Buffer.alloc(w * h * 4, 0);
  for (let i = 0; i < w * h; i++) p.data.set([value, value, value, 255], i * 4);
  return PNG.sync.write(p);
}

test("CSV rows keep their records (every column but the label) aligned with the features through splits", () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "t.csv");
    const lines = ["id,color,size,label"];
    for (let i = 0; i < 20; i++) lines.push(`${i},${i % 2 ? "red" : "blue"},${i},${i % 2 ? "yes" : "no"}`);
    writeFileSync(file, lines.join("\n") + "\n");
    const d = loadCsv(file, { label: "label", drop: ["id"], testFraction: 0.2 });
    for (const part of [d.train, d.test]) {
      assert.equal(part.raw?.kind, "record");
      const recs = part.rawRows(Int32Array.from({ length: part.size }, (_, i) => i)) as RawRecord[];
      recs.forEach((r, i) => {
        assert.deepEqual(Object.keys(r), ["id", "color", "size"], "the label is not part of the record; dropped columns are");
        assert.equal(r.color, Number(r.id) % 2 ? "red" : "blue");
        assert.equal(part.y[i], Number(r.id) % 2, "record i is sample i");
      });
    }
    const split = d.train.split(4, 7);
    const vrecs = split.validation.rawRows([0, 1, 2, 3]) as RawRecord[];
    vrecs.forEach((r, i) => assert.equal(split.validation.y[i], Number(r.id) % 2));
  } finally {
    cleanup();
  }
});

test("image folders decode raw images on demand at their own size; idx-like pixels render back to RGBA", () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const c of ["a", "b"]) mkdirSync(join(dir, c), { recursive: true });
    writeFileSync(join(dir, "a", "1.png"), png(6, 4, 10));
    writeFileSync(join(dir, "a", "2.png"), png(6, 4, 20));
    writeFileSync(join(dir, "b", "3.png"), png(6, 4, 200));
    writeFileSync(join(dir, "b", "4.png"), png(6, 4, 250));
    const d = loadImageFolder(dir, { size: [2, 2], gray: true, testFraction: 0 });
    const imgs = d.train.rawRows([3, 0]) as RgbaImage[];
    assert.deepEqual([imgs[0].width, imgs[0].height, imgs[0].data[0], imgs[1].data[0]], [6, 4, 250, 10], "the file's own size and pixels");
    const pix = new InMemoryDataset("p", Float32Array.from([0, 1, 0.5, 0.2]), Int32Array.from([0]), [2, 2, 1], 2);
    const [img] = pix.rawRows([0]) as RgbaImage[];
    assert.deepEqual(Array.from(img.data.subarray(0, 8)), [0, 0, 0, 255, 255, 255, 255, 255]);
    // A transfer set of the images plus shifted copies: one image view over both parts, in order.
    const t = buildTransferSet(d.train, { seed: 1, shift: { copies: 1, maxShift: 1 } });
    assert.equal(t.raw?.kind ?? t.rawView()?.kind, "image");
    assert.equal((t.rawRows([0])![0] as RgbaImage).width, 6);
    assert.equal((t.rawRows([4])![0] as RgbaImage).width, 2, "shifted copies render their pixels");
  } finally {
    cleanup();
  }
});

test("concatenation keeps raw views only when every part has one of one kind", () => {
  const a = new InMemoryDataset("a", new Float32Array(2), Int32Array.from([0, 1]), [1], 2, new ArrayRawView("text", ["x", "y"]));
  const b = new InMemoryDataset("b", new Float32Array(1), Int32Array.from([1]), [1], 2);
  assert.equal(concatDatasets([a, b], "ab").raw, undefined);
  const c = concatDatasets([a, a], "aa");
  assert.deepEqual(c.subset([3, 0]).rawRows([0, 1]), ["y", "x"]);
  assert.throws(() => new InMemoryDataset("bad", new Float32Array(1), Int32Array.from([0]), [1], 2, new ArrayRawView("text", ["x", "y"])), /2 raw text samples for 1/);
});
