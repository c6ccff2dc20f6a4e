import { join } from "node:path";
import { useBackend } from "../engine/backend.js";
import { modelConfigFromSpec } from "../students/spec.js";
import { SequentialModel } from "../students/model.js";
import { saveModel } from "../students/io.js";
import { distill, train } from "../train/distill.js";
import type { TrainingReporter } from "../train/reporter.js";
import { TeacherLogitCache } from "../teachers/teacher.js";
import { SILERO_CHUNK, SileroVadTeacher } from "../teachers/silero-vad.js";
import { RunFolder } from "../run/run-folder.js";
import type { FeatureConfig } from "./features.js";
import { concat, dataset, decisions, fitFeatures, inputShape, logMels, probsToLogits, stackClips } from "./frames.js";
import { labelClips, truthFrames } from "./labels.js";
import { measureOffline, measureStreaming, StudentStream, studentProbs, type FrameLatency } from "./latency.js";
import { DenseForward } from "./dense-forward.js";
import { agreementRate, majorityRate, rocAuc } from "./metrics.js";
import { applyQuick, parseVadRecipe, type VadRecipe, type VadRecipeInput } from "./recipe.js";
import { prepareVadData, SAMPLE_RATE, synthKey, type SynthOptions } from "./synth.js";

export interface VadRunOptions {
  /** Use the recipe's `quick` budget. */
  quick?: boolean;
  /** Progress lines (one per call, no newline). */
  info?: (line: string) => void;
}

export interface StudentScores {
  /** Frames where the student's p > 0.5 matches the teacher's p > 0.5 (held-out clips). */
  agreement: number;
  /** ROC-AUC of the student's p for the teacher's decisions. */
  auc: number;
  /** Accuracy against the synthesis ground truth (where speech was placed). */
  truthAccuracy: number;
  trainSeconds: number;
}

export interface VadResult {
  runDir: string;
  dataDir: string;
  trainClips: number;
  heldoutClips: number;
  trainFrames: number;
  heldoutFrames: number;
  /** Share of held-out frames the teacher calls speech. */
  teacherSpeechShare: number;
  /** What always answering the teacher's more frequent decision would agree on. */
  majorityAgreement: number;
  teacherTruthAccuracy: number;
  labelsCached: boolean;
  teacherLabelSeconds: number;
  studentParams: number;
  /** The same student trained on the teacher's soft labels (KD). */
  distilled: StudentScores;
  /** The same student, same seed and budget, trained on the synthesis ground truth without the teacher. */
  alone: StudentScores;
  latency: {
    /** Batch-1, chunk by chunk; students by inference path: "tfjs" (the engine) and "plain" (MLP weights in plain loops). */
    /** speedup: ratio of mean latencies; speedupP50: of medians (steadier when other processes load the machine). */
    streaming: { teacher: FrameLatency; student: Record<string, FrameLatency>; speedup: Record<string, number>; speedupP50: Record<string, number> };
    offline: { frames: number; teacherMsPerFrame: number; studentMsPerFrame: number; speedup: number };
  };
}

/**
 * The Silero VAD recipe: synthesise (or reuse) audio, label it with Silero VAD v5 (or reuse the cached labels),
 * train the student by KD and the same student without the teacher, then compare both with the teacher on
 * held-out clips and time student and teacher frame by frame in this process. Writes a run folder.
 */
export async function runVadRecipe(recipeInput: VadRecipe | VadRecipeInput, opts: VadRunOptions = {}): Promise<VadResult> {
  const info = opts.info ?? (() => {});
  let recipe = parseVadRecipe(recipeInput);
  if (opts.quick) recipe = applyQuick(recipe);
  await useBackend(recipe.backend);
  const run = RunFolder.create(recipe.name, recipe.output);
  try {
    const result = await runInFolder(recipe, run, info);
    run.writeJson("results.json", { ...result, runDir: run.finalDir });
    const dir = run.finish();
    info(`run folder: ${dir}`);
    return { ...result, runDir: dir };
  } catch (err) {
    run.discard();
    throw err;
  }
}

async function runInFolder(recipe: VadRecipe, run: RunFolder, info: (line: string) => void): Promise<VadResult> {
  run.writeJson("config.json", recipe);
  const { dir, clips, heldout, clipSeconds, gapSeconds, snrDb, cleanShare, noises } = recipe.data;
  const synth: SynthOptions = { seed: recipe.seed, clips, clipSeconds, gapSeconds, snrDb, cleanShare, noises };
  const dataDir = join(dir, synthKey(synth));
  const manifest = await prepareVadData(synth, dataDir, info);
  const labelled = await labelClips(dataDir, manifest, recipe.teacher.path, recipe.teacher.batch, info);
  const nTrain = clips - heldout;
  const cfg: FeatureConfig = { sampleRate: SAMPLE_RATE, chunk: SILERO_CHUNK, ...recipe.features };

  const mels = logMels(labelled.audio, cfg);
  const std = fitFeatures(mels.slice(0, nTrain), cfg);
  const trainF = stackClips(mels.slice(0, nTrain), cfg, std);
  const trainP = concat(labelled.probs.slice(0, nTrain));
  const truth = manifest.clips.map((c, i) => truthFrames(c.speech, labelled.probs[i].length, SILERO_CHUNK));
  const trainTruth = Int32Array.from(concat(truth.slice(0, nTrain)));
  info(`features: ${trainP.length} training frames of shape [${trainF.sampleShape}]`);

  const config = modelConfigFromSpec(recipe.student.spec, { inputShape: inputShape(cfg), numClasses: 2 });
  const fitOpts = {
    epochs: recipe.training.epochs,
    batchSize: recipe.training.batchSize,
    optimizer: { kind: "adam" as const, lr: recipe.training.lr, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 },
    seed: recipe.seed,
    keepBest: false,
  };
  const epochLine = (label: string): TrainingReporter => ({ onEpoch: (e) => info(`${label}: epoch ${e.epoch}/${e.epochs} loss ${e.loss.toFixed(4)} (${e.metrics.seconds.toFixed(1)} s)`) });

  const student = new SequentialModel(config, recipe.seed);
  const kd = await distill({
    student,
    data: dataset("vad/train", trainF, decisions(trainP)),
    teacherLogits: new TeacherLogitCache(probsToLogits(trainP), 2),
    temperature: recipe.training.temperature,
    alpha: recipe.training.alpha,
    reporter: epochLine("distill"),
    ...fitOpts,
  });
  const alone = new SequentialModel(config, recipe.seed);
  const base = await train(alone, dataset("vad/train-truth", trainF, trainTruth), { label: "alone", reporter: epochLine("alone"), ...fitOpts });

  const testAudio = labelled.audio.slice(nTrain);
  const testP = concat(labelled.probs.slice(nTrain));
  const testDecisions = decisions(testP);
  const testTruth = concat(truth.slice(nTrain));
  const score = (model: SequentialModel, seconds: number): StudentScores => {
    const p = concat(studentProbs(model, testAudio, cfg, std));
    return { agreement: agreementRate(p, testDecisions), auc: rocAuc(p, testDecisions), truthAccuracy: agreementRate(p, testTruth), trainSeconds: seconds };
  };
  const distilled = score(student, kd.seconds);
  const aloneScores = score(alone, base.seconds);
  info(`held-out agreement with the teacher: distilled ${(100 * distilled.agreement).toFixed(2)}%, alone ${(100 * aloneScores.agreement).toFixed(2)}%, majority ${(100 * majorityRate(testDecisions)).toFixed(2)}%`);

  const teacher = await SileroVadTeacher.open(recipe.teacher.path);
  let latency: VadResult["latency"];
  try {
    const plain = DenseForward.from(student);
    const makers: Record<string, () => StudentStream> = { tfjs: () => new StudentStream(student, cfg, std) };
    if (plain) makers.plain = () => new StudentStream(student, cfg, std, plain);
    const stream = await measureStreaming(teacher, makers, concat(testAudio), SILERO_CHUNK, recipe.latency.frames);
    const offline = await measureOffline(teacher, student, testAudio, cfg, std);
    const speedups = Object.fromEntries(Object.entries(stream.students).map(([k, v]) => [k, stream.teacher.meanMs / v.meanMs]));
    const speedupsP50 = Object.fromEntries(Object.entries(stream.students).map(([k, v]) => [k, stream.teacher.p50Ms / v.p50Ms]));
    latency = {
      streaming: { teacher: stream.teacher, student: stream.students, speedup: speedups, speedupP50: speedupsP50 },
      offline: { ...offline, speedup: offline.teacherMsPerFrame / offline.studentMsPerFrame },
    };
  } finally {
    await teacher.close();
  }
  const ms = (v: FrameLatency) => `${v.meanMs.toFixed(3)} ms`;
  const studentLines = Object.entries(latency.streaming.student).map(([k, v]) => `student (${k}) ${ms(v)} (${latency.streaming.speedup[k].toFixed(2)}× mean, ${latency.streaming.speedupP50[k].toFixed(2)}× p50)`);
  info(`latency per 32 ms frame, streaming: teacher ${ms(latency.streaming.teacher)}, ${studentLines.join(", ")}; offline: ${latency.offline.speedup.toFixed(2)}×`);

  await saveModel(student, run.path("student"), { task: "vad", features: cfg, standardizer: std, teacher: "silero-vad-v5" });
  const sum = (a: Int32Array) => a.reduce((s, v) => s + v, 0);
  return {
    runDir: run.finalDir,
    dataDir,
    trainClips: nTrain,
    heldoutClips: heldout,
    trainFrames: trainP.length,
    heldoutFrames: testP.length,
    teacherSpeechShare: sum(testDecisions) / testDecisions.length,
    majorityAgreement: majorityRate(testDecisions),
    teacherTruthAccuracy: agreementRate(testP, testTruth),
    labelsCached: labelled.cached,
    teacherLabelSeconds: labelled.teacherSeconds,
    studentParams: student.paramCount,
    distilled,
    alone: aloneScores,
    latency,
  };
}
