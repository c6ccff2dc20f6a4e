import { backend_util, slice_util, util, type TensorInfo } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { fallback, product, type NativeKernel } from "./native-util.js";

/**
 * Slice, SplitV and Concat as copies of contiguous runs. tfjs-backend-cpu computes every element's indices for a slice
 * that is not contiguous (a split of q | k | v along the last axis: [4096, 768] into three took seconds); here
 * each run of the innermost partly-taken dimension is one TypedArray.set (Concat, the split's gradient, likewise
 * copied element by element in JS). Bit-identical (copies).
 */

type Values = Float32Array | Int32Array;

function storage(backend: MathBackendCPU, t: TensorInfo | undefined): Values | null {
  if (!t || (t.dtype !== "float32" && t.dtype !== "int32")) return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array || v instanceof Int32Array ? v : null;
}

/** out = x[begin … begin+size) of a row-major x with `shape`. */
function sliceCopy(x: Values, shape: readonly number[], begin: readonly number[], size: readonly number[], out: Values): void {
  const rank = shape.length;
  if (out.length === 0) return;
  if (rank === 0) {
    out[0] = x[0];
    return;
  }
  const strides = [...util.computeStrides(shape as number[]), 1];
  // Dimensions after k are taken whole, so x holds each run of size[k]·stride[k] elements contiguously.
  let k = rank - 1;
  while (k > 0 && begin[k] === 0 && size[k] === shape[k]) k--;
  const run = size[k] * strides[k];
  const outer = product(size.slice(0, k));
  const index = new Array<number>(k).fill(0);
  let base = begin[k] * strides[k];
  for (let d = 0; d < k; d++) base += begin[d] * strides[d];
  for (let n = 0, o = 0; n < outer; n++, o += run) {
    let src = base;
    for (let d = 0; d < k; d++) src += index[d] * strides[d];
    out.set(x.subarray(src, src + run), o);
    for (let d = k - 1; d >= 0; d--) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
}

function sliceOf(backend: MathBackendCPU, x: TensorInfo, xv: Values, begin: number[], size: number[]): TensorInfo {
  const out = xv instanceof Float32Array ? new Float32Array(product(size)) : new Int32Array(product(size));
  sliceCopy(xv, x.shape, begin, size, out);
  return backend.makeTensorInfo(size.slice(), x.dtype, out);
}

/** Slice {x} {begin, size}. */
export const slice: NativeKernel = (args) => {
  const { x } = args.inputs;
  const xv = storage(args.backend, x);
  if (!x || !xv) return fallback("Slice", args);
  const [begin, size] = slice_util.parseSliceParams(x, args.attrs?.begin as number[], args.attrs?.size as number[]);
  slice_util.assertParamsValid(x, begin, size);
  return sliceOf(args.backend, x, xv, begin, size);
};

/** SplitV {x} {numOrSizeSplits, axis}: one slice per piece along the axis. */
export const splitV: NativeKernel = (args) => {
  const { x } = args.inputs;
  const xv = storage(args.backend, x);
  if (!x || !xv) return fallback("SplitV", args);
  const axis = util.parseAxisParam(args.attrs?.axis as number, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x, args.attrs?.numOrSizeSplits as number[] | number, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  const size = x.shape.slice();
  return sizes.map((s) => {
    size[axis] = s;
    const piece = sliceOf(args.backend, x, xv, begin, size);
    begin[axis] += s;
    return piece;
  });
};

/** Concat {tensors…} {axis}: for each index before the axis, each input's run in turn. */
export const concat: NativeKernel = (args) => {
  const inputs = Object.values(args.inputs).filter((t): t is TensorInfo => t !== undefined);
  const parts = inputs.map((t) => storage(args.backend, t));
  const first = inputs[0];
  if (!first || parts.some((v) => !v) || inputs.some((t) => t.dtype !== first.dtype || t.shape.length !== first.shape.length)) return fallback("Concat", args);
  const axis = util.parseAxisParam(args.attrs?.axis as number, first.shape)[0];
  backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
  const shape = backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
  const out = first.dtype === "float32" ? new Float32Array(product(shape)) : new Int32Array(product(shape));
  const outer = product(shape.slice(0, axis));
  const runs = inputs.map((t) => product(t.shape.slice(axis)));
  for (let n = 0, o = 0; n < outer; n++) {
    for (let i = 0; i < inputs.length; i++) {
      const run = runs[i];
      if (run === 0) continue;
      out.set((parts[i] as Values).subarray(n * run, n * run + run), o);
      o += run;
    }
  }
  return args.backend.makeTensorInfo(shape, first.dtype, out);
};
