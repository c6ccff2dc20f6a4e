import { parseOptions } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, openRunFolder, printResult, recordingReporter, reporterFrom, selectBackend } from "./common.js";
import { useBackend } from "../../engine/backend.js";
import { CheckpointStore } from "../../train/checkpoint.js";
import { UsageError } from "../../util/errors.js";
import { parseExperiment, readExperimentYaml } from "../../experiments/experiment.js";
import { runExperiment } from "../../experiments/run-experiment.js";
import { experimentTable, formatSeconds } from "../../experiments/table.js";
import { runLm } from "./run-lm.js";
import { runEmbeddingRecipeCommand } from "./run-embedding.js";

export const RUN_HELP = `tsdistill run RECIPE.yaml [--quick] [--out DIR] [--resume] [options]

Runs an experiment recipe (recipes/*.yaml): trains or loads the teacher once, then for each distilled variant the
same student alone on hard labels (same seed, transfer set and epochs) and the distilled student, and prints one
table: test errors (beside the paper's where the recipe cites them), accuracy, agreement with the teacher, share
of the student-alone → teacher gap closed, parameters, size on disk, batch-1 latency and speed-up. The run folder
holds every model, per-epoch metrics and results.json (bench/results.ts turns those into docs/RESULTS.md).

  --quick                the recipe's tiny budget (its "quick" section): seconds to a minute
  --out DIR              run folder (default runs/<time>-<recipe name>)
  --resume               continue an interrupted run of this recipe (at --out DIR, else the newest in runs/): the
                         models it finished are kept, the one in training goes on from its last finished epoch
  --teachers DIR         where trained teachers are kept and reused across runs and recipes (default: the run
                         folder's parent /teachers, e.g. runs/teachers)
${GLOBAL_HELP}`;

export async function runCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseOptions("run", argv, { ...GLOBAL_OPTIONS, quick: { type: "boolean" }, out: { type: "string" }, resume: { type: "boolean" }, teachers: { type: "string" } }, true);
  if (values.help) return void process.stdout.write(RUN_HELP + "\n");
  if (positionals.length !== 1) throw new UsageError("run: expected one recipe file, e.g. tsdistill run recipes/mnist-hinton.yaml");
  const file = positionals[0];
  const raw = readExperimentYaml(file);
  if (typeof raw === "object" && raw !== null && (raw as { kind?: unknown }).kind === "vad") return runVad(file, values);
  if (typeof raw === "object" && raw !== null && (raw as { kind?: unknown }).kind === "lm") return runLm(file, raw, values);
  if (typeof raw === "object" && raw !== null && (raw as { kind?: unknown }).kind === "embedding") return runEmbeddingRecipeCommand(file, raw, values);
  const ex = parseExperiment(raw, file, { quick: Boolean(values.quick) });
  // Resolved here (auto → native or wasm), so config.json and the results say which backend ran.
  ex.base.backend = values.backend ? await selectBackend(values) : await useBackend(ex.base.backend);
  for (const v of ex.variants) v.recipe.backend = ex.base.backend;
  const progress = reporterFrom(values);
  // The recipe's content (and the backend) is compared on --resume, not the path it was given by.
  const config = { command: `run${ex.quick ? " --quick" : ""}`, file, recipe: raw, backend: ex.base.backend };
  const run = openRunFolder(values, `${ex.name}${ex.quick ? "-quick" : ""}`, config, progress, { out: ex.base.output, ignoreOnResume: ["file"] });
  try {
    const checkpoints = new CheckpointStore(run.checkpointDir);
    const result = await runExperiment(ex, { dir: run.dir, teacherStore: values.teachers as string | undefined, reporter: recordingReporter(run, progress), info: (m) => progress.info(m), checkpoints });
    run.writeJson("results.json", result);
    const dir = run.finish();
    printResult(values, { ...result, runDir: dir }, `${experimentTable(result)}\n\n${ex.name}: ${formatSeconds(result.seconds)}; run folder ${dir}`);
  } catch (err) {
    run.discard();
    throw err;
  }
}

/** `kind: vad` recipes (Silero VAD → frame-level student): their own schema and runner (src/audio). */
async function runVad(file: string, values: Record<string, string | boolean | (string | boolean)[] | undefined>): Promise<void> {
  if (values.resume) throw new UsageError("run: --resume is not available for kind: vad recipes (they train in seconds); run it again");
  const { loadVadRecipe, runVadRecipe } = await import("../../audio/index.js");
  const recipe = loadVadRecipe(file);
  recipe.backend = values.backend ? await selectBackend(values) : await useBackend(recipe.backend);
  if (values.out) recipe.output = String(values.out);
  const progress = reporterFrom(values);
  const r = await runVadRecipe(recipe, { quick: Boolean(values.quick), info: (m) => progress.info(m) });
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const s = r.latency.streaming;
  printResult(
    values,
    r,
    [
      `| student (${r.studentParams.toLocaleString("en-US")} params) | agreement with Silero VAD | ROC-AUC vs its decisions |`,
      "| --- | --- | --- |",
      `| distilled | ${pct(r.distilled.agreement)} | ${r.distilled.auc.toFixed(4)} |`,
      `| alone (no teacher) | ${pct(r.alone.agreement)} | ${r.alone.auc.toFixed(4)} |`,
      `| always the majority | ${pct(r.majorityAgreement)} | |`,
      "",
      `per-frame latency (batch 1, streaming): teacher ${s.teacher.p50Ms.toFixed(3)} ms p50; ` +
        Object.entries(s.student).map(([k, v]) => `student/${k} ${v.p50Ms.toFixed(3)} ms (${s.speedupP50[k].toFixed(2)}× faster)`).join(", "),
      `offline: ${r.latency.offline.speedup.toFixed(2)}× faster per frame; run folder ${r.runDir}`,
    ].join("\n"),
  );
}
