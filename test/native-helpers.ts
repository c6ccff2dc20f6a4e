// Shared by the native backend tests: the addon check (skip with the install command when the addon is missing, fail
// instead under TSDISTILL_REQUIRE_ALL=1), running one computation on a given backend, and the closeness check.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend, type BackendName } from "../src/engine/backend.js";
import { loadNativeAddon, nativeLoadError } from "../src/engine/native-addon.js";
import { Rng } from "../src/util/rng.js";
import { needs } from "./prerequisites.js";

/**
 * The test options: skipped when the user opted out (TSDISTILL_NO_NATIVE=1) or when the addon could not be built
 * (no compiler or OpenBLAS; one line naming the install command). TSDISTILL_REQUIRE_ALL=1 (CI) fails instead.
 */
export const nativeTestOptions =
  process.env.TSDISTILL_NO_NATIVE === "1"
    ? { skip: "TSDISTILL_NO_NATIVE=1: native backend tests skipped" }
    : loadNativeAddon()
      ? {}
      : (() => {
          const skip = needs(false, `the native addon (${(nativeLoadError ?? "not built").split(";")[0]})`, "sudo apt-get install -y build-essential libopenblas-dev && node scripts/build-native.mjs");
          return skip ? { skip } : {};
        })();

export function assertNativeLoaded(): void {
  assert.ok(loadNativeAddon(), `native addon not loaded: ${nativeLoadError} (set TSDISTILL_NO_NATIVE=1 to skip these tests)`);
}

/** Runs fn on a backend and returns its output values (copied) and shape. Inputs are rebuilt on that backend. */
export async function runOn(backend: BackendName, fn: () => tf.Tensor | tf.Tensor[]): Promise<{ values: Float32Array; shape: number[] }[]> {
  assert.equal(await useBackend(backend, { fallback: false }), backend, `backend ${backend} must start`);
  return tf.tidy(() => {
    const out = fn();
    return (Array.isArray(out) ? out : [out]).map((t) => ({ values: Float32Array.from(t.dataSync() as Float32Array), shape: t.shape.slice() }));
  });
}

export function randomArray(rng: Rng, size: number, scale = 1): Float32Array {
  return Float32Array.from({ length: size }, () => (rng.next() * 2 - 1) * scale);
}

/**
 * |a − b| ≤ rtol·|b| + atol with rtol 1e-4 and atol 1e-5 of the reference's largest magnitude (float32 sums in
 * another order differ by a few ulps of the terms, which shows as relative error only where the sum cancels).
 */
export function assertClose(actual: { values: Float32Array; shape: number[] }, expected: { values: Float32Array; shape: number[] }, what: string, rtol = 1e-4): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  let scale = 0;
  for (const v of expected.values) scale = Math.max(scale, Math.abs(v));
  const atol = 1e-5 * scale;
  for (let i = 0; i < expected.values.length; i++) {
    const a = actual.values[i];
    const b = expected.values[i];
    if (!(Math.abs(a - b) <= rtol * Math.abs(b) + atol)) {
      assert.fail(`${what}: element ${i} is ${a}, reference ${b} (|diff| ${Math.abs(a - b)}, scale ${scale})`);
    }
  }
}
