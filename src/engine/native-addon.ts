import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The C addon built from native/ (see scripts/build-native.mjs); all arrays are read and written in place. */
export interface NativeAddon {
  /** c[i] = op(a[i])·op(b[i]) for i < batch, row-major; a stride of 0 reuses the same matrix for every i. */
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, batch: number, strideA: number, strideB: number): void;
  /** c[r, j] = act(c[r, j] + bias[j]); act codes in NATIVE_ACTIVATIONS. */
  biasAct(c: Float32Array, rows: number, cols: number, bias: Float32Array | null, act: number, alpha: number): void;
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, geom: Int32Array): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geom: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geom: Int32Array): void;
  maxPool(x: Float32Array, y: Float32Array, geom: Int32Array): void;
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, geom: Int32Array): void;
  avgPool(x: Float32Array, y: Float32Array, geom: Int32Array): void;
  avgPoolGrad(dy: Float32Array, dx: Float32Array, geom: Int32Array): void;
  sumRows(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** dz = dy·act'(z) from y = act(z); act: linear 0, relu 1, sigmoid 5, tanh 6. */
  activationGrad(dy: Float32Array, y: Float32Array, dz: Float32Array, act: number): void;
  adam(out: Float32Array, p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, stepSize: number, beta1: number, beta2: number, epsilon: number, keep: number): void;
  sgd(out: Float32Array, p: Float32Array, g: Float32Array, velocity: Float32Array, lr: number, momentum: number, nesterov: boolean, weightDecay: number): void;
  /** y = softmax(x·scale + causal/padding biases of −1e9) per row of `cols`; causalQ > 0: rows are [..., q, cols];
   *  mask [rows / rowsPerMask, cols] keep (1) / drop (0). */
  softmax(x: Float32Array, y: Float32Array, rows: number, cols: number, scale: number, causalQ: number, mask: Float32Array | null, rowsPerMask: number): void;
  /** dx = scale·(dy·y − y·Σ dy·y) per row. */
  softmaxGrad(dy: Float32Array, y: Float32Array, dx: Float32Array, rows: number, cols: number, scale: number): void;
  layerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, xhat: Float32Array, rstd: Float32Array, rows: number, d: number, epsilon: number): void;
  layerNormGrad(dy: Float32Array, xhat: Float32Array, rstd: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, d: number): void;
  gelu(x: Float32Array, y: Float32Array): void;
  geluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  /** y = x permuted (output dim i is input dim perm[i]). */
  transpose(x: Float32Array, y: Float32Array, shape: Int32Array, perm: Int32Array): void;
  /** y[b, o, i, :] = x[b, o, indices[b, i], :] for x [batch, outer, dim, slice]. */
  gather(x: Float32Array, indices: Int32Array, y: Float32Array, batch: number, outer: number, dim: number, slice: number, count: number): void;
  /** y[s, :] = Σ x[r, :] over the rows r with ids[r] = s; ids outside [0, segments) are dropped. */
  segmentSum(x: Float32Array, ids: Int32Array, y: Float32Array, rows: number, width: number, segments: number): void;
  /** out = a op b with broadcasting (op: 0 add, 1 sub, 2 mul, 3 div); strides per output dim, 0 where broadcast. */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: Int32Array, stridesA: Int32Array, stridesB: Int32Array): void;
  /** y = e^x (glibc's expf). */
  exp(x: Float32Array, y: Float32Array): void;
  /** out[r] = Σ x[r, :] (or the max, NaN-propagating) for x [rows, cols]. */
  reduceLast(x: Float32Array, out: Float32Array, rows: number, cols: number, max: boolean): void;
  /** threads: the addon's own (native/parallel.c); OpenBLAS itself runs on one. */
  blasInfo(): { library: string; config: string; corename: string; threads: number };
  /** Threads for the addon's kernels (process-wide, read at the start of each kernel). */
  setThreads(n: number): void;
  /** Products below `macs` multiply-adds or with k < `thinK` run on one BLAS thread; (0, 0) turns that off. */
  setSmallGemm(macs: number, thinK: number): void;
}

export const NATIVE_ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, leakyrelu: 4, sigmoid: 5 };

/** The package root: this file is src/engine/ or dist/engine/. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const NATIVE_ADDON_PATH = join(root, "build", "Release", "tsdistill_native.node");
export const NATIVE_BUILD_HINT = "run `node scripts/build-native.mjs` (needs a C compiler and OpenBLAS: apt-get install -y build-essential libopenblas-dev)";

function load(): { addon: NativeAddon | null; error: string | null } {
  if (process.env.TSDISTILL_NO_NATIVE === "1") return { addon: null, error: "disabled by TSDISTILL_NO_NATIVE=1" };
  if (!existsSync(NATIVE_ADDON_PATH)) return { addon: null, error: `addon not built (${NATIVE_ADDON_PATH} missing); ${NATIVE_BUILD_HINT}` };
  try {
    return { addon: createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeAddon, error: null };
  } catch (e) {
    return { addon: null, error: `addon failed to load: ${(e as Error).message.split("\n")[0]}` };
  }
}

/**
 * The addon once loadNativeAddon() ran, or null when it is not built or cannot load (then nativeLoadError says why).
 * It loads only when the native backend is selected (or `tsdistill doctor` asks): loading it tunes the process's
 * malloc (mallopt in native/addon.c), which a process that never uses the backend should not get.
 */
export let nativeAddon: NativeAddon | null = null;
export let nativeLoadError: string | null = "not loaded (select the native backend to load it)";
let tried = false;

/** Loads the addon on the first call (later calls return the same result). */
export function loadNativeAddon(): NativeAddon | null {
  if (!tried) {
    tried = true;
    const loaded = load();
    nativeAddon = loaded.addon;
    nativeLoadError = loaded.error;
  }
  return nativeAddon;
}
