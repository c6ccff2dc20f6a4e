import * as tf from "@tensorflow/tfjs-core";

interface WasmBackendInternals {
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  wasm: { HEAPU8: Uint8Array };
}
interface CpuBackendInternals {
  data: { get(id: object): { values?: unknown } | undefined };
}
interface RefCounted {
  refCount?(id: object): number;
}

/**
 * A live Float32Array over a float32 tensor's storage on the wasm or cpu backend (no copy), or null on
 * other backends. Views over wasm memory are invalidated when the heap grows: take one, use it, drop it.
 */
export function float32View(t: tf.Tensor): Float32Array | null {
  if (t.dtype !== "float32") return null;
  const name = tf.getBackend();
  const backend = tf.backend() as unknown;
  if (name === "wasm") {
    const b = backend as WasmBackendInternals;
    const info = b.dataIdMap.get(t.dataId);
    if (!info) return null;
    return new Float32Array(b.wasm.HEAPU8.buffer, info.memoryOffset, t.size);
  }
  if (name === "cpu" || name === "native") {
    const values = (backend as CpuBackendInternals).data.get(t.dataId)?.values;
    return values instanceof Float32Array && values.length === t.size ? values : null;
  }
  return null;
}

/** A tensor with its own storage (tf.clone shares storage, so in-place updates would leak into clones). */
export function deepCopy<T extends tf.Tensor>(t: T): T {
  return tf.tensor(Float32Array.from(t.dataSync() as Float32Array), t.shape, t.dtype) as T;
}

/**
 * Replaces a variable's value by `update(next, current)`, which fills `next` from `current` (both live
 * views). The new value gets new storage: the wasm backend caches packed weights by storage id, so an
 * in-place write would leave XNNPACK computing with stale weights. Returns false when the backend's
 * memory cannot be viewed (the caller then uses tensor ops).
 */
export function updateVariable(v: tf.Variable, grad: tf.Tensor, update: (next: Float32Array, current: Float32Array, grad: Float32Array) => void): boolean {
  if (!float32View(v) || !float32View(grad)) return false;
  // native caches nothing by storage: write in place unless the storage is shared (a clone would see it).
  if (tf.getBackend() === "native" && (tf.backend() as RefCounted).refCount?.(v.dataId) === 1) {
    const current = float32View(v) as Float32Array;
    update(current, current, float32View(grad) as Float32Array);
    return true;
  }
  const fresh = tf.zerosLike(v);
  // Views are taken after the allocation, which may have grown (and so moved) the wasm heap.
  const next = float32View(fresh);
  const current = float32View(v);
  const g = float32View(grad);
  if (!next || !current || !g) {
    fresh.dispose();
    return false;
  }
  update(next, current, g);
  v.assign(fresh);
  fresh.dispose();
  return true;
}
