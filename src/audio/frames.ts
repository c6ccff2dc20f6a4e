import { InMemoryDataset } from "../data/dataset.js";
import { fitStandardizer, LogMel, stackContext, standardize, type FeatureConfig, type Standardizer } from "./features.js";

/** The student's inputs for a set of clips: one row [past + 1 + future, bands, 1] per 512-sample chunk. */
export interface ClipFeatures {
  /** Stacked inputs of all clips, concatenated. */
  x: Float32Array;
  /** Frames per clip (the teacher's chunk count). */
  frames: number[];
  sampleShape: number[];
}

export function inputShape(cfg: FeatureConfig): number[] {
  return [cfg.past + 1 + cfg.future, cfg.melBands, 1];
}

/** Log-mel of every chunk of each clip (unstandardised), [chunks, bands] per clip. */
export function logMels(audio: Float32Array[], cfg: FeatureConfig): Float32Array[] {
  const mel = new LogMel(cfg);
  return audio.map((a) => mel.signal(a));
}

export function fitFeatures(mels: Float32Array[], cfg: FeatureConfig): Standardizer {
  return fitStandardizer(mels, cfg.melBands);
}

/** Standardised, context-stacked inputs for these clips' log-mels. */
export function stackClips(mels: Float32Array[], cfg: FeatureConfig, std: Standardizer): ClipFeatures {
  const rows = mels.map((m) => {
    const f = m.slice();
    standardize(f, std);
    return stackContext(f, cfg.melBands, cfg.past, cfg.future);
  });
  const x = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of rows) {
    x.set(r, at);
    at += r.length;
  }
  return { x, frames: mels.map((m) => m.length / cfg.melBands), sampleShape: inputShape(cfg) };
}

export function concat(parts: ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Two-class logits [log(1 − p), log p] from speech probabilities (clamped away from 0 and 1). */
export function probsToLogits(p: Float32Array): Float32Array {
  const out = new Float32Array(p.length * 2);
  for (let i = 0; i < p.length; i++) {
    const q = Math.min(1 - 1e-6, Math.max(1e-6, p[i]));
    out[2 * i] = Math.log(1 - q);
    out[2 * i + 1] = Math.log(q);
  }
  return out;
}

export function decisions(p: Float32Array, threshold = 0.5): Int32Array {
  return Int32Array.from(p, (v) => (v > threshold ? 1 : 0));
}

export function dataset(name: string, f: ClipFeatures, labels: Int32Array): InMemoryDataset {
  return new InMemoryDataset(name, f.x, labels, f.sampleShape, 2);
}
