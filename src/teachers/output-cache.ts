import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { gatherRows, type Teacher } from "./teacher.js";

/** Teacher outputs read by dataset row: logits plus the captured intermediate layers. */
export interface TeacherOutputs {
  logits: tf.Tensor2D;
  features: Map<string, tf.Tensor>;
}

/** The most memory a cache of teacher outputs may take unless TSDISTILL_TEACHER_CACHE_MB says otherwise. */
export const DEFAULT_CACHE_MB = 1024;

function cacheBudgetBytes(): number {
  const env = process.env.TSDISTILL_TEACHER_CACHE_MB;
  const mb = env === undefined || env === "" ? DEFAULT_CACHE_MB : Number(env);
  if (!(mb >= 0) || !Number.isFinite(mb)) throw new Error(`TSDISTILL_TEACHER_CACHE_MB: expected a number of megabytes ≥ 0, got "${env}"`);
  return mb * 2 ** 20;
}

/**
 * A frozen teacher's logits and captured layers over a whole in-memory transfer set, computed once (inference
 * mode, so dropout is off and every pass would give the same values). Feature- and relation-based losses then read
 * rows instead of running the teacher at every step — for a convolutional teacher that forward pass is most of a
 * small student's step. Only valid without on-the-fly augmentation (the rows must be the inputs the student sees).
 */
export class TeacherOutputCache {
  private constructor(
    private readonly logits: Float32Array,
    private readonly numClasses: number,
    private readonly features: Map<string, { values: Float32Array; shape: number[] }>,
  ) {}

  /** Bytes a cache of `capture` over `rows` samples takes, or null when the teacher cannot say its layer shapes. */
  static bytesNeeded(teacher: Teacher, rows: number, capture: string[]): number | null {
    const layers = teacher.layers?.();
    if (!layers || !teacher.forward) return null;
    let perRow = teacher.numClasses;
    for (const name of capture) {
      const layer = layers.find((l) => l.name === name);
      if (!layer) return null;
      perRow += layer.shape.reduce((a, b) => a * b, 1);
    }
    return perRow * rows * 4;
  }

  /** A cache when the teacher can fill one within the memory budget, else null (the caller runs the teacher per step). */
  static tryCompute(teacher: Teacher, data: InMemoryDataset, capture: string[], batchSize = 500): TeacherOutputCache | null {
    const bytes = TeacherOutputCache.bytesNeeded(teacher, data.size, capture);
    if (bytes === null || bytes > cacheBudgetBytes()) return null;
    return TeacherOutputCache.compute(teacher, data, capture, batchSize);
  }

  static compute(teacher: Teacher, data: InMemoryDataset, capture: string[], batchSize = 500): TeacherOutputCache {
    if (!teacher.forward) throw new Error(`teacher ${teacher.name}: it exposes no intermediate layers to cache`);
    const C = teacher.numClasses;
    const logits = new Float32Array(data.size * C);
    const features = new Map<string, { values: Float32Array; shape: number[] }>();
    for (const batch of data.batchesSync({ batchSize })) {
      tf.tidy(() => {
        const out = teacher.forward!(tf.tensor(batch.x, [batch.size, ...data.sampleShape]), capture);
        const put = (target: Float32Array, values: Float32Array, width: number) => {
          for (let i = 0; i < batch.size; i++) target.set(values.subarray(i * width, (i + 1) * width), batch.indices[i] * width);
        };
        put(logits, out.logits.dataSync() as Float32Array, C);
        for (const name of capture) {
          const f = out.features.get(name);
          if (!f) throw new Error(`teacher ${teacher.name}: layer "${name}" was not captured`);
          const shape = f.shape.slice(1);
          const width = shape.reduce((a, b) => a * b, 1);
          if (!features.has(name)) features.set(name, { values: new Float32Array(data.size * width), shape });
          put(features.get(name)!.values, f.dataSync() as Float32Array, width);
        }
      });
    }
    return new TeacherOutputCache(logits, C, features);
  }

  /** The cached rows for these sample indices, as tensors [n, ...]. */
  gather(indices: Int32Array): TeacherOutputs {
    const features = new Map<string, tf.Tensor>();
    for (const [name, f] of this.features) features.set(name, gatherRows(f.values, f.shape, indices, "teacher outputs"));
    return { logits: gatherRows(this.logits, [this.numClasses], indices, "teacher outputs") as tf.Tensor2D, features };
  }
}
