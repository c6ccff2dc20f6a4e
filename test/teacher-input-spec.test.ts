// The `input:` spec of ONNX and TF.js teachers (src/teachers/input-spec.ts): raw images resized and normalised to
// what the model expects (layout, channels, dtype, mean/std or scale/offset), features rescaled, raw text tokenized
// with a Hugging Face tokenizer.json. Each model here returns its own input (Flatten / Cast+Concat graphs built with
// onnx-proto, a Flatten-only TF.js model), so the values it sees are checked one by one against values computed by
// hand from the formula in input-spec.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import onnxProto from "onnx-proto";
import { useBackend } from "../src/engine/backend.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { ArrayRawView } from "../src/data/raw.js";
import { textDataset } from "../src/data/text-dataset.js";
import type { RgbaImage } from "../src/data/image-decode.js";
import { OnnxTeacher } from "../src/teachers/onnx-teacher.js";
import { openTeacher } from "../src/teachers/open-teacher.js";
import { InputSpec } from "../src/teachers/input-spec.js";
import { TextTokenizer } from "../src/teachers/text-tokenizer.js";
import { runTeacher, teacherInput } from "../src/teachers/teacher-run.js";
import { checkTeacherOnData } from "../src/teachers/teacher-checks.js";
import { assertAllClose, tempDir } from "./helpers.js";

const { onnx } = onnxProto;
await useBackend("cpu");

const FLOAT = 1;
const UINT8 = 2;
const INT64 = 7;
const vi = (name: string, elemType: number, ...dims: (number | string)[]) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
});
const attr = (name: string, i: number) => ({ name, type: 2, i });

function writeModel(path: string, graph: Record<string, unknown>): void {
  writeFileSync(path, onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: "", version: 13 }], graph: { name: "g", ...graph } })).finish());
}

/**
 * A 2×2 image: R is 0 in the left column and 255 in the right, G 0 on the top row and 255 at the bottom, B 51.
 * Resized to 4×4 with half-pixel centres, a column (row) i samples at (i + 0.5)/2 − 0.5, clamped: weights
 * 0, 0.25, 0.75, 1 → R by column and G by row are [0, 63.75, 191.25, 255].
 */
const TWO_BY_TWO: RgbaImage = { width: 2, height: 2, data: Uint8Array.of(0, 0, 51, 255, 255, 0, 51, 255, 0, 255, 51, 255, 255, 255, 51, 255) };
const RAMP = [0, 63.75, 191.25, 255];
/** The resized image at (y, x), channel c, in [0, 255]. */
const pixel = (y: number, x: number, c: number) => (c === 0 ? RAMP[x] : c === 1 ? RAMP[y] : 51);

function imageData(images: RgbaImage[], sampleShape = [2, 2, 1]): InMemoryDataset {
  const per = sampleShape.reduce((a, b) => a * b, 1);
  return new InMemoryDataset("pictures", new Float32Array(images.length * per), Int32Array.from(images, (_, i) => i % 2), sampleShape, 2, new ArrayRawView("image", images));
}

test("an ONNX image teacher expecting [−1, 1] NCHW at 4×4 gets the raw image resized and normalised: (p/255 − 0.5)/0.5", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const path = join(dir, "nchw.onnx");
  writeModel(path, { input: [vi("pixels", FLOAT, "N", 3, 4, 4)], output: [vi("y", FLOAT, "N", 48)], node: [{ opType: "Flatten", input: ["pixels"], output: ["y"], attribute: [attr("axis", 1)] }] });
  const data = imageData([TWO_BY_TWO, TWO_BY_TWO]);
  // mean/std and scale/offset (2/255, −1) are the same map; size, layout and channels come from the model.
  for (const spec of [{ kind: "image", mean: 0.5, std: 0.5 }, { kind: "image", scale: "2/255", offset: -1 }]) {
    const teacher = await OnnxTeacher.open(path, { sampleShape: [2, 2, 1], output: "logits", inputSpec: InputSpec.parse(spec) });
    assert.deepEqual(teacher.metadata.input.rawKinds, ["image"]);
    assert.equal(teacher.metadata.input.layout, "nchw");
    const got = await teacher.logitsAsync(teacherInput(data, Int32Array.of(0), teacher));
    const want: number[] = [];
    for (let c = 0; c < 3; c++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) want.push(pixel(y, x, c) / 255 / 0.5 - 1);
    assertAllClose(got, want, { atol: 1e-6, what: `NCHW [−1, 1] values (${JSON.stringify(spec)})` });
    await teacher.close();
  }
  // A size that contradicts the model's fixed 4×4 is refused, naming the field; so is a fifth channel.
  await assert.rejects(OnnxTeacher.open(path, { sampleShape: [2, 2, 1], inputSpec: InputSpec.parse({ kind: "image", size: [8, 8] }) }), /nchw\.onnx: input\.size: \[8, 8\], but the model's input pixels has shape \[\?, 3, 4, 4\]/);
  await assert.rejects(OnnxTeacher.open(path, { sampleShape: [2, 2, 1], inputSpec: InputSpec.parse({ kind: "image", mean: [0.5, 0.5], std: 0.5 }) }), /input\.mean: 2 values for 3 channels/);
});

test("uint8 NHWC input: pixels rounded, not scaled; one channel is the luma 0.299 R + 0.587 G + 0.114 B", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const path = join(dir, "u8.onnx");
  writeModel(path, {
    input: [vi("img", UINT8, "N", 4, 4, 3)],
    output: [vi("y", FLOAT, "N", 48)],
    node: [
      { opType: "Cast", input: ["img"], output: ["f"], attribute: [attr("to", FLOAT)] },
      { opType: "Flatten", input: ["f"], output: ["y"], attribute: [attr("axis", 1)] },
    ],
  });
  const data = imageData([TWO_BY_TWO]);
  const teacher = await OnnxTeacher.open(path, { sampleShape: [2, 2, 1], output: "logits", inputSpec: InputSpec.parse({ kind: "image" }) });
  assert.equal(teacher.metadata.input.layout, "nhwc");
  const got = await teacher.logitsAsync(teacherInput(data, Int32Array.of(0), teacher));
  const want: number[] = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) want.push(Math.round(pixel(y, x, c)));
  assert.deepEqual(Array.from(got), want);
  await teacher.close();
  await assert.rejects(OnnxTeacher.open(path, { sampleShape: [2, 2, 1], inputSpec: InputSpec.parse({ kind: "image", dtype: "float32" }) }), /input\.dtype: float32, but the model's input img is uint8/);

  const gray = join(dir, "gray.onnx");
  writeModel(gray, { input: [vi("x", FLOAT, "N", 1, 4, 4)], output: [vi("y", FLOAT, "N", 16)], node: [{ opType: "Flatten", input: ["x"], output: ["y"], attribute: [attr("axis", 1)] }] });
  const g = await OnnxTeacher.open(gray, { sampleShape: [2, 2, 1], output: "logits", inputSpec: InputSpec.parse({ kind: "image" }) });
  const luma = await g.logitsAsync(teacherInput(data, Int32Array.of(0), g));
  const wantLuma: number[] = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) wantLuma.push((0.299 * pixel(y, x, 0) + 0.587 * pixel(y, x, 1) + 0.114 * 51) / 255);
  assertAllClose(luma, wantLuma, { atol: 1e-6, what: "luma / 255 (float32 default: p/255)" });
  await g.close();
});

test("a vector spec rescales the student's features per feature: (x − mean)/std", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const path = join(dir, "vec.onnx");
  writeModel(path, { input: [vi("x", FLOAT, "N", 3)], output: [vi("y", FLOAT, "N", 3)], node: [{ opType: "Identity", input: ["x"], output: ["y"] }] });
  const data = new InMemoryDataset("vectors", Float32Array.of(1, 2, 3, 4, 5, 6), Int32Array.of(0, 1), [3], 3);
  const teacher = await OnnxTeacher.open(path, { sampleShape: [3], output: "logits", inputSpec: InputSpec.parse({ kind: "vector", mean: [1, 2, 3], std: [2, 4, 0.5] }) });
  assert.equal(teacher.metadata.input.rawKinds, undefined, "a vector spec reads the features");
  const got = await runTeacher(teacher, data);
  assertAllClose(got, [0, 0, 0, 1.5, 0.75, 6], { atol: 1e-6, what: "(x − mean)/std" });
  await teacher.close();
  const wrong = await OnnxTeacher.open(path, { sampleShape: [3], output: "logits", inputSpec: InputSpec.parse({ kind: "vector", scale: [1, 2] }) }).catch((e: Error) => e);
  assert.ok(wrong instanceof Error && /input\.scale \(or mean\/std\) has 2 values but the samples have 3 features/.test(wrong.message), String(wrong));
});

/** A WordPiece tokenizer.json as Hugging Face writes it (BERT normaliser and pre-tokeniser, [CLS] $A [SEP]). */
function writeTokenizer(path: string): void {
  const vocab: Record<string, number> = {};
  ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "food", "was", "great", "awful", "ok", "##ay", "!", "."].forEach((tok, i) => (vocab[tok] = i));
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [],
      special_tokens: { "[CLS]": { id: "[CLS]", ids: [2], tokens: ["[CLS]"] }, "[SEP]": { id: "[SEP]", ids: [3], tokens: ["[SEP]"] } },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
  };
  writeFileSync(path, JSON.stringify(json));
}

test("a Hugging Face tokenizer.json: ids with [CLS]/[SEP], truncation keeps [SEP], padding to max_length or the longest row", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const path = join(dir, "tokenizer.json");
  writeTokenizer(path);
  const tok = TextTokenizer.load(path, undefined, { maxLength: 6, padding: "max_length", addSpecialTokens: true });
  // "the food was okay!" → the food was ok ##ay ! (lower-cased, "okay" split into ok + ##ay); "zebra" is unknown.
  const a = tok.encodeBatch(["The food was OKAY!", "zebra."]);
  assert.deepEqual(a.ids, [2, 4, 5, 6, 9, 3, /* row 2 */ 2, 1, 12, 3, 0, 0]);
  assert.deepEqual(a.mask, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  const longest = TextTokenizer.load(path, undefined, { maxLength: 20, padding: "longest", addSpecialTokens: true, padId: 12 });
  const b = longest.encodeBatch(["great", "the food"]);
  assert.equal(b.length, 4);
  assert.deepEqual(b.ids, [2, 7, 3, 12, 2, 4, 5, 3]);
  assert.throws(() => TextTokenizer.load(join(dir, "none.json"), undefined, { maxLength: 6, padding: "longest", addSpecialTokens: true }), /none\.json: not found; expected a Hugging Face tokenizer\.json/);
  assert.throws(() => TextTokenizer.load(path, undefined, { maxLength: 2, padding: "longest", addSpecialTokens: true }), /maxLength 2 leaves no room for text next to the 2 special tokens/);
});

test("an ONNX text teacher from teacher.yaml gets int64 input_ids and attention_mask from the raw texts", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  writeTokenizer(join(dir, "tokenizer.json"));
  // ids and mask [N, 5] int64 → float → concatenated [N, 10]: the model answers with what it was fed.
  writeModel(join(dir, "text.onnx"), {
    input: [vi("input_ids", INT64, "N", 5), vi("attention_mask", INT64, "N", 5)],
    output: [vi("y", FLOAT, "N", 10)],
    node: [
      { opType: "Cast", input: ["input_ids"], output: ["i"], attribute: [attr("to", FLOAT)] },
      { opType: "Cast", input: ["attention_mask"], output: ["m"], attribute: [attr("to", FLOAT)] },
      { opType: "Concat", input: ["i", "m"], output: ["y"], attribute: [attr("axis", 1)] },
    ],
  });
  writeFileSync(join(dir, "teacher.yaml"), "kind: onnx\npath: text.onnx\noutput: logits\ninput:\n  kind: text\n  tokenizer: tokenizer.json\n  maxLength: 5\n");
  const data = textDataset("reviews", new Float32Array(3 * 2), Int32Array.of(0, 1, 0), [2], 10, ["The food was great!", "awful", "ok."]);
  const opened = await openTeacher(join(dir, "teacher.yaml"), data);
  assert.deepEqual(opened.teacher.metadata?.input.rawKinds, ["text"]);
  const got = await runTeacher(opened.teacher, data);
  assert.deepEqual(Array.from(got), [2, 4, 5, 6, 3, 1, 1, 1, 1, 1, /* awful */ 2, 8, 3, 0, 0, 1, 1, 1, 0, 0, /* ok. */ 2, 9, 12, 3, 0, 1, 1, 1, 1, 0]);
  // The tokenizer's content is part of the teacher's hash: another vocabulary is another teacher.
  const before = opened.hash;
  await opened.close();
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ ...JSON.parse((await import("node:fs")).readFileSync(join(dir, "tokenizer.json"), "utf8")), normalizer: null }));
  const again = await openTeacher(join(dir, "teacher.yaml"), data);
  assert.notEqual(again.hash, before);
  await again.close();
  // A text teacher over images is refused before it runs, naming both sides.
  const images = imageData([TWO_BY_TWO, TWO_BY_TWO]);
  const t2 = await openTeacher(join(dir, "teacher.yaml"), data);
  await assert.rejects(checkTeacherOnData(t2.teacher, new InMemoryDataset("digits", images.x, images.y, [2, 2, 1], 10, images.raw), { dataName: "digits" }), /reads texts \(--data jsonl:<file>\), but digits has image samples/);
  await t2.close();
  writeFileSync(join(dir, "bad.yaml"), "kind: onnx\npath: text.onnx\ninput: {kind: text, tokenizer: tokenizer.json, attentionMask: null}\n");
  await assert.rejects(openTeacher(join(dir, "bad.yaml"), data), /text\.onnx: input\.ids: the model also takes "attention_mask"; name it as attentionMask or tokenTypeIds/);
});

/** Saves a layers model as tfjs's file handler does: model.json + one weights.bin. */
async function saveLikeTfjs(model: tfl.LayersModel, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const data = a.weightData instanceof ArrayBuffer ? a.weightData : tf.io.concatenateArrayBuffers(a.weightData as ArrayBuffer[]);
      writeFileSync(join(dir, "weights.bin"), new Uint8Array(data));
      writeFileSync(join(dir, "model.json"), JSON.stringify({ modelTopology: a.modelTopology, format: "layers-model", weightsManifest: [{ paths: ["weights.bin"], weights: a.weightSpecs }] }));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
}

test("a TF.js teacher with an image spec: the raw image at the model's 4×4×3, NHWC, mean/std per channel", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const input = tfl.input({ shape: [4, 4, 3] });
  const out = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  await saveLikeTfjs(tfl.model({ inputs: input, outputs: out }), join(dir, "flat"));
  writeFileSync(join(dir, "teacher.yaml"), "kind: tfjs\npath: flat\ninput: {kind: image, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}\n");
  const data = imageData([TWO_BY_TWO, TWO_BY_TWO]);
  const opened = await openTeacher(join(dir, "teacher.yaml"), data);
  assert.deepEqual(opened.teacher.metadata?.input.rawKinds, ["image"]);
  const got = await runTeacher(opened.teacher, data, { rows: Int32Array.of(1), validate: false });
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const want: number[] = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) want.push((pixel(y, x, c) / 255 - mean[c]) / std[c]);
  assertAllClose(got, want, { atol: 1e-5, what: "ImageNet-normalised NHWC values" });
  await opened.close();
  writeFileSync(join(dir, "u8.yaml"), "kind: tfjs\npath: flat\ninput: {kind: image, dtype: uint8}\n");
  await assert.rejects(openTeacher(join(dir, "u8.yaml"), data), /input\.dtype: uint8 is not an input type of TF\.js images here; expected float32 or int32/);
});
