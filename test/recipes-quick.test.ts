// Every experiment recipe's --quick variant, end to end through the CLI: every distilled variant and its
// student-alone baseline are trained and evaluated. Whether distillation wins is a claim over seeds and full
// budgets (docs/RESULTS.md); on one seed at a tiny budget it is only reported here, never asserted (it would flake).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { runCli, tempDir } from "./helpers.js";
import { needs } from "./prerequisites.js";

interface Row { name: string; role: string; errors: number; baseline?: string; biasAdjusted?: { errors: number } }

const recipes = readdirSync("recipes")
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => join("recipes", f))
  .filter((f) => {
    const y = parse(readFileSync(f, "utf8")) as Record<string, unknown>;
    return y.quick !== undefined && y.kind === undefined;
  });

test("there are experiment recipes with a quick budget", () => {
  assert.ok(recipes.length >= 1, `found ${recipes.length} recipes with a quick section`);
});

// One teacher store for all recipes: the fashion-mnist recipes share their teacher, as they do in runs/teachers.
const teachers = tempDir("tsdistill-teachers-");
process.on("exit", teachers.cleanup);

/** A recipe's data (its `requires:` paths): skipped with the recipe's own prepare command when missing. */
function dataSkip(file: string): false | string {
  const requires = ((parse(readFileSync(file, "utf8")) as { requires?: { path: string; prepare: string }[] }).requires ?? []);
  const missing = requires.find((r) => !existsSync(r.path));
  return missing ? needs(false, `${file}'s data ${missing.path}`, missing.prepare) : false;
}

for (const file of recipes) {
  test(`run ${file} --quick: distilled variants and their students alone are trained and evaluated`, { skip: dataSkip(file), timeout: 900_000 }, async (t) => {
    const tmp = tempDir();
    t.after(tmp.cleanup);
    const r = await runCli(["run", file, "--quick", "--json", "--quiet", "--out", join(tmp.dir, "run"), "--teachers", teachers.dir], 900_000);
    assert.equal(r.code, 0, `exit code ${r.code}; stderr: ${r.stderr.slice(-2000)}`);
    const result = JSON.parse(r.stdout) as { rows: Row[]; seconds: number };
    const byName = new Map(result.rows.map((x) => [x.name, x]));
    const distilled = result.rows.filter((x) => x.role === "distilled");
    assert.ok(distilled.length >= 1, "at least one distilled variant");
    for (const d of distilled) {
      const alone = byName.get(d.baseline ?? "");
      assert.ok(alone, `${d.name}: its student-alone row "${d.baseline}" is in the table`);
      t.diagnostic(`${d.name}: ${d.errors} errors vs ${alone.errors} alone`);
      for (const row of [d, alone]) assert.ok(Number.isSafeInteger(row.errors) && row.errors >= 0, `${row.name}: errors ${row.errors}`);
    }
    t.diagnostic(`${file}: ${result.seconds.toFixed(1)} s`);
  });
}
