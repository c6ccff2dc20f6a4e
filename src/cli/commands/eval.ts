import { parseOptions, numberOption } from "../args.js";
import { lmEvalCommand } from "./lm-eval.js";
import { argvHasLmData, argvModelIsLm } from "./lm-common.js";
import { EVAL_EMBEDDING_HELP, evalEmbeddingCommand, isEmbeddingCommandLine, parseEmbeddingArgs } from "./embedding.js";
import { isEmbedderFolder } from "../../embeddings/transformer-embedder.js";
import { DATA_OPTIONS, dataOptionHelp, GLOBAL_HELP, GLOBAL_OPTIONS, announceData, dataSpec, fmt, printResult, selectBackend } from "./common.js";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { DATA_SPECS_HELP, dataNotices, loadImageData } from "../../data/sources.js";
import { summarizeData } from "../../data/summary.js";
import { evaluateRegressionModels, type RegressionSuite } from "../../eval/regression-eval.js";
import type { InMemoryDataset } from "../../data/dataset.js";
import { isModelFolder, loadAnyModel } from "../../students/any-model.js";
import { loadPreprocess, type DataPreprocess } from "../../data/preprocess.js";
import { modelInfo, modelTestData } from "../../eval/model-data.js";
import { evaluateModels, type EvaluationSuite, type ExternalTeacher, type ModelComparison, type ModelEvaluation } from "../../eval/model-eval.js";
import { bytesOnDisk } from "../../eval/size.js";
import { hashDataset, MANIFEST_FILE, openLabelCache, PARTIAL_MANIFEST_FILE } from "../../teachers/label-cache.js";
import { openTeacher, TEACHER_SPEC_HELP } from "../../teachers/open-teacher.js";
import { checkTeacherOnData } from "../../teachers/teacher-checks.js";
import { runTeacher } from "../../teachers/teacher-run.js";
import { checkOutputWidth } from "../../teachers/teacher-validate.js";
import { DataError, UsageError } from "../../util/errors.js";
import { apiCostPer1000, DEFAULT_WATTS_PER_CORE, energyFigures, formatEnergy, measureCpuAsync, type EnergyFigures } from "../../eval/energy.js";

export const EVAL_HELP = `tsdistill eval --model DIR [--teacher PATH] [options]
(Causal language models on text:/sotu corpora: tsdistill eval --data "sotu?ctx=128" --help)

Evaluates a saved model on the test split: accuracy, top-1/top-5, loss, calibration (ECE over 15 confidence
bins and the reliability curve), per-class accuracy and the confusion matrix; parameters, size on disk,
latency (p50/p99 at batch 1) and throughput (samples/s at --batch). With --teacher the teacher gets the same
treatment in the same process, plus fidelity (top-1 agreement), KL(teacher ‖ student), compression ratio
(teacher bytes / student bytes) and speed-up (teacher p50 / student p50). A teacher that is not a tsdistill model
folder (ONNX, a stock TF.js model, a function, a teacher.yaml, an ensemble) or a teacher cache of the test split
is run once over the test split (or read): accuracy, fidelity and KL; size where a model file or folder can be
measured, latency "-". On a regression data set: RMSE, MAE and R² in the target's units, and with --teacher (a
tsdistill model folder) the student's RMSE to the teacher's predictions.

  --model DIR            model folder (model.json + weights)
  --teacher PATH         ${TEACHER_SPEC_HELP}, or a teacher cache of the test split
                         ('tsdistill label --split test', same --data)
${dataOptionHelp(`data set whose test split is used (default: the data recorded in the model folder, whose
                         preprocess.json prepares the samples; refused when its samples do not fit the model)`)}
  --batch N              batch size for the throughput measurement (default 256)
  --watts-per-core W     for the energy estimate: process CPU time per 1,000 predictions × W watts per busy core
                         (default ${DEFAULT_WATTS_PER_CORE}, a server core's share of its package power)
${GLOBAL_HELP}
  (--json adds the reliability curve, per-class accuracy and confusion matrices)

Embedding students (a static / bag / transformer-embed folder): tsdistill eval --task embedding --help

${DATA_SPECS_HELP}`;

const pct = (x: number | null | undefined, digits = 2) => (x == null ? "-" : `${(x * 100).toFixed(digits)}%`);
const ms = (x: number | undefined) => (x === undefined ? "-" : x < 1 ? `${x.toFixed(3)} ms` : `${x.toFixed(2)} ms`);
const int = (x: number | null) => (x === null ? "-" : Math.round(x).toLocaleString("en-US"));
const mb = (bytes: number | null) => (bytes === null ? "-" : bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MB` : `${(bytes / 1024).toFixed(1)} KB`);

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

/** The human summary: a metric × model table, then per-class accuracy and the student's confusion matrix. */
export function formatEvaluation(suite: EvaluationSuite, backend: string, energy: EnergyFigures | null = null): string {
  const ms_ = suite.models;
  const cmp = (m: ModelEvaluation): ModelComparison | undefined => suite.comparisons.find((c) => c.student === m.name);
  const row = (label: string, f: (m: ModelEvaluation) => string) => [label, ...ms_.map(f)];
  const rows = [
    row("accuracy (top-1)", (m) => pct(m.accuracy)),
    row("top-5 accuracy", (m) => pct(m.top5Accuracy)),
    row("errors", (m) => `${m.errors} / ${m.testSize}`),
    row("loss (cross-entropy)", (m) => m.loss.toFixed(4)),
    row("ECE (15 bins)", (m) => pct(m.calibration.ece)),
    row("params", (m) => int(m.params)),
    row("size on disk", (m) => mb(m.bytesOnDisk)),
    row("latency b=1 p50", (m) => ms(m.timing?.batch1.p50Ms)),
    row("latency b=1 p99", (m) => ms(m.timing?.batch1.p99Ms)),
    row(`throughput b=${suite.batchSize}`, (m) => (m.timing ? `${int(m.timing.batchN.samplesPerSecond)}/s` : "-")),
    row("CPU time / 1,000 predictions", (m) => (m.cpu ? `${m.cpu.cpuMsPer1000.toFixed(1)} ms` : "-")),
  ];
  if (suite.comparisons.length) {
    rows.push(
      row("fidelity (top-1 agreement)", (m) => (m.teacher ? "-" : pct(m.agreementWithTeacher))),
      row("KL(teacher ‖ model)", (m) => (m.teacher ? "-" : `${m.klFromTeacher!.toFixed(4)} nats`)),
      row("compression (teacher bytes / bytes)", (m) => (cmp(m)?.compressionRatio != null ? `${cmp(m)!.compressionRatio!.toFixed(2)}×` : "-")),
      row("speed-up (teacher p50 / p50)", (m) => (cmp(m)?.speedUp != null ? `${cmp(m)!.speedUp!.toFixed(2)}×` : "-")),
    );
  }
  const out = [table(["", ...ms_.map((m) => m.name)], rows), ""];
  const classes = Array.from({ length: suite.numClasses }, (_, c) => String(c));
  out.push(`per-class accuracy (${suite.data}, ${suite.testSize} test samples):`);
  out.push(table(["class", ...classes], ms_.map((m) => [m.name, ...m.perClass.accuracy.map((a) => (a === null ? "-" : (a * 100).toFixed(1)))])));
  const student = ms_.find((m) => !m.teacher) ?? ms_[0];
  if (suite.numClasses <= 20) {
    out.push("", `confusion matrix of ${student.name} (rows: true class, columns: predicted):`);
    out.push(table(["", ...classes], student.confusionMatrix.map((r, c) => [String(c), ...r.map(String)])));
  }
  if (energy) out.push("", formatEnergy(energy));
  out.push("", `backend ${backend}; --json gives the reliability curves and every matrix`);
  return out.join("\n");
}

/** The regression summary: a metric × model table in the target's units. */
export function formatRegression(suite: RegressionSuite, backend: string, energy: EnergyFigures | null = null): string {
  const ms_ = suite.models;
  const cmp = (m: RegressionSuite["models"][number]) => suite.comparisons.find((c) => c.student === m.name);
  const row = (label: string, f: (m: RegressionSuite["models"][number]) => string) => [label, ...ms_.map(f)];
  const rows = [
    row("RMSE", (m) => fmt(m.rmse)),
    row("MAE", (m) => fmt(m.mae)),
    row("R²", (m) => m.r2.toFixed(4)),
    row("params", (m) => int(m.params)),
    row("size on disk", (m) => mb(m.bytesOnDisk)),
    row("latency b=1 p50", (m) => ms(m.timing?.batch1.p50Ms)),
    row(`throughput b=${suite.batchSize}`, (m) => (m.timing ? `${int(m.timing.batchN.samplesPerSecond)}/s` : "-")),
    row("CPU time / 1,000 predictions", (m) => `${m.cpu.cpuMsPer1000.toFixed(1)} ms`),
  ];
  if (suite.comparisons.length) {
    rows.push(
      row("RMSE to the teacher's predictions", (m) => (m.rmseVsTeacher === null ? "-" : fmt(m.rmseVsTeacher))),
      row("compression (teacher bytes / bytes)", (m) => (cmp(m) ? `${cmp(m)!.compressionRatio.toFixed(2)}×` : "-")),
      row("speed-up (teacher p50 / p50)", (m) => (cmp(m)?.speedUp != null ? `${cmp(m)!.speedUp!.toFixed(2)}×` : "-")),
    );
  }
  return [table(["", ...ms_.map((m) => m.name)], rows), ...(energy ? ["", formatEnergy(energy)] : []), "", `regression of "${suite.target}" on ${suite.data} (${suite.testSize} test rows; RMSE and MAE in its units); backend ${backend}`].join("\n");
}

export async function evalCommand(argv: string[]): Promise<void> {
  if (argvHasLmData(argv) || argvModelIsLm(argv)) return lmEvalCommand(argv);
  if (isEmbeddingCommandLine(argv, isEmbedderFolder)) {
    const values = parseEmbeddingArgs("eval", argv);
    if (values.help) return void process.stdout.write(EVAL_EMBEDDING_HELP + "\n");
    if (!values.model) throw new UsageError("eval --task embedding: --model is required (an embedding student folder)");
    return evalEmbeddingCommand(values);
  }
  const { values } = parseOptions("eval", argv, { ...GLOBAL_OPTIONS, ...DATA_OPTIONS, model: { type: "string" }, teacher: { type: "string" }, batch: { type: "string" }, "watts-per-core": { type: "string" } });
  if (values.help) return void process.stdout.write(EVAL_HELP + "\n");
  if (!values.model) throw new UsageError("eval: --model is required (a model folder, e.g. runs/<run>/student)");
  const batchSize = numberOption("batch", values.batch, { int: true, min: 1 }) ?? 256;
  const wattsPerCore = numberOption("watts-per-core", values["watts-per-core"], { min: 0, exclusiveMin: true }) ?? DEFAULT_WATTS_PER_CORE;
  const backend = await selectBackend(values);
  const modelDir = String(values.model);
  const teacherSpec = values.teacher ? String(values.teacher) : null;
  // Load once up front so a bad folder fails before the data is read (one line naming model.json).
  const info = await modelInfo(modelDir);
  // A teacher folder with other preprocessing than the model's (an MLP on hashed n-grams next to a transformer on
  // token ids) runs as an external teacher on the raw test samples, through its own preprocess.json.
  const engineTeacher = teacherSpec ? (await isEngineFolder(teacherSpec)) && samePreprocess(teacherSpec, info.savedPreprocess) : false;
  const chosen = modelTestData(info, values.data !== undefined ? dataSpec(values) : undefined);
  if (!chosen) throw new UsageError(`eval: ${modelDir} records no data set (it was saved without one); give --data`);
  if (chosen.note && !values.quiet) process.stderr.write(`eval: ${chosen.note}\n`);
  const { test, spec: dataName } = chosen;
  if (test.size === 0) throw new UsageError(`--data: ${dataName} has no test samples`);
  const loaded = loadImageData(dataName);
  announceData(values, dataNotices(loaded));
  const dataSummary = summarizeData(loaded);
  const teacherDir = engineTeacher ? teacherSpec : null;
  const entries = [...(teacherDir ? [{ name: "teacher", dir: teacherDir, teacher: true }] : []), { name: teacherSpec ? "student" : "model", dir: modelDir }];
  if (test.task === "regression") {
    if (teacherSpec && !teacherDir) throw new UsageError(`--teacher: ${teacherSpec} is not a tsdistill model folder; on a regression data set eval compares with a saved regression model`);
    const rs = await evaluateRegressionModels(entries, test, dataName, { batchSize });
    const s = rs.models.find((m) => !m.teacher)!;
    const t = rs.models.find((m) => m.teacher) ?? null;
    const result = {
      model: modelDir,
      teacherModel: teacherDir,
      data: dataName,
      dataSource: chosen.source,
      task: "regression",
      target: rs.target,
      testSize: rs.testSize,
      batchSize,
      backend,
      rmse: s.rmse,
      mae: s.mae,
      r2: s.r2,
      params: s.params,
      bytesOnDisk: s.bytesOnDisk,
      latencyMsBatch1: s.timing!.batch1.p50Ms,
      samplesPerSecond: s.timing!.batchN.samplesPerSecond,
      teacherRmse: t?.rmse ?? null,
      teacherR2: t?.r2 ?? null,
      rmseVsTeacher: s.rmseVsTeacher,
      compressionRatio: rs.comparisons[0]?.compressionRatio ?? null,
      speedUp: rs.comparisons[0]?.speedUp ?? null,
      student: s,
      teacher: t,
      comparison: rs.comparisons[0] ?? null,
      energy: energyFigures(s.cpu, t?.cpu ?? null, wattsPerCore),
      dataSummary,
    };
    return printResult(values, result, formatRegression(rs, backend, result.energy));
  }
  const external = teacherSpec && !engineTeacher ? await externalTeacher(teacherSpec, test, dataName, info.savedPreprocess ?? undefined) : undefined;
  const suite = await evaluateModels(entries, test, dataName, { batchSize, externalTeacher: external });
  const teacher = suite.models.find((m) => m.teacher) ?? null;
  const student = suite.models.find((m) => !m.teacher)!;
  const comparison = suite.comparisons[0] ?? null;
  const energy = student.cpu ? energyFigures(student.cpu, teacher?.cpu ?? null, wattsPerCore, external?.apiCostPer1000LabelsUSD ?? null) : null;
  const result = {
    model: modelDir,
    teacherModel: teacherSpec,
    data: dataName,
    dataSource: chosen.source,
    testSize: suite.testSize,
    numClasses: suite.numClasses,
    batchSize,
    backend,
    // The headline numbers of --model, flat (the full breakdown is under "student" and "teacher").
    accuracy: student.accuracy,
    errors: student.errors,
    loss: student.loss,
    top1Accuracy: student.top1Accuracy,
    top5Accuracy: student.top5Accuracy,
    ece: student.calibration.ece,
    params: student.params,
    bytesOnDisk: student.bytesOnDisk,
    latencyMsBatch1: student.timing!.batch1.p50Ms,
    latencyMsBatch1P99: student.timing!.batch1.p99Ms,
    samplesPerSecond: student.timing!.batchN.samplesPerSecond,
    teacherAccuracy: teacher?.accuracy ?? null,
    agreementWithTeacher: student.agreementWithTeacher,
    fidelity: student.agreementWithTeacher,
    klTeacherStudent: student.klFromTeacher,
    compressionRatio: comparison?.compressionRatio ?? null,
    speedUp: comparison?.speedUp ?? null,
    student,
    teacher,
    comparison,
    energy,
    dataSummary,
  };
  printResult(values, result, formatEvaluation(suite, backend, energy));
}

/** Whether a model folder's preprocess.json is `pre` (both absent counts as the same). */
function samePreprocess(dir: string, pre: DataPreprocess | null): boolean {
  return JSON.stringify(loadPreprocess(dir)) === JSON.stringify(pre);
}

/** A model folder the engine loads (a tsdistill model): evaluated with timing like the student. */
async function isEngineFolder(spec: string): Promise<boolean> {
  if (!isModelFolder(spec)) return false;
  try {
    (await loadAnyModel(spec)).model.dispose();
    return true;
  } catch {
    return false;
  }
}

/** Any other teacher, or a teacher cache of the test split: its logits on the test split, checked first. */
async function externalTeacher(spec: string, test: InMemoryDataset, dataName: string, dataPreprocess?: DataPreprocess): Promise<ExternalTeacher & { apiCostPer1000LabelsUSD?: number | null }> {
  const isDir = existsSync(spec) && statSync(spec).isDirectory();
  if (isDir && (existsSync(join(spec, MANIFEST_FILE)) || existsSync(join(spec, PARTIAL_MANIFEST_FILE)))) {
    let cache;
    try {
      cache = openLabelCache(spec, { datasetHash: hashDataset(test), numSamples: test.size });
    } catch (err) {
      if (err instanceof DataError && err.message.includes("stale cache")) {
        throw new UsageError(`--teacher: ${spec} is not a teacher cache of the test split of ${dataName} (${err.message.replace(/^.*?stale cache: /, "").split(";")[0]}); make one with 'tsdistill label --split test --data ${dataName}'`);
      }
      throw err;
    }
    try {
      checkOutputWidth({ name: `cache ${spec}`, numClasses: cache.manifest.numClasses }, test, dataName);
      return { name: "teacher", dir: spec, logits: cache.logitsFor(Int32Array.from({ length: test.size }, (_, i) => i)), params: null, bytesOnDisk: null };
    } finally {
      cache.close();
    }
  }
  const opened = await openTeacher(spec, test, { dataPreprocess });
  try {
    for (const w of await checkTeacherOnData(opened.teacher, test, { dataName: `${dataName} (test split)` })) process.stderr.write(`warning: ${w}\n`);
    const { value: logits, cpu } = await measureCpuAsync(test.size, () => runTeacher(opened.teacher, test, { validate: false }));
    const remote = opened.teacher.metadata?.remote === true;
    // Size where the teacher is one model file or folder (not a function, a config or an ensemble).
    const measurable = spec.endsWith(".onnx") || (isDir && isModelFolder(spec));
    return { name: "teacher", dir: spec, logits, params: opened.paramCount ?? null, bytesOnDisk: measurable ? bytesOnDisk(spec) : null, cpu: { ...cpu, remote }, apiCostPer1000LabelsUSD: apiCostPer1000(opened.stats?.()) };
  } finally {
    await opened.close();
  }
}
