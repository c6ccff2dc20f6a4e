import { dirname, join } from "node:path";
import { openRunFolder, printResult, recordingReporter, reporterFrom, selectBackend, type Values } from "./common.js";
import { parseLmRecipe } from "../../experiments/lm-recipe.js";
import { lmRunTable, runLmRecipe } from "../../experiments/lm-run.js";
import { formatSeconds } from "../../experiments/table.js";
import { UsageError } from "../../util/errors.js";

/** `kind: lm` recipes (recipes/sotu-lm.yaml): teacher LM, its ONNX export, one student per distillation method. */
export async function runLm(file: string, raw: unknown, values: Values): Promise<void> {
  if (values.resume) throw new UsageError("run: --resume is not available for kind: lm recipes yet; the teacher is reused from --teachers, run it again");
  const quick = Boolean(values.quick);
  const recipe = parseLmRecipe(raw, file, { quick });
  if (values.backend) recipe.backend = (await selectBackend(values)) as typeof recipe.backend;
  const progress = reporterFrom(values);
  const name = `${recipe.name}${quick ? "-quick" : ""}`;
  const run = openRunFolder(values, name, { command: `run${quick ? " --quick" : ""}`, file, recipe: raw, backend: recipe.backend }, progress);
  try {
    const teacherStore = (values.teachers as string | undefined) ?? join(dirname(run.finalDir), "teachers");
    const result = await runLmRecipe(recipe, { dir: run.dir, teacherStore, reporter: recordingReporter(run, progress), info: (m) => progress.info(m) });
    run.writeJson("results.json", result);
    const dir = run.finish();
    const notes = `top-k cache: ${result.topKBytesPerToken ?? "-"} bytes/token; ${result.trainWindows} training windows, ${result.testWindows} held-out windows`;
    printResult(values, { ...result, runDir: dir }, `${lmRunTable(result)}\n\n${notes}\n${recipe.name}: ${formatSeconds(result.seconds)}; run folder ${dir}`);
  } catch (err) {
    run.discard();
    throw err;
  }
}
