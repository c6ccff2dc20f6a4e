import { backend_util, util, type TensorInfo } from "@tensorflow/tfjs-core";
import { addon, fallback, intValues, product, values, type KernelArgs, type NativeKernel } from "./native-util.js";

/**
 * The kernels a transformer step needs (native/seq.c, native/gather.c): TF.js's Softmax, Transpose, GatherV2 and
 * UnsortedSegmentSum, plus kernels only the native backend has, which src/engine/sequence-ops.ts calls behind its
 * ops (their backward passes included) when the backend is native.
 */
export const NATIVE_SEQUENCE_KERNEL = {
  attentionSoftmax: "TsdistillAttentionSoftmax",
  softmaxGrad: "TsdistillSoftmaxGrad",
  layerNorm: "TsdistillLayerNorm",
  layerNormGrad: "TsdistillLayerNormGrad",
  gelu: "TsdistillGelu",
  geluGrad: "TsdistillGeluGrad",
} as const;

const lastDim = (t: TensorInfo) => t.shape[t.shape.length - 1];

/** Softmax {logits} {dim}: over the last axis only (as TF.js's own kernels). */
export const softmax: NativeKernel = (args) => {
  const { logits } = args.inputs;
  const xv = values(args.backend, logits);
  const dim = args.attrs?.dim as number;
  if (!logits || !xv || logits.shape.length === 0 || (dim !== -1 && dim !== logits.shape.length - 1) || xv.length === 0) return fallback("Softmax", args);
  const y = new Float32Array(xv.length);
  addon().softmax(xv, y, xv.length / lastDim(logits), lastDim(logits), 1, 0, null, 1);
  return args.backend.makeTensorInfo(logits.shape, "float32", y);
};

export const transpose: NativeKernel = (args) => {
  const { x } = args.inputs;
  const xv = values(args.backend, x);
  const perm = args.attrs?.perm as number[] | undefined;
  if (!x || !xv || !perm || perm.length !== x.shape.length || x.shape.length > 8 || xv.length === 0) return fallback("Transpose", args);
  const shape = perm.map((p) => x.shape[p]);
  const y = new Float32Array(xv.length);
  addon().transpose(xv, y, Int32Array.from(x.shape), Int32Array.from(perm));
  return args.backend.makeTensorInfo(shape, "float32", y);
};

/** GatherV2 {x, indices} {axis, batchDims}; out-of-range indices go to the cpu kernel, which throws TF.js's message. */
export const gatherV2: NativeKernel = (args) => {
  const { x, indices } = args.inputs;
  const xv = values(args.backend, x);
  const iv = intValues(args.backend, indices);
  if (!x || !indices || !xv || !iv) return fallback("GatherV2", args);
  const axis = util.parseAxisParam(args.attrs?.axis as number, x.shape)[0];
  const batchDims = (args.attrs?.batchDims as number | undefined) ?? 0;
  const dim = x.shape[axis];
  for (let i = 0; i < iv.length; i++) if (!(iv[i] >= 0 && iv[i] < dim)) return fallback("GatherV2", args);
  const info = backend_util.segment_util.collectGatherOpShapeInfo(x as never, indices as never, axis, batchDims);
  const y = new Float32Array(product(info.outputShape));
  if (y.length > 0) addon().gather(xv, iv, y, info.batchSize, info.outerSize, info.dimSize, info.sliceSize, iv.length / info.batchSize);
  return args.backend.makeTensorInfo(info.outputShape, "float32", y);
};

/** UnsortedSegmentSum {x, segmentIds} {numSegments}: ids index the leading dims of x; others are dropped. */
export const unsortedSegmentSum: NativeKernel = (args) => {
  const { x, segmentIds } = args.inputs;
  const xv = values(args.backend, x);
  const ids = intValues(args.backend, segmentIds);
  const segments = args.attrs?.numSegments as number;
  if (!x || !segmentIds || !xv || !ids || !Number.isInteger(segments) || segments < 0) return fallback("UnsortedSegmentSum", args);
  const rank = segmentIds.shape.length;
  const inner = x.shape.slice(rank);
  const width = product(inner);
  if (!segmentIds.shape.every((d, i) => d === x.shape[i]) || width === 0 || ids.length === 0) return fallback("UnsortedSegmentSum", args);
  const y = new Float32Array(segments * width);
  addon().segmentSum(xv, ids, y, ids.length, width, segments);
  return args.backend.makeTensorInfo([segments, ...inner], "float32", y);
};

function need<T>(v: T | null | undefined, kernel: string, what: string): T {
  if (v === null || v === undefined) throw new Error(`${kernel}: expected ${what}`);
  return v;
}

/**
 * TsdistillAttentionSoftmax {scores, mask?} {scale, causal}: softmax over the last axis of scores·scale plus −1e9
 * where a key is masked, scores [B, ..., q, k]: causal masks key j for query i when j > i + k − q; mask [B, k]
 * keeps (1) or drops (0) keys per batch item.
 */
export const attentionSoftmax: NativeKernel = (args) => {
  const name = NATIVE_SEQUENCE_KERNEL.attentionSoftmax;
  const { scores, mask } = args.inputs;
  const sv = need(values(args.backend, scores), name, "float32 scores");
  const s = scores as TensorInfo;
  const causal = Boolean(args.attrs?.causal);
  const scale = (args.attrs?.scale as number | undefined) ?? 1;
  if (s.shape.length < (causal || mask ? 2 : 1)) throw new Error(`${name}: scores need a [..., q, k] shape`);
  const k = lastDim(s);
  const rows = sv.length / k;
  let mv: Float32Array | null = null;
  let rowsPerMask = 1;
  if (mask) {
    mv = need(values(args.backend, mask), name, "a float32 mask");
    if (mask.shape.length !== 2 || mask.shape[0] !== s.shape[0] || mask.shape[1] !== k) throw new Error(`${name}: mask must be [${s.shape[0]}, ${k}] for scores [${s.shape}], got [${mask.shape}]`);
    rowsPerMask = rows / s.shape[0];
  }
  const y = new Float32Array(sv.length);
  if (y.length > 0) addon().softmax(sv, y, rows, k, scale, causal ? s.shape[s.shape.length - 2] : 0, mv, rowsPerMask);
  return args.backend.makeTensorInfo(s.shape, "float32", y);
};

/** TsdistillSoftmaxGrad {dy, y} {scale}: scale·(dy·y − y·Σ dy·y) over the last axis. */
export const softmaxGrad: NativeKernel = (args) => {
  const name = NATIVE_SEQUENCE_KERNEL.softmaxGrad;
  const dyv = need(values(args.backend, args.inputs.dy), name, "float32 dy");
  const yv = need(values(args.backend, args.inputs.y), name, "float32 y");
  const y = args.inputs.y as TensorInfo;
  if (dyv.length !== yv.length) throw new Error(`${name}: dy and y differ in size`);
  const dx = new Float32Array(yv.length);
  if (dx.length > 0) addon().softmaxGrad(dyv, yv, dx, yv.length / lastDim(y), lastDim(y), (args.attrs?.scale as number | undefined) ?? 1);
  return args.backend.makeTensorInfo(y.shape, "float32", dx);
};

/** TsdistillLayerNorm {x, gamma, beta} {epsilon} → [y, x̂, rstd [..., 1]]. */
export const layerNorm: NativeKernel = (args) => {
  const name = NATIVE_SEQUENCE_KERNEL.layerNorm;
  const xv = need(values(args.backend, args.inputs.x), name, "float32 x");
  const gv = need(values(args.backend, args.inputs.gamma), name, "float32 gamma");
  const bv = need(values(args.backend, args.inputs.beta), name, "float32 beta");
  const x = args.inputs.x as TensorInfo;
  const d = lastDim(x);
  if (x.shape.length === 0 || gv.length !== d || bv.length !== d) throw new Error(`${name}: gamma and beta must have the last dimension of x (${d})`);
  const rows = xv.length / d;
  const y = new Float32Array(xv.length);
  const xhat = new Float32Array(xv.length);
  const rstd = new Float32Array(rows);
  if (y.length > 0) addon().layerNorm(xv, gv, bv, y, xhat, rstd, rows, d, (args.attrs?.epsilon as number | undefined) ?? 1e-5);
  const b = args.backend;
  return [b.makeTensorInfo(x.shape, "float32", y), b.makeTensorInfo(x.shape, "float32", xhat), b.makeTensorInfo([...x.shape.slice(0, -1), 1], "float32", rstd)];
};

/** TsdistillLayerNormGrad {dy, xhat, rstd, gamma} → [dx, dγ, dβ]. */
export const layerNormGrad: NativeKernel = (args) => {
  const name = NATIVE_SEQUENCE_KERNEL.layerNormGrad;
  const dyv = need(values(args.backend, args.inputs.dy), name, "float32 dy");
  const xv = need(values(args.backend, args.inputs.xhat), name, "float32 xhat");
  const rv = need(values(args.backend, args.inputs.rstd), name, "float32 rstd");
  const gv = need(values(args.backend, args.inputs.gamma), name, "float32 gamma");
  const dy = args.inputs.dy as TensorInfo;
  const d = lastDim(dy);
  const rows = dyv.length / d;
  if (xv.length !== dyv.length || rv.length !== rows || gv.length !== d) throw new Error(`${name}: sizes of dy, xhat, rstd and gamma do not match`);
  const dx = new Float32Array(dyv.length);
  const dg = new Float32Array(d);
  const db = new Float32Array(d);
  if (dx.length > 0) addon().layerNormGrad(dyv, xv, rv, gv, dx, dg, db, rows, d);
  const b = args.backend;
  return [b.makeTensorInfo(dy.shape, "float32", dx), b.makeTensorInfo([d], "float32", dg), b.makeTensorInfo([d], "float32", db)];
};

export const gelu: NativeKernel = (args) => {
  const xv = need(values(args.backend, args.inputs.x), NATIVE_SEQUENCE_KERNEL.gelu, "float32 x");
  const y = new Float32Array(xv.length);
  addon().gelu(xv, y);
  return args.backend.makeTensorInfo((args.inputs.x as TensorInfo).shape, "float32", y);
};

export const geluGrad: NativeKernel = (args) => {
  const name = NATIVE_SEQUENCE_KERNEL.geluGrad;
  const dyv = need(values(args.backend, args.inputs.dy), name, "float32 dy");
  const xv = need(values(args.backend, args.inputs.x), name, "float32 x");
  if (dyv.length !== xv.length) throw new Error(`${name}: dy and x differ in size`);
  const dx = new Float32Array(xv.length);
  addon().geluGrad(dyv, xv, dx);
  return args.backend.makeTensorInfo((args.inputs.dy as TensorInfo).shape, "float32", dx);
};

/** The native-only kernels by name (registered by native-backend.ts). */
export const NATIVE_ONLY_SEQUENCE_KERNELS: Record<string, NativeKernel> = {
  [NATIVE_SEQUENCE_KERNEL.attentionSoftmax]: attentionSoftmax,
  [NATIVE_SEQUENCE_KERNEL.softmaxGrad]: softmaxGrad,
  [NATIVE_SEQUENCE_KERNEL.layerNorm]: layerNorm,
  [NATIVE_SEQUENCE_KERNEL.layerNormGrad]: layerNormGrad,
  [NATIVE_SEQUENCE_KERNEL.gelu]: gelu,
  [NATIVE_SEQUENCE_KERNEL.geluGrad]: geluGrad,
};
