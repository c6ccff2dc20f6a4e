import { backend_util, util, type TensorInfo } from "@tensorflow/tfjs-core";
import { addon, fallback, product, values, type KernelArgs, type NativeKernel } from "./native-util.js";

type BinaryOp = (a: number, b: number) => number;

/**
 * out[i] = op(a[ia], b[ib]) with numpy broadcasting, walking the output with per-input strides (0 along a
 * broadcast dim). tfjs-backend-cpu computes every broadcast element's indices from scratch (indexToLoc, slices,
 * closures): ~1 µs per element, which made the [n, 1]-against-[n, classes] ops of every softmax and loss cost more
 * than the student's matrix products. Same arithmetic as cpu (the op in doubles, stored as float32).
 */
export function broadcastBinary(op: BinaryOp, aShape: number[], bShape: number[], av: Float32Array, bv: Float32Array): { out: Float32Array; shape: number[] } {
  const shape = backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const out = new Float32Array(product(shape));
  if (out.length === 0) return { out, shape };
  if (av.length === out.length && bv.length === out.length) {
    for (let i = 0; i < out.length; i++) out[i] = op(av[i], bv[i]);
    return { out, shape };
  }
  if (bv.length === 1) {
    const b = bv[0];
    for (let i = 0; i < out.length; i++) out[i] = op(av[i % av.length], b);
    return { out, shape };
  }
  if (av.length === 1) {
    const a = av[0];
    for (let i = 0; i < out.length; i++) out[i] = op(a, bv[i % bv.length]);
    return { out, shape };
  }
  const rank = shape.length;
  const sa = broadcastStrides(aShape, shape);
  const sb = broadcastStrides(bShape, shape);
  const inner = shape[rank - 1];
  const ia = sa[rank - 1];
  const ib = sb[rank - 1];
  const idx = new Array<number>(rank).fill(0);
  let pa = 0;
  let pb = 0;
  for (let o = 0; o < out.length; o += inner) {
    for (let j = 0; j < inner; j++) out[o + j] = op(av[pa + j * ia], bv[pb + j * ib]);
    // Advance the odometer over the outer dims.
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      pa += sa[d];
      pb += sb[d];
      if (idx[d] < shape[d]) break;
      pa -= sa[d] * shape[d];
      pb -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
  return { out, shape };
}

/** Strides of an input of `inShape` read along the broadcast `outShape` (right-aligned; 0 where it repeats). */
function broadcastStrides(inShape: number[], outShape: number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let d = inShape.length - 1; d >= 0; d--) {
    const od = outShape.length - inShape.length + d;
    strides[od] = inShape[d] === 1 ? 0 : s;
    s *= inShape[d];
  }
  return strides;
}

/** Ops the addon runs (native/elementwise.c: one float32 operation is correctly rounded, as JS's double op then
 *  rounded to float32 is, so the numbers are the same); the others run broadcastBinary. */
const ADDON_OPS: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 };

function binaryKernel(name: string, op: BinaryOp): NativeKernel {
  const code = ADDON_OPS[name];
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { a, b } = args.inputs;
    const av = values(args.backend, a);
    const bv = values(args.backend, b);
    if (!a || !b || !av || !bv) return fallback(name, args);
    if (code === undefined || a.shape.length > 8 || b.shape.length > 8) {
      const { out, shape } = broadcastBinary(op, a.shape, b.shape, av, bv);
      return args.backend.makeTensorInfo(shape, "float32", out);
    }
    const shape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = new Float32Array(product(shape));
    if (out.length > 0) {
      const full = shape.length === 0 ? [1] : shape;
      const strides = (s: number[]) => Int32Array.from(shape.length === 0 ? [0] : broadcastStrides(s, shape));
      addon().binary(code, av, bv, out, Int32Array.from(full), strides(a.shape), strides(b.shape));
    }
    return args.backend.makeTensorInfo(shape, "float32", out);
  };
}

export const add = binaryKernel("Add", (a, b) => a + b);
export const sub = binaryKernel("Sub", (a, b) => a - b);
export const multiply = binaryKernel("Multiply", (a, b) => a * b);
export const realDiv = binaryKernel("RealDiv", (a, b) => a / b);
export const maximum = binaryKernel("Maximum", Math.max);

/**
 * Sum or Max over trailing axes (the softmax and log-softmax rows) in the addon, with tfjs-backend-cpu's
 * arithmetic (double sums in index order; max propagates NaN); null when the axes are not trailing.
 */
export function reduceTrailing(args: KernelArgs, axisAttr: number | number[], max: boolean): TensorInfo | null {
  const { x } = args.inputs;
  const xv = values(args.backend, x);
  if (!x || !xv || x.shape.length === 0) return null;
  const axes = util.parseAxisParam(axisAttr, x.shape).sort((p, q) => p - q);
  const first = x.shape.length - axes.length;
  if (axes.length === 0 || !axes.every((axis, i) => axis === first + i)) return null;
  const cols = product(x.shape.slice(first));
  const kept = x.shape.slice(0, first);
  const out = new Float32Array(product(kept));
  if (cols === 0 || out.length === 0) return null;
  addon().reduceLast(xv, out, out.length, cols, max);
  const shape = args.attrs?.keepDims ? [...kept, ...axes.map(() => 1)] : kept;
  return args.backend.makeTensorInfo(shape, "float32", out);
}

export const max: NativeKernel = (args) => reduceTrailing(args, args.attrs?.reductionIndices as number | number[], true) ?? fallback("Max", args);

/** Exp of float32 (the log-softmax of every loss); glibc's expf, within 0.502 ulp as JS's Math.exp rounded. */
export const exp: NativeKernel = (args) => {
  const { x } = args.inputs;
  const xv = values(args.backend, x);
  if (!x || !xv) return fallback("Exp", args);
  const y = new Float32Array(xv.length);
  addon().exp(xv, y);
  return args.backend.makeTensorInfo(x.shape, "float32", y);
};
