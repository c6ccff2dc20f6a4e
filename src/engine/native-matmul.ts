import { backend_util, util, type TensorInfo } from "@tensorflow/tfjs-core";
import { NATIVE_ACTIVATIONS } from "./native-addon.js";
import { reduceTrailing } from "./native-elementwise.js";
import { addon, fallback, product, values, type KernelArgs, type NativeKernel } from "./native-util.js";

interface Product {
  out: Float32Array;
  shape: number[];
  m: number;
  n: number;
}

/** a·b over the batch dims with the transposes as BLAS flags (no copies); null when the addon does not cover it. */
function matMul(args: KernelArgs): Product | null {
  const { a, b } = args.inputs;
  const ta = Boolean(args.attrs?.transposeA);
  const tb = Boolean(args.attrs?.transposeB);
  const av = values(args.backend, a);
  const bv = values(args.backend, b);
  if (!a || !b || !av || !bv || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = tb ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) return null; // the cpu kernel throws TF.js's own message
  const batchShape = backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = product(batchShape);
  const batchA = product(a.shape.slice(0, -2));
  const batchB = product(b.shape.slice(0, -2));
  if (batch * m * n === 0) return null;
  const out = new Float32Array(batch * m * n);
  if ((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1)) {
    addon().gemm(ta, tb, m, n, k, av, bv, out, batch, batchA === 1 ? 0 : m * k, batchB === 1 ? 0 : k * n);
  } else {
    // Both sides broadcast along different batch dims: one gemm per output matrix.
    const ia = broadcastIndex(a.shape.slice(0, -2), batchShape);
    const ib = broadcastIndex(b.shape.slice(0, -2), batchShape);
    for (let i = 0; i < batch; i++) {
      addon().gemm(ta, tb, m, n, k, av.subarray(ia[i] * m * k), bv.subarray(ib[i] * k * n), out.subarray(i * m * n), 1, 0, 0);
    }
  }
  return { out, shape: [...batchShape, m, n], m, n };
}

/** For each flat index into the broadcast batch shape, the flat index into `shape` it reads. */
function broadcastIndex(shape: number[], outShape: number[]): Int32Array {
  const padded = [...new Array(outShape.length - shape.length).fill(1), ...shape];
  const index = new Int32Array(product(outShape));
  for (let i = 0; i < index.length; i++) {
    let rest = i;
    let src = 0;
    let stride = 1;
    for (let d = outShape.length - 1; d >= 0; d--) {
      const coord = rest % outShape[d];
      rest = Math.floor(rest / outShape[d]);
      if (padded[d] !== 1) src += coord * stride;
      stride *= padded[d];
    }
    index[i] = src;
  }
  return index;
}

export const batchMatMul: NativeKernel = (args) => {
  const r = matMul(args);
  return r ? args.backend.makeTensorInfo(r.shape, "float32", r.out) : fallback("BatchMatMul", args);
};

/** matMul + bias + activation in one pass over the output; prelu and odd bias shapes go to the cpu kernel. */
export const fusedMatMul: NativeKernel = (args) => {
  const { bias } = args.inputs;
  const activation = (args.attrs?.activation as string | undefined) ?? "linear";
  const act = NATIVE_ACTIVATIONS[activation];
  const biasValues = bias ? values(args.backend, bias) : null;
  const aShape = args.inputs.a?.shape ?? [];
  const bShape = args.inputs.b?.shape ?? [];
  const n = args.attrs?.transposeB ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
  const biasOk = !bias || (biasValues !== null && bias.shape.length >= 1 && bias.shape[bias.shape.length - 1] === n && product(bias.shape) === n && bias.shape.length <= Math.max(aShape.length, bShape.length));
  if (act === undefined || !biasOk) return fallback("_FusedMatMul", args);
  const r = matMul(args);
  if (!r) return fallback("_FusedMatMul", args);
  const alpha = (args.attrs?.leakyreluAlpha as number | undefined) ?? 0.2;
  addon().biasAct(r.out, r.out.length / r.n, r.n, biasValues, act, alpha);
  return args.backend.makeTensorInfo(r.shape, "float32", r.out);
};

/** Sums over leading axes (the bias gradient of dense and conv layers) as one pass, without cpu's transpose, and
 *  over trailing axes (softmax rows) in the addon. */
export const sum: NativeKernel = (args) => {
  const { x } = args.inputs;
  const xv = values(args.backend, x);
  if (!x || !xv) return fallback("Sum", args);
  const axes = util.parseAxisParam(args.attrs?.axis as number | number[], x.shape).sort((p, q) => p - q);
  const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((axis, i) => axis === i);
  if (!leading) return reduceTrailing(args, args.attrs?.axis as number | number[], false) ?? fallback("Sum", args);
  const rows = product(x.shape.slice(0, axes.length));
  const rest = x.shape.slice(axes.length);
  const out = new Float32Array(product(rest));
  addon().sumRows(xv, out, rows, out.length);
  const shape = args.attrs?.keepDims ? [...axes.map(() => 1), ...rest] : rest;
  return args.backend.makeTensorInfo(shape, "float32", out) as TensorInfo;
};

const GRAD_ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, sigmoid: 5, tanh: 6 };

/**
 * TsdistillActivationGrad {dy, y} {activation}: dy·act'(z) from the saved output y, one pass. Only the native
 * backend has it; src/engine/ops.ts calls it inside its custom gradients (which are never differentiated).
 */
export const activationGrad: NativeKernel = (args) => {
  const { dy, y } = args.inputs;
  const act = GRAD_ACTIVATIONS[args.attrs?.activation as string];
  const dyv = values(args.backend, dy);
  const yv = values(args.backend, y);
  if (!dy || !y || !dyv || !yv || act === undefined || dyv.length !== yv.length) throw new Error("TsdistillActivationGrad: expected float32 dy and y of one shape and a linear/relu/sigmoid/tanh activation");
  const out = new Float32Array(dyv.length);
  addon().activationGrad(dyv, yv, out, act);
  return args.backend.makeTensorInfo(dy.shape, "float32", out);
};
