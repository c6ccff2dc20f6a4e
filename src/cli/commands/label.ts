import { parseOptions, numberOption, choiceOption } from "../args.js";
import { lmLabelCommand } from "./lm-label.js";
import { argvHasLmData } from "./lm-common.js";
import { DATA_OPTIONS, dataOptionHelp, GLOBAL_HELP, GLOBAL_OPTIONS, announceData, dataSpec, printResult, selectBackend } from "./common.js";
import { DATA_SPECS_HELP, loadSplits } from "../../data/sources.js";
import { checkTeacherTask, rescaledTeacher, teacherOutputScale, UNITS } from "../../teachers/teacher-task.js";
import { labelDataset } from "../../teachers/label-cache.js";
import { openTeachers, TEACHER_SPEC_HELP } from "../../teachers/open-teacher.js";
import { join } from "node:path";
import { UsageError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/files.js";
import { PRIVACY_HELP, PRIVACY_OPTIONS, printDryRun, redactOptions } from "../privacy.js";
import { checkTeacherOnData } from "../../teachers/teacher-checks.js";
import { queueShardRunner } from "../../queue/label-remote.js";
import { parseQueueUrl } from "../../queue/connection.js";
import { absoluteDataSpec, absoluteTeacherSpec } from "../../queue/paths.js";

export const LABEL_HELP = `tsdistill label --teacher PATH --out CACHE_DIR [options]
(Causal language models on text:/sotu corpora: tsdistill label --data "sotu?ctx=128" --help)

Runs a teacher once over the transfer set (the training split left after the validation split, optionally a
--train-size sample of it) and writes sharded safetensors files plus manifest.json (teacher hash, data set hash,
shapes, top-k setting). A regression teacher (one output) is stored in the target's units. Interrupted runs resume:
finished shards are kept, only the rest is computed. Every file is
written atomically. 'tsdistill distill --teacher-cache CACHE_DIR' then trains without loading the teacher;
a cache of the test split (--split test) is a teacher for 'tsdistill eval --teacher CACHE_DIR'.
Before anything is written the teacher is checked against the data (outputs per class, input shape or raw
sample kind) and run on 64 samples spread over the data (finite outputs, not one answer for every input).

  --teacher PATH         ${TEACHER_SPEC_HELP}.
                         ONNX: the input spec is read from the model, NCHW inputs are transposed, probability
                         outputs are logged; a teacher.yaml 'input:' section feeds raw images or texts instead.
                         Function teachers get each batch's raw samples ({ raw, rows, x, n, sampleShape }). A
                         config of kind api labels the raw texts of --data jsonl:<file> through an
                         OpenAI-compatible endpoint. Repeat --teacher for an ensemble.
  --weights W1,W2,…      ensemble weights (default equal): p = Σ w_i·softmax(z_i) / Σ w_i
  --out DIR              cache folder
${dataOptionHelp("data set (default mnist)")}
  --validation-size N    held-out samples, as for distill (default 10 % of the training split, at most 5000)
  --train-size N         label only N transfer samples (drawn with --seed, stratified by class, as for distill)
  --split train|validation|test   which split to label (default train: the transfer set)
  --seed N               the split's seed, as for distill (default 42)
  --shard-size N         samples per shard (default 10000)
  --top-k K              store only each sample's top-K classes (log-probabilities)
  --overwrite            replace a cache made by another teacher or from other data
${PRIVACY_HELP}
  --queue redis://HOST:PORT   have 'tsdistill worker' processes compute the shards (README: Scale-out); --out
                         must be a folder every worker writes at the same path. This process checks the
                         teacher, queues the missing shards, and alone writes the manifest: the same files as without --queue
${GLOBAL_HELP}

${DATA_SPECS_HELP}`;

export async function labelCommand(argv: string[]): Promise<void> {
  if (argvHasLmData(argv)) return lmLabelCommand(argv);
  const { values } = parseOptions("label", argv, {
    ...GLOBAL_OPTIONS,
    teacher: { type: "string", multiple: true },
    ...PRIVACY_OPTIONS,
    weights: { type: "string" },
    out: { type: "string" },
    ...DATA_OPTIONS,
    "validation-size": { type: "string" },
    "train-size": { type: "string" },
    seed: { type: "string" },
    "shard-size": { type: "string" },
    "top-k": { type: "string" },
    split: { type: "string" },
    overwrite: { type: "boolean" },
    queue: { type: "string" },
  });
  if (values.help) return void process.stdout.write(LABEL_HELP + "\n");
  if (!values.teacher) throw new UsageError(`label: --teacher is required (${TEACHER_SPEC_HELP})`);
  if (!values.out && !values["dry-run"]) throw new UsageError("label: --out is required (the cache folder)");
  const split = {
    validationSize: numberOption("validation-size", values["validation-size"], { int: true, min: 1 }),
    trainSize: numberOption("train-size", values["train-size"], { int: true, min: 1 }),
    seed: numberOption("seed", values.seed, { int: true, min: 0 }) ?? 42,
  };
  const shardSize = numberOption("shard-size", values["shard-size"], { int: true, min: 1 }) ?? 10000;
  const topK = numberOption("top-k", values["top-k"], { int: true, min: 1 });
  const queueUrl = values.queue === undefined ? undefined : parseQueueUrl(String(values.queue));
  const backend = await selectBackend(values);
  const specs = (values.teacher as string[]).map(String);
  const weights = values.weights === undefined ? undefined : String(values.weights).split(",").map((w, i) => numberOption(`weights[${i}]`, w, { min: 0 })!);
  if (weights && weights.length !== specs.length) throw new UsageError(`--weights: expected ${specs.length} comma-separated weights (one per --teacher), got ${weights.length}`);
  const splitName = choiceOption("split", values.split, ["train", "validation", "test"] as const) ?? "train";
  const dataName = dataSpec(values);
  const splits = loadSplits(dataName, split);
  const { preprocess, summary } = splits;
  const data = splits[splitName];
  if (data.size === 0) throw new UsageError(`--split: the ${splitName} split of ${dataName} is empty`);
  const onRetry = values.quiet ? undefined : (r: { index: number; attempt: number; message: string; delayMs: number }) => process.stderr.write(`retry ${r.attempt} of a request (${r.message}); waiting ${Math.round(r.delayMs)} ms\n`);
  const opened = await openTeachers(specs, data, weights, { api: { batch: { onRetry }, redact: redactOptions(values) }, dataPreprocess: preprocess });
  if (values["dry-run"]) {
    // Before the teacher check, which would send 64 texts.
    try {
      return printDryRun(values, opened.teacher, data);
    } finally {
      await opened.close();
    }
  }
  const { hash: teacherHash } = opened;
  // A regression teacher's numbers go into the cache in the target's units (tsdistill's own models output standardised ones).
  const teacher = data.task === "regression" && specs.length === 1 ? rescaledTeacher(opened.teacher, teacherOutputScale(specs[0]), UNITS) : opened.teacher;
  let warned = false;
  try {
    checkTeacherTask(teacher.numClasses, data, specs.length === 1 ? specs[0] : `the ensemble of ${specs.length} teachers`, dataName);
    if (data.task === "regression" && specs.length > 1) throw new UsageError(`--teacher: an ensemble averages class probabilities; ${dataName} is a regression task, give one teacher`);
    // Checked and run on the first samples before the cache folder is made: a refused run leaves nothing behind.
    const warnings = await checkTeacherOnData(teacher, data, { dataName: `${dataName} (${splitName} split)` });
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    warned = warnings.length > 0;
    if (topK && topK >= teacher.numClasses) throw new UsageError(`--top-k: expected fewer than the teacher's ${teacher.numClasses} classes, got ${topK}`);
    checkClassOrder(teacher.metadata?.output.classNames, (preprocess as { labelNames?: string[] } | undefined)?.labelNames);
  } catch (err) {
    await opened.close();
    throw err;
  }
  announceData(values, summary);
  const t0 = performance.now();
  let computed = 0;
  // With --queue, Ctrl-C takes this run's waiting jobs off the queue before exiting.
  const interrupt = new AbortController();
  if (queueUrl) process.once("SIGINT", () => interrupt.abort());
  const shardRunner = queueUrl
    ? queueShardRunner({
        url: queueUrl,
        signal: interrupt.signal,
        source: { teachers: specs.map((s) => absoluteTeacherSpec(s, process.cwd())), weights, data: absoluteDataSpec(dataName, process.cwd()), split, splitName, backend },
        log: values.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
      })
    : undefined;
  const manifest = await labelDataset(teacher, data, String(values.out), {
    shardRunner,
    teacherHash,
    // The check above ran the teacher on the first rows already; its warnings are not repeated.
    onWarning: (w) => void (warned || process.stderr.write(`warning: ${w}\n`)),
    shardSize,
    topK,
    overwrite: Boolean(values.overwrite),
    onShard: (i, n) => {
      computed++;
      if (!values.quiet && !shardRunner) process.stderr.write(`shard ${i + 1}/${n} written\n`);
    },
  }).finally(() => opened.close());
  const teacherStats = opened.stats?.() ?? null;
  // API teachers: requests, tokens, cost and redaction counts stay with the cache they produced.
  if (teacherStats) writeFileAtomic(join(String(values.out), "teacher-stats.json"), JSON.stringify(teacherStats, null, 2) + "\n");
  const seconds = (performance.now() - t0) / 1000;
  printResult(
    values,
    { out: values.out, split: splitName, dataSummary: summary, samples: manifest.numSamples, shards: manifest.shards.length, shardsComputed: computed, topK: manifest.topK, teacherHash, datasetHash: manifest.datasetHash, seconds, teacherStats },
    `${manifest.numSamples} samples in ${manifest.shards.length} shards at ${values.out} (${computed} computed now, ${manifest.shards.length - computed} reused), ${seconds.toFixed(1)} s`,
  );
}

/** A teacher that names its classes must list them in the data's class order (class i is the same class for both). */
function checkClassOrder(teacherNames: string[] | undefined, dataNames: string[] | undefined): void {
  if (!teacherNames || !dataNames) return;
  const norm = (a: string[]) => a.map((n) => n.trim().toLowerCase());
  if (norm(teacherNames).join("\u0000") !== norm(dataNames).join("\u0000")) {
    throw new UsageError(`--teacher: the teacher's classes [${teacherNames.join(", ")}] are not the data's classes in the data's order [${dataNames.join(", ")}]; list the labels in that order`);
  }
}
