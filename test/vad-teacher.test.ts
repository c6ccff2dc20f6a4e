import { test } from "node:test";
import assert from "node:assert/strict";
import { speak } from "../src/audio/synth.js";
import { SILERO_CHUNK, SileroVadTeacher } from "../src/teachers/silero-vad.js";
import { DataError } from "../src/util/errors.js";
import { needsSpeechTools } from "./prerequisites.js";

test("Silero VAD v5 scores espeak-ng speech far above the silence around it; batched, single and streamed runs agree", { skip: needsSpeechTools }, async () => {
  const speech = speak("the old man opened the heavy door before sunrise", "en-us", 160, 50);
  const pad = 16000;
  const x = new Float32Array(pad + speech.length + pad);
  x.set(speech, pad);
  const teacher = await SileroVadTeacher.open();
  try {
    const [p] = await teacher.label([x]);
    assert.equal(p.length, Math.floor(x.length / SILERO_CHUNK), "one probability per whole 512-sample chunk");
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const lead = mean(p.subarray(0, Math.floor(pad / SILERO_CHUNK) - 2));
    const mid = mean(p.subarray(Math.ceil(pad / SILERO_CHUNK) + 4, Math.floor((pad + speech.length) / SILERO_CHUNK) - 4));
    assert.ok(lead < 0.1, `leading silence should score low, got mean ${lead.toFixed(3)}`);
    assert.ok(mid > 0.7, `speech should score high, got mean ${mid.toFixed(3)}`);

    const [q, shorter] = await teacher.label([x, x.subarray(0, 20000)], { batch: 2 });
    assert.deepEqual(Array.from(q), Array.from(p), "a stream's labels do not depend on the others in its batch");
    assert.deepEqual(Array.from(shorter), Array.from(p.subarray(0, shorter.length)), "a shorter stream (zero-padded in the batch) keeps its own labels");

    const s = teacher.stream();
    const streamed: number[] = [];
    for (let t = 0; t < 40; t++) streamed.push(await s.step(x.subarray(t * SILERO_CHUNK, (t + 1) * SILERO_CHUNK)));
    assert.deepEqual(streamed, Array.from(p.subarray(0, 40)), "chunk-by-chunk streaming gives the batch labels");
    await assert.rejects(s.step(new Float32Array(100)), /chunks are 512 samples/, "wrong chunk size is refused");
  } finally {
    await teacher.close();
  }
});

test("a file that is not Silero VAD is refused with a DataError naming it", async () => {
  await assert.rejects(SileroVadTeacher.open("package.json"), (err: Error) => err instanceof DataError && /package\.json: could not be loaded by onnxruntime/.test(err.message), "a JSON file is not a model");
  await assert.rejects(SileroVadTeacher.open("no/such/model.onnx"), /model\.onnx: not found/, "missing file");
});
