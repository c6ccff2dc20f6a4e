import * as tf from "@tensorflow/tfjs-core";
import { withGrad } from "./ops.js";

/**
 * Differentiable ops a transformer needs beyond dense layers, each a tf.customGrad with an explicit backward pass,
 * so every backend (cpu, wasm, native) trains the same way and a backend may swap in its own kernels behind the
 * same formula. Shapes: any leading dimensions, the op works over the last axis.
 */

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
      const value = tf.tidy(() => {
        const u = tf.mul(tf.add(xx, tf.mul(tf.pow(xx, 3), GELU_C)), SQRT_2_OVER_PI);
        return tf.mul(tf.mul(xx, 0.5), tf.add(1, tf.tanh(u)));
      }) as T;
      return { value, saved: [xx] };
    },
    (dy, [sx]) => [
      tf.tidy(() => {
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
 * matMul costs vocabulary × tokens × width); ids get no gradient.
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
