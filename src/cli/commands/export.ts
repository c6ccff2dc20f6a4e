import { join, resolve } from "node:path";
import { parseOptions, choiceOption, numberOption } from "../args.js";
import { DATA_OPTIONS, DATA_OPTIONS_HELP, GLOBAL_HELP, GLOBAL_OPTIONS, announceData, dataSpec, fmt, printResult, selectBackend, type Values } from "./common.js";
import { modelOutputScale, regressionMetrics, targetValues, toUnits } from "../../eval/regression.js";
import { dataNotices, loadImageData, DATA_HELP, type LoadedData } from "../../data/sources.js";
import * as tf from "@tensorflow/tfjs-core";
import { loadLayersModel, loadModel, saveModel } from "../../students/io.js";
import { saveTfjsInt8 } from "../../export/tfjs-int8.js";
import { saveOnnx } from "../../export/onnx.js";
import { OnnxRunner } from "../../export/onnx-runtime.js";
import { classificationMetrics, predictLogits, agreement } from "../../eval/classification.js";
import { bytesOnDisk } from "../../eval/size.js";
import { UsageError } from "../../util/errors.js";

export const EXPORT_HELP = `tsdistill export --model DIR --format onnx|tfjs [--int8] [--out PATH]

Exports a saved model. onnx: an ONNX file (opset 13, dynamic batch, NHWC input, logits output; dropout removed),
checked by running it in onnxruntime-node against TF.js on test images (max |diff| and agreement printed);
--int8 stores the kernels as int8 with per-output-channel scales and prints the size and accuracy change.
tfjs: a TF.js layers model folder (loads with tf.loadLayersModel in Node and browsers). Distillation-only
parts (projectors, teachers) are never part of a saved student.

  --model DIR            model folder (model.json + weights)
  --format onnx|tfjs     output format (default onnx)
  --int8                 int8 kernels with per-output-channel scales (onnx: DequantizeLinear per axis; tfjs: the
                         scales are folded into the next layer so stock tf.loadLayersModel reads it)
  --out PATH             output file (onnx, default DIR.onnx) or folder (tfjs)
  --check N              test images for the onnx check (default 1000; 0 skips it)
  --data SPEC            data for the check (default mnist); ${DATA_HELP}
${DATA_OPTIONS_HELP}
${GLOBAL_HELP}`;

/** The data of the check (its label pick announced on stderr unless --quiet). */
function checkData(values: Values): LoadedData {
  const loaded = loadImageData(dataSpec(values));
  announceData(values, dataNotices(loaded));
  return loaded;
}

export async function exportCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("export", argv, {
    ...GLOBAL_OPTIONS,
    model: { type: "string" },
    format: { type: "string" },
    int8: { type: "boolean" },
    out: { type: "string" },
    check: { type: "string" },
    ...DATA_OPTIONS,
  });
  if (values.help) return void process.stdout.write(EXPORT_HELP + "\n");
  if (!values.model) throw new UsageError("export: --model is required (a model folder, e.g. runs/<run>/student)");
  const format = choiceOption("format", values.format, ["onnx", "tfjs"] as const) ?? "onnx";
  const checkN = numberOption("check", values.check, { int: true, min: 0 }) ?? 1000;
  await selectBackend(values);
  const modelDir = String(values.model);
  const { model, metadata } = await loadModel(modelDir);
  const out = resolve(String(values.out ?? (format === "onnx" ? `${modelDir.replace(/\/+$/, "")}${values.int8 ? ".int8" : ""}.onnx` : join(modelDir, "..", "export-tfjs"))));
  if (format === "tfjs") {
    const result: Record<string, unknown> = { format, out, params: model.paramCount, int8: Boolean(values.int8) };
    const lines: string[] = [];
    if (!values.int8) {
      await saveModel(model, out, { ...metadata, exportedFrom: modelDir });
      result.bytes = bytesOnDisk(out);
      lines.push(`TF.js layers model: ${out} (${bytesOnDisk(out).toLocaleString("en-US")} bytes)`);
    } else {
      const sizes = await saveTfjsInt8(model, out, { ...metadata, exportedFrom: modelDir });
      Object.assign(result, { bytes: bytesOnDisk(out), float32WeightBytes: sizes.floatBytes, quantizedWeightBytes: sizes.quantizedBytes, sizeReduction: sizes.floatBytes / sizes.quantizedBytes, perChannelLayers: sizes.perChannelLayers });
      lines.push(
        `TF.js layers model with int8 kernels (per-output-channel scales folded forward in ${sizes.perChannelLayers.join(", ") || "no layer"}; per-tensor in the rest): ` +
          `${out} (${bytesOnDisk(out).toLocaleString("en-US")} bytes, weights ${(sizes.floatBytes / sizes.quantizedBytes).toFixed(2)}× smaller)`,
      );
      if (checkN > 0) {
        const data = checkData(values).test.take(checkN);
        const { model: lm } = await loadLayersModel(out);
        const got = predictLogits((x) => lm.predict(x) as tf.Tensor2D, data);
        const ref = predictLogits((x) => model.predict(x), data);
        lm.dispose();
        const cols = ref.length / data.size;
        if (data.task === "regression") {
          const scale = modelOutputScale(modelDir);
          const [rF, rQ] = [ref, got].map((v) => regressionMetrics(toUnits(v, scale), targetValues(data)).rmse);
          Object.assign(result, { checked: data.size, rmseFloat: rF, rmseInt8: rQ });
          lines.push(`checked on ${data.size} test rows with tf.loadLayersModel: RMSE ${fmt(rQ)} (float ${fmt(rF)})`);
          model.dispose();
          return printResult(values, result, lines.join("\n"));
        }
        const accFloat = classificationMetrics(ref, data.y, cols).accuracy;
        const accQ = classificationMetrics(got, data.y, cols).accuracy;
        Object.assign(result, { checked: data.size, agreement: agreement(ref, got, cols), accuracyFloat: accFloat, accuracyInt8: accQ, accuracyChange: accQ - accFloat });
        lines.push(`checked on ${data.size} test images with tf.loadLayersModel: same class ${(agreement(ref, got, cols) * 100).toFixed(2)}%, accuracy ${(accQ * 100).toFixed(2)}% (float ${(accFloat * 100).toFixed(2)}%)`);
      }
    }
    model.dispose();
    printResult(values, result, lines.join("\n"));
    return;
  }
  const floatBytes = saveOnnx(model, out, { quantize: values.int8 ? "int8" : "none", docString: `exported by tsdistill from ${modelDir}` });
  const result: Record<string, unknown> = { format, out, bytes: floatBytes, params: model.paramCount, int8: Boolean(values.int8) };
  const lines = [`ONNX (opset 13${values.int8 ? ", int8 weights" : ""}): ${out} (${floatBytes.toLocaleString("en-US")} bytes)`];
  if (checkN > 0) {
    const data = checkData(values).test.take(checkN);
    if (data.sampleShape.join() !== model.config.inputShape.join()) {
      throw new UsageError(`--data: samples have shape [${data.sampleShape}] but the model expects [${model.config.inputShape}]`);
    }
    const ref = predictLogits((x) => model.predict(x), data);
    const runner = await OnnxRunner.create(out);
    const got = await runner.run(data.x, [data.size, ...data.sampleShape]);
    await runner.release();
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
    const cols = ref.length / data.size;
    if (data.task === "regression") {
      const scale = modelOutputScale(modelDir);
      const [rT, rO] = [ref, got].map((v) => regressionMetrics(toUnits(v, scale), targetValues(data)).rmse);
      Object.assign(result, { checked: data.size, maxAbsDiff: maxDiff, rmseTfjs: rT, rmseOnnx: rO });
      lines.push(`checked on ${data.size} test rows in onnxruntime-node: max |onnx − tfjs| = ${maxDiff.toExponential(2)}, RMSE ${fmt(rO)} (TF.js ${fmt(rT)})`);
      model.dispose();
      return printResult(values, result, lines.join("\n"));
    }
    const accTfjs = classificationMetrics(ref, data.y, cols).accuracy;
    const accOnnx = classificationMetrics(got, data.y, cols).accuracy;
    Object.assign(result, { checked: data.size, maxAbsDiff: maxDiff, agreement: agreement(ref, got, cols), accuracyTfjs: accTfjs, accuracyOnnx: accOnnx });
    lines.push(`checked on ${data.size} test images in onnxruntime-node: max |onnx − tfjs| = ${maxDiff.toExponential(2)}, same class ${(agreement(ref, got, cols) * 100).toFixed(2)}%, accuracy ${(accOnnx * 100).toFixed(2)}% (TF.js ${(accTfjs * 100).toFixed(2)}%)`);
    if (values.int8) {
      const floatSize = model.paramCount * 4;
      Object.assign(result, { float32WeightBytes: floatSize, sizeReduction: floatSize / floatBytes, accuracyChange: accOnnx - accTfjs });
      lines.push(`int8: ${(floatSize / floatBytes).toFixed(2)}× smaller than the float32 weights; accuracy change ${((accOnnx - accTfjs) * 100).toFixed(2)} points`);
    }
  }
  model.dispose();
  printResult(values, result, lines.join("\n"));
}
