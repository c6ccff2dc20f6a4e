// Transformer students: config and spec validation, shapes, causality, padding, capture by name, whole-model
// gradients against finite differences (cpu backend), save/load round trip and initialisation from a teacher.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { parseTransformerSpec, transformerConfigFromSpec } from "../src/students/spec.js";
import { resolveTransformerConfig, type TransformerSpecInput } from "../src/students/transformer-config.js";
import { TransformerModel } from "../src/students/transformer.js";
import { isTransformerFolder, loadTransformer, saveTransformer } from "../src/students/transformer-io.js";
import { initFromTeacher } from "../src/students/transformer-init.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import { Rng } from "../src/util/rng.js";
import { decodeSafetensors, encodeSafetensors } from "../src/util/safetensors.js";
import { assertAllClose, tempDir } from "./helpers.js";

await useBackend("cpu", { fallback: false });

const PAD = 0;
const tiny = (over: Partial<TransformerSpecInput> = {}) =>
  resolveTransformerConfig({ layers: 2, dim: 8, heads: 2, ff: 16, ctx: 6, vocab: 11, padId: PAD, ...over }, { numClasses: 3 });

const run = (model: TransformerModel, rows: number[][]): Float32Array =>
  tf.tidy(() => model.forward(tf.tensor2d(rows)).logits.dataSync() as Float32Array);

test("spec strings and YAML objects resolve to the same validated config; errors name the key", () => {
  const s = "transformer:layers=4,dim=256,heads=4,ff=1024,ctx=128,causal";
  const fromString = transformerConfigFromSpec(s);
  const fromObject = transformerConfigFromSpec({ layers: 4, dim: 256, heads: 4, ff: 1024, ctx: 128, causal: true });
  assert.deepEqual(fromString, fromObject);
  assert.equal(fromString.head, "lm");
  assert.equal(fromString.vocab, 260); // byte-level by default
  assert.equal(fromString.padId, 256);
  assert.ok(Object.isFrozen(fromString));
  const cls = transformerConfigFromSpec("transformer:layers=2,dim=64,heads=2,head=classify,pool=first,tie=false,dropout=0.1", { seqLen: 32, numClasses: 5, vocab: 1000, padId: 3 });
  assert.deepEqual([cls.ctx, cls.ff, cls.numClasses, cls.vocab, cls.padId, cls.pool, cls.dropout], [32, 256, 5, 1000, 3, "first", 0.1]);
  assert.deepEqual(parseTransformerSpec("transformer:layers=1,dim=8,heads=1,padId=none,tie"), { kind: "transformer", layers: 1, dim: 8, heads: 1, padId: null, tie: true });

  const err = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error) => re.test(e.message) && !e.message.includes("\n"), re.source);
  err(() => transformerConfigFromSpec("transformer:layers=2,dim=10,heads=3,ctx=8"), /heads: dim=10 is not divisible by heads=3/);
  err(() => parseTransformerSpec("transformer:layers=2,dim=8,heads=two"), /key "heads": expected a positive integer, got "two"/);
  err(() => parseTransformerSpec("transformer:layers=2,dim=8,heads=2,width=3"), /unknown key "width"/);
  err(() => parseTransformerSpec("transformer:dim=8,heads=2"), /key "layers" is missing/);
  err(() => parseTransformerSpec("transformer:layers=2,dim=8,heads=2,dropout=1.5"), /key "dropout": expected a rate in \[0, 1\)/);
  err(() => parseTransformerSpec("transformer:layers=2,dim=8,heads=2,head=seq"), /key "head": expected lm \| classify \| embed/);
  err(() => transformerConfigFromSpec("transformer:layers=2,dim=8,heads=2"), /ctx: expected the context length/);
  err(() => transformerConfigFromSpec("transformer:layers=2,dim=8,heads=2,ctx=4", { seqLen: 16 }), /ctx: 4 is shorter than the data's 16 tokens/);
  err(() => transformerConfigFromSpec("transformer:layers=2,dim=8,heads=2,ctx=4,head=classify,tie"), /tie: .*expected head=lm/);
  err(() => transformerConfigFromSpec("transformer:layers=2,dim=8,heads=2,ctx=4,head=classify"), /numClasses: expected the number of classes/);
  err(() => transformerConfigFromSpec({ layers: 2, dim: 8, heads: 2, ctx: 4, width: 3 } as unknown as TransformerSpecInput), /^model: width: unknown field/);
  err(() => transformerConfigFromSpec({ layers: 0, dim: 8, heads: 2, ctx: 4 }), /^model: layers: /);
});

test("output shapes of the three heads; predict gives one row per sample", () => {
  const rows = [[1, 2, 3, 4, 5, 6], [7, 8, 9, PAD, PAD, PAD]];
  for (const [head, width] of [["lm", 11], ["classify", 3], ["embed", 5]] as const) {
    const m = new TransformerModel(tiny({ head, embedDim: head === "embed" ? 5 : undefined, tie: head === "lm" }), 1);
    const logits = tf.tidy(() => m.forward(tf.tensor2d(rows)).logits.shape);
    assert.deepEqual(logits, head === "lm" ? [12, width] : [2, width], head);
    assert.deepEqual(tf.tidy(() => m.predict(tf.tensor2d(rows)).shape), [2, width]);
    assert.equal(m.numOutputs, width);
    m.dispose();
  }
  const lm = new TransformerModel(tiny({ causal: true, tie: true }), 2);
  // LM predict: the logits after each row's last real token.
  const all = run(lm, [[7, 8, 9, PAD, PAD, PAD]]);
  const next = tf.tidy(() => lm.predict(tf.tensor2d([[7, 8, 9, PAD, PAD, PAD]])).dataSync());
  assertAllClose(next, all.subarray(2 * 11, 3 * 11), { what: "predict = logits at the last real token" });
  // Tied head: no separate head weights, counted once.
  assert.ok(!lm.namedWeights().some((p) => p.name.startsWith("head/")));
  assert.throws(() => tf.tidy(() => lm.forward(tf.tensor2d([[1, 2, 11]])).logits), /token 11 at row 0, position 2 is not an id in \[0, 11\)/);
  assert.throws(() => tf.tidy(() => lm.forward(tf.zeros([1, 7])).logits), /7 tokens per sample; expected 1 to 6/);
  lm.dispose();
});

test("causal: changing a future token leaves earlier logits unchanged (and bidirectional ones change)", () => {
  const a = [[3, 1, 4, 1, 5, 9]];
  const b = [[3, 1, 4, 1, 2, 9]]; // position 4 differs
  const causal = new TransformerModel(tiny({ causal: true }), 3);
  const [la, lb] = [run(causal, a), run(causal, b)];
  assert.deepEqual(Array.from(la.subarray(0, 4 * 11)), Array.from(lb.subarray(0, 4 * 11)), "positions 0-3");
  assert.ok(la.subarray(4 * 11).some((v, i) => v !== lb[4 * 11 + i]), "positions ≥ 4 see the change");
  const bidi = new TransformerModel(tiny({ causal: false }), 3);
  const [ba, bb] = [run(bidi, a), run(bidi, b)];
  assert.ok(ba.subarray(0, 11).some((v, i) => Math.abs(v - bb[i]) > 1e-6), "a bidirectional model's first position sees the change");
  causal.dispose();
  bidi.dispose();
});

test("padding tokens do not change a classification output (mean and first pooling, causal or not)", () => {
  for (const over of [{ pool: "mean" }, { pool: "first" }, { pool: "mean", causal: true }] as Partial<TransformerSpecInput>[]) {
    const m = new TransformerModel(tiny({ head: "classify", ...over }), 4);
    const short = run(m, [[2, 5, 7]]);
    const padded = run(m, [[2, 5, 7, PAD, PAD, PAD]]);
    const inBatch = run(m, [[1, 2, 3, 4, 5, 6], [2, 5, 7, PAD, PAD, PAD]]).subarray(3);
    assertAllClose(padded, short, { rtol: 1e-5, atolScale: 1e-6, what: `${JSON.stringify(over)} padded` });
    assertAllClose(inBatch, short, { rtol: 1e-5, atolScale: 1e-6, what: `${JSON.stringify(over)} in a batch` });
    const other = run(m, [[2, 5, 8]]);
    assert.ok(other.some((v, i) => Math.abs(v - short[i]) > 1e-6), "a real token does change the output");
    m.dispose();
  }
  // LM logits at the real positions are unchanged by trailing padding too.
  const lm = new TransformerModel(tiny({ causal: false }), 5);
  assertAllClose(run(lm, [[2, 5, 7, PAD, PAD]]).subarray(0, 33), run(lm, [[2, 5, 7]]), { rtol: 1e-5, atolScale: 1e-6, what: "lm" });
  lm.dispose();
});

test("blocks, attention maps, embeddings and the pooled vector can be captured by name", () => {
  const m = new TransformerModel(tiny({ head: "classify", causal: true }), 6);
  assert.deepEqual(m.layerNames(), ["embeddings", "block_1", "block_1/attention", "block_2", "block_2/attention", "final_norm", "pooled"]);
  const capture = m.layerNames();
  const { shapes, att } = tf.tidy(() => {
    const { features } = m.forward(tf.tensor2d([[1, 2, 3, 4, PAD], [5, 6, 7, 8, 9]]), { training: false, capture });
    return { shapes: Object.fromEntries([...features].map(([k, v]) => [k, v.shape])), att: features.get("block_2/attention")!.arraySync() as number[][][][] };
  });
  assert.deepEqual(shapes, { embeddings: [2, 5, 8], block_1: [2, 5, 8], "block_1/attention": [2, 2, 5, 5], block_2: [2, 5, 8], "block_2/attention": [2, 2, 5, 5], final_norm: [2, 5, 8], pooled: [2, 8] });
  for (let b = 0; b < 2; b++) {
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 5; i++) {
        assert.ok(Math.abs(att[b][h][i].reduce((s, p) => s + p, 0) - 1) < 1e-5, "rows sum to 1");
        for (let j = i + 1; j < 5; j++) assert.equal(att[b][h][i][j], 0, "no attention to the future");
        if (b === 0 && i < 4) assert.equal(att[b][h][i][4], 0, "no attention to padding");
      }
    }
  }
  assert.throws(() => tf.tidy(() => m.forward(tf.tensor2d([[1]]), { training: false, capture: ["block_3"] }).logits), /no layer named "block_3"; layers are embeddings, block_1/);
  m.dispose();
});

test("training-mode dropout is seeded: same stream, same output; eval mode ignores it", () => {
  const m = new TransformerModel(tiny({ dropout: 0.3, head: "classify" }), 7);
  const x = [[1, 2, 3, 4, 5, 6]];
  const train = (seed: number) => tf.tidy(() => m.forward(tf.tensor2d(x), { training: true, rng: new Rng(seed, "dropout") }).logits.dataSync());
  assert.deepEqual(Array.from(train(1)), Array.from(train(1)));
  assert.notDeepEqual(Array.from(train(1)), Array.from(train(2)));
  assert.deepEqual(Array.from(run(m, x)), Array.from(run(m, x)));
  assert.throws(() => tf.tidy(() => m.forward(tf.tensor2d(x), { training: true }).logits), /needs a seeded rng/);
  m.dispose();
});

/** Sets every weight to a random value (LayerNorm scales near 1), so the test exercises the nonlinear regime. */
function randomize(m: TransformerModel, seed: number): void {
  const rng = new Rng(seed, "randomize");
  m.setWeights(m.namedWeights().map(({ name, tensor }) => tf.tensor(Float32Array.from({ length: tensor.size }, () => (name.endsWith("gamma") ? 1 : 0) + 0.5 * rng.normal()), tensor.shape)));
}

for (const over of [{ causal: true, tie: true }, { head: "classify", pool: "mean" }] as Partial<TransformerSpecInput>[]) {
  test(`gradients of the whole model match central finite differences (cpu, ${JSON.stringify(over)})`, () => {
    const m = new TransformerModel(tiny(over), 8);
    randomize(m, 9);
    const x = tf.tensor2d([[1, 4, 2, 8, 5, 7], [3, 9, 10, PAD, PAD, PAD]]);
    const rng = new Rng(10, "weights");
    const width = m.config.head === "lm" ? 12 : 2;
    const w = tf.tensor2d(Float32Array.from({ length: width * m.numOutputs }, () => rng.normal()), [width, m.numOutputs]);
    const loss = () => tf.sum(tf.mul(m.forward(x).logits, w)) as tf.Scalar;
    const { grads } = tf.variableGrads(loss, m.params);
    const pick = new Rng(11, "entries");
    const h = 1e-2;
    for (const { name, tensor } of m.namedWeights()) {
      const g = grads[tensor.name].dataSync();
      const base = Float32Array.from(tensor.dataSync() as Float32Array);
      const entries = Array.from({ length: Math.min(4, base.length) }, () => pick.int(base.length));
      const numeric: number[] = [];
      for (const i of entries) {
        const at = (delta: number) => {
          const v = base.slice();
          v[i] += delta;
          tensor.assign(tf.tensor(v, tensor.shape));
          return tf.tidy(() => loss().dataSync()[0]);
        };
        numeric.push((at(h) - at(-h)) / (2 * h));
      }
      tensor.assign(tf.tensor(base, tensor.shape));
      assertAllClose(entries.map((i) => g[i]), numeric, { rtol: 3e-2, atol: 3e-3, what: `∂L/∂${name}` });
    }
    assert.ok(Object.values(grads).every((g) => g.dataSync().some((v) => v !== 0)), "every weight gets a gradient");
    tf.dispose([x, w, ...Object.values(grads)]);
    m.dispose();
  });
}

test("save/load round trip: same config, same outputs, same tokenizer; bad folders give one-line errors", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const tokenizer = trainBpe(["the cat sat on the mat", "the dog sat on the log"], { vocabSize: 270 });
  const config = resolveTransformerConfig({ layers: 2, dim: 8, heads: 2, ctx: 6, head: "classify", numClasses: 3, dropout: 0.1 }, { vocab: tokenizer.vocabSize, padId: tokenizer.special.pad });
  const model = new TransformerModel(config, 12);
  randomize(model, 13);
  const path = join(dir, "student");
  await saveTransformer(model, path, { tokenizer, metadata: { labelNames: ["a", "b", "c"] } });
  assert.ok(isTransformerFolder(path));
  const loaded = await loadTransformer(path);
  assert.deepEqual(loaded.model.config, model.config);
  assert.deepEqual(loaded.metadata, { labelNames: ["a", "b", "c"] });
  assert.deepEqual(loaded.tokenizer.encode("the cat sat"), tokenizer.encode("the cat sat"));
  const rows = [tokenizer.encode("the cat sat on").concat([0, 0]).slice(0, 6), [5, 6, 7, 8, 9, 10]];
  assert.deepEqual(Array.from(run(loaded.model, rows)), Array.from(run(model, rows)));

  // The saved shape fields win: the architecture comes from config.json, and the weights must fit it.
  const weightsPath = join(path, "model.safetensors");
  const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(weightsPath)), weightsPath);
  delete tensors["block_2/mlp/fc/bias"];
  writeFileSync(weightsPath, encodeSafetensors(tensors));
  await assert.rejects(loadTransformer(path), /model\.safetensors: has no tensor "block_2\/mlp\/fc\/bias"/);
  const cfgPath = join(path, "config.json");
  const saved = JSON.parse(readFileSync(cfgPath, "utf8"));
  writeFileSync(cfgPath, JSON.stringify({ ...saved, config: { ...saved.config, heads: 3 } }));
  await assert.rejects(loadTransformer(path), /config\.json: heads: dim=8 is not divisible by heads=3/);
  await assert.rejects(loadTransformer(join(dir, "missing")), /config\.json: not found/);
  model.dispose();
  loaded.model.dispose();
});

test("a student initialised from a teacher's layers copies every other block, the embeddings and the final norm", () => {
  const teacher = new TransformerModel(tiny({ layers: 4, ctx: 8, causal: true }), 14);
  randomize(teacher, 15);
  const student = new TransformerModel(tiny({ layers: 2, ctx: 6, causal: true }), 16);
  const copied = initFromTeacher(student, teacher);
  const values = (m: TransformerModel) => new Map(m.namedWeights().map((p) => [p.name, Array.from(p.tensor.dataSync())]));
  const [s, tv] = [values(student), values(teacher)];
  for (const [name, v] of s) {
    const from = name.replace(/^block_1\//, "block_1/").replace(/^block_2\//, "block_3/");
    if (name === "embeddings/position") assert.deepEqual(v, tv.get(name)!.slice(0, 6 * 8));
    else assert.deepEqual(v, tv.get(from), name);
  }
  assert.equal(copied.length, student.namedWeights().length);
  // The copies are deep: changing the student leaves the teacher as it was.
  student.blocks[0].mlp.fc.kernel.tensor.assign(tf.zeros([8, 16]));
  assert.deepEqual(Array.from(teacher.blocks[0].mlp.fc.kernel.tensor.dataSync()), tv.get("block_1/mlp/fc/kernel"));

  const narrow = new TransformerModel(tiny({ dim: 4, layers: 3 }), 17);
  assert.throws(() => initFromTeacher(narrow, teacher), /dim 4 vs the teacher's 8;/);
  assert.throws(() => initFromTeacher(narrow, teacher), /3 layers, but a 4-layer teacher has only 2 every-other blocks/);
  [teacher, student, narrow].forEach((m) => m.dispose());
});

test("wasm computes the same loss and gradients as cpu, and predict leaks no tensors", async () => {
  const m = new TransformerModel(tiny({ causal: true, tie: true }), 18);
  randomize(m, 19);
  const weights = m.namedWeights().map((p) => Float32Array.from(p.tensor.dataSync() as Float32Array));
  const rows = [[1, 4, 2, 8, 5, 7], [3, 9, 10, PAD, PAD, PAD]];
  const y = [6, 1];
  const results: Float32Array[][] = [];
  for (const backend of ["cpu", "wasm"] as const) {
    await useBackend(backend, { fallback: false });
    const model = new TransformerModel(m.config, 0);
    model.setWeights(weights.map((w, i) => tf.tensor(w, m.params[i].shape)));
    const before = tf.memory().numTensors;
    model.predict(tf.tensor2d(rows)).dispose();
    assert.equal(tf.memory().numTensors, before + 1, `${backend}: predict leaves only its input`);
    results.push(
      tf.tidy(() => {
        const x = tf.tensor2d(rows);
        const { value, grads } = tf.variableGrads(() => nextTokenCrossEntropy(model.forward(x).logits, x, tf.tensor1d(y, "int32"), PAD), model.params);
        return [value, ...model.params.map((p) => grads[p.name])].map((t) => Float32Array.from(t.dataSync() as Float32Array));
      }),
    );
    model.dispose();
  }
  await useBackend("cpu", { fallback: false });
  results[0].forEach((cpu, i) => assertAllClose(results[1][i], cpu, { rtol: 1e-3, atolScale: 1e-4, what: i === 0 ? "loss" : `∂L/∂${m.namedWeights()[i - 1].name}` }));
  m.dispose();
});
