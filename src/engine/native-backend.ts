import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { existsSync } from "node:fs";
import { loadNativeAddon, NATIVE_ADDON_PATH, nativeLoadError } from "./native-addon.js";
import { activationGrad, sum, batchMatMul, fusedMatMul } from "./native-matmul.js";
import { avgPool, avgPoolGrad, conv2d, conv2dBackpropFilter, conv2dBackpropInput, fusedConv2d, maxPool, maxPoolGrad } from "./native-conv.js";
import { add, exp, max, maximum, multiply, realDiv, sub } from "./native-elementwise.js";
import { gatherV2, NATIVE_ONLY_SEQUENCE_KERNELS, softmax, transpose, unsortedSegmentSum } from "./native-sequence.js";
import { concat, slice, splitV } from "./native-slice.js";
import type { NativeKernel } from "./native-util.js";

export const NATIVE_BACKEND = "native";
/** A kernel only the native backend has (see native-matmul.ts). */
export const NATIVE_ACTIVATION_GRAD = "TsdistillActivationGrad";

/** The kernels the addon runs; every other kernel is tfjs-backend-cpu's, over the same plain-array storage. */
export const NATIVE_KERNELS: Record<string, NativeKernel> = {
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  Sum: sum,
  Conv2D: conv2d,
  FusedConv2D: fusedConv2d,
  Conv2DBackpropInput: conv2dBackpropInput,
  Conv2DBackpropFilter: conv2dBackpropFilter,
  MaxPool: maxPool,
  MaxPoolGrad: maxPoolGrad,
  AvgPool: avgPool,
  AvgPoolGrad: avgPoolGrad,
  Add: add,
  Sub: sub,
  Multiply: multiply,
  RealDiv: realDiv,
  Maximum: maximum,
  Max: max,
  Exp: exp,
  Softmax: softmax,
  Transpose: transpose,
  GatherV2: gatherV2,
  UnsortedSegmentSum: unsortedSegmentSum,
  Slice: slice,
  SplitV: splitV,
  Concat: concat,
};

let registered = false;

function register(priority: number): void {
  if (registered) return;
  // The addon loads in the factory, when TF.js first picks a backend (or useBackend selects this one).
  tf.registerBackend(NATIVE_BACKEND, () => {
    if (!loadNativeAddon()) throw new Error(`the native addon did not load: ${nativeLoadError}`);
    return new MathBackendCPU();
  }, priority);
  for (const k of tf.getKernelsForBackend("cpu")) {
    const own = NATIVE_KERNELS[k.kernelName];
    tf.registerKernel({ ...k, backendName: NATIVE_BACKEND, kernelFunc: (own ?? k.kernelFunc) as tf.KernelFunc });
  }
  tf.registerKernel({ kernelName: NATIVE_ACTIVATION_GRAD, backendName: NATIVE_BACKEND, kernelFunc: activationGrad as tf.KernelFunc });
  for (const [kernelName, kernel] of Object.entries(NATIVE_ONLY_SEQUENCE_KERNELS)) {
    tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND, kernelFunc: kernel as tf.KernelFunc });
  }
  registered = true;
}

/**
 * Registers the "native" backend: a MathBackendCPU (tensors are plain Float32Arrays the addon reads in place)
 * with cpu's kernels, the heavy ones replaced by BLAS calls. Loads the addon; returns false when it does not load.
 */
export function registerNativeBackend(priority = 0): boolean {
  if (!loadNativeAddon()) return false;
  register(priority);
  return true;
}

/**
 * Makes native TF.js's own first choice (the library's auto default for code that never calls useBackend) when the
 * addon is built, without loading it: it loads when TF.js first picks a backend, so importing tsdistill loads nothing.
 */
export function preferNativeBackend(priority: number): void {
  if (process.env.TSDISTILL_NO_NATIVE !== "1" && existsSync(NATIVE_ADDON_PATH)) register(priority);
}
