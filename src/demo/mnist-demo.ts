import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { loadMnist } from "../data/mnist.js";
import { SequentialModel } from "../students/model.js";
import { modelConfigFromSpec } from "../students/spec.js";
import { saveModel } from "../students/io.js";
import { train, distill } from "../train/distill.js";
import { modelTeacher } from "../teachers/teacher.js";
import { agreement, evaluate } from "../eval/classification.js";
import { measureLatency } from "../eval/latency.js";
import { bytesOnDisk } from "../eval/size.js";
import type { TrainingReporter, EpochMetrics } from "../train/reporter.js";
import type { RunFolder } from "../run/run-folder.js";
import { currentBackend } from "../engine/backend.js";

export const DemoConfig = z.object({
  seed: z.number().int().default(42),
  /** Training samples used (the rest of MNIST's 60k training set is not used; validation comes first). */
  trainSize: z.number().int().positive().max(55000).default(55000),
  validationSize: z.number().int().positive().default(5000),
  teacher: z.object({ spec: z.string(), dropout: z.number(), inputDropout: z.number(), epochs: z.number().int().positive() }),
  student: z.object({ spec: z.string(), epochs: z.number().int().positive() }),
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
          trainSize: 15000,
          validationSize: 2000,
          teacher: { spec: "mlp:1200-1200", dropout: 0.5, inputDropout: 0.2, epochs: 8 },
          student: { spec: "mlp:800-800", epochs: 5 },
          temperature: 4,
          alpha: 0.1,
        }
      : {
          seed,
          teacher: { spec: "mlp:1200-1200", dropout: 0.5, inputDropout: 0.2, epochs: 10 },
          student: { spec: "mlp:800-800", epochs: 8 },
          temperature: 4,
          alpha: 0.1,
        },
  );
}

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
export async function runMnistDemo(config: DemoConfig, opts: { reporter?: TrainingReporter; run?: RunFolder; info?: (msg: string) => void } = {}): Promise<DemoResult> {
  const start = performance.now();
  const { reporter, run } = opts;
  const info = opts.info ?? (() => {});
  const mnist = loadMnist();
  const { train: trainAll, validation } = mnist.train.split(config.validationSize, config.seed);
  const trainSet = trainAll.take(config.trainSize);
  const test = mnist.test;
  info(`MNIST: ${trainSet.size} training, ${validation.size} validation, ${test.size} test images; backend ${currentBackend()}`);
  const shape = { inputShape: trainSet.sampleShape, numClasses: 10 };
  const fitBase = { batchSize: config.batchSize, optimizer: { kind: "adam" as const, lr: config.lr }, validation, reporter };
  const metrics: Record<string, EpochMetrics[]> = {};
  const saveMetrics = () => run?.writeJson("metrics.json", metrics);

  const teacher = new SequentialModel(modelConfigFromSpec(config.teacher.spec, { ...shape, dropout: config.teacher.dropout, inputDropout: config.teacher.inputDropout }), config.seed);
  const teacherFit = await train(teacher, trainSet, { ...fitBase, epochs: config.teacher.epochs, seed: config.seed, label: "teacher" });
  metrics.teacher = teacherFit.history;
  saveMetrics();

  const studentConfig = modelConfigFromSpec(config.student.spec, shape);
  const studentSeed = config.seed + 1;
  const alone = new SequentialModel(studentConfig, studentSeed);
  const aloneFit = await train(alone, trainSet, { ...fitBase, epochs: config.student.epochs, seed: studentSeed, label: "student alone" });
  metrics.studentAlone = aloneFit.history;
  saveMetrics();

  const student = new SequentialModel(studentConfig, studentSeed);
  const distillFit = await distill({
    ...fitBase,
    teacher: modelTeacher(teacher),
    student,
    data: trainSet,
    temperature: config.temperature,
    alpha: config.alpha,
    epochs: config.student.epochs,
    seed: studentSeed,
    label: "distilled",
  });
  metrics.distilled = distillFit.history;
  saveMetrics();

  const teacherEval = evaluate((x) => teacher.predict(x), test);
  const report = async (model: SequentialModel, name: string, trainSeconds: number, meta: Record<string, unknown>): Promise<ModelReport> => {
    const ev = name === "teacher" ? teacherEval : evaluate((x) => model.predict(x), test);
    const one = tf.tensor(test.x.subarray(0, test.sampleSize), [1, ...test.sampleShape]);
    const latency = measureLatency(() => tf.tidy(() => model.predict(one).dataSync()), { warmup: 20, runs: 300, maxSeconds: 3 });
    one.dispose();
    let bytes = 0;
    if (run) {
      await saveModel(model, run.path(name), { ...meta, input: "MNIST pixels scaled to [0, 1], shape [28, 28, 1]", outputs: "logits over digits 0-9" });
      bytes = bytesOnDisk(run.path(name));
    } else {
      bytes = model.paramCount * 4;
    }
    return {
      accuracy: ev.accuracy,
      errors: ev.errors,
      testSize: ev.n,
      params: model.paramCount,
      bytesOnDisk: bytes,
      latencyMsBatch1: latency.p50Ms,
      trainSeconds,
      agreementWithTeacher: agreement(teacherEval.logits, ev.logits, 10),
    };
  };
  const result: DemoResult = {
    teacher: await report(teacher, "teacher", teacherFit.seconds, { spec: config.teacher.spec, role: "teacher" }),
    studentAlone: await report(alone, "student-alone", aloneFit.seconds, { spec: config.student.spec, role: "student trained alone" }),
    distilled: await report(student, "student", distillFit.seconds + distillFit.teacherSeconds, { spec: config.student.spec, role: "distilled student", temperature: config.temperature, alpha: config.alpha }),
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
    `Distillation: T = ${r.config.temperature}, α = ${r.config.alpha} (weight of hard labels); student epochs ${r.config.student.epochs}, seed ${r.config.seed}, backend ${r.backend}, total ${r.seconds.toFixed(0)} s`,
  ].join("\n");
}
