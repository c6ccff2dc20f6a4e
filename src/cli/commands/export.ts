import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseOptions, choiceOption, numberOption } from "../args.js";
import { DATA_OPTIONS, dataOptionHelp, GLOBAL_HELP, GLOBAL_OPTIONS, dataSpec, fmt, printResult, selectBackend } from "./common.js";
import { modelOutputScale, regressionMetrics, targetValues, toUnits } from "../../eval/regression.js";
import { DATA_SPECS_HELP } from "../../data/sources.js";
import type { InMemoryDataset } from "../../data/dataset.js";
import * as tf from "@tensorflow/tfjs-core";
import { loadLayersModel, saveModel } from "../../students/io.js";
import { loadStudent, type Student } from "../../students/student.js";
import { SequentialModel } from "../../students/model.js";
import { saveTfjsInt8 } from "../../export/tfjs-int8.js";
import { saveOnnx, type GraphPreprocess } from "../../export/onnx.js";
import { OnnxRunner } from "../../export/onnx-runtime.js";
import { describeGraphInput, graphFeed, graphPreprocessFor, preprocessingFiles, randomRawRows } from "../../export/graph-preprocess.js";
import { modelTestData, recordedData, type ModelTestData } from "../../eval/model-data.js";
import { classificationMetrics, agreement } from "../../eval/classification.js";
import { bytesOnDisk } from "../../eval/size.js";
import { Rng } from "../../util/rng.js";
import { writeFileAtomic } from "../../util/files.js";
import { UsageError } from "../../util/errors.js";
import { isEmbeddingModelFolder, loadEmbeddingModel } from "../../embeddings/embedding-model.js";
import { checkEmbeddingOnnx, exportEmbeddingOnnx } from "../../export/onnx-embeddings.js";
import { checkEmbeddingTfjs, saveEmbeddingTfjs } from "../../export/tfjs-embeddings.js";

export const EXPORT_HELP = `tsdistill export --model DIR --format onnx|tfjs [--int8] [--out PATH]

Exports a saved model together with its preprocessing (preprocess.json in the model folder), so the export
takes raw inputs. Distillation-only parts (projectors, teachers) are never part of a saved student.

onnx: an ONNX file (opset 13, dynamic batch, logits output, dropout removed). Where ONNX can express the
preprocessing, it is in the graph and the graph input says what it takes:
  "pixels"  image models: uint8 RGB [batch, H, W, 3] at the model's size; the graph casts, scales to [0, 1]
            and, for a gray model, takes the BT.601 luma (images of other sizes: resize first, e.g. with
            graphInput() of the shipped module, which resizes bilinearly)
  "values"  tabular models whose input columns are all numeric: float32 [batch, columns] raw values in the
            order of preprocess.json's columns, NaN for missing; the graph fills missing values with the
            training mean and standardises (infinite values are not checked in the graph)
  "input"   everything else (text models, tabular models with categorical columns, --input features, models
            without preprocess.json): float32 features [batch, ...shape], NHWC
The file's metadata records this (tsdistill.input_kind, tsdistill.input) and the class names (tsdistill.labels).
The export is checked in onnxruntime-node against TF.js on the test split of the data recorded in the model
(max |diff|, same class and accuracy printed; seeded random inputs when the model records no data).
tfjs: a TF.js layers model folder (tf.loadLayersModel in Node and browsers) taking features.
An embedding student folder (static / bag-of-embeddings) exports to ONNX (input_ids + attention_mask →
embeddings) or, with --format tfjs, to a TF.js graph model folder (the same graph, with tokenizer.json).

Every export of a model with preprocess.json ships the preprocessing next to it, verbatim: preprocess.json and
preprocess.mjs (+ preprocess.d.mts), a JavaScript module without dependencies that runs in Node and browsers:
preprocess(pre, records|texts|images) → features, graphInput(pre, inputs, session.inputNames[0]) → the ONNX
input, decodeOutput(pre, logits) → [{class, label, probabilities}]. ONNX: OUT.preprocess.json and
OUT.preprocess.mjs beside OUT.onnx; tfjs: inside the folder.

  --model DIR            model folder (model.json + weights, preprocess.json)
  --format onnx|tfjs     output format (default onnx)
  --input raw|features   onnx graph input: raw where the graph can hold the preprocessing (default), or features
  --int8                 int8 kernels with per-output-channel scales (onnx: DequantizeLinear per axis; tfjs: the
                         scales are folded into the next layer so stock tf.loadLayersModel reads it)
  --out PATH             output file (onnx, default DIR.onnx) or folder (tfjs, default DIR/../export-tfjs)
  --check N              test samples for the check (default 1000; 0 skips it)
${dataOptionHelp("data for the check (default: the data recorded in the model)")}
${GLOBAL_HELP}

${DATA_SPECS_HELP}`;

interface CheckSamples {
  /** What the exported graph takes, for n samples. */
  graph: Float32Array | Uint8Array;
  /** The same samples as the model's features (what TF.js takes). */
  features: Float32Array;
  n: number;
  labels: Int32Array | null;
  /** Regression data: the targets in their units (labels is then null). */
  targets?: Float64Array;
  /** "the test split of SPEC" or "seeded random inputs". */
  on: string;
}

/** The samples an export is checked on: n test samples of the model's data, or seeded random ones without data. */
function checkSamples(student: Student, g: GraphPreprocess | null, data: ModelTestData | null, n: number): CheckSamples {
  const pre = student.preprocess!;
  if (data) {
    const test: InMemoryDataset = data.test.take(n);
    const on = `${test.size} test samples of ${data.spec}`;
    const truth = test.task === "regression" ? { labels: null, targets: targetValues(test) } : { labels: test.y };
    if (!g) return { graph: test.x, features: test.x, n: test.size, ...truth, on };
    const rows = test.rawRows(Int32Array.from({ length: test.size }, (_, i) => i));
    if (!rows) throw new UsageError(`--data ${data.spec}: its samples have no raw form to feed the graph's "${g.kind}" input; export with --input features`);
    const feed = graphFeed(g.kind, pre, rows, `${data.spec} test sample`);
    return { ...feed, n: test.size, ...truth, on };
  }
  const rng = new Rng(0, "export-check");
  const on = `${n} seeded random inputs (the model records no data set; --data gives one)`;
  if (!g) {
    const size = student.inputShape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: n * size }, () => rng.normal());
    return { graph: x, features: x, n, labels: null, on };
  }
  return { ...graphFeed(g.kind, pre, randomRawRows(g.kind, pre, n, rng)), n, labels: null, on };
}

export async function exportCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("export", argv, {
    ...GLOBAL_OPTIONS,
    model: { type: "string" },
    format: { type: "string" },
    input: { type: "string" },
    int8: { type: "boolean" },
    out: { type: "string" },
    check: { type: "string" },
    ...DATA_OPTIONS,
  });
  if (values.help) return void process.stdout.write(EXPORT_HELP + "\n");
  if (!values.model) throw new UsageError("export: --model is required (a model folder, e.g. runs/<run>/student)");
  const format = choiceOption("format", values.format, ["onnx", "tfjs"] as const) ?? "onnx";
  const inputMode = choiceOption("input", values.input, ["raw", "features"] as const) ?? "raw";
  if (format === "tfjs" && values.input !== undefined) throw new UsageError("--input: only for --format onnx (a TF.js model takes features; its preprocessing ships as preprocess.mjs)");
  const checkN = numberOption("check", values.check, { int: true, min: 0 }) ?? 1000;
  await selectBackend(values);
  const modelDir = String(values.model);
  if (isEmbeddingModelFolder(modelDir)) return exportEmbeddings(modelDir, values, format);
  const student = await loadStudent(modelDir);
  try {
    await exportStudent(student, values, { format, inputMode, checkN });
  } finally {
    student.dispose();
  }
}

/** RMSE in the target's units of a regression model's outputs (standardised per its preprocess.json). */
function rmseOf(outputs: Float32Array, targets: Float64Array, modelDir: string): number {
  return regressionMetrics(toUnits(outputs, modelOutputScale(modelDir)), targets).rmse;
}

type Values = Parameters<typeof printResult>[0] & { int8?: boolean; out?: unknown; data?: unknown };

/**
 * An embedding student (static / bag-of-embeddings folder) → ONNX ids + mask → vectors, checked in onnxruntime-node,
 * or a TF.js graph model folder, checked in TF.js.
 */
async function exportEmbeddings(modelDir: string, values: Values, format: "onnx" | "tfjs"): Promise<void> {
  if (values.int8) throw new UsageError("--int8: not available for embedding models");
  const { model, tokenizer } = loadEmbeddingModel(modelDir);
  if (format === "tfjs") {
    try {
      const out = resolve(String(values.out ?? `${modelDir.replace(/\/+$/, "")}-tfjs`));
      if (existsSync(out)) throw new UsageError(`--out: ${out} already exists; choose a new folder`);
      await saveEmbeddingTfjs(model, tokenizer, out);
      const maxAbsDiff = await checkEmbeddingTfjs(out, model, tokenizer);
      printResult(values, { out, format: "tfjs", kind: "embeddings", inputs: ["input_ids", "attention_mask"], output: "embeddings", dim: model.config.dim, check: { texts: 6, maxAbsDiff } }, [
        `wrote ${out}: a TF.js graph model (tf.loadGraphModel): input_ids int32 + attention_mask float32 [batch, tokens] → embeddings [batch, ${model.config.dim}], with tokenizer.json`,
        `TF.js vs the runtime on 6 texts: max |diff| ${maxAbsDiff.toExponential(2)}`,
      ].join("\n"));
    } finally {
      model.dispose();
    }
    return;
  }
  try {
    const out = resolve(String(values.out ?? `${modelDir.replace(/\/+$/, "")}.onnx`));
    const bytes = exportEmbeddingOnnx(model);
    const maxAbsDiff = await checkEmbeddingOnnx(bytes, model, tokenizer);
    writeFileAtomic(out, bytes);
    printResult(values, { out, format: "onnx", kind: "embeddings", bytes: bytes.length, inputs: ["input_ids", "attention_mask"], output: "embeddings", dim: model.config.dim, check: { texts: 6, maxAbsDiff } }, [
      `wrote ${out} (${(bytes.length / 1e6).toFixed(2)} MB): input_ids + attention_mask (int64 [batch, tokens]) → embeddings [batch, ${model.config.dim}]`,
      `onnxruntime-node vs the runtime on 6 texts: max |diff| ${maxAbsDiff.toExponential(2)}`,
    ].join("\n"));
  } finally {
    model.dispose();
  }
}

async function exportStudent(student: Student, values: Values, o: { format: "onnx" | "tfjs"; inputMode: "raw" | "features"; checkN: number }): Promise<void> {
  const { model, metadata, dir: modelDir } = student;
  if (!(model instanceof SequentialModel)) {
    throw new UsageError(`export: ${modelDir} is a transformer, which this command does not export yet; use exportTransformerOnnx and checkTransformerOnnx from the library`);
  }
  const pre = student.preprocessSaved ? student.preprocess : null;
  const int8 = Boolean(values.int8);
  // The check's data is resolved before anything is written: data that does not fit the model is refused with
  // nothing left behind.
  const data =
    o.checkN > 0
      ? modelTestData({ dir: modelDir, inputShape: student.inputShape, numOutputs: student.numOutputs, metadata, savedPreprocess: pre }, values.data !== undefined ? dataSpec(values) : undefined)
      : null;
  if (data?.note && !values.quiet) process.stderr.write(`export: ${data.note}\n`);
  const out = resolve(String(values.out ?? (o.format === "onnx" ? `${modelDir.replace(/\/+$/, "")}${int8 ? ".int8" : ""}.onnx` : join(modelDir, "..", "export-tfjs"))));
  const result: Record<string, unknown> = { format: o.format, out, params: model.paramCount, int8, data: data?.spec ?? recordedData(metadata) };
  const lines: string[] = [];

  if (o.format === "tfjs") {
    const shipped = pre ? preprocessingFiles(pre, { json: "preprocess.json", module: "preprocess.mjs", types: "preprocess.d.mts" }) : {};
    const meta = { ...metadata, exportedFrom: modelDir, ...(pre ? { preprocessing: "preprocess.mjs + preprocess.json in this folder turn raw inputs into the features this model takes" } : {}) };
    let sizes: Awaited<ReturnType<typeof saveTfjsInt8>> | null = null;
    if (!int8) await saveModel(model, out, meta, shipped);
    else sizes = await saveTfjsInt8(model, out, meta, shipped);
    Object.assign(result, { bytes: bytesOnDisk(out), input: "features", shipped: Object.keys(shipped).map((f) => join(out, f)) });
    if (!sizes) {
      lines.push(`TF.js layers model: ${out} (${bytesOnDisk(out).toLocaleString("en-US")} bytes), input: float32 features [batch, ${student.inputShape.join(", ")}]`);
    } else {
      Object.assign(result, { float32WeightBytes: sizes.floatBytes, quantizedWeightBytes: sizes.quantizedBytes, sizeReduction: sizes.floatBytes / sizes.quantizedBytes, perChannelLayers: sizes.perChannelLayers });
      lines.push(
        `TF.js layers model with int8 kernels (per-output-channel scales folded forward in ${sizes.perChannelLayers.join(", ") || "no layer"}; per-tensor in the rest): ` +
          `${out} (${bytesOnDisk(out).toLocaleString("en-US")} bytes, weights ${(sizes.floatBytes / sizes.quantizedBytes).toFixed(2)}× smaller)`,
      );
    }
    lines.push(pre ? `preprocessing shipped in ${out}: preprocess.json (fitted ${pre.kind} preprocessing, class names), preprocess.mjs + preprocess.d.mts (raw ${student.rawInput} → features, logits → labels)` : "no preprocess.json in the model folder: nothing shipped; the model takes features");
    if (int8 && o.checkN > 0) {
      const check = checkSamples(student, null, data, o.checkN);
      const { model: lm } = await loadLayersModel(out);
      const shape = [check.n, ...student.inputShape];
      const got = tf.tidy(() => new Float32Array((lm.predict(tf.tensor(check.features, shape)) as tf.Tensor).dataSync() as Float32Array));
      lm.dispose();
      const ref = student.logitsFromFeatures(check.features, check.n);
      const cols = student.numOutputs;
      const same = agreement(ref, got, cols);
      Object.assign(result, { checked: check.n, checkedOn: check.on, agreement: same });
      let line = `checked on ${check.on} with tf.loadLayersModel: same class ${(same * 100).toFixed(2)}%`;
      if (check.targets) {
        const [rF, rQ] = [ref, got].map((v) => rmseOf(v, check.targets!, modelDir));
        Object.assign(result, { rmseFloat: rF, rmseInt8: rQ });
        line += `, RMSE ${fmt(rQ)} (float ${fmt(rF)})`;
      } else if (check.labels) {
        const accFloat = classificationMetrics(ref, check.labels, cols).accuracy;
        const accQ = classificationMetrics(got, check.labels, cols).accuracy;
        Object.assign(result, { accuracyFloat: accFloat, accuracyInt8: accQ, accuracyChange: accQ - accFloat });
        line += `, accuracy ${(accQ * 100).toFixed(2)}% (float ${(accFloat * 100).toFixed(2)}%)`;
      }
      lines.push(line);
    }
    printResult(values, result, lines.join("\n"));
    return;
  }

  const g = pre && o.inputMode === "raw" ? graphPreprocessFor(pre) : null;
  const inputLine = describeGraphInput(g, student.inputShape);
  const base = out.replace(/\.onnx$/i, "");
  const shippedPaths = pre ? { json: `${base}.preprocess.json`, module: `${base}.preprocess.mjs`, types: `${base}.preprocess.d.mts` } : null;
  const labels = student.labels;
  const onnxMeta: Record<string, string> = {
    "tsdistill.input": inputLine,
    "tsdistill.preprocessing": g
      ? `in the graph (${g.kind}); ${basename(shippedPaths!.module)} and ${basename(shippedPaths!.json)} beside this file decode the outputs`
      : shippedPaths
        ? `not in the graph: ${basename(shippedPaths.module)} with ${basename(shippedPaths.json)} beside this file turns raw ${student.rawInput} into the input`
        : "none: the input is the model's features",
    ...(labels ? { "tsdistill.labels": JSON.stringify(labels) } : {}),
    ...(recordedData(metadata) ? { "tsdistill.data": recordedData(metadata)! } : {}),
  };
  if (pre && shippedPaths) for (const [path, text] of Object.entries(preprocessingFiles(pre, shippedPaths))) writeFileAtomic(path, text);
  const fileBytes = saveOnnx(model, out, { quantize: int8 ? "int8" : "none", docString: `exported by tsdistill from ${modelDir}`, graphPreprocess: g ?? undefined, metadata: onnxMeta });
  Object.assign(result, { bytes: fileBytes, input: g ? g.kind : "features", inputDescription: inputLine, preprocessingInGraph: g !== null, shipped: shippedPaths ? Object.values(shippedPaths) : [] });
  lines.push(`ONNX (opset 13${int8 ? ", int8 weights" : ""}): ${out} (${fileBytes.toLocaleString("en-US")} bytes)`);
  lines.push(`graph input ${inputLine}`);
  if (shippedPaths) {
    lines.push(
      `shipped beside it: ${basename(shippedPaths.json)} (fitted ${pre!.kind} preprocessing, class names), ${basename(shippedPaths.module)} + .d.mts (` +
        (g?.kind === "pixels"
          ? `graphInput: images of any size → ${g.height}×${g.width} RGB pixels; decodeOutput: logits → labels)`
          : g
            ? `graphInput: records → the "values" input; decodeOutput: logits → labels)`
            : `graphInput: raw ${student.rawInput} → the "input" features; decodeOutput: logits → labels)`),
    );
  }
  if (o.checkN > 0) {
    const check = checkSamples(student, g, data, o.checkN);
    const ref = student.logitsFromFeatures(check.features, check.n);
    const runner = await OnnxRunner.create(out);
    let got: Float32Array;
    try {
      got = await runner.run(check.graph, g?.kind === "pixels" ? [check.n, g.height, g.width, 3] : g?.kind === "values" ? [check.n, g.mean.length] : [check.n, ...student.inputShape]);
    } finally {
      await runner.release();
    }
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
    const cols = student.numOutputs;
    const same = agreement(ref, got, cols);
    Object.assign(result, { checked: check.n, checkedOn: check.on, maxAbsDiff: maxDiff, agreement: same });
    let line = `checked on ${check.on} in onnxruntime-node${g ? ` (${g.kind} through the graph, features through TF.js)` : ""}: max |onnx − tfjs| = ${maxDiff.toExponential(2)}, same class ${(same * 100).toFixed(2)}%`;
    if (check.targets) {
      const [rT, rO] = [ref, got].map((v) => rmseOf(v, check.targets!, modelDir));
      Object.assign(result, { rmseTfjs: rT, rmseOnnx: rO });
      line += `, RMSE ${fmt(rO)} (TF.js ${fmt(rT)})`;
    } else if (check.labels) {
      const accTfjs = classificationMetrics(ref, check.labels, cols).accuracy;
      const accOnnx = classificationMetrics(got, check.labels, cols).accuracy;
      Object.assign(result, { accuracyTfjs: accTfjs, accuracyOnnx: accOnnx });
      line += `, accuracy ${(accOnnx * 100).toFixed(2)}% (TF.js ${(accTfjs * 100).toFixed(2)}%)`;
      if (int8) {
        const floatSize = model.paramCount * 4;
        Object.assign(result, { float32WeightBytes: floatSize, sizeReduction: floatSize / fileBytes, accuracyChange: accOnnx - accTfjs });
        line += `\nint8: ${(floatSize / fileBytes).toFixed(2)}× smaller than the float32 weights; accuracy change ${((accOnnx - accTfjs) * 100).toFixed(2)} points`;
      }
    } else if (int8) {
      const floatSize = model.paramCount * 4;
      Object.assign(result, { float32WeightBytes: floatSize, sizeReduction: floatSize / fileBytes });
    }
    lines.push(line);
  }
  printResult(values, result, lines.join("\n"));
}
