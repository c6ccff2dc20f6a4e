import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { InMemoryDataset } from "./dataset.js";
import { ImageFileRawView } from "./raw.js";
import { decodeImage, toSample, type RgbaImage } from "./image-decode.js";
import { DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, stratifiedSplit } from "./stratified-split.js";

/** What a served image model needs: the input size, channels and class names (pixels are scaled to [0, 1]). */
export interface ImagePreprocess {
  kind: "image";
  version: 1;
  height: number;
  width: number;
  channels: 1 | 3;
  labelNames: string[];
}

export interface ImageFolderOptions {
  /** Output size [height, width] (default: the images' own size, when they all share one). */
  size?: [number, number];
  gray?: boolean;
  testFraction?: number;
  splitSeed?: number;
  /** A test folder laid out like the root (test/<class>/…); when given, nothing is held out of the root. */
  testDir?: string;
  /** A flat folder of images without labels (label −1), for the teacher to label. */
  unlabeledDir?: string;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

function listDir(dir: string, what: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a folder");
    names = readdirSync(dir);
  } catch {
    throw new DataError(dir, `is not a readable folder; expected ${what}`);
  }
  return names.filter((n) => !n.startsWith(".")).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function imageFiles(dir: string): string[] {
  return listDir(dir, "a folder of .png/.jpg/.jpeg images").filter((n) => IMAGE_EXT.test(n)).map((n) => join(dir, n));
}

/** Class folders of `root` (sorted by name) and the image files in each (sorted by name). */
export function scanImageFolder(root: string, minClasses = 2): { classes: string[]; files: string[]; labels: number[] } {
  const classes = listDir(root, "root/<class>/*.png|jpg|jpeg").filter((n) => statSync(join(root, n)).isDirectory());
  if (classes.length < minClasses) throw new DataError(root, `has ${classes.length} class folders; expected root/<class>/*.png|jpg|jpeg with at least ${minClasses}`);
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((cls, k) => {
    const list = imageFiles(join(root, cls));
    if (list.length === 0) throw new DataError(join(root, cls), "has no .png, .jpg or .jpeg images; expected at least one per class");
    for (const f of list) {
      files.push(f);
      labels.push(k);
    }
  });
  return { classes, files, labels };
}

function decodeFile(file: string): RgbaImage {
  return decodeImage(readDataFile(file, "a PNG or JPEG image"), file);
}

/**
 * Decodes the files one at a time into samples [n, H, W, C] in [0, 1] (only one decoded image is held at
 * once). With `sameSizeAs`, an image of another size is an error naming both files.
 */
export function filesToSamples(files: string[], pre: ImagePreprocess, sameSizeAs?: { file: string; width: number; height: number }): Float32Array {
  const d = pre.height * pre.width * pre.channels;
  const x = new Float32Array(files.length * d);
  files.forEach((f, i) => {
    const img = decodeFile(f);
    if (sameSizeAs && (img.width !== sameSizeAs.width || img.height !== sameSizeAs.height)) {
      throw new DataError(f, `is ${img.width}×${img.height} but ${sameSizeAs.file} is ${sameSizeAs.width}×${sameSizeAs.height}; give a size (?size=HxW) to resize all images to one`);
    }
    x.set(toSample(img, pre.height, pre.width, pre.channels), i * d);
  });
  return x;
}

export interface ImageSplits {
  train: InMemoryDataset;
  test: InMemoryDataset;
  unlabeled?: InMemoryDataset;
  preprocess: ImagePreprocess;
}

/**
 * Image classification folders: root/<class>/*.png|jpg|jpeg, classes sorted by name, every image decoded,
 * resized (bilinear) to one H×W, grayscale or RGB, NHWC in [0, 1]. Test split: the test folder, or a seeded
 * stratified share of each class.
 */
export function loadImageFolder(root: string, opts: ImageFolderOptions = {}, name = `images:${root}`): ImageSplits {
  const scan = scanImageFolder(root);
  let size = opts.size;
  let sameSizeAs: { file: string; width: number; height: number } | undefined;
  if (!size) {
    const first = decodeFile(scan.files[0]);
    sameSizeAs = { file: scan.files[0], width: first.width, height: first.height };
    size = [first.height, first.width];
  }
  const pre: ImagePreprocess = { kind: "image", version: 1, height: size[0], width: size[1], channels: opts.gray ? 1 : 3, labelNames: scan.classes };
  const shape = [pre.height, pre.width, pre.channels];
  const y = Int32Array.from(scan.labels);
  const x = filesToSamples(scan.files, pre, sameSizeAs);
  const all = new InMemoryDataset(`${name}/all`, x, y, shape, scan.classes.length, new ImageFileRawView(scan.files));
  let train: InMemoryDataset;
  let test: InMemoryDataset;
  if (opts.testDir) {
    const t = scanImageFolder(opts.testDir, 1);
    const unknown = t.classes.find((c) => !scan.classes.includes(c));
    if (unknown) throw new DataError(join(opts.testDir, unknown), `is a class the training folder ${root} does not have; its classes are ${scan.classes.join(", ")}`);
    const ty = Int32Array.from(t.labels, (k) => scan.classes.indexOf(t.classes[k]));
    train = all.subset(Int32Array.from(y, (_, i) => i), `${name}/train`);
    test = new InMemoryDataset(`${name}/test`, filesToSamples(t.files, pre, sameSizeAs), ty, shape, scan.classes.length, new ImageFileRawView(t.files));
  } else {
    const split = stratifiedSplit(y, opts.testFraction ?? DEFAULT_TEST_FRACTION, opts.splitSeed ?? DEFAULT_SPLIT_SEED);
    train = all.subset(split.train, `${name}/train`);
    test = all.subset(split.test, `${name}/test`);
  }
  let unlabeled: InMemoryDataset | undefined;
  if (opts.unlabeledDir) {
    const files = imageFiles(opts.unlabeledDir);
    if (files.length === 0) throw new DataError(opts.unlabeledDir, "has no .png, .jpg or .jpeg images; expected the unlabeled images directly in it");
    unlabeled = new InMemoryDataset(`${name}/unlabeled`, filesToSamples(files, pre, sameSizeAs), new Int32Array(files.length).fill(-1), shape, scan.classes.length, new ImageFileRawView(files));
  }
  return { train, test, unlabeled, preprocess: pre };
}
