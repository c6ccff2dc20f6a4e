import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as ort from "onnxruntime-node";
import { ortModule } from "../util/ort.js";
import { readDataFile } from "../util/files.js";
import { DataError, TsdistillError } from "../util/errors.js";

/** Silero VAD v5 works on 512-sample chunks at 16 kHz (32 ms). */
export const SILERO_SAMPLE_RATE = 16000;
export const SILERO_CHUNK = 512;
// The upstream wrapper (silero-vad's OnnxWrapper, and vad-web's Silero class) feeds each chunk with the last 64
// samples of the previous one in front, so an onset on a chunk boundary is seen whole.
const CONTEXT = 64;
const STATE_SIZE = 128;

/** The Silero VAD v5 model shipped in the @ricky0123/vad-web package. */
export function defaultSileroPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@ricky0123/vad-web/package.json")), "dist", "silero_vad_v5.onnx");
}

/** A per-stream stepper: one chunk in, the speech probability out, the recurrent state carried along. */
export interface SileroStream {
  step(chunk: Float32Array): Promise<number>;
}

/**
 * Silero VAD v5 as a teacher. It is recurrent (an LSTM state [2, B, 128] carried from chunk to chunk), so it
 * labels whole audio streams, not independent samples: chunk t's speech probability depends on chunks 0..t.
 * Streams are run side by side in the batch dimension.
 */
export class SileroVadTeacher {
  readonly name = "silero-vad-v5";

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly path: string,
    /** sha256 of the model file, for label caches. */
    readonly hash: string,
  ) {}

  static async open(path = defaultSileroPath(), { threads = 1 } = {}): Promise<SileroVadTeacher> {
    const bytes = readDataFile(path, "the Silero VAD v5 ONNX model");
    let session: ort.InferenceSession;
    try {
      session = await ortModule().InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    } catch (err) {
      throw new DataError(path, `could not be loaded by onnxruntime (${(err as Error).message.split("\n")[0]})`);
    }
    const want = (have: readonly string[], names: string[], what: string) => {
      if (!names.every((n) => have.includes(n))) throw new DataError(path, `has ${what} ${have.join(", ")}; expected Silero VAD v5's ${names.join(", ")}`);
    };
    want(session.inputNames, ["input", "state", "sr"], "inputs");
    want(session.outputNames, ["output", "stateN"], "outputs");
    return new SileroVadTeacher(session, path, createHash("sha256").update(bytes).digest("hex"));
  }

  /** One step for `b` streams: chunks [b, 512] row-major, state [2, b, 128] → probabilities [b] and the new state. */
  private async run(chunks: Float32Array, context: Float32Array, state: Float32Array, b: number): Promise<{ p: Float32Array; state: Float32Array }> {
    const width = CONTEXT + SILERO_CHUNK;
    const input = new Float32Array(b * width);
    for (let i = 0; i < b; i++) {
      input.set(context.subarray(i * CONTEXT, (i + 1) * CONTEXT), i * width);
      input.set(chunks.subarray(i * SILERO_CHUNK, (i + 1) * SILERO_CHUNK), i * width + CONTEXT);
      context.set(chunks.subarray((i + 1) * SILERO_CHUNK - CONTEXT, (i + 1) * SILERO_CHUNK), i * CONTEXT);
    }
    const out = await this.session.run({
      input: new (ortModule().Tensor)("float32", input, [b, width]),
      state: new (ortModule().Tensor)("float32", state, [2, b, STATE_SIZE]),
      sr: new (ortModule().Tensor)("int64", BigInt64Array.from([BigInt(SILERO_SAMPLE_RATE)]), []),
    });
    const p = out.output.data as Float32Array;
    const next = out.stateN.data as Float32Array;
    if (p.length !== b || next.length !== 2 * b * STATE_SIZE) throw new TsdistillError(`${this.path}: unexpected output sizes ${p.length} and ${next.length} for ${b} streams`);
    return { p: Float32Array.from(p), state: Float32Array.from(next) };
  }

  /**
   * Speech probability of every whole 512-sample chunk of each stream (16 kHz mono), each stream from a zero
   * state; `batch` streams run side by side. Shorter streams are zero-padded at the end, which cannot change
   * their earlier outputs (the model is causal), and the padded outputs are dropped.
   */
  async label(streams: Float32Array[], { batch = 32, onProgress }: { batch?: number; onProgress?: (done: number) => void } = {}): Promise<Float32Array[]> {
    const result: Float32Array[] = [];
    for (let s0 = 0; s0 < streams.length; s0 += batch) {
      const group = streams.slice(s0, s0 + batch);
      const b = group.length;
      const counts = group.map((x) => Math.floor(x.length / SILERO_CHUNK));
      const steps = Math.max(0, ...counts);
      const probs = counts.map((n) => new Float32Array(n));
      let state: Float32Array = new Float32Array(2 * b * STATE_SIZE);
      const context = new Float32Array(b * CONTEXT);
      const chunks = new Float32Array(b * SILERO_CHUNK);
      for (let t = 0; t < steps; t++) {
        chunks.fill(0);
        group.forEach((x, i) => {
          if (t < counts[i]) chunks.set(x.subarray(t * SILERO_CHUNK, (t + 1) * SILERO_CHUNK), i * SILERO_CHUNK);
        });
        const out = await this.run(chunks, context, state, b);
        state = out.state;
        for (let i = 0; i < b; i++) if (t < counts[i]) probs[i][t] = out.p[i];
      }
      result.push(...probs);
      onProgress?.(result.length);
    }
    return result;
  }

  /** A fresh stream for chunk-by-chunk (real-time) use, as a deployed VAD runs. */
  stream(): SileroStream {
    let state: Float32Array = new Float32Array(2 * STATE_SIZE);
    const context = new Float32Array(CONTEXT);
    return {
      step: async (chunk) => {
        if (chunk.length !== SILERO_CHUNK) throw new RangeError(`Silero VAD chunks are ${SILERO_CHUNK} samples, got ${chunk.length}`);
        const out = await this.run(chunk, context, state, 1);
        state = out.state;
        return out.p[0];
      },
    };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
