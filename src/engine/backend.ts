import * as tf from "@tensorflow/tfjs-core";
// The umbrella package registers the gradient functions (tfjs-core alone does not) and the converter.
import "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { TsdistillError } from "../util/errors.js";
import { nativeLoadError } from "./native-addon.js";
import { registerNativeBackend } from "./native-backend.js";

export const BACKENDS = ["wasm", "cpu", "native"] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * Selects the TF.js backend. wasm (XNNPACK, SIMD) is the default in Node; cpu (plain JS) is the reference and
 * the fallback when wasm cannot start; native is cpu with the heavy kernels on the system BLAS (the optional
 * addon in native/), falling back to wasm when the addon is not built. Returns the backend actually in use.
 */
export async function useBackend(name: BackendName = "wasm", { fallback = true } = {}): Promise<BackendName> {
  // PROD silences tfjs's "install tfjs-node" banner and its debug checks; we report our own backend info. Set here,
  // not at import, so importing tsdistill leaves TF.js's flags alone.
  tf.env().set("PROD", true);
  if (!BACKENDS.includes(name)) {
    throw new TsdistillError(`--backend: unknown backend "${name}"; expected one of ${BACKENDS.join(", ")}`);
  }
  if (name === "native" && !registerNativeBackend()) {
    if (!fallback) throw new TsdistillError(`backend "native" is not available: ${nativeLoadError}`);
    process.stderr.write(`tsdistill: backend "native" is not available (${nativeLoadError}); using wasm\n`);
    return useBackend("wasm", { fallback });
  }
  if (tf.getBackend() === name) return name;
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch {
    ok = false;
  }
  if (!ok) {
    if (!fallback || name === "cpu") throw new TsdistillError(`backend "${name}" could not be initialised`);
    process.stderr.write(`tsdistill: backend "${name}" could not start; falling back to cpu\n`);
    await tf.setBackend("cpu");
    await tf.ready();
    return "cpu";
  }
  await tf.ready();
  return name;
}

export function currentBackend(): string {
  return tf.getBackend();
}
