// `tsdistill doctor`: reports the backend in use, the addon, the BLAS build and its threads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { doctorReport } from "../src/cli/commands/doctor.js";
import { useBackend } from "../src/engine/backend.js";
import { assertNativeLoaded, nativeTestOptions } from "./native-helpers.js";

test("doctor on native: the addon, OpenBLAS config, core type, threads and CPU", nativeTestOptions, async () => {
  assertNativeLoaded();
  const { report, text } = doctorReport(await useBackend("native", { fallback: false }));
  assert.equal(report.backend, "native", "the native backend is in use");
  assert.equal(report.nativeAddon.loaded, true, "the addon is reported loaded");
  assert.match(report.blas?.config ?? "", /OpenBLAS|Accelerate/, `BLAS config names the library: ${report.blas?.config}`);
  assert.ok((report.blas?.corename ?? "").length > 0, "a core type is reported");
  assert.ok(Number.isInteger(report.threads) && (report.threads ?? 0) >= 1, `threads is a positive integer: ${report.threads}`);
  assert.ok(report.cpu.model.length > 0, "a CPU model is reported");
  for (const label of ["backend        native", "native addon   loaded", "BLAS threads   ", "CPU            "]) {
    assert.ok(text.includes(label), `the human output has "${label}":\n${text}`);
  }
});

test("auto is the default backend: native when the addon loads, else wasm; doctor says which ran", async () => {
  const { resolveAuto } = await import("../src/engine/backend.js");
  const { loadNativeAddon } = await import("../src/engine/native-addon.js");
  const expected = loadNativeAddon() ? "native" : "wasm";
  assert.equal(resolveAuto(), expected);
  assert.equal(await useBackend(), expected, "useBackend() with no name runs auto");
  const { report, text } = doctorReport(await useBackend("auto"), "auto");
  assert.equal(report.backend, expected);
  assert.equal(report.requested, "auto");
  assert.match(text, new RegExp(`^backend        ${expected} \\(auto: `, "m"));
});

test("onBackend runs one stage on another backend and goes back to the one before, also when the stage throws", async () => {
  const { onBackend } = await import("../src/engine/backend.js");
  const tf = await import("@tensorflow/tfjs-core");
  await useBackend("wasm");
  assert.equal(await onBackend("cpu", async (b) => `${b}:${tf.getBackend()}`), "cpu:cpu");
  assert.equal(tf.getBackend(), "wasm");
  await assert.rejects(onBackend("cpu", async () => { throw new Error("stage failed"); }), /stage failed/);
  assert.equal(tf.getBackend(), "wasm", "restored after a throw");
  assert.equal(await onBackend(undefined, async (b) => b), "wasm", "undefined: the backend in use");
});
