// The transformer workloads of bench/vs-pytorch.ts on tsdistill's side (PyTorch's: bench/pytorch_transformer.py,
// the same model layer for layer). The student is `transformer:layers=4,dim=256,heads=4,ff=1024,ctx=128,causal`
// over the byte-level vocabulary (260 ids, no padding in the windows), untied LM head, dropout 0:
//   lm-train  next-token cross-entropy + Adam step, batch 16 × 128 tokens (tokens/s)
//   lm-kd     the same with a 2×-wide teacher's forward (dim 512, 8 heads, ff 2048) outside the tape and loss
//             0.5·CE + 0.5·token forward KL (T = 1)
//   lm-gen    batch-1 greedy generation after a 64-token prompt, 64 new tokens, ms per token: src/generate's KV
//             cache (native, wasm), or ONNX Runtime on the student exported with its KV cache (pastKeyValues)
//   lm-fwd    batch-32 forward over 128 tokens: TransformerModel.forward or ONNX Runtime (2 intra-op threads)
import * as tf from "@tensorflow/tfjs-core";
import * as ort from "onnxruntime-node";
import { OnnxTokenRunner } from "../src/export/onnx-transformer-check.js";
import { exportOnnx } from "../src/export/onnx.js";
import { KvCache } from "../src/generate/kv-cache.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import { tokenForwardKl } from "../src/losses/sequence.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { createOptimizer, OptimizerConfig } from "../src/train/optimizers.js";
import { Rng } from "../src/util/rng.js";

export type TransformerWorkload = "lm-train" | "lm-kd" | "lm-gen" | "lm-fwd";
export const TRANSFORMER_WORKLOADS: readonly string[] = ["lm-train", "lm-kd", "lm-gen", "lm-fwd"];
export const STUDENT_SPEC = "transformer:layers=4,dim=256,heads=4,ff=1024,ctx=128,causal";
export const TEACHER_SPEC = "transformer:layers=4,dim=512,heads=8,ff=2048,ctx=128,causal";
const CTX = 128;
const PROMPT = 64;
const NEW = 64;
/** ONNX Runtime's intra-op threads for batch-1 decoding: 1 (2 threads measured 2-3× slower per token here; TSDISTILL_BENCH_ORT_THREADS overrides). */
const GEN_ORT_THREADS = Number(process.env.TSDISTILL_BENCH_ORT_THREADS ?? 1);

export interface WorkloadResult {
  /** tokens/s (training, forward) or generated tokens/s (generation). */
  samples_per_s: number;
  /** Median ms per forward (lm-fwd) or per generated token (lm-gen). */
  p50_ms?: number;
  steps: number;
  final_loss?: number;
}

type Timed = (step: (i: number) => Promise<void> | void, seconds: number, warmup?: number, minSteps?: number) => Promise<{ n: number; dt: number }>;

const model = (spec: string, seed: number) => new TransformerModel(transformerConfigFromSpec(spec, {}), seed);

/** Random bytes as float ids [batch, length] (how token datasets store them) and the next token of each row. */
function windows(batch: number, length: number, seed: number): { x: tf.Tensor2D; y: tf.Tensor1D; ids: Int32Array } {
  const rng = new Rng(seed, "tokens");
  const ids = Int32Array.from({ length: batch * (length + 1) }, () => rng.int(256));
  const x = new Float32Array(batch * length);
  const y = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) x[b * length + t] = ids[b * (length + 1) + t];
    y[b] = ids[b * (length + 1) + length];
  }
  return { x: tf.tensor2d(x, [batch, length]), y: tf.tensor1d(y, "int32"), ids };
}

async function train(batch: number, seconds: number, timed: Timed, kd: boolean): Promise<WorkloadResult> {
  const student = model(STUDENT_SPEC, 1);
  const teacher = kd ? model(TEACHER_SPEC, 2) : null;
  const opt = createOptimizer(OptimizerConfig.parse({ kind: "adam", lr: 1e-3 }));
  const data = Array.from({ length: 4 }, (_, i) => windows(batch, CTX, i));
  let loss = NaN;
  const { n, dt } = await timed((i) => {
    const { x, y } = data[i % data.length];
    const t = teacher ? tf.tidy(() => teacher.forward(x).logits) : null;
    const { value, grads } = tf.variableGrads(() => {
      const s = student.forward(x, { training: true }).logits;
      const ce = nextTokenCrossEntropy(s, x, y);
      return t ? (tf.add(tf.mul(ce, 0.5), tf.mul(tokenForwardKl(s, t, null), 0.5)) as tf.Scalar) : ce;
    }, student.params);
    opt.step(student.params, student.params.map((p) => grads[p.name]), 1e-3);
    loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads), ...(t ? [t] : [])]);
  }, seconds, 1, 2);
  return { samples_per_s: (n * batch * CTX) / dt, steps: n, final_loss: loss };
}

const argmax = (row: ArrayLike<number>, from: number, width: number): number => {
  let best = 0;
  for (let j = 1; j < width; j++) if (row[from + j] > row[from + best]) best = j;
  return best;
};

async function generation(seconds: number, timed: Timed, onnx: boolean): Promise<WorkloadResult> {
  const m = model(STUDENT_SPEC, 1);
  const V = m.config.vocab;
  const prompt = Array.from(windows(1, PROMPT - 1, 7).ids);
  const perToken: number[] = [];
  let run: () => Promise<void>;
  if (onnx) {
    // The student exported with its key/value cache (pastKeyValues): each call runs the new token only.
    const session = await ort.InferenceSession.create(exportOnnx(m, { pastKeyValues: true }), { intraOpNumThreads: GEN_ORT_THREADS, interOpNumThreads: 1 });
    const { layers, heads, dim } = m.config;
    const names = Array.from({ length: layers }, (_, i) => [`${i}.key`, `${i}.value`]).flat();
    const int64 = (v: number[], dims: number[]) => new ort.Tensor("int64", BigInt64Array.from(v, (x) => BigInt(x)), dims);
    run = async () => {
      const ids = prompt.slice();
      let past: Record<string, ort.Tensor> = Object.fromEntries(names.map((n) => [`past_key_values.${n}`, new ort.Tensor("float32", new Float32Array(0), [1, heads, 0, dim / heads])]));
      let out = await session.run({ input_ids: int64(ids, [1, ids.length]), attention_mask: int64(ids.map(() => 1), [1, ids.length]), ...past });
      const t0 = performance.now();
      for (let k = 0; k < NEW; k++) {
        const logits = out.logits.data as Float32Array;
        const id = argmax(logits, logits.length - V, V);
        ids.push(id);
        past = Object.fromEntries(names.map((n) => [`past_key_values.${n}`, out[`present.${n}`]]));
        out = await session.run({ input_ids: int64([id], [1, 1]), attention_mask: int64(ids.map(() => 1), [1, ids.length]), ...past });
      }
      perToken.push((performance.now() - t0) / NEW);
    };
  } else {
    run = async () => {
      const cache = new KvCache(m);
      try {
        let logits = cache.append(prompt);
        const t0 = performance.now();
        for (let k = 0; k < NEW; k++) {
          const host = logits.dataSync();
          const id = argmax(host, (logits.shape[0] - 1) * V, V);
          logits.dispose();
          logits = cache.append([id]);
        }
        logits.dispose();
        perToken.push((performance.now() - t0) / NEW);
      } finally {
        cache.dispose();
      }
    };
  }
  const { n } = await timed(run, seconds, 1);
  const sorted = perToken.slice(1).sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)];
  return { samples_per_s: 1000 / p50, p50_ms: p50, steps: n };
}

async function forward(batch: number, seconds: number, timed: Timed, onnx: boolean): Promise<WorkloadResult> {
  const m = model(STUDENT_SPEC, 1);
  const data = Array.from({ length: 4 }, (_, i) => windows(batch, CTX, i));
  const times: number[] = [];
  let step: (i: number) => Promise<void> | void;
  if (onnx) {
    const runner = await OnnxTokenRunner.create(exportOnnx(m), { threads: 2 });
    const ids = data.map((d) => Array.from(d.x.dataSync()));
    const mask = new Array<number>(batch * CTX).fill(1);
    step = async (i) => {
      const t0 = performance.now();
      await runner.run(ids[i % ids.length], mask, batch, CTX);
      times.push(performance.now() - t0);
    };
  } else {
    step = (i) => {
      const t0 = performance.now();
      tf.tidy(() => m.forward(data[i % data.length].x).logits.dataSync());
      times.push(performance.now() - t0);
    };
  }
  const { n, dt } = await timed(step, seconds, 1);
  const sorted = times.slice(1).sort((a, b) => a - b);
  return { samples_per_s: (n * batch * CTX) / dt, p50_ms: sorted[Math.floor(sorted.length / 2)], steps: n };
}

export function runTransformerWorkload(workload: TransformerWorkload, onnx: boolean, batch: number, seconds: number, timed: Timed): Promise<WorkloadResult> {
  switch (workload) {
    case "lm-train":
      return train(batch, seconds, timed, false);
    case "lm-kd":
      return train(batch, seconds, timed, true);
    case "lm-gen":
      return generation(seconds, timed, onnx);
    case "lm-fwd":
      return forward(batch, seconds, timed, onnx);
  }
}
