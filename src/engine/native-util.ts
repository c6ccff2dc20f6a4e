import { type KernelFunc, type NamedAttrMap, type TensorInfo, getKernelsForBackend } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { nativeAddon, type NativeAddon } from "./native-addon.js";

export interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: MathBackendCPU;
  attrs?: NamedAttrMap;
}
export type NativeKernel = (args: KernelArgs) => TensorInfo | TensorInfo[];

/** The addon; kernels are only registered when it loaded. */
export function addon(): NativeAddon {
  if (!nativeAddon) throw new Error("native backend: addon not loaded");
  return nativeAddon;
}

const cpuKernels = new Map<string, KernelFunc>();
/** tfjs-backend-cpu's kernel of that name: the reference, and the path for cases the addon does not cover. */
export function cpuKernel(name: string): KernelFunc {
  if (cpuKernels.size === 0) for (const k of getKernelsForBackend("cpu")) cpuKernels.set(k.kernelName, k.kernelFunc);
  const f = cpuKernels.get(name);
  if (!f) throw new Error(`native backend: no cpu kernel ${name}`);
  return f;
}

/** How often each kernel handed a call to cpu (tests check the addon really ran). */
export const fallbackCounts = new Map<string, number>();

export function fallback(name: string, args: KernelArgs): TensorInfo | TensorInfo[] {
  fallbackCounts.set(name, (fallbackCounts.get(name) ?? 0) + 1);
  return cpuKernel(name)(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo | TensorInfo[];
}

/** The tensor's storage (a plain Float32Array on the cpu-family backends), or null for other dtypes. */
export function values(backend: MathBackendCPU, t: TensorInfo | undefined): Float32Array | null {
  if (!t || t.dtype !== "float32") return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

/** An int32 tensor's storage, or null. */
export function intValues(backend: MathBackendCPU, t: TensorInfo | undefined): Int32Array | null {
  if (!t || t.dtype !== "int32") return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Int32Array ? v : null;
}

export const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
