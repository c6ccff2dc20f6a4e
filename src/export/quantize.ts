/**
 * Weight-only int8 quantization: symmetric, one scale per slice along an axis (per output channel), zero
 * point 0. A weight w is stored as q = round(w / scale) in [-127, 127] with scale = max|w| / 127 over its
 * slice, and read back as q · scale (ONNX DequantizeLinear with that axis and a zero point of 0).
 */
export interface Int8Weights {
  /** Quantized values, same layout (row-major, `shape`) as the float kernel. */
  q: Int8Array;
  /** One scale per index of `axis` (length shape[axis]). */
  scales: Float32Array;
}

/** Quantizes a row-major tensor of shape `shape` to int8 with one symmetric scale per index along `axis`. */
export function quantizeWeightsInt8(kernel: Float32Array, shape: readonly number[], axis: number): Int8Weights {
  const size = shape.reduce((a, b) => a * b, 1);
  if (kernel.length !== size) throw new Error(`quantizeWeightsInt8: ${kernel.length} values do not fill shape [${shape}]`);
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) throw new Error(`quantizeWeightsInt8: axis ${axis} is out of range for shape [${shape}]`);
  const channels = shape[axis];
  // Element i lies in channel floor(i / inner) % channels, where inner is the product of the dims after `axis`.
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < size; i++) {
    const v = kernel[i];
    if (!Number.isFinite(v)) throw new Error(`quantizeWeightsInt8: value ${i} is ${v}`);
    const c = Math.floor(i / inner) % channels;
    const a = Math.abs(v);
    if (a > maxAbs[c]) maxAbs[c] = a;
  }
  const scales = new Float32Array(channels);
  // An all-zero channel gets scale 1 (its values all quantize to 0 whatever the scale; 0 would be invalid).
  for (let c = 0; c < channels; c++) scales[c] = maxAbs[c] > 0 ? maxAbs[c] / 127 : 1;
  const q = new Int8Array(size);
  for (let i = 0; i < size; i++) {
    const c = Math.floor(i / inner) % channels;
    // Divide by the float32 scale that is actually stored, so q · scale is the nearest grid point.
    const r = kernel[i] / scales[c];
    const rounded = Math.sign(r) * Math.round(Math.abs(r)); // half away from zero: symmetric around 0
    q[i] = Math.max(-127, Math.min(127, rounded));
  }
  return { q, scales };
}

/** q · scale, the float weights a DequantizeLinear node reconstructs (for checks and error estimates). */
export function dequantizeInt8(w: Int8Weights, shape: readonly number[], axis: number): Float32Array {
  const channels = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(w.q.length);
  for (let i = 0; i < out.length; i++) out[i] = w.q[i] * w.scales[Math.floor(i / inner) % channels];
  return out;
}
