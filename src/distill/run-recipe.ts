import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useBackend } from "../engine/backend.js";
import { loadSplits } from "../data/sources.js";
import { formatDataSummary, type DataSummary } from "../data/summary.js";
import { buildTransferSet } from "../data/transfer.js";
import type { InMemoryDataset } from "../data/dataset.js";
import { SequentialModel } from "../students/model.js";
import { modelConfigFromSpec } from "../students/spec.js";
import { loadModel } from "../students/io.js";
import { buildModel, saveAnyModel } from "../students/any-model.js";
import { openSavedModelTeacher } from "../teachers/saved-model-teacher.js";
import type { OpenedTeacher } from "../teachers/teacher-openers.js";
import { readsRaw, runTeacher } from "../teachers/teacher-run.js";
import { modelTeacher, type LogitLookup, type Teacher } from "../teachers/teacher.js";
import { cacheLogitLookup, hashDataset, openLabelCache, type LabelCache } from "../teachers/label-cache.js";
import { runTrainJob } from "../train/job.js";
import type { EpochMetrics, ProgressCallbacks, TrainingReporter } from "../train/reporter.js";
import { agreement, classificationMetrics, evaluate, predictLogits } from "../eval/classification.js";
import type { RunFolder } from "../run/run-folder.js";
import type { CheckpointStore } from "../train/checkpoint.js";
import { TsdistillError } from "../util/errors.js";
import { checkTeacherTask } from "../teachers/teacher-task.js";
import { recipeStages, type Recipe } from "./recipe.js";
import { WeightedSumLoss } from "./terms.js";
import { Distiller, layerShapes } from "./distiller.js";

export interface RecipeResult {
  name: string;
  student: { spec: string; params: number; accuracy: number; errors: number; agreementWithTeacher: number };
  /** null when the recipe distils from a teacher cache (the teacher itself is not loaded). */
  teacher: { params: number; accuracy: number; errors: number } | null;
  /** Where the student's agreement with the teacher was measured. */
  agreementMeasuredOn: "test set" | "transfer set (teacher cache)";
  testSize: number;
  stages: { name: string; epochs: number; terms: string[]; history: EpochMetrics[] }[];
  seconds: number;
  /** How the data was read and split. */
  dataSummary: DataSummary;
  runDir?: string;
}

/**
 * Runs a recipe: loads (or trains) the teacher, builds the student, trains it stage by stage on the weighted
 * sum of each stage's terms, evaluates both on the test split and saves the student (projectors are not part
 * of it). Every term is validated before any training starts.
 */
export interface RecipeRunOptions {
  reporter?: TrainingReporter;
  run?: RunFolder;
  info?: (m: string) => void;
  /** The recipe's file, named in validation errors. */
  source?: string;
  /** Folder for the student (and a trained teacher); kept. Default: the run folder, else a temp folder. */
  workDir?: string;
  /** Progress label of the training (default "distill", or "stage <name>" per stage). */
  label?: string;
  /** Checkpoints of the trainings (teacher, each stage): written every epoch, continued from when present. */
  checkpoints?: CheckpointStore;
  /** Stops the training before its next batch (runRecipe then rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Progress events of the stages' trainings (the Distiller's ProgressEvent). */
  callbacks?: ProgressCallbacks;
}

export async function runRecipe(recipe: Recipe, opts: RecipeRunOptions = {}): Promise<RecipeResult> {
  const start = performance.now();
  const info = opts.info ?? (() => {});
  await useBackend(recipe.backend);
  const split = { validationSize: recipe.data.validationSize, trainSize: recipe.data.trainSize, seed: recipe.seed };
  const loaded = loadSplits(recipe.data.source, split, "data.validationSize");
  const { validation, test } = loaded;
  if (loaded.train.task === "regression") {
    throw new TsdistillError(`data.source: ${recipe.data.source} is a regression task; recipes distil classifiers only (use 'tsdistill distill --teacher DIR' for regression, or task=classification)`);
  }
  // Printed once every check has passed, just before the first training.
  let announced = false;
  const announce = () => {
    if (!announced) for (const line of formatDataSummary(loaded.summary)) info(line);
    announced = true;
  };
  // Extra transfer samples carry no label (−1): only the teacher's outputs train on them; hard-label terms skip them.
  const tr = recipe.data.transfer;
  const transfer = (base: InMemoryDataset) =>
    tr ? buildTransferSet(base, { seed: recipe.seed, unlabeled: tr.unlabeled ? requireUnlabeled(loaded.unlabeled, recipe.data.source) : undefined, noise: tr.noise && { ...tr.noise, labels: "unlabeled" }, mixup: tr.mixup && { ...tr.mixup, labels: "unlabeled" }, shift: tr.shift }) : base;
  const train = transfer(withoutClasses(loaded.train, recipe.data.omitClasses));
  const shape = { inputShape: train.sampleShape, numClasses: train.numClasses };
  const student = buildModel(recipe.student.spec, { ...shape, preprocess: loaded.preprocess, dropout: recipe.student.dropout, inputDropout: recipe.student.inputDropout, seed: recipe.seed + 1 });
  const keepWorkDir = !!(opts.workDir ?? opts.run);
  const workDir = opts.workDir ?? (opts.run ? opts.run.dir : mkdtempSync(join(tmpdir(), "tsdistill-recipe-")));
  let teacherModel: SequentialModel | null = null;
  // A teacher folder with its own preprocessing (or a transformer): it reads the raw samples (saved-model-teacher.ts).
  let savedTeacher: OpenedTeacher | null = null;
  let labelCache: LabelCache | null = null;
  const distillers: Distiller[] = [];
  try {
    const t = recipe.teacher;
    if (t.kind === "tfjs") {
      savedTeacher = await openSavedModelTeacher(t.path, train, loaded.preprocess);
      if (!savedTeacher) teacherModel = (await loadModel(t.path)).model;
    } else if (t.kind === "cache") {
      labelCache = openLabelCache(t.path, { datasetHash: hashDataset(train), numSamples: train.size });
    } else {
      const teacherConfig = modelConfigFromSpec(t.spec, { ...shape, dropout: t.dropout, inputDropout: t.inputDropout });
      // Validate the student's terms against the teacher's layers before spending time on training it.
      const probe = new SequentialModel(teacherConfig, 0);
      recipeStages(recipe).forEach((st, i) => WeightedSumLoss.compile(st.terms, layerShapes(student, modelTeacher(probe), probe.outputShape), recipe.seed, stageWhere(recipe, i, opts.source)).dispose());
      probe.dispose();
      announce();
      info(`training the teacher ${t.spec} for ${t.epochs} epochs`);
      teacherModel = (await loadModel(await trainRecipeTeacher(recipe, join(workDir, "teacher"), opts.reporter, opts.checkpoints?.file("teacher")))).model;
    }
    const lookup = labelCache ? cacheLogitLookup(labelCache, (t as { path: string }).path) : null;
    const numOutputs = savedTeacher?.teacher.numClasses ?? teacherModel?.numOutputs ?? lookup!.numClasses;
    checkTeacherTask(numOutputs, train, "path" in t ? t.path : `the trained ${t.spec}`, recipe.data.source, "teacher");
    const teacher = savedTeacher ? savedTeacher.teacher : teacherModel ? modelTeacher(teacherModel) : null;
    const stages = recipeStages(recipe);
    // Every stage's terms are checked against both models before the first one trains.
    stages.forEach((st, i) =>
      distillers.push(new Distiller({ teacher: teacher ?? undefined, teacherLogits: lookup ?? undefined, student, terms: st.terms, seed: recipe.seed, where: stageWhere(recipe, i, opts.source), info })),
    );

    announce();
    let cache: LogitLookup | null = lookup;
    const results: RecipeResult["stages"] = [];
    for (const [i, st] of stages.entries()) {
      const distiller = distillers[i];
      // The teacher's logits over the transfer set are computed once, by the first stage that needs them.
      distiller.teacherLogits = cache;
      const last = i === stages.length - 1;
      const fitResult = await distiller.fit(train, {
        epochs: st.epochs,
        batchSize: recipe.training.batchSize,
        optimizer: { ...recipe.training.optimizer, lr: st.lr ?? recipe.training.optimizer.lr },
        schedule: recipe.training.schedule,
        seed: recipe.seed + 1 + i,
        validation,
        reporter: opts.reporter,
        callbacks: opts.callbacks,
        signal: opts.signal,
        label: stages.length > 1 ? `${opts.label ? opts.label + " " : ""}stage ${st.name}` : (opts.label ?? "distill"),
        // Earlier stages may not train the output layer at all (e.g. hints only): keep the last weights there.
        keepBest: last,
        checkpoint: opts.checkpoints?.at(`stage-${i}`),
      });
      cache = distiller.teacherLogits;
      results.push({ name: st.name, epochs: st.epochs, terms: st.terms.map((x) => x.loss), history: fitResult.history });
    }
    const sEval = evaluate((x) => student.predict(x), test);
    const tEval = !teacher ? null : readsRaw(teacher) ? evaluateLogits(await runTeacher(teacher, test, { validate: false }), test) : evaluate((x) => teacher.logits(x), test);
    // Without the teacher (cache only), agreement is measured on the transfer set the cache holds.
    const agree = tEval
      ? agreement(tEval.logits, sEval.logits, test.numClasses)
      : agreement(labelCache!.logitsFor(train.y.map((_, i) => i)), predictLogits((x) => student.predict(x), train), train.numClasses);
    await saveAnyModel(student, join(workDir, "student"), { spec: recipe.student.spec, role: "distilled student", recipe: recipe.name, terms: stages.flatMap((s) => s.terms.map((x) => x.loss)) }, loaded.preprocess);
    return {
      name: recipe.name,
      student: { spec: recipe.student.spec, params: student.paramCount, accuracy: sEval.accuracy, errors: sEval.errors, agreementWithTeacher: agree },
      teacher: tEval && (teacherModel || savedTeacher) ? { params: teacherModel?.paramCount ?? savedTeacher!.paramCount ?? 0, accuracy: tEval.accuracy, errors: tEval.errors } : null,
      agreementMeasuredOn: tEval ? "test set" : "transfer set (teacher cache)",
      testSize: test.size,
      stages: results,
      seconds: (performance.now() - start) / 1000,
      dataSummary: loaded.summary,
    };
  } finally {
    for (const d of distillers) d.dispose();
    teacherModel?.dispose();
    await savedTeacher?.close();
    labelCache?.close();
    student.dispose();
    if (!keepWorkDir) rmSync(workDir, { recursive: true, force: true });
  }
}

/** Trains a recipe's `teacher: {kind: train}` on hard labels (all training samples unless trainSize) and saves it. */
export async function trainRecipeTeacher(recipe: Recipe, outDir: string, reporter?: TrainingReporter, checkpoint?: string): Promise<string> {
  const t = recipe.teacher;
  if (t.kind !== "train") throw new TsdistillError(`teacher: kind "${t.kind}" is not trained by the recipe`);
  const shapeSource = loadSplits(recipe.data.source, { validationSize: recipe.data.validationSize, seed: recipe.seed }, "data.validationSize");
  const shape = { inputShape: shapeSource.train.sampleShape, numClasses: shapeSource.train.numClasses };
  const job = await runTrainJob(
    {
      label: "teacher",
      backend: recipe.backend,
      data: recipe.data.source,
      split: { validationSize: recipe.data.validationSize, seed: recipe.seed, trainSize: t.trainSize },
      model: modelConfigFromSpec(t.spec, { ...shape, dropout: t.dropout, inputDropout: t.inputDropout }),
      initSeed: recipe.seed,
      fit: { epochs: t.epochs, batchSize: t.batchSize ?? recipe.training.batchSize, optimizer: { kind: "adam", lr: t.lr }, seed: recipe.seed },
      augmentShift: t.jitter,
      outDir,
      metadata: { spec: t.spec, role: "teacher", recipe: recipe.name },
      checkpoint,
    },
    reporter,
  );
  return job.modelDir;
}

/** Accuracy, errors and the logits of a teacher run over the test split (as evaluate() gives for a model). */
function evaluateLogits(logits: Float32Array, test: InMemoryDataset): { accuracy: number; errors: number; logits: Float32Array } {
  const m = classificationMetrics(logits, test.y, test.numClasses);
  return { accuracy: m.accuracy, errors: m.errors, logits };
}

function requireUnlabeled(data: InMemoryDataset | undefined, source: string): InMemoryDataset {
  if (!data) throw new TsdistillError(`data.transfer.unlabeled: ${source} has no unlabeled samples (e.g. images:<dir>?unlabeled=<dir>, or CSV rows without a label)`);
  return data;
}

/** The data set without the samples of these classes (the students' transfer set in the omitted-class experiment). */
export function withoutClasses(data: InMemoryDataset, classes: number[]): InMemoryDataset {
  if (classes.length === 0) return data;
  const drop = new Set(classes);
  const keep: number[] = [];
  for (let i = 0; i < data.size; i++) if (!drop.has(data.y[i])) keep.push(i);
  return data.subset(keep, `${data.name} without class ${classes.join(", ")}`);
}

function stageWhere(recipe: Recipe, i: number, source?: string): string {
  const field = recipe.stages ? `stages[${i}].terms` : "loss.terms";
  return source ? `${source}: ${field}` : field;
}
