import * as tf from "@tensorflow/tfjs-core";
import type { SequentialModel } from "../students/model.js";
import type { SileroVadTeacher } from "../teachers/silero-vad.js";
import { LogMel, standardize, type FeatureConfig, type Standardizer } from "./features.js";
import { logMels, stackClips } from "./frames.js";
import type { DenseForward } from "./dense-forward.js";

/** Speech probability from two-class logits [non-speech, speech]. */
export function speechProb(logits: Float32Array): Float32Array {
  const out = new Float32Array(logits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = 1 / (1 + Math.exp(logits[2 * i] - logits[2 * i + 1]));
  return out;
}

/** Student speech probabilities for whole clips (features, context stacking and batched inference). */
export function studentProbs(model: SequentialModel, audio: Float32Array[], cfg: FeatureConfig, std: Standardizer, batch = 2048): Float32Array[] {
  const f = stackClips(logMels(audio, cfg), cfg, std);
  const row = f.sampleShape.reduce((a, b) => a * b, 1);
  const total = f.x.length / row;
  const logits = new Float32Array(total * 2);
  for (let s = 0; s < total; s += batch) {
    const n = Math.min(batch, total - s);
    const y = tf.tidy(() => model.predict(tf.tensor(f.x.subarray(s * row, (s + n) * row), [n, ...f.sampleShape])).dataSync());
    logits.set(y, s * 2);
  }
  const p = speechProb(logits);
  let at = 0;
  return f.frames.map((n) => p.slice(at, (at += n)));
}

/**
 * The student run as a deployed VAD: one chunk in, features of that chunk, the context window shifted by one,
 * a batch-1 forward pass. With future > 0 its decision for chunk t comes `future` chunks late.
 */
export class StudentStream {
  private readonly mel: LogMel;
  private readonly window: Float32Array;
  private started = false;

  constructor(
    private readonly model: SequentialModel,
    private readonly cfg: FeatureConfig,
    private readonly std: Standardizer,
    /** Run the forward pass as plain loops instead of TF.js (MLP students only). */
    private readonly plain: DenseForward | null = null,
  ) {
    this.mel = new LogMel(cfg);
    this.window = new Float32Array((cfg.past + 1 + cfg.future) * cfg.melBands);
  }

  step(chunk: Float32Array): number {
    const b = this.cfg.melBands;
    const w = this.window;
    const rows = w.length / b;
    w.copyWithin(0, b);
    this.mel.compute(chunk, w, (rows - 1) * b);
    const last = w.subarray((rows - 1) * b);
    standardize(last, this.std);
    // The first chunk fills the whole window, as the offline features repeat a clip's first chunk.
    if (!this.started) for (let r = 0; r < rows - 1; r++) w.copyWithin(r * b, (rows - 1) * b, rows * b);
    this.started = true;
    const y = this.plain ? this.plain.run(w) : tf.tidy(() => this.model.predict(tf.tensor(w, [1, rows, b, 1])).dataSync());
    return 1 / (1 + Math.exp(y[0] - y[1]));
  }
}

export interface FrameLatency {
  frames: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

function summarize(times: number[]): FrameLatency {
  const s = [...times].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return { frames: s.length, meanMs: s.reduce((a, b) => a + b, 0) / s.length, p50Ms: q(0.5), p99Ms: q(0.99) };
}

/**
 * Per-chunk latency of the teacher and each student streaming the same audio in the same process, taking turns
 * chunk by chunk so that load from other processes affects all of them alike.
 */
export async function measureStreaming(
  teacher: SileroVadTeacher,
  students: Record<string, () => StudentStream>,
  audio: Float32Array,
  chunk: number,
  frames: number,
  warmup = 50,
): Promise<{ teacher: FrameLatency; students: Record<string, FrameLatency> }> {
  const available = Math.floor(audio.length / chunk);
  const chunks = Array.from({ length: frames + warmup }, (_, i) => audio.subarray((i % available) * chunk, ((i % available) + 1) * chunk));
  const ts = teacher.stream();
  const names = Object.keys(students);
  const streams = names.map((n) => students[n]());
  const tt: number[] = [];
  const st = names.map(() => [] as number[]);
  for (let i = 0; i < chunks.length; i++) {
    const t0 = performance.now();
    await ts.step(chunks[i]);
    if (i >= warmup) tt.push(performance.now() - t0);
    streams.forEach((s, k) => {
      const t1 = performance.now();
      s.step(chunks[i]);
      if (i >= warmup) st[k].push(performance.now() - t1);
    });
  }
  return { teacher: summarize(tt), students: Object.fromEntries(names.map((n, k) => [n, summarize(st[k])])) };
}

/**
 * Offline cost per frame of labelling whole recordings: the teacher steps through each clip chunk by chunk
 * (its state forbids batching along time), the student computes all features and runs one batched pass.
 */
export async function measureOffline(teacher: SileroVadTeacher, model: SequentialModel, audio: Float32Array[], cfg: FeatureConfig, std: Standardizer): Promise<{ frames: number; teacherMsPerFrame: number; studentMsPerFrame: number }> {
  const t0 = performance.now();
  const p = await teacher.label(audio, { batch: 1 });
  const t1 = performance.now();
  studentProbs(model, audio, cfg, std);
  const t2 = performance.now();
  const frames = p.reduce((n, x) => n + x.length, 0);
  return { frames, teacherMsPerFrame: (t1 - t0) / frames, studentMsPerFrame: (t2 - t1) / frames };
}
