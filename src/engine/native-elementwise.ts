import { backend_util, type TensorInfo } from "@tensorflow/tfjs-core";
import { fallback, product, values, type KernelArgs, type NativeKernel } from "./native-util.js";

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

function binaryKernel(name: string, op: BinaryOp): NativeKernel {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { a, b } = args.inputs;
    const av = values(args.backend, a);
    const bv = values(args.backend, b);
    if (!a || !b || !av || !bv) return fallback(name, args);
    const { out, shape } = broadcastBinary(op, a.shape, b.shape, av, bv);
    return args.backend.makeTensorInfo(shape, "float32", out);
  };
}

export const add = binaryKernel("Add", (a, b) => a + b);
export const sub = binaryKernel("Sub", (a, b) => a - b);
export const multiply = binaryKernel("Multiply", (a, b) => a * b);
export const realDiv = binaryKernel("RealDiv", (a, b) => a / b);
export const maximum = binaryKernel("Maximum", Math.max);
