import * as tf from "@tensorflow/tfjs-core";
import { NATIVE_ACTIVATION_GRAD } from "./native-backend.js";

/**
 * Differentiable ops whose gradients avoid the wasm backend's slow paths: matMul with transposeA/B runs
 * 10-20x slower there than an explicit transpose followed by a plain matMul, and wasm has no
 * Conv2DBackpropFilter kernel at all. On the native backend the transposes are BLAS flags and the backprop
 * kernels are im2col + gemm, so there the gradients call them directly. Each op is a tf.customGrad, so
 * tf.variableGrads works as usual.
 */

const onNative = (): boolean => tf.getBackend() === "native";

/**
 * On native, the fused kernels are called directly: inside a gradient tape tf.fused.* would split them into
 * separate matMul/add/activation ops (it fuses only outside tapes), and our custom gradients never need theirs.
 */
function runKernel(name: string, inputs: Record<string, tf.Tensor | null | undefined>, attrs: Record<string, unknown>): tf.Tensor {
  const defined = Object.fromEntries(Object.entries(inputs).filter(([, t]) => t)) as tf.NamedTensorMap;
  return tf.engine().runKernel(name, defined, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function gradOfActivation(dy: tf.Tensor, y: tf.Tensor, activation: Activation): tf.Tensor {
  if (activation === "linear") return dy; // no copy (the transformer's 17 linear layers: 5% of a native step)
  return onNative() ? runKernel(NATIVE_ACTIVATION_GRAD, { dy, y }, { activation }) : activationGrad(dy, y, activation);
}

export type Activation = "linear" | "relu" | "sigmoid" | "tanh";
export const ACTIVATIONS: readonly Activation[] = ["linear", "relu", "sigmoid", "tanh"];

function activationGrad(dy: tf.Tensor, y: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case "linear":
      return dy;
    case "relu":
      return tf.mul(dy, tf.step(y));
    case "sigmoid":
      return tf.mul(dy, tf.mul(y, tf.sub(1, y)));
    case "tanh":
      return tf.mul(dy, tf.sub(1, tf.square(y)));
  }
}

function applyActivation(z: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case "linear":
      return z;
    case "relu":
      return tf.relu(z);
    case "sigmoid":
      return tf.sigmoid(z);
    case "tanh":
      return tf.tanh(z);
  }
}

/**
 * A differentiable op from a forward and a backward function (tf.customGrad with the typing spelled out).
 * `backward` returns one gradient per input, in order.
 */
export function withGrad<T extends tf.Tensor>(
  inputs: tf.Tensor[],
  forward: (inputs: tf.Tensor[]) => { value: T; saved: tf.Tensor[] },
  backward: (dy: T, saved: tf.Tensor[]) => tf.Tensor[],
): T {
  const f = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const { value, saved } = forward(args.slice(0, -1) as tf.Tensor[]);
    save(saved);
    return { value, gradFunc: (dy: T, s: tf.Tensor[]) => backward(dy, s) };
  }) as Parameters<typeof tf.customGrad<T>>[0]);
  return f(...inputs) as T;
}

const FUSABLE = new Set<Activation>(["linear", "relu", "sigmoid"]);

/** y = act(x·W + b) for x [N, in], W [in, out], b [out]. `inputGrad: false` returns zeros as ∂L/∂x (see ForwardContext). */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D | null, activation: Activation, inputGrad = true): tf.Tensor2D {
  const inputs = bias ? [x, kernel, bias] : [x, kernel];
  return withGrad<tf.Tensor2D>(
    inputs,
    ([xx, w, b]) => {
      if (onNative() && FUSABLE.has(activation)) {
        const value = runKernel("_FusedMatMul", { a: xx, b: w, bias: b }, { transposeA: false, transposeB: false, activation }) as tf.Tensor2D;
        return { value, saved: [xx, w, value] };
      }
      const value: tf.Tensor2D = FUSABLE.has(activation)
        ? (tf.fused.matMul({ a: xx as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, activation: activation as tf.fused.Activation }) as tf.Tensor2D)
        : (applyActivation(b ? tf.add(tf.matMul(xx as tf.Tensor2D, w as tf.Tensor2D), b) : tf.matMul(xx as tf.Tensor2D, w as tf.Tensor2D), activation) as tf.Tensor2D);
      return { value, saved: [xx, w, value] };
    },
    (dy, [sx, sw, sy]) => {
      const dz = gradOfActivation(dy, sy, activation);
      const dx = !inputGrad ? tf.zeros(sx.shape) : onNative() ? tf.matMul(dz, sw, false, true) : tf.matMul(dz, tf.transpose(sw));
      const grads = [dx, onNative() ? tf.matMul(sx, dz, true, false) : tf.matMul(tf.transpose(sx), dz)];
      if (bias) grads.push(tf.sum(dz, 0));
      return grads;
    },
  );
}

export type Padding = "same" | "valid";

export interface ConvGeometry {
  stride: number;
  padding: Padding;
}

/** TF's padding rule: for "same", out = ceil(in / stride) and the extra pixel goes to the bottom/right. */
export function convPads(inSize: number, kernel: number, stride: number, padding: Padding): { out: number; before: number; after: number } {
  if (padding === "valid") return { out: Math.floor((inSize - kernel) / stride) + 1, before: 0, after: 0 };
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + kernel - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/**
 * ∂L/∂W for a conv2d, computed with a forward convolution (wasm has no Conv2DBackpropFilter):
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} xpad[n, oh·s+kh, ow·s+kw, ci] · dy[n,oh,ow,co], i.e. a valid convolution of
 * xpad viewed as [ci, H, W, N] with dy viewed as the filter [OH, OW, N, co], dilated by the stride.
 */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, kernelSize: [number, number], geom: ConvGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = kernelSize;
    const [, h, w] = x.shape;
    const ph = convPads(h, kh, geom.stride, geom.padding);
    const pw = convPads(w, kw, geom.stride, geom.padding);
    let xp: tf.Tensor4D = x;
    if (ph.before || ph.after || pw.before || pw.after) {
      xp = tf.pad(x, [[0, 0], [ph.before, ph.after], [pw.before, pw.after], [0, 0]]);
    }
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, Hp, Wp, N]
    const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [OH, OW, N, co]
    const g = geom.stride === 1 ? tf.conv2d(xT, f, 1, "valid") : tf.conv2d(xT, f, 1, "valid", "NHWC", geom.stride);
    const gk = g.shape[1] === kh && g.shape[2] === kw ? g : tf.slice(g, [0, 0, 0, 0], [-1, kh, kw, -1]);
    return tf.transpose(gk, [1, 2, 0, 3]) as tf.Tensor4D; // [kh, kw, ci, co]
  });
}

/**
 * ∂L/∂x for a conv2d as a forward convolution (wasm's Conv2DBackpropInput is ~8x slower): dy is dilated by
 * the stride, padded so the correlation is "full", and convolved with the kernel rotated by 180° whose
 * in/out channels are swapped: dx[i] = Σ_k dyd[i + p − (K−1) + k]·W[K−1−k].
 */
export function conv2dInputGrad(dy: tf.Tensor4D, kernel: tf.Tensor4D, xShape: [number, number, number, number], geom: ConvGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = xShape;
    const [kh, kw] = kernel.shape;
    const [, oh, ow, co] = dy.shape;
    const s = geom.stride;
    let dyd: tf.Tensor4D = dy;
    if (s > 1) {
      const e = tf.reshape(dy, [n, oh, 1, ow, 1, co]);
      const padded = tf.pad(e, [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]]);
      dyd = tf.slice(tf.reshape(padded, [n, oh * s, ow * s, co]) as tf.Tensor4D, [0, 0, 0, 0], [n, (oh - 1) * s + 1, (ow - 1) * s + 1, co]);
    }
    const ph = convPads(h, kh, s, geom.padding).before;
    const pw = convPads(w, kw, s, geom.padding).before;
    const top = kh - 1 - ph;
    const left = kw - 1 - pw;
    const bottom = h + kh - 1 - top - dyd.shape[1];
    const right = w + kw - 1 - left - dyd.shape[2];
    const padSpec: [number, number][] = [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]];
    let full = tf.pad(dyd, padSpec);
    if (top < 0 || bottom < 0 || left < 0 || right < 0) {
      full = tf.slice(full, [0, Math.max(-top, 0), Math.max(-left, 0), 0], [n, h + kh - 1, w + kw - 1, co]);
    }
    const rotated = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [kh, kw, co, ci]
    return tf.conv2d(full as tf.Tensor4D, rotated, 1, "valid");
  });
}

/** [∂L/∂x, ∂L/∂W] through TF.js's own backprop kernels (the native backend runs them as im2col + gemm). */
function nativeConvGrads(x: tf.Tensor4D, kernel: tf.Tensor4D, dy: tf.Tensor4D, geom: ConvGeometry, inputGrad: boolean): tf.Tensor[] {
  const attrs = { strides: geom.stride, pad: geom.padding, dataFormat: "NHWC", dimRoundingMode: undefined };
  const engine = tf.engine();
  const dx = !inputGrad ? tf.zeros(x.shape) : engine.runKernel("Conv2DBackpropInput", { dy, filter: kernel }, { ...attrs, inputShape: x.shape } as unknown as tf.NamedAttrMap);
  const dw = engine.runKernel("Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape: kernel.shape } as unknown as tf.NamedAttrMap);
  return [dx as tf.Tensor, dw as tf.Tensor];
}

/** y = act(conv2d(x, W, stride, padding) + b) for NHWC x and W [kh, kw, ci, co]. `inputGrad: false` as in dense. */
export function conv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D | null, geom: ConvGeometry, activation: Activation, inputGrad = true): tf.Tensor4D {
  const kernelSize: [number, number] = [kernel.shape[0], kernel.shape[1]];
  const inputs = bias ? [x, kernel, bias] : [x, kernel];
  return withGrad<tf.Tensor4D>(
    inputs,
    ([xx, w, b]) => {
      if (onNative() && FUSABLE.has(activation)) {
        const attrs = { strides: geom.stride, pad: geom.padding, dataFormat: "NHWC", dilations: 1, dimRoundingMode: undefined, activation };
        const value = runKernel("FusedConv2D", { x: xx, filter: w, bias: b }, attrs) as tf.Tensor4D;
        return { value, saved: [xx, w, value] };
      }
      const value: tf.Tensor4D = FUSABLE.has(activation)
        ? tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: w as tf.Tensor4D, strides: geom.stride, pad: geom.padding, bias: b, activation: activation as tf.fused.Activation })
        : (applyActivation(tf.conv2d(xx as tf.Tensor4D, w as tf.Tensor4D, geom.stride, geom.padding).add(b ?? tf.scalar(0)), activation) as tf.Tensor4D);
      return { value, saved: [xx, w, value] };
    },
    (dy, saved) => {
      const [sx, sw, sy] = saved as tf.Tensor4D[];
      const dz = gradOfActivation(dy, sy, activation) as tf.Tensor4D;
      const grads: tf.Tensor[] = onNative()
        ? nativeConvGrads(sx, sw, dz, geom, inputGrad)
        : [inputGrad ? conv2dInputGrad(dz, sw, sx.shape, geom) : tf.zeros(sx.shape), conv2dFilterGrad(sx, dz, kernelSize, geom)];
      if (bias) grads.push(tf.sum(dz, [0, 1, 2]));
      return grads;
    },
  );
}
