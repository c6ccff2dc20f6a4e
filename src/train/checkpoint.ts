/**
 * Training checkpoints: everything the remaining epochs of a `fit` depend on, so that a killed run continues
 * where it stopped and ends with the same weights as an uninterrupted one.
 *
 * What that is: the parameters (the model's, then extra ones such as projectors), the optimiser's state (step
 * count and Adam moments or SGD momentum), the epochs done, the history, the keep-best snapshot and its epoch and
 * metric. Nothing else carries over between epochs: the shuffling, dropout and augmentation streams are derived
 * from (seed, purpose, epoch) afresh every epoch (see fit.ts), so they are a pure function of the seed and the
 * epoch index and need not be saved.
 *
 * One checkpoint is one safetensors file: the tensors (float32, flat) and, in its `__metadata__`, the rest as
 * JSON. It is written to a temp file and renamed over the previous one (writeFileAtomic), so a kill at any moment
 * leaves either the previous checkpoint or the new one, never a mix.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "../teachers/safetensors.js";
import { readDataFile, writeFileAtomic } from "../util/files.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { firstDifference, showJson } from "../util/json-diff.js";
import type { Optimizer, OptimizerState } from "./optimizers.js";
import type { EpochMetrics } from "./reporter.js";

export const CHECKPOINT_FORMAT = "tsdistill-fit-checkpoint/1";

/** A fit's state after `epoch` completed epochs. */
export interface FitState {
  epoch: number;
  /** What the training was (its settings, data size, parameter shapes): a resumed fit must be the same. */
  fingerprint: Record<string, unknown>;
  history: EpochMetrics[];
  best: { epoch: number; metric: number; weights: Float32Array[] } | null;
  /** The model's parameters, then the extra ones, in fit's order. */
  params: Float32Array[];
  optimizer: OptimizerState;
  /** Training seconds before this checkpoint (summed over the processes that ran it). */
  seconds: number;
}

/** Where one fit keeps its checkpoint. */
export interface FitCheckpoint {
  /** Named in messages and errors. */
  readonly where: string;
  load(): FitState | null;
  save(state: FitState): void;
}

interface StoredJson {
  epoch: number;
  fingerprint: Record<string, unknown>;
  history: EpochMetrics[];
  best: { epoch: number; metric: number } | null;
  optimizer: { step: number; slots: Record<string, number> };
  params: number;
  seconds: number;
}

const pad = (i: number) => String(i).padStart(4, "0");
const f32 = (data: Float32Array): SafetensorsTensor => ({ dtype: "F32", shape: [data.length], data });

export function encodeFitState(s: FitState): Uint8Array {
  const tensors: Record<string, SafetensorsTensor> = {};
  s.params.forEach((p, i) => (tensors[`param/${pad(i)}`] = f32(p)));
  s.best?.weights.forEach((w, i) => (tensors[`best/${pad(i)}`] = f32(w)));
  for (const [slot, arrays] of Object.entries(s.optimizer.slots)) arrays.forEach((a, i) => (tensors[`optimizer/${slot}/${pad(i)}`] = f32(a)));
  const json: StoredJson = {
    epoch: s.epoch,
    fingerprint: s.fingerprint,
    history: s.history,
    best: s.best && { epoch: s.best.epoch, metric: s.best.metric },
    optimizer: { step: s.optimizer.step, slots: Object.fromEntries(Object.entries(s.optimizer.slots).map(([k, v]) => [k, v.length])) },
    params: s.params.length,
    seconds: s.seconds,
  };
  return encodeSafetensors(tensors, { format: CHECKPOINT_FORMAT, state: JSON.stringify(json) });
}

export function decodeFitState(bytes: Uint8Array, source: string): FitState {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata?.format !== CHECKPOINT_FORMAT) throw new DataError(source, `not a tsdistill checkpoint (metadata format ${showJson(metadata?.format)}, expected "${CHECKPOINT_FORMAT}")`);
  let json: StoredJson;
  try {
    json = JSON.parse(metadata.state ?? "") as StoredJson;
  } catch {
    throw new DataError(source, "the checkpoint's state metadata is not valid JSON");
  }
  const list = (prefix: string, n: number): Float32Array[] =>
    Array.from({ length: n }, (_, i) => {
      const t = tensors[`${prefix}/${pad(i)}`];
      if (!t || t.dtype !== "F32") throw new DataError(source, `the checkpoint has no float32 tensor "${prefix}/${pad(i)}"`);
      return t.data as Float32Array;
    });
  return {
    epoch: json.epoch,
    fingerprint: json.fingerprint,
    history: json.history,
    best: json.best && { ...json.best, weights: list("best", Object.keys(tensors).filter((k) => k.startsWith("best/")).length) },
    params: list("param", json.params),
    optimizer: { step: json.optimizer.step, slots: Object.fromEntries(Object.entries(json.optimizer.slots).map(([k, n]) => [k, list(`optimizer/${k}`, n)])) },
    seconds: json.seconds,
  };
}

/** A checkpoint file. */
export class FileCheckpoint implements FitCheckpoint {
  constructor(readonly where: string) {}

  load(): FitState | null {
    if (!existsSync(this.where)) return null;
    return decodeFitState(readDataFile(this.where, "a tsdistill checkpoint (safetensors)"), this.where);
  }

  save(state: FitState): void {
    writeFileAtomic(this.where, encodeFitState(state));
  }
}

/** A folder of checkpoints, one file per fit of a run, by key (e.g. "train", "stage-1", "alone-0/distill"). */
export class CheckpointStore {
  constructor(readonly dir: string) {}

  at(key: string): FitCheckpoint {
    return new FileCheckpoint(this.file(key));
  }

  /** The file of a key (for jobs described by plain data, e.g. in a worker thread). */
  file(key: string): string {
    return join(this.dir, `${key}.safetensors`);
  }

  /** A sub-store (its own folder), e.g. per model of an experiment. */
  sub(name: string): CheckpointStore {
    return new CheckpointStore(join(this.dir, name));
  }

  /** Drops the checkpoints (once what they were for is finished and saved). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What a fit's checkpoint must agree on with the fit that resumes it. */
export function fitFingerprint(config: unknown, trainSize: number, params: tf.Variable[]): Record<string, unknown> {
  return JSON.parse(JSON.stringify({ config, trainSize, paramShapes: params.map((p) => p.shape) })) as Record<string, unknown>;
}

export interface RestoredFit {
  epoch: number;
  history: EpochMetrics[];
  best: { epoch: number; score: number; weights: tf.Tensor[] } | null;
  seconds: number;
}

/**
 * Loads a fit's checkpoint, if there is one, into the parameters and the optimiser; returns where to go on from
 * (null: start from scratch). A checkpoint of another training (settings, data size, shapes) is refused.
 */
export function restoreFit(ckpt: FitCheckpoint, fingerprint: Record<string, unknown>, params: tf.Variable[], optimizer: Optimizer): RestoredFit | null {
  const s = ckpt.load();
  if (!s) return null;
  const diff = firstDifference(s.fingerprint, fingerprint);
  if (diff) throw new TsdistillError(`${ckpt.where}: the checkpoint is of another training (${diff.path} was ${showJson(diff.before)}, now ${showJson(diff.after)}); remove it to start over`);
  if (s.params.length !== params.length) throw new DataError(ckpt.where, `holds ${s.params.length} parameters, the training has ${params.length}`);
  params.forEach((p, i) => assignFlat(p, s.params[i], ckpt.where));
  optimizer.restore(s.optimizer, params.map((p) => p.size));
  const best = s.best && { epoch: s.best.epoch, score: s.best.metric, weights: s.best.weights.map((w, i) => tf.tensor(w, params[i].shape)) };
  return { epoch: s.epoch, history: s.history, best, seconds: s.seconds };
}

function assignFlat(p: tf.Variable, data: Float32Array, where: string): void {
  if (data.length !== p.size) throw new DataError(where, `parameter ${p.name} has ${data.length} values, expected ${p.size}`);
  const t = tf.tensor(data, p.shape);
  p.assign(t);
  t.dispose();
}

/** Writes a fit's checkpoint after `epoch` completed epochs. */
export function saveFit(
  ckpt: FitCheckpoint,
  s: { epoch: number; fingerprint: Record<string, unknown>; history: EpochMetrics[]; best: { epoch: number; score: number; weights: tf.Tensor[] } | null; params: tf.Variable[]; optimizer: Optimizer; seconds: number },
): void {
  const flat = (t: tf.Tensor) => Float32Array.from(t.dataSync() as Float32Array);
  ckpt.save({
    epoch: s.epoch,
    fingerprint: s.fingerprint,
    history: s.history,
    best: s.best && { epoch: s.best.epoch, metric: s.best.score, weights: s.best.weights.map(flat) },
    params: s.params.map(flat),
    optimizer: s.optimizer.state(),
    seconds: s.seconds,
  });
}
