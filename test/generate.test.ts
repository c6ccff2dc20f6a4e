// Generation from causal transformer LMs: the KV cache gives the full forward pass's logits at every step,
// greedy decoding follows the argmax, seeded sampling is deterministic, top-k / top-p keep what they should.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { generate } from "../src/generate/generate.js";
import { KvCache } from "../src/generate/kv-cache.js";
import { logprobOf, sampleToken } from "../src/generate/sample.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { Rng } from "../src/util/rng.js";
import { assertAllClose } from "./helpers.js";

await useBackend("wasm", { fallback: false });

const VOCAB = 13;
const CTX = 10;
/** Random-init weights scaled up so the logits are far from uniform (an untrained N(0, 0.02) model is nearly flat). */
function tinyLm(opts: { pad?: number | null; tie?: boolean; seed?: number } = {}): TransformerModel {
  const config = transformerConfigFromSpec({ layers: 2, dim: 16, heads: 2, ff: 32, ctx: CTX, vocab: VOCAB, causal: true, tie: opts.tie ?? false, padId: opts.pad ?? null });
  const model = new TransformerModel(config, opts.seed ?? 3);
  const rng = new Rng(7, "scale");
  model.setWeights(model.params.map((p) => tf.tidy(() => (p.shape.length === 2 ? tf.mul(p, 20 + rng.next()) : tf.add(p, tf.randomNormal(p.shape, 0, 0.1, "float32", 5))))));
  return model;
}

/** Full-forward logits of every position of one sequence, [n, V]. */
function fullLogits(model: TransformerModel, ids: number[]): number[][] {
  return tf.tidy(() => {
    const rows = model.forward(tf.tensor2d([ids])).logits.arraySync();
    return rows;
  });
}

function take(logits: tf.Tensor2D): number[][] {
  const rows = logits.arraySync();
  logits.dispose();
  return rows;
}

test("KV cache: prefill and every incremental step give the full forward pass's logits (tied and untied heads, padding)", () => {
  for (const [label, model, seq] of [
    ["untied", tinyLm(), [1, 5, 2, 7, 7, 3, 11, 0, 4, 9]],
    ["tied", tinyLm({ tie: true, seed: 4 }), [2, 2, 8, 1, 12, 6, 5, 3, 0, 10]],
    ["padding id 0 inside the sequence", tinyLm({ pad: 0, seed: 5 }), [4, 0, 6, 9, 0, 1, 2, 3, 5, 8]],
  ] as const) {
    const full = fullLogits(model, [...seq]);
    const cache = new KvCache(model);
    // Prefill 3 tokens, then one at a time, then the last two in one chunk.
    const got = [...take(cache.append(seq.slice(0, 3)))];
    for (let t = 3; t < 8; t++) got.push(...take(cache.append([seq[t]])));
    got.push(...take(cache.append(seq.slice(8, 10))));
    assert.equal(cache.length, CTX);
    assertAllClose(got.flat(), full.flat(), { rtol: 1e-4, atolScale: 1e-5, what: `${label}: cached vs full logits` });
    // Rows really differ between positions (the comparison is not of a constant).
    assert.ok(Math.abs(full[0][0] - full[9][0]) > 1e-3, `${label}: logits vary with position`);
    assert.throws(() => cache.append([1]), /KV cache: 10 cached \+ 1 new tokens exceed the context of 10/);
    cache.reset();
    assertAllClose(take(cache.append([seq[0]]))[0], full[0], { rtol: 1e-4, atolScale: 1e-5, what: `${label}: after reset` });
    cache.dispose();
    model.dispose();
  }
});

test("greedy generation (temperature 0) follows the full forward pass's argmax; logprobs are the model's", () => {
  const model = tinyLm();
  const prompt = [1, 5, 2];
  const tensorsBefore = tf.memory().numTensors;
  const g = generate(model, prompt, { maxTokens: 6, temperature: 0 });
  assert.equal(tf.memory().numTensors, tensorsBefore, "generate leaves no tensors behind");
  assert.equal(g.stop, "length");
  assert.equal(g.ids.length, 6);
  const seq = [...prompt];
  for (let i = 0; i < 6; i++) {
    const row = fullLogits(model, seq).at(-1)!;
    const best = row.indexOf(Math.max(...row));
    assert.equal(g.ids[i], best, `step ${i}`);
    assertAllClose(g.logprobs[i], logprobOf(row, best), { rtol: 1e-4, what: `logprob at step ${i}` });
    seq.push(best);
  }
  // EOS stops generation and is included.
  const eos = g.ids[2];
  const stopped = generate(model, prompt, { maxTokens: 6, temperature: 0, eos });
  assert.deepEqual(stopped.ids, g.ids.slice(0, g.ids.indexOf(eos) + 1));
  assert.equal(stopped.stop, "eos");
  assert.deepEqual(generate(model, prompt, { maxTokens: 0 }).ids, []);
  model.dispose();
});

test("generation past the context restarts the cache from the last ⌈ctx/2⌉ tokens, matching a full pass over that window", () => {
  const model = tinyLm({ seed: 9 });
  const prompt = [3, 1, 4, 1, 5, 9, 2, 6]; // 8 of 10 context tokens
  const g = generate(model, prompt, { maxTokens: 7, temperature: 0 });
  // Reference: a window that restarts from the last 5 tokens whenever it is full.
  const seq = [...prompt];
  let start = 0;
  for (let i = 0; i < 7; i++) {
    if (seq.length - start > CTX) start = seq.length - Math.ceil(CTX / 2);
    const row = fullLogits(model, seq.slice(start)).at(-1)!;
    const best = row.indexOf(Math.max(...row));
    assert.equal(g.ids[i], best, `step ${i}`);
    seq.push(best);
  }
  model.dispose();
});

test("seeded sampling is deterministic; the seed changes the draw", () => {
  const model = tinyLm({ seed: 11 });
  const opts = { maxTokens: 12, temperature: 1.5, seed: 42 };
  const a = generate(model, [1], opts);
  const b = generate(model, [1], opts);
  const c = generate(model, [1], { ...opts, seed: 43 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.ids, c.ids);
  model.dispose();
});

test("sampleToken: frequencies follow softmax(z/τ); top-k and top-p keep only their tokens; τ = 0 is argmax", () => {
  const logits = [2, 1, 0.5, -1, 1];
  const draw = (opts: Parameters<typeof sampleToken>[1], n = 20000, seed = 1) => {
    const rng = new Rng(seed, "test");
    const counts = new Array(logits.length).fill(0);
    for (let i = 0; i < n; i++) counts[sampleToken(logits, opts, rng)]++;
    return counts.map((c) => c / n);
  };
  const T = 2;
  const z = logits.map((v) => Math.exp(v / T));
  const p = z.map((v) => v / z.reduce((a, b) => a + b, 0));
  draw({ temperature: T }).forEach((f, i) => assert.ok(Math.abs(f - p[i]) < 0.015, `token ${i}: ${f} vs ${p[i]}`));
  // top-k = 2: tokens 0 and 1 (1 and 4 tie at logit 1; the lower id wins).
  const k2 = draw({ temperature: 1, topK: 2 });
  assert.deepEqual([k2[2], k2[3], k2[4]], [0, 0, 0]);
  assertAllClose(k2[0], Math.exp(2) / (Math.exp(2) + Math.exp(1)), { atol: 0.015, rtol: 0, what: "top-2 renormalised" });
  // top-p: probabilities at τ = 1 are ≈ [0.49, 0.18, 0.11, 0.02, 0.18]; p = 0.6 keeps tokens 0 and 1 (0.67 ≥ 0.6).
  const nucleus = draw({ temperature: 1, topP: 0.6 });
  assert.deepEqual([nucleus[2], nucleus[3], nucleus[4]], [0, 0, 0]);
  assert.ok(nucleus[0] > 0.6 && nucleus[1] > 0.2, `nucleus ${nucleus}`);
  assert.deepEqual(draw({ temperature: 0 }, 10), [1, 0, 0, 0, 0]);
  assert.deepEqual(draw({ temperature: 1, topK: 1 }, 10), [1, 0, 0, 0, 0]);
});

test("generate refuses non-causal or non-LM models and bad options with one-line errors", () => {
  const bidirectional = new TransformerModel(transformerConfigFromSpec({ layers: 1, dim: 8, heads: 2, ctx: 4, vocab: 7 }), 1);
  assert.throws(() => generate(bidirectional, [1], { maxTokens: 2 }), /not causal \(causal: false\); generation needs a causal LM/);
  const classifier = new TransformerModel(transformerConfigFromSpec({ layers: 1, dim: 8, heads: 2, ctx: 4, vocab: 7, causal: true, head: "classify", numClasses: 2 }), 1);
  assert.throws(() => generate(classifier, [1], { maxTokens: 2 }), /classify head; generation needs head=lm/);
  const model = tinyLm();
  assert.throws(() => generate(model, [1, 99], { maxTokens: 2 }), /prompt token 1 is 99; expected an id in \[0, 13\)/);
  assert.throws(() => generate(model, [], { maxTokens: 2 }), /the prompt is empty/);
  assert.throws(() => generate(model, [1], { maxTokens: 2, temperature: -1 }), /temperature -1: expected a number ≥ 0/);
  assert.throws(() => generate(model, [1], { maxTokens: 2, topP: 0 }), /topP 0: expected a number in \(0, 1\]/);
  for (const m of [bidirectional, classifier, model]) m.dispose();
});
