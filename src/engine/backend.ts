import * as tf from "@tensorflow/tfjs-core";
// The umbrella package registers the gradient functions (tfjs-core alone does not) and the converter.
import "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { TsdistillError } from "../util/errors.js";
import { nativeLoadError } from "./native-addon.js";
import { preferNativeBackend, registerNativeBackend } from "./native-backend.js";

/** What a user may ask for: "auto" (the default) resolves to native when the addon loads, else wasm. */
export const BACKENDS = ["auto", "wasm", "cpu", "native"] as const;
export type BackendName = (typeof BACKENDS)[number];
/** A backend that actually runs (what useBackend returns, and what configs and reports record). */
export type ResolvedBackend = Exclude<BackendName, "auto">;
export const DEFAULT_BACKEND: BackendName = "auto";

// The library's default is auto too: where the addon is built, native outranks wasm (TF.js priority 2), so code that
// never calls useBackend runs on native; the addon itself loads only when TF.js first picks a backend.
const NATIVE_AUTO_PRIORITY = 3;
preferNativeBackend(NATIVE_AUTO_PRIORITY);

/**
 * Selects the TF.js backend. auto (the default) is native when the addon in native/ is built and loads, else wasm;
 * wasm (XNNPACK, SIMD); cpu (plain JS) is the reference and the fallback when wasm cannot start; native is cpu with
 * the heavy kernels on the system BLAS (the optional addon), falling back to wasm when the addon is not built.
 * Returns the backend actually in use.
 */
export async function useBackend(name: BackendName = DEFAULT_BACKEND, { fallback = true } = {}): Promise<ResolvedBackend> {
  // PROD silences tfjs's "install tfjs-node" banner and its debug checks; we report our own backend info. Set here,
  // not at import, so importing tsdistill leaves TF.js's flags alone.
  tf.env().set("PROD", true);
  if (!BACKENDS.includes(name)) {
    throw new TsdistillError(`--backend: unknown backend "${name}"; expected one of ${BACKENDS.join(", ")}`);
  }
  if (name === "auto") return useBackend(resolveAuto(), { fallback });
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

/**
 * Runs fn on backend `name` (undefined: the one in use), then goes back to the backend in use before, also when fn
 * throws; fn gets the backend it runs on. For one stage of a run on another backend (e.g. a student trained on
 * native while the teacher and the timings stay on wasm).
 */
export async function onBackend<T>(name: BackendName | undefined, fn: (backend: ResolvedBackend) => Promise<T>): Promise<T> {
  const before = tf.getBackend() as ResolvedBackend;
  if (name === undefined) return fn(before);
  const backend = await useBackend(name);
  try {
    return await fn(backend);
  } finally {
    await useBackend(before);
  }
}

/** What "auto" picks in this process: native when the addon loads, else wasm. */
export function resolveAuto(): ResolvedBackend {
  return registerNativeBackend() ? "native" : "wasm";
}

export function currentBackend(): string {
  return tf.getBackend();
}
