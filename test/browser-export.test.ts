// Exported students in a real browser (Debian's Chromium, driven by playwright-core): the page loads the ONNX file
// (onnxruntime-web from node_modules) or the TF.js folder (tf.min.js), imports the shipped preprocess.mjs with
// preprocess.json, feeds raw records, texts and PNG images, and must predict what Node's loadStudent().predict does.
// Everything is served from 127.0.0.1 by this test; nothing comes from the network.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { decodeImage } from "../src/data/image-decode.js";
import { loadStudent } from "../src/students/student.js";
import * as runtime from "../src/runtime/preprocess.mjs";
import { makeDeployFixture } from "./deploy-fixture.js";
import { assertAllClose, runCli, tempDir } from "./helpers.js";
import { needsChromium as skip } from "./prerequisites.js";
import { callPage, openPage, ORT_WEB, serveFiles, TFJS_BUNDLE } from "./browser-page.js";

// The page: window.__predict(case) loads one export and its shipped module, turns the raw inputs (records, texts,
// or base64 PNGs decoded to RGBA by the browser) into the model's input with that module, runs it, and decodes.
const PAGE = `<!doctype html><meta charset="utf-8"><script src="/tf.min.js"></script><script type="module">
import * as ort from "/ort/ort.wasm.min.mjs";
ort.env.wasm.wasmPaths = "/ort/";
ort.env.wasm.numThreads = 1;
async function rgba(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bmp = await createImageBitmap(new Blob([bytes], { type: "image/png" }), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bmp, 0, 0);
  return ctx.getImageData(0, 0, bmp.width, bmp.height);
}
window.__predict = async (c) => {
  const mod = await import(c.module);
  const pre = await (await fetch(c.preprocess)).json();
  const inputs = c.pngs ? await Promise.all(c.pngs.map(rgba)) : c.inputs;
  if (c.onnx) {
    const session = await ort.InferenceSession.create(c.onnx, { executionProviders: ["wasm"] });
    const feed = mod.graphInput(pre, inputs, session.inputNames[0]);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor(feed.type, feed.data, feed.dims) });
    return { inputName: session.inputNames[0], predictions: mod.decodeOutput(pre, out[session.outputNames[0]].data) };
  }
  await tf.setBackend("cpu");
  const m = await tf.loadLayersModel(c.tfjs);
  const { data, shape } = mod.preprocess(pre, inputs);
  const y = m.predict(tf.tensor(data, shape));
  return { predictions: mod.decodeOutput(pre, await y.data()) };
};
window.__ready = true;
</script>`;

test("exported ONNX and TF.js students predict from raw records, texts and images in Chromium as Node does", { skip, timeout: 300_000 }, async () => {
  await useBackend("wasm");
  const { dir, cleanup } = tempDir("tsdistill-browser-export-");
  const fx = await makeDeployFixture(join(dir, "fx"));
  const out = join(dir, "exports");
  const models = { numeric: fx.numeric, mixed: fx.mixed, text: fx.text, image: fx.image };
  const runs = await Promise.all([
    ...Object.entries(models).map(([name, m]) => runCli(["export", "--model", m, "--out", join(out, `${name}.onnx`), "--check", "0", "--quiet"])),
    ...Object.entries(models).map(([name, m]) => runCli(["export", "--model", m, "--format", "tfjs", "--out", join(out, `${name}-tfjs`), "--check", "0", "--quiet"])),
  ]);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);

  const rawInputs: Record<string, { inputs?: unknown[]; pngs?: Buffer[] }> = {
    numeric: { inputs: fx.numericRecords },
    mixed: { inputs: fx.records },
    text: { inputs: fx.texts },
    image: { pngs: fx.pngs },
  };
  // Cross-origin isolation lets onnxruntime-web use its threaded build as it would on a real site.
  const server = await serveFiles(PAGE, { roots: { ...ORT_WEB, "/x/": `${out}/` }, files: { "/tf.min.js": readFileSync(TFJS_BUNDLE) }, isolated: true });
  const { page, errors, close } = await openPage(server);
  try {
    for (const [name, modelDir] of Object.entries(models)) {
      const raw = rawInputs[name];
      const s = await loadStudent(modelDir);
      try {
        const pngs = raw.pngs?.map((b) => b.toString("base64"));
        const want = await s.predict(raw.inputs ?? raw.pngs!);
        // The ONNX pixel graph takes uint8 pixels at the model's size: Node's reference is the library on exactly
        // those pixels (images of other sizes are resized and rounded to integers by the shipped module first).
        let wantOnnx = want;
        if (name === "image") {
          const pre = s.preprocess as runtime.ImagePreprocess;
          const px = runtime.imagePixels(pre, raw.pngs!.map((b, i) => decodeImage(b, `png ${i}`)));
          const n = raw.pngs!.length;
          const images = Array.from({ length: n }, (_, i) => {
            const data = new Uint8Array(pre.height * pre.width * 4).fill(255);
            for (let p = 0; p < pre.height * pre.width; p++) data.set(px.subarray((i * pre.height * pre.width + p) * 3, (i * pre.height * pre.width + p) * 3 + 3), 4 * p);
            return { width: pre.width, height: pre.height, data };
          });
          wantOnnx = await s.predict(images);
        }
        for (const kind of ["onnx", "tfjs"] as const) {
          const c =
            kind === "onnx"
              ? { onnx: `/x/${name}.onnx`, module: `/x/${name}.preprocess.mjs`, preprocess: `/x/${name}.preprocess.json` }
              : { tfjs: `/x/${name}-tfjs/model.json`, module: `/x/${name}-tfjs/preprocess.mjs`, preprocess: `/x/${name}-tfjs/preprocess.json` };
          const got = await callPage<{
            inputName?: string;
            predictions: { class: number; label: string; probabilities: number[] }[];
          }>(page, "__predict", { ...c, inputs: raw.inputs, pngs });
          if (kind === "onnx") assert.equal(got.inputName, { numeric: "values", image: "pixels" }[name] ?? "input", `${name}: the ONNX graph input`);
          const ref = kind === "onnx" ? wantOnnx : want;
          assert.equal(got.predictions.length, ref.length, `${name} ${kind}`);
          got.predictions.forEach((p, i) => {
            const r = ref[i];
            assert.ok("class" in r);
            assert.equal(p.class, r.class, `${name} ${kind} sample ${i}: class`);
            assert.equal(p.label, r.label, `${name} ${kind} sample ${i}: label`);
            assertAllClose(p.probabilities, r.probabilities, { rtol: 1e-4, atolScale: 1e-5, what: `${name} ${kind} sample ${i} probabilities` });
          });
        }
      } finally {
        s.dispose();
      }
    }
    assert.deepEqual(errors, [], "no page errors");
  } finally {
    await close();
    cleanup();
  }
});
