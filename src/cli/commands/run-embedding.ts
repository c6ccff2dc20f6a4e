// `tsdistill run` on a `kind: embedding` recipe (recipes/use-embeddings.yaml): its own schema and runner (src/embeddings).
import { dirname, join } from "node:path";
import { UsageError } from "../../util/errors.js";
import { openRunFolder, printResult, reporterFrom } from "./common.js";

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export async function runEmbeddingRecipeCommand(file: string, raw: unknown, values: Values): Promise<void> {
  if (values.resume) throw new UsageError("run: --resume is not available for kind: embedding recipes; run it again (teacher vectors are cached in the run folder only)");
  const { parseEmbeddingRecipe, checkEmbeddingRecipe } = await import("../../experiments/embedding-recipe.js");
  const { runEmbeddingRecipe, embeddingRecipeTable } = await import("../../experiments/embedding-run.js");
  const { useBackend } = await import("../../engine/backend.js");
  const quick = Boolean(values.quick);
  const recipe = parseEmbeddingRecipe(raw, file, { quick });
  checkEmbeddingRecipe(recipe, file);
  // wasm: on the 2-core machine the numbers here were measured on, it beat the native backend for USE-lite and for
  // training these students (bench/embeddings.ts).
  await useBackend(values.backend ? (String(values.backend) as Parameters<typeof useBackend>[0]) : "wasm");
  const progress = reporterFrom(values);
  const run = openRunFolder(values, `${recipe.name}${quick ? "-quick" : ""}`, { command: `run${quick ? " --quick" : ""}`, file, recipe: raw }, progress, { out: recipe.output });
  try {
    // Teacher vectors are kept beside the run folders (runs/embedding-cache): a rerun skips the teacher.
    const result = await runEmbeddingRecipe(recipe, { dir: run.dir, cacheDir: join(dirname(run.finalDir), "embedding-cache"), quick, recipeDir: dirname(file), info: (m) => progress.info(m) });
    run.writeJson("results.json", result);
    const table = embeddingRecipeTable(result);
    const dir = run.finish();
    printResult(values, { ...result, runDir: dir, table }, `${table}\n\n${recipe.name}: ${result.seconds.toFixed(0)} s; run folder ${dir}`);
  } catch (err) {
    run.discard();
    throw err;
  }
}
