import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSplits } from "../data/sources.js";
import { loadModel } from "../students/io.js";
import { runTrainJob, type TrainJob } from "../train/job.js";
import { runTrainJobInWorker } from "../train/workers.js";
import type { BackendName } from "../engine/backend.js";
import { SequentialModel } from "../students/model.js";
import { modelConfigFromSpec } from "../students/spec.js";
import { saveModel } from "../students/io.js";
import { Distiller } from "../distill/distiller.js";
import { kd } from "../distill/term-builders.js";
import { modelTeacher } from "../teachers/teacher.js";
import { agreement, evaluate } from "../eval/classification.js";
import { measureLatency } from "../eval/latency.js";
import { bytesOnDisk } from "../eval/size.js";
import type { TrainingReporter, EpochMetrics } from "../train/reporter.js";
import type { RunFolder } from "../run/run-folder.js";
import { currentBackend } from "../engine/backend.js";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";

const TeacherSettings = z.object({
  spec: z.string(),
  dropout: z.number(),
  inputDropout: z.number(),
  /** Random shifts of the teacher's training images, in pixels (Hinton et al.: up to 2). */
  jitter: z.number().int().min(0),
  epochs: z.number().int().positive(),
});
const StudentSettings = z.object({ spec: z.string(), epochs: z.number().int().positive() });

export const DemoConfig = z.object({
  seed: z.number().int().default(42),
  /** Images the teacher trains on (MNIST's 60k training images less the validation split). */
  teacherTrainSize: z.number().int().positive().max(59999).default(55000),
  /**
   * The students' transfer set: the first `trainSize` of the teacher's training images. Both students (alone
   * and distilled) see exactly these images for the same epochs.
   */
  trainSize: z.number().int().positive().max(59999).default(20000),
  validationSize: z.number().int().positive().default(5000),
  teacher: TeacherSettings,
  student: StudentSettings,
  temperature: z.number().positive(),
  alpha: z.number().min(0).max(1),
  batchSize: z.number().int().positive().default(128),
  lr: z.number().positive().default(1e-3),
});
export type DemoConfig = z.infer<typeof DemoConfig>;

/** The default demo (≤ 15 minutes on 2 cores) and its --quick variant (≤ 3 minutes). */
export function demoConfig(quick: boolean, seed = 42): DemoConfig {
  return DemoConfig.parse(
    quick
      ? {
          seed,
          teacherTrainSize: 55000,
          trainSize: 15000,
          validationSize: 5000,
          teacher: { spec: "mlp:1200-1200", dropout: 0.3, inputDropout: 0, jitter: 0, epochs: 2 },
          student: { spec: "mlp:800-800", epochs: 4 },
          temperature: 8,
          alpha: 0.1,
        }
      : {
          seed,
          teacherTrainSize: 55000,
          trainSize: 20000,
          validationSize: 5000,
          teacher: { spec: "mlp:1200-1200", dropout: 0.3, inputDropout: 0, jitter: 0, epochs: 10 },
          student: { spec: "mlp:800-800", epochs: 10 },
          temperature: 8,
          alpha: 0.1,
        },
  );
}

/** A `demo --config` file: any demo settings, each replacing the preset's (teacher and student field by field). */
const DemoOverrides = DemoConfig.extend({ teacher: TeacherSettings.partial().strict(), student: StudentSettings.partial().strict() })
  .partial()
  .strict();

/** `base` with the settings of a `demo --config` file replacing its own; an unknown or bad field is one error line. */
export function demoConfigWith(base: DemoConfig, overrides: unknown, file: string): DemoConfig {
  const o = DemoOverrides.safeParse(overrides ?? {});
  if (!o.success) throw new TsdistillError(describeZodError(o.error, { file }));
  const merged = DemoConfig.safeParse({ ...base, ...o.data, teacher: { ...base.teacher, ...o.data.teacher }, student: { ...base.student, ...o.data.student } });
  if (!merged.success) throw new TsdistillError(describeZodError(merged.error, { file }));
  return merged.data;
}

const MODEL_META = { input: "MNIST pixels scaled to [0, 1], shape [28, 28, 1]", outputs: "logits over digits 0-9" };

export interface ModelReport {
  accuracy: number;
  errors: number;
  testSize: number;
  params: number;
  bytesOnDisk: number;
  latencyMsBatch1: number;
  trainSeconds: number;
  /** Share of test samples where this model predicts the teacher's class. */
  agreementWithTeacher: number;
}

export interface DemoResult {
  teacher: ModelReport;
  studentAlone: ModelReport;
  distilled: ModelReport;
  /** (errors alone − errors distilled) / (errors alone − errors teacher); null when the teacher is not better. */
  gapClosed: number | null;
  config: DemoConfig;
  backend: string;
  seconds: number;
  runDir?: string;
}

/**
 * MNIST: trains a teacher (784-1200-1200-10 with dropout), the student (784-800-800-10) alone, and the same
 * student (same initial weights, same epochs) distilled from the teacher; compares them on the test set.
 */
export interface DemoRunOptions {
  reporter?: TrainingReporter;
  /** Where models and metrics go; without one, models are saved to a temp folder that is removed. */
  run?: RunFolder;
  info?: (msg: string) => void;
  /** Train the teacher and the student-alone baseline at the same time in two worker threads (default true). */
  parallel?: boolean;
}

export async function runMnistDemo(config: DemoConfig, opts: DemoRunOptions = {}): Promise<DemoResult> {
  const start = performance.now();
  const { reporter, run } = opts;
  const info = opts.info ?? (() => {});
  const workDir = run ? run.dir : mkdtempSync(join(tmpdir(), "tsdistill-demo-"));
  try {
    return await demo(config, { ...opts, info }, workDir, start);
  } finally {
    if (!run) rmSync(workDir, { recursive: true, force: true });
  }
}

async function demo(config: DemoConfig, opts: DemoRunOptions & { info: (msg: string) => void }, workDir: string, start: number): Promise<DemoResult> {
  const { reporter, info } = opts;
  if (config.trainSize > config.teacherTrainSize) throw new Error(`demo: the transfer set (${config.trainSize}) must be part of the teacher's training set (${config.teacherTrainSize})`);
  const split = { validationSize: config.validationSize, trainSize: config.trainSize, seed: config.seed };
  const teacherSplit = { ...split, trainSize: config.teacherTrainSize };
  const { train: trainSet, validation, test } = loadSplits("mnist", split);
  const parallel = opts.parallel ?? true;
  info(
    `MNIST: the teacher trains on ${config.teacherTrainSize} images, both students on the same ${trainSet.size}-image transfer set; ` +
      `${validation.size} validation, ${test.size} test images; backend ${currentBackend()}` +
      (parallel ? "; teacher and student-alone train in parallel (2 worker threads)" : ""),
  );
  const shape = { inputShape: trainSet.sampleShape, numClasses: 10 };
  const fitBase = { batchSize: config.batchSize, optimizer: { kind: "adam" as const, lr: config.lr } };
  const backend = currentBackend() as BackendName;
  const studentConfig = modelConfigFromSpec(config.student.spec, shape);
  const studentSeed = config.seed + 1;
  const teacherJob: TrainJob = {
    label: "teacher",
    backend,
    data: "mnist",
    split: teacherSplit,
    model: modelConfigFromSpec(config.teacher.spec, { ...shape, dropout: config.teacher.dropout, inputDropout: config.teacher.inputDropout }),
    initSeed: config.seed,
    fit: { ...fitBase, epochs: config.teacher.epochs, seed: config.seed },
    augmentShift: config.teacher.jitter,
    outDir: join(workDir, "teacher"),
    metadata: { ...MODEL_META, spec: config.teacher.spec, role: "teacher", dropout: config.teacher.dropout, inputDropout: config.teacher.inputDropout, jitter: config.teacher.jitter },
  };
  const aloneJob: TrainJob = {
    label: "student alone",
    backend,
    data: "mnist",
    split,
    model: studentConfig,
    initSeed: studentSeed,
    fit: { ...fitBase, epochs: config.student.epochs, seed: studentSeed },
    outDir: join(workDir, "student-alone"),
    metadata: { ...MODEL_META, spec: config.student.spec, role: "student trained alone" },
  };
  const [teacherRun, aloneRun] = parallel
    ? await Promise.all([runTrainJobInWorker(teacherJob, reporter), runTrainJobInWorker(aloneJob, reporter)])
    : [await runTrainJob(teacherJob, reporter), await runTrainJob(aloneJob, reporter)];
  const teacher = (await loadModel(teacherRun.modelDir)).model;
  const alone = (await loadModel(aloneRun.modelDir)).model;

  const student = new SequentialModel(studentConfig, studentSeed);
  // The distillation runs through the library's Distiller (one kd term; the teacher's logits computed once).
  const distiller = new Distiller({ teacher: modelTeacher(teacher), student, terms: [kd({ temperature: config.temperature, alpha: config.alpha })] });
  const distillFit = await distiller.fit(trainSet, { ...fitBase, validation, reporter, epochs: config.student.epochs, seed: studentSeed, label: "distilled" }).finally(() => distiller.dispose());
  await saveModel(student, join(workDir, "student"), { ...MODEL_META, spec: config.student.spec, role: "distilled student", temperature: config.temperature, alpha: config.alpha });

  const teacherEval = evaluate((x) => teacher.predict(x), test);
  const report = (model: SequentialModel, dir: string, trainSeconds: number): ModelReport => {
    const ev = model === teacher ? teacherEval : evaluate((x) => model.predict(x), test);
    const one = tf.tensor(test.x.subarray(0, test.sampleSize), [1, ...test.sampleShape]);
    const latency = measureLatency(() => tf.tidy(() => model.predict(one).dataSync()), { warmup: 20, runs: 300, maxSeconds: 3 });
    one.dispose();
    return {
      accuracy: ev.accuracy,
      errors: ev.errors,
      testSize: ev.n,
      params: model.paramCount,
      bytesOnDisk: bytesOnDisk(dir),
      latencyMsBatch1: latency.p50Ms,
      trainSeconds,
      agreementWithTeacher: agreement(teacherEval.logits, ev.logits, 10),
    };
  };
  const result: DemoResult = {
    teacher: report(teacher, teacherRun.modelDir, teacherRun.fit.seconds),
    studentAlone: report(alone, aloneRun.modelDir, aloneRun.fit.seconds),
    distilled: report(student, join(workDir, "student"), distillFit.seconds + distillFit.teacherSeconds),
    gapClosed: null,
    config,
    backend: currentBackend(),
    seconds: 0,
  };
  const gap = result.studentAlone.errors - result.teacher.errors;
  result.gapClosed = gap > 0 ? (result.studentAlone.errors - result.distilled.errors) / gap : null;
  result.seconds = (performance.now() - start) / 1000;
  teacher.dispose();
  alone.dispose();
  student.dispose();
  return result;
}

export function formatDemoTable(r: DemoResult): string {
  const rows: [string, ModelReport][] = [
    [`teacher ${r.config.teacher.spec}`, r.teacher],
    [`student ${r.config.student.spec} alone`, r.studentAlone],
    [`student ${r.config.student.spec} distilled`, r.distilled],
  ];
  const head = ["model", "test errors", "accuracy", "agreement", "params", "size on disk", "latency b=1", "train time"];
  const body = rows.map(([name, m]) => [
    name,
    `${m.errors} / ${m.testSize}`,
    `${(m.accuracy * 100).toFixed(2)}%`,
    `${(m.agreementWithTeacher * 100).toFixed(2)}%`,
    m.params.toLocaleString("en-US"),
    `${(m.bytesOnDisk / 1024 / 1024).toFixed(2)} MB`,
    `${m.latencyMsBatch1.toFixed(3)} ms`,
    `${m.trainSeconds.toFixed(0)} s`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  const sep = "|" + widths.map((w, i) => (i === 0 ? ":" + "-".repeat(w + 1) : "-".repeat(w + 1) + ":")).join("|") + "|";
  const gap = r.gapClosed === null ? "n/a (the teacher is not better than the student alone)" : `${(r.gapClosed * 100).toFixed(1)}%`;
  return [
    line(head),
    sep,
    ...body.map(line),
    "",
    `Gap closed (student alone → teacher): ${gap}`,
    `Teacher: ${r.config.teacherTrainSize} training images, ${r.config.teacher.epochs} epochs, dropout ${r.config.teacher.dropout}. ` +
      `Students: the same ${r.config.trainSize}-image transfer set and ${r.config.student.epochs} epochs each, same initial weights.`,
    `Distillation: T = ${r.config.temperature}, α = ${r.config.alpha} (weight of hard labels); seed ${r.config.seed}, backend ${r.backend}, total ${r.seconds.toFixed(0)} s`,
  ].join("\n");
}
