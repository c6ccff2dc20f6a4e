import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { runVadRecipe } from "../src/audio/run-vad.js";
import { loadVadRecipe, parseVadRecipe } from "../src/audio/recipe.js";
import { labelClips } from "../src/audio/labels.js";
import { DenseForward } from "../src/audio/dense-forward.js";
import { StudentStream, studentProbs } from "../src/audio/latency.js";
import { readWav } from "../src/data/wav.js";
import { loadModel } from "../src/students/io.js";
import { SILERO_CHUNK } from "../src/teachers/silero-vad.js";
import type { VadManifest } from "../src/audio/synth.js";
import type { FeatureConfig, Standardizer } from "../src/audio/features.js";
import { needsSpeechTools } from "./prerequisites.js";

test("the quick Silero VAD recipe: the distilled student agrees with the teacher well above the majority rate and no worse than the student alone", { skip: needsSpeechTools }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "vad-recipe-"));
  try {
    const recipe = loadVadRecipe("recipes/silero-vad.yaml");
    const lines: string[] = [];
    const r = await runVadRecipe({ ...recipe, output: join(dir, "run"), data: { ...recipe.data, dir: join(dir, "data") }, latency: { frames: 300 } }, { quick: true, info: (l) => lines.push(l) });
    t.diagnostic(`agreement: distilled ${r.distilled.agreement.toFixed(4)}, alone ${r.alone.agreement.toFixed(4)}, majority ${r.majorityAgreement.toFixed(4)}; AUC ${r.distilled.auc.toFixed(4)} vs ${r.alone.auc.toFixed(4)}`);
    assert.ok(r.heldoutFrames > 1000, `held-out frames: ${r.heldoutFrames}`);
    assert.ok(r.teacherSpeechShare > 0.2 && r.teacherSpeechShare < 0.85, `the teacher should find both speech and non-speech, speech share ${r.teacherSpeechShare}`);
    assert.ok(r.distilled.agreement > r.majorityAgreement + 0.15, `agreement ${r.distilled.agreement} vs majority-class rate ${r.majorityAgreement}`);
    assert.ok(r.distilled.agreement >= r.alone.agreement, `distilled ${r.distilled.agreement} vs alone ${r.alone.agreement}`);
    assert.ok(r.distilled.auc > 0.95, `ROC-AUC vs the teacher's decisions: ${r.distilled.auc}`);
    assert.ok(r.latency.streaming.teacher.meanMs > 0 && r.latency.streaming.student.tfjs.meanMs > 0 && r.latency.streaming.student.plain.meanMs > 0, "latencies measured");
    assert.ok(lines.some((l) => l.startsWith("latency per 32 ms frame")), "latency reported");
    const saved = JSON.parse(readFileSync(join(r.runDir, "results.json"), "utf8"));
    assert.equal(saved.distilled.agreement, r.distilled.agreement, "results.json holds the returned numbers");

    // The labels are cached next to the audio and reused.
    const manifest = JSON.parse(readFileSync(join(r.dataDir, "manifest.json"), "utf8")) as VadManifest;
    const again = await labelClips(r.dataDir, manifest, undefined, 8, () => {});
    assert.equal(again.cached, true, "second labelling reads the cache");

    // The saved student, streamed chunk by chunk (TF.js and plain loops), gives its offline probabilities.
    const { model, metadata } = await loadModel(join(r.runDir, "student"));
    const cfg = metadata.features as FeatureConfig;
    const std = metadata.standardizer as Standardizer;
    const clip = readWav(join(r.dataDir, manifest.clips[manifest.clips.length - 1].file)).samples;
    const [offline] = studentProbs(model, [clip], cfg, std);
    const plain = DenseForward.from(model);
    assert.ok(plain, "an MLP student has a plain-loop forward pass");
    for (const stream of [new StudentStream(model, cfg, std), new StudentStream(model, cfg, std, plain)]) {
      let worst = 0;
      for (let t = 0; t < offline.length; t++) worst = Math.max(worst, Math.abs(stream.step(clip.subarray(t * SILERO_CHUNK, (t + 1) * SILERO_CHUNK)) - offline[t]));
      assert.ok(worst < 1e-4, `streamed vs offline student probability differ by ${worst}`);
    }
    model.dispose();
    assert.equal(tf.getBackend(), "wasm", "the recipe ran on its backend");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a VAD recipe with a bad field is refused naming the field", () => {
  const recipe = { kind: "vad", data: { clips: 10, heldout: 2 }, student: { spec: "mlp:8" } };
  assert.equal(parseVadRecipe(recipe).training.epochs, 10, "defaults fill the rest");
  assert.throws(() => parseVadRecipe({ ...recipe, data: { clips: 10, heldout: 10 } }, "r.yaml"), /r\.yaml: data\.heldout: heldout must be smaller than clips/, "heldout ≥ clips");
  assert.throws(() => parseVadRecipe({ ...recipe, features: { melBands: 2 } }, "r.yaml"), /r\.yaml: features\.melBands/, "too few bands");
  assert.throws(() => parseVadRecipe({ ...recipe, kind: "kd" }, "r.yaml"), /r\.yaml: kind/, "wrong kind");
  assert.throws(() => parseVadRecipe({ ...recipe, data: { ...recipe.data, noises: ["blue"] } }, "r.yaml"), /data\.noises\[0\]/, "unknown noise colour");
});
