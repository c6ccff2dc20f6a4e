import * as tf from "@tensorflow/tfjs-core";
import { NATIVE_SEQUENCE_KERNEL as K } from "./native-sequence.js";
import { withGrad } from "./ops.js";

/**
 * Differentiable ops a transformer needs beyond dense layers, each a tf.customGrad with an explicit backward pass,
 * so every backend (cpu, wasm, native) trains the same way and a backend may swap in its own kernels behind the
 * same formula: on the native backend each forward and backward pass is one kernel of the addon (native/seq.c,
 * native/gather.c); elsewhere the formula is composed of tf ops. Shapes: any leading dimensions, the op works
 * over the last axis.
 */

const onNative = (): boolean => tf.getBackend() === "native";

function runKernel(name: string, inputs: Record<string, tf.Tensor | undefined>, attrs: Record<string, unknown> = {}): tf.Tensor | tf.Tensor[] {
  const defined = Object.fromEntries(Object.entries(inputs).filter(([, t]) => t)) as tf.NamedTensorMap;
  return tf.engine().runKernel(name, defined, attrs as unknown as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/**
 * GELU, tanh approximation (GPT-2's): y = ½·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³);
 * dy/dx = ½·(1 + tanh u) + ½·x·(1 − tanh²u)·√(2/π)·(1 + 3·0.044715·x²).
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  return withGrad<T>(
    [x],
    ([xx]) => {
      if (onNative()) return { value: runKernel(K.gelu, { x: xx }) as T, saved: [xx] };
      const value = tf.tidy(() => {
        const u = tf.mul(tf.add(xx, tf.mul(tf.pow(xx, 3), GELU_C)), SQRT_2_OVER_PI);
        return tf.mul(tf.mul(xx, 0.5), tf.add(1, tf.tanh(u)));
      }) as T;
      return { value, saved: [xx] };
    },
    (dy, [sx]) => [
      onNative() ? (runKernel(K.geluGrad, { dy, x: sx }) as tf.Tensor) : tf.tidy(() => {
        const x2 = tf.square(sx);
        const t = tf.tanh(tf.mul(tf.add(sx, tf.mul(tf.mul(x2, sx), GELU_C)), SQRT_2_OVER_PI));
        const du = tf.mul(tf.add(1, tf.mul(x2, 3 * GELU_C)), SQRT_2_OVER_PI);
        const d = tf.add(tf.mul(0.5, tf.add(1, t)), tf.mul(tf.mul(tf.mul(0.5, sx), tf.sub(1, tf.square(t))), du));
        return tf.mul(dy, d);
      }),
    ],
  );
}

/**
 * LayerNorm over the last axis D: x̂ = (x − μ)/√(σ² + ε) with the row's mean μ and biased variance σ²,
 * y = γ·x̂ + β. Backward: ∂β = Σ dy, ∂γ = Σ dy·x̂ (over all rows), and with g = dy·γ,
 * ∂x = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + ε).
 */
export function layerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-5): T {
  return withGrad<T>(
    [x, gamma, beta],
    ([xx, g, b]) => {
      if (onNative()) {
        const [value, xhat, rstd] = runKernel(K.layerNorm, { x: xx, gamma: g, beta: b }, { epsilon }) as tf.Tensor[];
        return { value: value as T, saved: [xhat, rstd, g] };
      }
      const { xhat, rstd } = tf.tidy(() => {
        const mean = tf.mean(xx, -1, true);
        const centred = tf.sub(xx, mean);
        const variance = tf.mean(tf.square(centred), -1, true);
        const r = tf.rsqrt(tf.add(variance, epsilon));
        return { xhat: tf.mul(centred, r), rstd: r };
      });
      const value = tf.tidy(() => tf.add(tf.mul(xhat, g), b)) as T;
      return { value, saved: [xhat, rstd, g] };
    },
    (dy, [xhat, rstd, g]) => {
      if (onNative()) return runKernel(K.layerNormGrad, { dy, xhat, rstd, gamma: g }) as tf.Tensor[];
      const d = dy.shape[dy.shape.length - 1];
      const rowsAxes = dy.shape.slice(0, -1).map((_, i) => i);
      return tf.tidy(() => {
        const gy = tf.mul(dy, g);
        const meanG = tf.mean(gy, -1, true);
        const meanGX = tf.mean(tf.mul(gy, xhat), -1, true);
        const dx = tf.mul(tf.sub(tf.sub(gy, meanG), tf.mul(xhat, meanGX)), rstd);
        const dGamma = tf.reshape(tf.sum(tf.mul(dy, xhat), rowsAxes), [d]);
        const dBeta = tf.reshape(tf.sum(dy, rowsAxes), [d]);
        return [dx, dGamma, dBeta];
      });
    },
  );
}

/**
 * Rows of an embedding table: out[..., :] = table[ids[...], :] for int32 ids. The table's gradient is a scatter-add
 * of the upstream rows, done here with one pass over the ids (wasm has no UnsortedSegmentSum kernel, and a one-hot
 * matMul costs vocabulary × tokens × width; native runs its own UnsortedSegmentSum); ids get no gradient.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const [vocab, width] = table.shape;
  return withGrad<tf.Tensor>(
    [table, ids],
    ([t, i]) => {
      const flat = tf.reshape(i, [-1]);
      const rows = tf.gather(t, flat);
      const value = tf.reshape(rows, [...i.shape, width]);
      flat.dispose();
      rows.dispose();
      return { value, saved: [i] };
    },
    (dy, [si]) => {
      if (onNative()) {
        const rows = tf.tidy(() => tf.unsortedSegmentSum(tf.reshape(dy, [-1, width]), tf.reshape(si, [-1]), vocab));
        return [rows, tf.zerosLike(si)];
      }
      const idx = si.dataSync() as Int32Array;
      const g = dy.dataSync() as Float32Array;
      const out = new Float32Array(vocab * width);
      for (let r = 0; r < idx.length; r++) {
        const o = idx[r] * width;
        const s = r * width;
        for (let k = 0; k < width; k++) out[o + k] += g[s + k];
      }
      return [tf.tensor2d(out, [vocab, width]), tf.zerosLike(si)];
    },
  );
}

export interface AttentionSoftmaxOptions {
  /** Multiplies the scores first (1/√head_dim in attention); default 1. */
  scale?: number;
  /** Query i of q sees keys j ≤ i + k − q (keys [0, i] when q = k). */
  causal?: boolean;
  /** [batch, k]: 1 keeps a key, 0 masks it (padding), for every head and query of that batch item. */
  mask?: tf.Tensor2D;
}

/** Added where a key is masked: e^(−1e9) is exactly 0 in float32, and a fully masked row stays finite (uniform). */
export const MASKED_SCORE = -1e9;

/** [q, k] with MASKED_SCORE where j > i + k − q, else 0. */
function causalBias(q: number, k: number): tf.Tensor2D {
  const bias = new Float32Array(q * k);
  for (let i = 0; i < q; i++) for (let j = i + k - q + 1; j < k; j++) if (j >= 0) bias[i * k + j] = MASKED_SCORE;
  return tf.tensor2d(bias, [q, k]);
}

/**
 * softmax(scores·scale + bias) over the last axis, for attention scores [batch, ..., q, k]: bias =
 * min(causal bias, padding bias (1 − mask)·MASKED_SCORE), so a key masked for either reason or both gets
 * MASKED_SCORE once (a row with every key masked is then uniform, as in the ONNX export). Backward:
 * ∂scores = scale·(dy·y − y·Σ dy·y); the mask gets no gradient. One kernel each way on native.
 */
export function attentionSoftmax<T extends tf.Tensor>(scores: T, options: AttentionSoftmaxOptions = {}): T {
  const { scale = 1, causal = false, mask } = options;
  const rank = scores.shape.length;
  if ((causal || mask) && rank < 2) throw new Error(`attentionSoftmax: causal or padding masks need scores [..., q, k], got [${scores.shape}]`);
  const k = scores.shape[rank - 1];
  if (mask && (mask.shape.length !== 2 || mask.shape[0] !== scores.shape[0] || mask.shape[1] !== k)) {
    throw new Error(`attentionSoftmax: mask must be [${scores.shape[0]}, ${k}] for scores [${scores.shape}], got [${mask.shape}]`);
  }
  const inputs = mask ? [scores, mask] : [scores];
  return withGrad<T>(
    inputs,
    ([s, m]) => {
      if (onNative()) {
        const value = runKernel(K.attentionSoftmax, { scores: s, mask: m }, { scale, causal }) as T;
        return { value, saved: [value] };
      }
      const value = tf.tidy(() => {
        const z = scale === 1 ? s : tf.mul(s, scale);
        const padding = m ? tf.reshape(tf.mul(tf.sub(1, m), MASKED_SCORE), [s.shape[0], ...new Array<number>(rank - 2).fill(1), k]) : null;
        const future = causal ? causalBias(s.shape[rank - 2], k) : null;
        const bias = padding && future ? tf.minimum(padding, future) : (padding ?? future);
        return tf.softmax(bias ? tf.add(z, bias) : z);
      }) as T;
      return { value, saved: [value] };
    },
    (dy, [y]) => [softmaxBackward(dy, y, scale), ...(mask ? [tf.zerosLike(mask)] : [])],
  );
}

/** softmax over the last axis with the backward pass of attentionSoftmax (one kernel each way on native). */
export function softmax<T extends tf.Tensor>(x: T): T {
  return attentionSoftmax(x);
}

/** scale·(dy·y − y·Σ dy·y) over the last axis. */
function softmaxBackward(dy: tf.Tensor, y: tf.Tensor, scale: number): tf.Tensor {
  if (onNative()) return runKernel(K.softmaxGrad, { dy, y }, { scale }) as tf.Tensor;
  return tf.tidy(() => {
    const dyy = tf.mul(dy, y);
    const dx = tf.sub(dyy, tf.mul(tf.sum(dyy, -1, true), y));
    return scale === 1 ? dx : tf.mul(dx, scale);
  });
}
