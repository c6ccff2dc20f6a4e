import { availableParallelism } from "node:os";
import { choiceOption, numberOption, parseOptions } from "../args.js";
import { DATA_OPTIONS, dataOptionHelp, GLOBAL_HELP, GLOBAL_OPTIONS, dataSpec, printResult, selectBackend } from "./common.js";
import { DEFAULT_DB, runAutoSearch } from "../../auto/search.js";
import { formatFronts } from "../../auto/summary.js";
import { TEACHER_SPEC_HELP } from "../../teachers/open-teacher.js";
import { DATA_SPECS_HELP } from "../../data/sources.js";
import { UsageError } from "../../util/errors.js";
import { openQueue, parseQueueUrl, type QueueClient } from "../../queue/connection.js";
import { QueuePool } from "../../queue/auto-pool.js";

export const AUTO_HELP = `tsdistill auto --teacher PATH --data SPEC (--time-budget 15m | --trials N) [options]

Searches for the best student under your constraints: student architecture (MLP depth and widths, CNN
channels), distillation method (kd, dkd, dist, logit-mse, each mixed with hard-label cross-entropy by α),
temperature and learning rate. The teacher runs once (its outputs are cached in the output folder); candidates
that break --max-params or --max-latency-ms (batch-1, measured here on an untrained copy) are skipped before
training; the rest train in brackets of successive halving (epochs as the resource, scored on the validation
split) in parallel worker threads. The first candidate is the demo's mlp:800-800 with KD T=8, α=0.1 (halved in
width until it fits) and always reaches the last rung. Every trial is recorded in a SQLite run store; running
the same command again with the same --out continues an interrupted search without redoing finished trials.

Writes <out>/best (the best student meeting the constraints; 'tsdistill export --model <out>/best'),
<out>/report.html (Pareto charts and tables), <out>/results.json, and prints both Pareto fronts.

  --teacher PATH         ${TEACHER_SPEC_HELP}
${dataOptionHelp("data set (default mnist)")}
  --max-params N         largest student allowed (parameters)
  --max-latency-ms X     slowest student allowed: batch-1 p50 latency in ms on this machine and backend
  --min-agreement A      least top-1 agreement with the teacher on the validation split, in [0, 1]
  --objective accuracy|r2|agreement   what "best" maximises on the validation split (default accuracy; r2 for a
                         regression data set, where agreement is the R² of the student against the teacher)
  --time-budget T        stop starting trials after T (e.g. 900, 90s, 15m, 1h; all runs of this search together)
  --trials N             number of candidates to train (constraint-skipped ones do not count); deterministic
  --workers N            worker threads training in parallel (default: one per core, here ${availableParallelism()})
  --min-epochs N         epochs of the cheapest rung (default 1)
  --max-epochs N         epochs of the last rung (default 10)
  --eta X                halving factor: each rung keeps 1/η of the candidates (default 3)
  --train-size N         transfer set: N training samples after the validation split, drawn with --seed and
                         stratified by class (default all)
  --validation-size N    samples held out for scoring trials (default 10 % of the training split, at most 5000)
  --batch-size N         mini-batch size (default 128)
  --seed N               seed of the split, the sampler and every trial (default 42)
  --out DIR              search folder (default runs/<time>-auto); the same DIR resumes the search
  --db PATH              run store (default: the one the search in --out uses, else ${DEFAULT_DB})
  --queue redis://HOST:PORT   run the trials and latency probes on 'tsdistill worker' processes (README:
                         Scale-out); --out must be a folder every worker sees at the same path. This process
                         labels, keeps the run store and finalises; --workers then caps the jobs queued at once
                         (default: the slots of the connected workers)
${GLOBAL_HELP}

With --trials N the search is deterministic for a seed (the same trials, scores and best) with any --workers;
with --time-budget the trials that fit depend on the machine's speed. Latencies are measured, so candidates near
--max-latency-ms may be kept or skipped differently between runs.

${DATA_SPECS_HELP}`;

/** "900", "90s", "15m", "1h", "1h30m" → seconds. */
export function parseDuration(raw: string): number {
  const s = raw.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(s);
  if (!m || s === "" || !(m[1] || m[2] || m[3])) throw new UsageError(`--time-budget: expected a duration such as 900, 90s, 15m or 1h, got "${raw}"`);
  const secs = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  if (!(secs > 0)) throw new UsageError(`--time-budget: expected a positive duration, got "${raw}"`);
  return secs;
}

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export async function autoCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("auto", argv, {
    ...GLOBAL_OPTIONS,
    teacher: { type: "string" },
    ...DATA_OPTIONS,
    "max-params": { type: "string" },
    "max-latency-ms": { type: "string" },
    "min-agreement": { type: "string" },
    objective: { type: "string" },
    "time-budget": { type: "string" },
    trials: { type: "string" },
    workers: { type: "string" },
    "min-epochs": { type: "string" },
    "max-epochs": { type: "string" },
    eta: { type: "string" },
    "train-size": { type: "string" },
    "validation-size": { type: "string" },
    "batch-size": { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    db: { type: "string" },
    queue: { type: "string" },
  });
  if (values.help) return void process.stdout.write(AUTO_HELP + "\n");
  if (!values.teacher) throw new UsageError("auto: --teacher is required (a model folder, an .onnx file or fn:module#export)");
  const timeBudgetSeconds = values["time-budget"] === undefined ? undefined : parseDuration(String(values["time-budget"]));
  const trials = numberOption("trials", values.trials, { int: true, min: 1 });
  const backend = await selectBackend(values);
  const quiet = Boolean(values.quiet);
  const log = quiet ? undefined : (m: string) => void process.stderr.write(m + "\n");
  const queueUrl = values.queue === undefined ? undefined : parseQueueUrl(String(values.queue));
  const maxQueued = numberOption("workers", values.workers, { int: true, min: 1 });
  const queue: QueueClient | null = queueUrl ? await openQueue(queueUrl, log) : null;
  const controller = new AbortController();
  const onSigint = () => {
    if (!quiet) process.stderr.write("\ninterrupted: stopping the workers; run the same command again to continue\n");
    controller.abort();
  };
  process.once("SIGINT", onSigint);
  try {
    const result = await runAutoSearch({
      teacher: String(values.teacher),
      data: dataSpec(values),
      trainSize: numberOption("train-size", values["train-size"], { int: true, min: 1 }),
      validationSize: numberOption("validation-size", values["validation-size"], { int: true, min: 1 }),
      seed: numberOption("seed", values.seed, { int: true, min: 0 }) ?? 42,
      constraints: {
        maxParams: numberOption("max-params", values["max-params"], { int: true, min: 1 }),
        maxLatencyMs: numberOption("max-latency-ms", values["max-latency-ms"], { min: 0, exclusiveMin: true }),
        minAgreement: numberOption("min-agreement", values["min-agreement"], { min: 0, max: 1 }),
      },
      objective: choiceOption("objective", values.objective, ["accuracy", "agreement", "r2"] as const),
      timeBudgetSeconds: timeBudgetSeconds ?? (trials === undefined ? 15 * 60 : undefined),
      trials,
      workers: numberOption("workers", values.workers, { int: true, min: 1 }) ?? availableParallelism(),
      out: (values.out as string | undefined) ?? `runs/${timestamp()}-auto`,
      db: values.db as string | undefined,
      backend,
      halving: {
        minEpochs: numberOption("min-epochs", values["min-epochs"], { int: true, min: 1 }) ?? 1,
        maxEpochs: numberOption("max-epochs", values["max-epochs"], { int: true, min: 1 }) ?? 10,
        eta: numberOption("eta", values.eta, { min: 2 }) ?? 3,
      },
      batchSize: numberOption("batch-size", values["batch-size"], { int: true, min: 1 }) ?? 128,
      log,
      signal: controller.signal,
      pool: queue ? (o) => new QueuePool(queue, { ...o, maxQueued, log }) : undefined,
    });
    const s = result.summary;
    const b = s.best;
    const reg = result.task === "regression";
    const score = (v: number | null) => (v === null ? "–" : reg ? v.toFixed(4) : `${(v * 100).toFixed(2)}%`);
    const metric = reg ? "R²" : "accuracy";
    const head = b
      ? `best meeting the constraints: trial ${b.trialId} ${b.spec} (${b.method}), validation ${metric} ${score(b.valAccuracy)}, test ${metric} ${score(b.testAccuracy)}, ${b.params?.toLocaleString("en-US")} params, batch-1 ${(b.finalLatencyMs ?? b.latencyMs ?? NaN).toFixed(3)} ms\nsaved to ${result.bestDir}`
      : "no finished candidate meets the constraints";
    printResult(
      values,
      result,
      `${formatFronts(s)}\n\nteacher test ${metric} ${score(result.teacher.testAccuracy)}; ${s.counts.finished} trials finished, ${s.counts.skipped} candidates skipped before training, status ${result.status}, ${result.elapsedSeconds.toFixed(0)} s\n${head}\nreport: ${result.reportPath}\nrun store: ${result.db} (search ${result.searchId}; 'tsdistill runs --db ${result.db} show ${result.searchId}')`,
    );
  } finally {
    process.removeListener("SIGINT", onSigint);
    await queue?.close();
  }
}
