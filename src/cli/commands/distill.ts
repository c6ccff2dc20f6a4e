import { parseOptions, numberOption } from "../args.js";
import { lmDistillCommand } from "./lm-distill.js";
import { argvHasLmData } from "./lm-common.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, TRAINING_HELP, TRAINING_OPTIONS, announceData, fmt, openRunFolder, printResult, recordingReporter, reporterFrom, selectBackend, sizedFit, splitTrainValidation, trainingSettings } from "./common.js";
import { DATA_SPECS_HELP, loadImageData } from "../../data/sources.js";
import { useBackend } from "../../engine/backend.js";
import { buildModel, saveAnyModel } from "../../students/any-model.js";
import type { TrainableModel } from "../../students/trainable.js";
import { autoDistill, FM_EPOCH_FACTOR, FM_LR, formatAutoDistillReport, type FunctionMatchingMode } from "../../train/auto-distill.js";
import type { DistillOptions, DistillResult } from "../../train/distill.js";
import { Distiller } from "../../distill/distiller.js";
import { kd } from "../../distill/term-builders.js";
import { openTeachers, TEACHER_SPEC_HELP } from "../../teachers/open-teacher.js";
import { checkTeacherOnData } from "../../teachers/teacher-checks.js";
import { runTeacher } from "../../teachers/teacher-run.js";
import { TeacherLogitCache, type LogitLookup, type Teacher } from "../../teachers/teacher.js";
import { agreement, classificationMetrics, evaluate, predictLogits } from "../../eval/classification.js";
import { cacheLogitLookup, hashDataset, openLabelCache, type LabelCache } from "../../teachers/label-cache.js";
import { checkTeacherTask, rescaledLookup, rescaledTeacher, teacherOutputScale, UNITS } from "../../teachers/teacher-task.js";
import type { InMemoryDataset } from "../../data/dataset.js";
import { asUnlabeled, concatDatasets } from "../../data/transfer.js";
import { evaluateRegression, regressionMetrics, targetValues, toUnits } from "../../eval/regression.js";
import { CheckpointStore } from "../../train/checkpoint.js";
import type { RunFolder } from "../../run/run-folder.js";
import { UsageError } from "../../util/errors.js";
import { PRIVACY_HELP, PRIVACY_OPTIONS, printDryRun, redactOptions } from "../privacy.js";
import { loadRecipe } from "../../distill/recipe.js";
import { runRecipe } from "../../distill/run-recipe.js";
import { DISTILL_EMBEDDING_HELP, distillEmbeddingCommand, isEmbeddingCommandLine, parseEmbeddingArgs } from "./embedding.js";

export const DISTILL_HELP = `tsdistill distill --teacher PATH --student SPEC [options]
(Causal language models on text:/sotu corpora: tsdistill distill --data "sotu?ctx=128" --help)
tsdistill distill --config RECIPE.yaml [--out DIR] [--resume] [--quiet] [--json]

With --config, runs a YAML recipe (teacher, student, data, a weighted sum of loss terms from any family, stages,
optimiser, schedule, seed); see recipes/ for one commented example per family.

Distills a student from a teacher with Hinton's loss α·CE(y, s) + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)).
The teacher's logits are computed once over the transfer set, after it was checked against the data and run on
64 samples spread over the data (nothing is written for a teacher that does not fit).
On a regression data set (one output) the student matches the teacher's predictions: (1−α)·MSE(t, s) + α·MSE(y, s)
on the standardised target, and is scored by RMSE, MAE, R² and its RMSE to the teacher's predictions. A teacher
whose outputs do not fit the data's task or class count is refused before anything is trained.

  --teacher PATH         ${TEACHER_SPEC_HELP}; repeat it for an ensemble
  --weights W1,W2,…      ensemble weights (default equal): p = Σ w_i·softmax(z_i) / Σ w_i
  --teacher-cache DIR    or: the teacher's outputs from 'tsdistill label' (the teacher is not loaded; the cache
                         must hold exactly this transfer set: same data, --validation-size, --train-size, --seed)
  --student SPEC         student architecture, e.g. mlp:800-800, or transformer:layers=2,dim=64,heads=2,ff=256 on
                         token data (jsonl:FILE?tokenizer=…); a teacher folder whose preprocess.json differs from
                         the data's (an MLP on hashed n-grams, a transformer with another tokenizer) reads the raw
                         texts through its own preprocessing
  --temperature T|auto   softmax temperature (default auto: the best of 1, 2, 4 on the validation split)
  --alpha A|auto         weight of the hard-label loss, 1 − α goes to the teacher (default auto: the best of 0.1,
                         0.5 on the validation split)
                         With auto, each setting is first trained for a quarter of the epochs and scored on the
                         validation split (accuracy, ties broken by loss; regression: RMSE, and T is unused),
                         then the best one for all epochs; the same student is also trained on
                         the labels alone for all epochs and saved instead when it scores higher on validation,
                         or when the teacher scores no higher than it there (the teacher has nothing to teach).
                         The run prints (and results.json records under autoDistill) each setting's score and the
                         choice. Both given as numbers: one plain distillation, no search and no fallback.
  --function-matching auto|on|off
                         default auto: when T or α is auto and the teacher can label new feature vectors (a tsdistill model folder, a
                         TF.js model on the student's features; not ONNX, function, api or --teacher-cache
                         teachers), the student matches it on MUNGE batches (Bucilă et al. 2006: each attribute,
                         with probability 0.5, taken from around the row's nearest neighbour) that the teacher
                         labels as the student sees them, for ${FM_EPOCH_FACTOR}× the epochs at learning rate ${FM_LR}
                         (unless --lr/--optimizer is given), with T = 1 and α = 0 for "auto" (Beyer et al. 2022: a
                         patient and consistent teacher); the search above then does not run; the student-alone
                         fallback does, with the same epochs and learning rate. The run prints whether it was used
                         and why not.
                         Rows without a label in the data (images:…?unlabeled=DIR, CSV or JSONL rows whose label is
                         empty) join the distilled student's transfer set, labelled by the teacher only (not with
                         --teacher-cache); the student alone trains on the labelled rows, for as many steps.
  --dropout X            student dropout after hidden dense layers (default 0)
${PRIVACY_HELP}
${TRAINING_HELP}
${GLOBAL_HELP}

Embedding teachers (sentence encoders): tsdistill distill --task embedding --help

${DATA_SPECS_HELP}`;

export async function distillCommand(argv: string[]): Promise<void> {
  if (argvHasLmData(argv)) return lmDistillCommand(argv);
  if (isEmbeddingCommandLine(argv, () => false)) {
    const values = parseEmbeddingArgs("distill", argv);
    return values.help ? void process.stdout.write(DISTILL_EMBEDDING_HELP + "\n") : distillEmbeddingCommand(values);
  }
  const { values } = parseOptions("distill", argv, {
    ...GLOBAL_OPTIONS,
    ...TRAINING_OPTIONS,
    teacher: { type: "string", multiple: true },
    ...PRIVACY_OPTIONS,
    weights: { type: "string" },
    "teacher-cache": { type: "string" },
    student: { type: "string" },
    temperature: { type: "string" },
    alpha: { type: "string" },
    dropout: { type: "string" },
    "function-matching": { type: "string" },
    config: { type: "string" },
  });
  if (values.help) return void process.stdout.write(DISTILL_HELP + "\n");
  if (values.config) return recipeCommand(values);
  if (!values.teacher && !values["teacher-cache"]) throw new UsageError(`distill: --teacher (${TEACHER_SPEC_HELP}) or --teacher-cache (a folder from 'tsdistill label') is required`);
  if (values.teacher && values["teacher-cache"]) throw new UsageError("distill: give --teacher or --teacher-cache, not both");
  if (!values.student) throw new UsageError("distill: --student is required (e.g. --student mlp:800-800)");
  const settings = trainingSettings(values);
  const temperature = autoOrNumber("temperature", values.temperature, { min: 0, exclusiveMin: true });
  const alpha = autoOrNumber("alpha", values.alpha, { min: 0, max: 1 });
  const dropout = numberOption("dropout", values.dropout, { min: 0, max: 0.99 }) ?? 0;
  const functionMatching = String(values["function-matching"] ?? "auto") as FunctionMatchingMode;
  if (!["auto", "on", "off"].includes(functionMatching)) throw new UsageError(`--function-matching: expected auto, on or off, got "${functionMatching}"`);
  const backend = await selectBackend(values);
  const data = loadImageData(settings.data);
  const spec = String(values.student);
  // Built (and its spec checked against the data) before any teacher is opened; disposed on every early exit.
  const studentOptions = { inputShape: data.train.sampleShape, numClasses: data.train.numClasses, preprocess: data.preprocess, dropout, seed: settings.seed };
  const student = buildModel(spec, studentOptions);
  const { train: trainSet, validation, summary } = splitTrainValidation(data, settings);
  settings.fit = sizedFit(settings, trainSet.size);
  const regression = trainSet.task === "regression";
  // The teacher, or its outputs over exactly this transfer set from a cache (then it is never loaded).
  const cacheDir = values["teacher-cache"] as string | undefined;
  const cache = cacheDir ? openLabelCache(cacheDir, { datasetHash: hashDataset(trainSet), numSamples: trainSet.size }) : null;
  const scale = trainSet.target ?? UNITS;
  const specs = values.teacher ? (values.teacher as string[]).map(String) : [];
  const weights = values.weights === undefined ? undefined : String(values.weights).split(",").map((w, i) => numberOption(`weights[${i}]`, w, { min: 0 })!);
  if (weights && weights.length !== specs.length) throw new UsageError(`--weights: expected ${specs.length} comma-separated weights (one per --teacher), got ${weights.length}`);
  const opened = specs.length ? await openTeachers(specs, trainSet, weights, { api: { redact: redactOptions(values) }, dataPreprocess: data.preprocess }).catch((err) => (cache?.close(), student.dispose(), Promise.reject(err))) : null;
  if (values["dry-run"]) {
    cache?.close();
    student.dispose();
    if (!opened) throw new UsageError("distill: --dry-run shows what an api --teacher would be sent; with --teacher-cache nothing is sent");
    // Before the teacher check and the run folder: nothing is sent and nothing is written.
    try {
      return printDryRun(values, opened.teacher, trainSet);
    } finally {
      await opened.close();
    }
  }
  let teacher: Teacher | undefined;
  let teacherLogits: LogitLookup | undefined;
  const progress = reporterFrom(values);
  const teacherName = specs.length ? specs.join(" + ") : `cache ${cacheDir}`;
  const config = { command: "distill", teacher: specs.length === 1 ? specs[0] : specs.length ? specs : null, weights: weights ?? null, teacherCache: cacheDir ?? null, student: spec, temperature, alpha, functionMatching, dropout, data: settings.data, trainSize: trainSet.size, validationSize: validation.size, backend, ...settings.fit, dataSummary: summary };
  let run: RunFolder;
  try {
    checkTeacherTask(opened?.teacher.numClasses ?? cache!.manifest.numClasses, trainSet, opened ? teacherName : `the cache ${cacheDir}`, settings.data, opened ? "--teacher" : "--teacher-cache");
    if (cache) {
      // Caches hold regression values in the target's units; the student trains on the standardised scale.
      teacherLogits = cacheLogitLookup(cache, cacheDir!);
      if (regression) teacherLogits = rescaledLookup(teacherLogits, UNITS, scale);
    } else {
      // Checked and run on the first samples before the run folder exists: a teacher that does not fit leaves nothing.
      const warnings = await checkTeacherOnData(opened!.teacher, trainSet, { dataName: settings.data });
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      // tsdistill's regression models output standardised values (their preprocess.json says so); others, the units.
      teacher = regression ? rescaledTeacher(opened!.teacher, specs.length === 1 ? teacherOutputScale(specs[0]) : UNITS, scale) : opened!.teacher;
    }
    run = openRunFolder(values, "distill", config, progress);
  } catch (err) {
    cache?.close();
    await opened?.close();
    student.dispose();
    throw err;
  }
  announceData(values, summary);
  // The student kept (the distilled one, or the student alone when auto distillation falls back to it).
  let finalStudent: TrainableModel = student;
  try {
    // Any teacher kind runs once over the transfer set (async path for ONNX, functions, ensembles, input specs).
    const t0 = performance.now();
    // The data's unlabeled rows (images ?unlabeled=DIR, CSV/JSONL rows without a label) join the distilled students'
    // transfer set: the teacher labels them. A cache holds the labelled rows only.
    const unlabeled = teacher && data.unlabeled && data.unlabeled.size > 0 ? data.unlabeled : undefined;
    if (cache && data.unlabeled?.size) progress.info(`the data's ${data.unlabeled.size} unlabeled rows are not used: the teacher cache holds the labelled rows only (distil with --teacher to use them)`);
    const transfer = unlabeled ? concatDatasets([trainSet, asUnlabeled(unlabeled)], `${trainSet.name}+unlabeled`) : trainSet;
    if (teacher) teacherLogits = new TeacherLogitCache(await runTeacher(teacher, transfer, { validate: false }), teacher.numClasses);
    const teacherSeconds = (performance.now() - t0) / 1000;
    const reporter = recordingReporter(run, progress);
    const checkpoints = new CheckpointStore(run.checkpointDir);
    // The student built above is the first one trained; the search's other candidates are built the same way.
    let fresh: TrainableModel | null = student;
    const makeStudent = (): TrainableModel => {
      const s = fresh ?? buildModel(spec, studentOptions);
      fresh = null;
      return s;
    };
    const { student: trained, fit: fitResult, report } = await autoDistill({ ...settings.fit, teacherLogits: teacherLogits!, makeStudent, distillWith: regression ? undefined : kdWithDistiller, teacher, functionMatching, functionMatchingLr: values.lr !== undefined || values.optimizer !== undefined ? null : FM_LR, data: trainSet, unlabeled, temperature, alpha, validation, reporter, checkpointFor: (phase) => checkpoints.at(phase) });
    finalStudent = trained;
    announceData(values, formatAutoDistillReport(report));
    const fallback = report.picked === "student alone";
    const input = data.preprocess?.kind === "tokens" ? "token ids from preprocess.json (its tokenizer)" : data.preprocess ? "features from preprocess.json" : "pixels scaled to [0, 1]";
    const saved = regression
      ? { task: "regression", outputs: "standardised value (value = output × target.std + target.mean, see preprocess.json)" }
      : { temperature: report.chosen.temperature, outputs: "logits" };
    const role = fallback ? "student alone (auto distillation's fallback: it beat the distilled student on validation)" : "distilled student";
    await saveAnyModel(trained, run.path("student"), { spec, role, teacher: teacherName, alpha: report.chosen.alpha, data: settings.data, input, ...saved }, data.preprocess);
    const common = { student: spec, params: trained.paramCount, teacherParams: opened?.paramCount ?? null, bestEpoch: fitResult.bestEpoch, trainSeconds: fitResult.seconds, teacherSeconds: (fitResult.teacherSeconds ?? 0) + teacherSeconds, backend, autoDistill: report };
    const { result, human } = regression
      ? await regressionResult(finalStudent, teacher, cache, trainSet, data.test)
      : await classificationResult(finalStudent, teacher, cache, trainSet, data.test);
    // API teachers: requests, tokens, cost and redaction counts (after the test-set pass, which also sends texts).
    if (opened?.stats) Object.assign(common, { teacherStats: opened.stats() });
    run.writeJson("results.json", { ...result, ...common });
    const dir = run.finish();
    printResult(values, { ...result, ...common, runDir: dir, studentDir: `${dir}/student`, dataSummary: summary }, `${spec}${fallback ? " (student alone, the fallback)" : regression ? ` (α=${report.chosen.alpha})` : ` (T=${report.chosen.temperature}, α=${report.chosen.alpha})`}: ${human}\nsaved to ${dir}/student`);
    finalStudent.dispose();
  } catch (err) {
    finalStudent.dispose();
    run.discard();
    throw err;
  } finally {
    cache?.close();
    await opened?.close();
  }
}

/** A number option that also takes "auto" (its default). */
function autoOrNumber(name: string, raw: unknown, check: Parameters<typeof numberOption>[2]): number | "auto" {
  if (raw === undefined || String(raw) === "auto") return "auto";
  return numberOption(name, raw as string, check)!;
}

type Summary = { result: Record<string, unknown>; human: string };

async function classificationResult(student: TrainableModel, teacher: Teacher | undefined, cache: LabelCache | null, trainSet: InMemoryDataset, testSet: InMemoryDataset): Promise<Summary> {
  const test = evaluate((x) => student.predict(x), testSet);
  // Agreement on the test set needs the teacher; from a cache it is measured on the transfer set it holds.
  const teacherTestLogits = teacher && testSet.size > 0 ? await runTeacher(teacher, testSet, { validate: false }) : null;
  const teacherTest = teacherTestLogits ? { ...classificationMetrics(teacherTestLogits, testSet.y, teacher!.numClasses), logits: teacherTestLogits } : null;
  const agree = teacherTest
    ? agreement(teacherTest.logits, test.logits, testSet.numClasses)
    : agreement(cache!.logitsFor(trainSet.y.map((_, i) => i)), predictLogits((x) => student.predict(x), trainSet), trainSet.numClasses);
  const teacherPart = teacherTest ? `teacher ${(teacherTest.accuracy * 100).toFixed(2)}%, agreement ${(agree * 100).toFixed(2)}%` : `agreement with the cached teacher on the transfer set ${(agree * 100).toFixed(2)}%`;
  return {
    result: {
      testAccuracy: test.accuracy,
      testErrors: test.errors,
      teacherTestAccuracy: teacherTest?.accuracy ?? null,
      agreementWithTeacher: agree,
      agreementMeasuredOn: teacherTest ? "test set" : "transfer set (teacher cache)",
      testSize: test.n,
    },
    human: `test accuracy ${(test.accuracy * 100).toFixed(2)}% (${test.errors} errors), ${teacherPart}`,
  };
}

/**
 * One Hinton KD run through the library's Distiller (a kd term over the precomputed teacher logits): the same
 * numbers as distill() (test/distiller.test.ts). Regression keeps distill()'s MSE pair, which no registered term expresses.
 */
async function kdWithDistiller(o: DistillOptions): Promise<DistillResult> {
  const { teacherLogits, student, data, temperature = 4, alpha = 0.1, teacher, cacheTeacher: _cache, capture: _capture, extraParams: _extra, ...fit } = o;
  // Function matching (fit.augment set): the teacher labels every augmented batch; otherwise the cached logits.
  const distiller = new Distiller({ teacher, teacherLogits, student, terms: [kd({ temperature, alpha })] });
  try {
    return await distiller.fit(data as InMemoryDataset, fit);
  } finally {
    distiller.dispose();
  }
}

/** RMSE, MAE and R² in the target's units; the student-vs-teacher RMSE on the test set (from a cache: on the transfer set). */
async function regressionResult(student: TrainableModel, teacher: Teacher | undefined, cache: LabelCache | null, trainSet: InMemoryDataset, testSet: InMemoryDataset): Promise<Summary> {
  const test = evaluateRegression((x) => student.predict(x), testSet);
  // The teacher is already on the student's standardised scale (rescaledTeacher).
  const teacherPredictions = teacher && testSet.size > 0 ? toUnits(await runTeacher(teacher, testSet, { validate: false }), testSet.target!) : null;
  const teacherTest = teacherPredictions ? { ...regressionMetrics(teacherPredictions, targetValues(testSet)), predictions: teacherPredictions } : null;
  const vsTeacher = teacherTest
    ? regressionMetrics(test.predictions, teacherTest.predictions).rmse
    : regressionMetrics(evaluateRegression((x) => student.predict(x), trainSet).predictions, cache!.logitsFor(trainSet.y.map((_, i) => i))).rmse;
  const where = teacherTest ? "test set" : "transfer set (teacher cache)";
  return {
    result: {
      task: "regression",
      testRmse: test.rmse,
      testMae: test.mae,
      testR2: test.r2,
      teacherTestRmse: teacherTest?.rmse ?? null,
      teacherTestR2: teacherTest?.r2 ?? null,
      rmseVsTeacher: vsTeacher,
      rmseVsTeacherMeasuredOn: where,
      testSize: test.n,
    },
    human:
      `test RMSE ${fmt(test.rmse)}, MAE ${fmt(test.mae)}, R² ${test.r2.toFixed(4)}; ` +
      (teacherTest ? `teacher RMSE ${fmt(teacherTest.rmse)}, R² ${teacherTest.r2.toFixed(4)}; ` : "") +
      `RMSE to the teacher's predictions ${fmt(vsTeacher)} (${where})`,
  };
}

async function recipeCommand(values: Record<string, string | boolean | (string | boolean)[] | undefined>): Promise<void> {
  const allowed = new Set(["config", "out", "resume", "quiet", "json", "help", "backend"]);
  const extra = Object.keys(values).filter((k) => values[k] !== undefined && !allowed.has(k));
  if (extra.length) throw new UsageError(`distill: --${extra[0]} cannot be combined with --config (set it in the recipe)`);
  const file = String(values.config);
  const recipe = loadRecipe(file);
  // Resolved here (auto → native or wasm), so config.json and the results say which backend ran.
  recipe.backend = values.backend ? await selectBackend(values) : await useBackend(recipe.backend);
  const progress = reporterFrom(values);
  // The recipe's content is compared on --resume, not the path it was given by.
  const run = openRunFolder(values, recipe.name, { command: "distill --config", file, recipe }, progress, { out: recipe.output, ignoreOnResume: ["file"] });
  try {
    const result = await runRecipe(recipe, { reporter: recordingReporter(run, progress), run, info: (m) => progress.info(m), source: file, checkpoints: new CheckpointStore(run.checkpointDir) });
    run.writeJson("results.json", result);
    const dir = run.finish();
    result.runDir = dir;
    const s = result.student;
    printResult(
      values,
      result,
      `${recipe.name}: student ${s.spec} test accuracy ${(s.accuracy * 100).toFixed(2)}% (${s.errors} errors), ` +
        (result.teacher ? `teacher ${(result.teacher.accuracy * 100).toFixed(2)}%, ` : "") +
        `agreement ${(s.agreementWithTeacher * 100).toFixed(2)}% (${result.agreementMeasuredOn})\nsaved to ${dir}/student`,
    );
  } catch (err) {
    run.discard();
    throw err;
  }
}
