import * as tf from "@tensorflow/tfjs-core";
import { parseOptions } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, printResult, selectBackend } from "./common.js";
import { DATA_HELP, loadImageData } from "../../data/sources.js";
import { loadModel } from "../../students/io.js";
import { agreement, evaluate } from "../../eval/classification.js";
import { measureLatency } from "../../eval/latency.js";
import { bytesOnDisk } from "../../eval/size.js";
import { UsageError } from "../../util/errors.js";

export const EVAL_HELP = `tsdistill eval --model DIR [--teacher DIR] [options]

Evaluates a saved model on the test split: accuracy, errors, and with --teacher the agreement with the
teacher; parameters, size on disk and batch-1 latency.

  --model DIR            model folder (model.json + weights)
  --teacher DIR          teacher model folder, for agreement
  --data mnist|idx:DIR   data set (default mnist); ${DATA_HELP}
${GLOBAL_HELP}`;

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("eval", argv, { ...GLOBAL_OPTIONS, model: { type: "string" }, teacher: { type: "string" }, data: { type: "string" } });
  if (values.help) return void process.stdout.write(EVAL_HELP + "\n");
  if (!values.model) throw new UsageError("eval: --model is required (a model folder, e.g. runs/<run>/student)");
  const backend = await selectBackend(values);
  const { model } = await loadModel(String(values.model));
  const teacher = values.teacher ? (await loadModel(String(values.teacher))).model : null;
  const data = loadImageData((values.data as string | undefined) ?? "mnist");
  const test = data.test;
  if (model.numOutputs !== test.numClasses) throw new UsageError(`--model: the model has ${model.numOutputs} outputs but the data has ${test.numClasses} classes`);
  const ev = evaluate((x) => model.predict(x), test);
  const tev = teacher ? evaluate((x) => teacher.predict(x), test) : null;
  const one = tf.tensor(test.x.subarray(0, test.sampleSize), [1, ...test.sampleShape]);
  const latency = measureLatency(() => tf.tidy(() => model.predict(one).dataSync()), { runs: 300, maxSeconds: 3 });
  one.dispose();
  const result = {
    model: values.model,
    accuracy: ev.accuracy,
    errors: ev.errors,
    testSize: ev.n,
    loss: ev.loss,
    params: model.paramCount,
    bytesOnDisk: bytesOnDisk(String(values.model)),
    latencyMsBatch1: latency.p50Ms,
    ...(tev ? { teacherAccuracy: tev.accuracy, agreementWithTeacher: agreement(tev.logits, ev.logits, test.numClasses) } : {}),
    backend,
  };
  const lines = [
    `accuracy ${(ev.accuracy * 100).toFixed(2)}% (${ev.errors} errors of ${ev.n}), loss ${ev.loss.toFixed(4)}`,
    `${model.paramCount.toLocaleString("en-US")} params, ${(result.bytesOnDisk / 1024 / 1024).toFixed(2)} MB on disk, batch-1 latency p50 ${latency.p50Ms.toFixed(3)} ms (${backend})`,
  ];
  if (tev) lines.push(`teacher accuracy ${(tev.accuracy * 100).toFixed(2)}%, agreement with teacher ${((result.agreementWithTeacher ?? 0) * 100).toFixed(2)}%`);
  printResult(values, result, lines.join("\n"));
}
