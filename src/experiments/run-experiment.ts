import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../engine/backend.js";
import { loadSplits } from "../data/sources.js";
import { isModelFolder, loadAnyModel } from "../students/any-model.js";
import type { TrainableModel } from "../students/trainable.js";
import type { InMemoryDataset } from "../data/dataset.js";
import { agreement, predictLogits } from "../eval/classification.js";
import { measureLatency } from "../eval/latency.js";
import { binaryAuc } from "../eval/roc.js";
import { bytesOnDisk } from "../eval/size.js";
import { runRecipe, trainRecipeTeacher, type RecipeResult, type RecipeRunOptions } from "../distill/run-recipe.js";
import { formatDataSummary } from "../data/summary.js";
import { TsdistillError } from "../util/errors.js";
import type { Recipe } from "../distill/recipe.js";
import type { TrainingReporter } from "../train/reporter.js";
import type { CheckpointStore } from "../train/checkpoint.js";
import { writeFileAtomic } from "../util/files.js";
import { pidAlive } from "../util/process-owner.js";
import { checkRequirements, type Experiment } from "./experiment.js";
import { errorsOn, fitClassBias, withClassBias } from "./bias.js";

/** One trained model's measurements on the test split. */
export interface ResultRow {
  name: string;
  role: "teacher" | "student alone" | "distilled";
  spec: string;
  errors: number;
  accuracy: number;
  /** ROC-AUC on the test split, for two-class problems. */
  auc?: number;
  /** Share of test samples where the model's top class is the teacher's. */
  agreement: number;
  params: number;
  bytes: number;
  /** Relative to the run folder when the model is inside it. */
  modelDir: string;
  /** Batch-1 latency, median, on this machine and backend. */
  latencyMs: number;
  /** Teacher latency / this latency. */
  speedup: number;
  /** For a distilled student: the row of the same student trained alone (same seed, data and epochs). */
  baseline?: string;
  /** Errors on the classes named in evaluate.classErrors. */
  classErrors: Record<string, { errors: number; total: number }>;
  /** After raising the omitted class's bias (evaluate.adjustBiasFor). */
  biasAdjusted?: { class: number; delta: number; errors: number; classErrors: { errors: number; total: number } };
  seconds: number;
}

export interface ExperimentResult {
  name: string;
  file: string;
  quick: boolean;
  backend: string;
  seed: number;
  date: string;
  testSize: number;
  rows: ResultRow[];
  /** (student alone − distilled errors) / (student alone − teacher errors), per distilled variant. */
  gapClosed: Record<string, number | null>;
  reference?: Experiment["extras"]["reference"];
  seconds: number;
}

export interface ExperimentOptions {
  dir: string;
  /** Where trained teachers are kept and reused by recipes that train the same one (default: <runs>/teachers). */
  teacherStore?: string;
  reporter?: TrainingReporter;
  info?: (m: string) => void;
  /**
   * Checkpoints of the trainings (teacher, each student); with them, a model already finished in `dir` (its
   * result.json is there) is kept and not trained again, so a resumed experiment goes on where it stopped.
   */
  checkpoints?: CheckpointStore;
}

function totalEpochs(r: Recipe): number {
  return r.stages ? r.stages.reduce((n, s) => n + s.epochs, 0) : r.training.epochs;
}

/**
 * Runs an experiment: trains (or loads) the teacher once, then for every distilled variant the same student alone
 * on hard labels (same seed, transfer set and epochs; shared between variants that agree on those) and the
 * distilled student; measures each on the test split.
 */
export async function runExperiment(ex: Experiment, opts: ExperimentOptions): Promise<ExperimentResult> {
  const start = performance.now();
  const info = opts.info ?? (() => {});
  checkRequirements(ex);
  const base = ex.base;
  await useBackend(base.backend);
  const loaded = loadSplits(base.data.source, { validationSize: base.data.validationSize, seed: base.seed }, "data.validationSize");
  const { test, summary } = loaded;
  if (test.task === "regression") throw new TsdistillError(`${ex.file}: data.source: ${base.data.source} is a regression task; experiment recipes compare classifiers only (use 'tsdistill distill' for regression, or task=classification)`);
  for (const line of formatDataSummary(summary)) info(line);
  mkdirSync(opts.dir, { recursive: true });
  let teacherDir: string;
  if (base.teacher.kind === "train") {
    teacherDir = await trainedTeacher(base, opts.teacherStore ?? join(dirname(opts.dir), "teachers"), info, opts.reporter, opts.checkpoints?.file("teacher"));
  } else if (base.teacher.kind === "tfjs") {
    teacherDir = base.teacher.path;
  } else {
    throw new Error(`${ex.file}: teacher: an experiment needs a teacher model it can evaluate (kind train or tfjs), not a cache`);
  }
  const cols = test.numClasses;
  const { model: teacher } = await loadAnyModel(teacherDir);
  // A variant may read the same texts another way (token ids for a transformer, hashed n-grams for the teacher):
  // its test split holds the same samples in the same order, prepared as its student reads them.
  const tests = new Map<string, InMemoryDataset>([[base.data.source, test]]);
  const validationFor = (recipe: Recipe): InMemoryDataset =>
    recipe.data.source === base.data.source ? loaded.validation : loadSplits(recipe.data.source, { validationSize: recipe.data.validationSize, seed: recipe.seed }, "data.validationSize").validation;
  const testFor = (recipe: Recipe, where: string): InMemoryDataset => {
    const source = recipe.data.source;
    if (!tests.has(source)) {
      const other = loadSplits(source, { validationSize: recipe.data.validationSize, seed: recipe.seed }, "data.validationSize").test;
      if (other.size !== test.size || other.numClasses !== test.numClasses || other.y.some((y, i) => y !== test.y[i])) {
        throw new TsdistillError(`${where}: data.source ${source} has another test split than the base's ${base.data.source} (${other.size} vs ${test.size} samples); expected the same samples read another way`);
      }
      tests.set(source, other);
    }
    return tests.get(source)!;
  };
  const rows: ResultRow[] = [];
  try {
    const teacherLogits = predictLogits((x) => teacher.predict(x), test);
    const teacherLatency = latencyOf(teacher, test);
    const measure = async (name: string, role: ResultRow["role"], modelDir: string, spec: string, seconds: number, omitted: number[] = [], test = tests.get(base.data.source)!, validation = loaded.validation): Promise<ResultRow> => {
      const { model } = role === "teacher" ? { model: teacher } : await loadAnyModel(modelDir);
      try {
        const logits = role === "teacher" ? teacherLogits : predictLogits((x) => model.predict(x), test);
        const all = errorsOn(logits, test.y, cols);
        const classErrors = Object.fromEntries(ex.extras.evaluate.classErrors.map((c) => [String(c), errorsOn(logits, test.y, cols, c)]));
        const latencyMs = role === "teacher" ? teacherLatency : latencyOf(model, test);
        const row: ResultRow = {
          name,
          role,
          spec,
          errors: all.errors,
          accuracy: 1 - all.errors / all.total,
          agreement: agreement(teacherLogits, logits, cols),
          params: model.paramCount,
          bytes: bytesOnDisk(modelDir),
          latencyMs,
          speedup: teacherLatency / latencyMs,
          classErrors,
          modelDir: modelDir.startsWith(opts.dir) ? relative(opts.dir, modelDir) : modelDir,
          seconds,
        };
        if (cols === 2) row.auc = binaryAuc(logits, test.y);
        const cls = ex.extras.evaluate.adjustBiasFor;
        if (cls !== undefined && omitted.includes(cls)) {
          const fit = fitClassBias(predictLogits((x) => model.predict(x), validation), validation.y, cols, cls);
          const adjusted = withClassBias(logits, cols, cls, fit.delta);
          row.biasAdjusted = { class: cls, delta: fit.delta, errors: errorsOn(adjusted, test.y, cols).errors, classErrors: errorsOn(adjusted, test.y, cols, cls) };
        }
        return row;
      } finally {
        if (role !== "teacher") model.dispose();
      }
    };
    rows.push(await measure("teacher", "teacher", teacherDir, base.teacher.kind === "train" ? base.teacher.spec : "(loaded)", 0));

    const baselines = new Map<string, ResultRow>();
    const gapClosed: Record<string, number | null> = {};
    for (const [i, v] of ex.variants.entries()) {
      const recipe: Recipe = { ...v.recipe, teacher: { kind: "tfjs", path: teacherDir } };
      if (ex.extras.baseline) {
        const key = JSON.stringify([recipe.student, recipe.data, totalEpochs(recipe), recipe.training]);
        if (!baselines.has(key)) {
          const alone: Recipe = { ...recipe, loss: { terms: [{ loss: "ce", weight: 1, options: {}, projector: "auto" }] }, stages: undefined, training: { ...recipe.training, epochs: totalEpochs(recipe) } };
          const omitted = recipe.data.omitClasses.length ? ` without class ${recipe.data.omitClasses.join(", ")}` : "";
          const plain = `${recipe.student.spec} alone${omitted}`;
          // A second baseline of the same student (other epochs or data) is named after the variant it serves.
          const name = [...baselines.values()].some((b) => b.name === plain) ? `${plain}, as in "${v.name}"` : plain;
          info(`training ${name} (hard labels only, ${alone.training.epochs} epochs)`);
          const dir = join(opts.dir, `alone-${baselines.size}`);
          const r = await runOrKeep(alone, opts, info, { reporter: opts.reporter, workDir: dir, label: name, source: ex.file });
          const row = await measure(name, "student alone", join(dir, "student"), recipe.student.spec, r.seconds, recipe.data.omitClasses, testFor(recipe, `${ex.file}: variants[${i}]`), validationFor(recipe));
          baselines.set(key, row);
          rows.push(row);
        }
      }
      info(`distilling ${v.name} (${recipe.student.spec})`);
      const dir = join(opts.dir, `variant-${i}`);
      const r = await runOrKeep(recipe, opts, info, { reporter: opts.reporter, workDir: dir, label: v.name, source: `${ex.file}: variants[${i}]` });
      const row = await measure(v.name, "distilled", join(dir, "student"), recipe.student.spec, r.seconds, recipe.data.omitClasses, testFor(recipe, `${ex.file}: variants[${i}]`), validationFor(recipe));
      rows.push(row);
      const alone = ex.extras.baseline ? baselines.get(JSON.stringify([recipe.student, recipe.data, totalEpochs(recipe), recipe.training])) : undefined;
      if (alone) row.baseline = alone.name;
      const gap = alone ? alone.errors - rows[0].errors : 0;
      gapClosed[v.name] = alone && gap > 0 ? (alone.errors - row.errors) / gap : null;
    }
    return {
      name: ex.name,
      file: ex.file,
      quick: ex.quick,
      backend: base.backend,
      seed: base.seed,
      date: new Date().toISOString(),
      testSize: test.size,
      rows,
      gapClosed,
      // The paper's numbers belong to the full budget only.
      reference: ex.quick ? undefined : ex.extras.reference,
      seconds: (performance.now() - start) / 1000,
    };
  } finally {
    teacher.dispose();
  }
}

/** Runs one model's recipe in its folder, or with checkpoints keeps it when an interrupted run already finished it there. */
async function runOrKeep(recipe: Recipe, opts: ExperimentOptions, info: (m: string) => void, run: RecipeRunOptions & { workDir: string }): Promise<Pick<RecipeResult, "seconds">> {
  const done = join(run.workDir, "result.json");
  if (opts.checkpoints && existsSync(done) && isModelFolder(join(run.workDir, "student"))) {
    info(`${run.label}: kept from the interrupted run`);
    return JSON.parse(readFileSync(done, "utf8")) as RecipeResult;
  }
  const store = opts.checkpoints?.sub(basename(run.workDir));
  const r = await runRecipe(recipe, { ...run, checkpoints: store });
  writeFileAtomic(done, JSON.stringify(r, null, 2) + "\n");
  store?.remove();
  return r;
}

/**
 * A recipe's `teacher: {kind: train}`, trained once: the model is kept under the store, keyed by everything that
 * determines its weights (spec, data, split, seed, budget, backend), and reused by later runs and other recipes.
 */
async function trainedTeacher(recipe: Recipe, store: string, info: (m: string) => void, reporter?: TrainingReporter, checkpoint?: string): Promise<string> {
  const t = recipe.teacher;
  const batch = (t.kind === "train" ? t.batchSize : undefined) ?? recipe.training.batchSize;
  const key = JSON.stringify({ t: { ...t, batchSize: undefined }, data: recipe.data.source, v: recipe.data.validationSize, seed: recipe.seed, batch, backend: recipe.backend });
  const dir = join(store, `${t.kind === "train" ? t.spec.replace(/[^a-z0-9-]+/gi, "_") : "teacher"}-${createHash("sha256").update(key).digest("hex").slice(0, 12)}`);
  if (existsSync(join(dir, "model.json"))) {
    info(`reusing the teacher trained earlier: ${dir}`);
    return dir;
  }
  info(`training the teacher ${t.kind === "train" ? `${t.spec} for ${t.epochs} epochs` : ""} (kept in ${dir} for reuse)`);
  removeDeadTeacherFolders(store);
  const tmp = `${dir}.${process.pid}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  await trainRecipeTeacher(recipe, tmp, reporter, checkpoint);
  if (existsSync(join(dir, "model.json"))) rmSync(tmp, { recursive: true, force: true });
  else renameSync(tmp, dir);
  return dir;
}

/** Teacher folders being written by a process that was killed (its own training goes on from a checkpoint). */
function removeDeadTeacherFolders(store: string): void {
  if (!existsSync(store)) return;
  for (const name of readdirSync(store)) {
    const m = /\.(\d+)\.partial$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(store, name), { recursive: true, force: true });
  }
}

/** Batch-1 p50 latency on the first test sample (a real one: a transformer's input must be token ids). */
function latencyOf(model: TrainableModel, test: InMemoryDataset): number {
  const x = tf.tensor(test.x.slice(0, test.sampleSize), [1, ...test.sampleShape], "float32");
  try {
    return measureLatency(
      () => {
        const y = model.predict(x);
        y.dataSync();
        y.dispose();
      },
      { warmup: 10, runs: 200, maxSeconds: 2 },
    ).p50Ms;
  } finally {
    x.dispose();
  }
}
