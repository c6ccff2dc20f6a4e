// Fuzz suite, configs and requests: every recipe in recipes/ and a set of teacher configs, corrupted as text
// (bytes) and as structure (a value replaced by any JSON value, a key dropped), plus YAML alias bombs; and HTTP
// bodies for `tsdistill serve`'s /predict. Each must give one clean error line (TsdistillError; for HTTP a 4xx
// JSON error of one line) or a parsed result, never an internal error or a 500. Fixed seed; figures in
// docs/RELIABILITY.md.
import { parseLmRecipe } from "../src/experiments/lm-recipe.js";
import { parseEmbeddingRecipe } from "../src/experiments/embedding-recipe.js";
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { parseExperiment, readExperimentYaml } from "../src/experiments/experiment.js";
import { parseRecipe } from "../src/distill/recipe.js";
import { parseVadRecipe } from "../src/audio/recipe.js";
import { loadTeacherConfig, parseTeacherConfig } from "../src/teachers/teacher-config.js";
import { runCli, tempDir } from "./helpers.js";
import { Tally, cleanly, listTree, mutate, mutationArb, params } from "./fuzz-helpers.js";

const { dir, cleanup } = tempDir("tsdistill-fuzz-configs-");
const cwd = join(dir, "cwd");
mkdirSync(cwd);
const startCwd = process.cwd();
const tally = new Tally();
after(() => {
  process.chdir(startCwd);
  tally.print();
  cleanup();
});

const RECIPES = new URL("../recipes/", import.meta.url);
const recipeFiles = readdirSync(RECIPES).filter((f) => f.endsWith(".yaml")).sort();
let fileNo = 0;
function tempFile(name: string, data: string | Uint8Array): string {
  const p = join(dir, `${fileNo++}-${name}`);
  writeFileSync(p, data);
  return p;
}

/** A structural change to a parsed config: one value (found by walking the tree) replaced, dropped or retyped. */
interface Edit {
  pick: number;
  op: "replace" | "delete" | "stringify" | "negate";
  value: unknown;
}
const editArb: fc.Arbitrary<Edit> = fc.record({
  pick: fc.nat(),
  op: fc.constantFrom("replace" as const, "delete" as const, "stringify" as const, "negate" as const),
  value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(0, -1, 1e308, "", "../../etc/passwd", "/tmp", null, [], {}, "auto", "native", true)),
});

function applyEdits(value: unknown, edits: Edit[]): unknown {
  const root = structuredClone(value);
  for (const e of edits) {
    const slots: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach((x, i) => (slots.push({ parent: v, key: i }), walk(x)));
      else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) slots.push({ parent: v as Record<string, unknown>, key: k }), walk(x);
    };
    walk(root);
    if (slots.length === 0) continue;
    const { parent, key } = slots[e.pick % slots.length];
    const p = parent as Record<string | number, unknown>;
    if (e.op === "delete") {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
    } else if (e.op === "stringify") p[key] = typeof p[key] === "string" ? 7 : JSON.stringify(p[key]);
    else if (e.op === "negate") p[key] = typeof p[key] === "number" ? -(p[key] as number) : typeof p[key] === "boolean" ? !p[key] : e.value;
    else p[key] = e.value;
  }
  return root;
}

/** As `tsdistill run` reads a file (an experiment or a VAD recipe), or as `distill --recipe` (one run). */
function parseAnyRecipe(raw: unknown, file: string): unknown {
  if (raw && typeof raw === "object" && (raw as { kind?: unknown }).kind === "vad") return parseVadRecipe(raw, file);
  if (raw && typeof raw === "object" && (raw as { kind?: unknown }).kind === "lm") return parseLmRecipe(raw, file);
  if (raw && typeof raw === "object" && (raw as { kind?: unknown }).kind === "embedding") return parseEmbeddingRecipe(raw, file);
  if (raw && typeof raw === "object" && "variants" in raw) return parseExperiment(raw, file, { quick: "quick" in raw });
  return parseRecipe(raw, file);
}

test("fuzz recipes: every recipe in recipes/, corrupted as bytes and as structure, is one clean error or parses", () => {
  process.chdir(cwd);
  assert.ok(recipeFiles.length >= 10, `recipes/ holds ${recipeFiles.length} recipes`);
  const texts = recipeFiles.map((f) => readFileSync(new URL(f, RECIPES)));
  for (const [i, f] of recipeFiles.entries()) {
    const raw = parseYaml(texts[i].toString());
    assert.doesNotThrow(() => parseAnyRecipe(raw, f), `${f} as shipped`);
  }
  fc.assert(
    fc.property(fc.nat(), mutationArb, (which, m) => {
      const k = which % texts.length;
      const p = tempFile(recipeFiles[k], mutate(texts[k], m));
      cleanly(tally, "recipe (corrupted bytes)", () => parseAnyRecipe(readExperimentYaml(p), p));
    }),
    params(300),
  );
  fc.assert(
    fc.property(fc.nat(), fc.array(editArb, { minLength: 1, maxLength: 3 }), (which, edits) => {
      const k = which % texts.length;
      const raw = applyEdits(parseYaml(texts[k].toString()), edits);
      cleanly(tally, "recipe (corrupted structure)", () => parseAnyRecipe(raw, recipeFiles[k]));
      // And through a file, as `tsdistill run` reads it.
      const p = tempFile("edited.yaml", toYaml(raw));
      cleanly(tally, "recipe file (corrupted structure)", () => parseAnyRecipe(readExperimentYaml(p), p));
    }),
    params(300),
  );
});

const TEACHERS: unknown[] = [
  { kind: "onnx", path: "m/model.onnx", capture: ["h"], layout: "nchw", output: "logits", threads: 2 },
  { kind: "onnx", path: "m.onnx", input: { kind: "text", tokenizer: "tok.json", maxLength: 32 } },
  { kind: "tfjs", path: "teacher-folder" },
  { kind: "function", module: "f.mjs#teacher", numClasses: 3 },
  { kind: "api", baseURL: "http://127.0.0.1:9/v1", model: "m", labels: ["neg", "pos"], apiKeyEnv: "OPENAI_API_KEY", concurrency: 2 },
  { kind: "ensemble", members: [{ kind: "function", module: "f.mjs" }, { kind: "onnx", path: "a.onnx" }], weights: [1, 2] },
];

test("fuzz teacher configs: corrupted as structure and as bytes, each is one clean error or parses", () => {
  process.chdir(cwd);
  fc.assert(
    fc.property(fc.nat(), fc.array(editArb, { minLength: 1, maxLength: 3 }), mutationArb, (which, edits, m) => {
      const base = TEACHERS[which % TEACHERS.length];
      const raw = applyEdits(base, edits);
      cleanly(tally, "teacher config (corrupted structure)", () => parseTeacherConfig(raw, "teacher.yaml"));
      const p = tempFile("teacher.yaml", mutate(Buffer.from(toYaml(base)), m));
      cleanly(tally, "teacher config (corrupted bytes)", () => loadTeacherConfig(p));
    }),
    params(400),
  );
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
      cleanly(tally, "teacher config (any JSON)", () => parseTeacherConfig(v, "teacher.yaml"));
      cleanly(tally, "recipe (any JSON)", () => parseAnyRecipe(v, "recipe.yaml"));
    }),
    params(200),
  );
});

test("fuzz YAML: alias bombs and deep nesting are one clean error, quickly", () => {
  process.chdir(cwd);
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 9 }, (_, i) => `${"bcdefghij"[i]}: &${"bcdefghij"[i]} [${Array(9).fill(`*${"abcdefghi"[i]}`).join(", ")}]`)].join("\n");
  const deep = "kind: onnx\npath: " + "[".repeat(5000) + "]".repeat(5000) + "\n";
  for (const [name, text] of [["bomb.yaml", bomb], ["deep.yaml", deep]] as const) {
    const p = tempFile(name, text);
    cleanly(tally, "teacher config (YAML bomb)", () => loadTeacherConfig(p));
    cleanly(tally, "recipe (YAML bomb)", () => parseAnyRecipe(readExperimentYaml(p), p));
  }
});

test("fuzz serve: /predict bodies of any shape are a 200 or a one-line 4xx, never a 500", async () => {
  const [{ SequentialModel }, { modelConfigFromSpec }, { saveModel }, { createServer }, { useBackend }] = await Promise.all([
    import("../src/students/model.js"),
    import("../src/students/spec.js"),
    import("../src/students/io.js"),
    import("../src/serve/server.js"),
    import("../src/engine/backend.js"),
  ]);
  await useBackend("cpu", { fallback: false });
  const model = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [3], numClasses: 2 }), 3);
  const modelDir = join(dir, "model");
  await saveModel(model, modelDir, { labels: ["no", "yes"] });
  model.dispose();
  const server = await createServer({ modelDir, maxBatch: 4, maxBodyBytes: 4096 });
  const good = JSON.stringify({ inputs: [[0.1, 0.2, 0.3], [1, 2, 3]] });
  const jsonBody = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.record({ input: fc.jsonValue({ maxDepth: 2 }) }).map((v) => JSON.stringify(v)),
    fc.record({ inputs: fc.array(fc.array(fc.oneof(fc.double(), fc.string(), fc.constant(null)), { maxLength: 4 }), { maxLength: 6 }) }).map((v) => JSON.stringify(v)),
    mutationArb.map((m) => Buffer.from(mutate(Buffer.from(good), m)).toString("latin1")),
    fc.string({ maxLength: 40 }),
  );
  const contentType = fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain", "application/x+json", "", "multipart/form-data");
  try {
    await fc.assert(
      fc.asyncProperty(jsonBody, contentType, fc.constantFrom("/predict", "/predict?x=1", "/metadata", "/nope"), fc.constantFrom("POST", "GET", "PUT"), async (body, type, path, method) => {
        const t0 = performance.now();
        const res = await server.app.request(path, { method, body: method === "GET" ? undefined : body, headers: type ? { "content-type": type } : {} });
        const ms = performance.now() - t0;
        const text = await res.text();
        assert.ok(res.status < 500, `${method} ${path} (${type}) ${JSON.stringify(body).slice(0, 200)}: status ${res.status}: ${text.slice(0, 300)}`);
        if (res.status >= 400) {
          const err = (JSON.parse(text) as { error?: unknown }).error;
          assert.equal(typeof err, "string", `error body: ${text.slice(0, 200)}`);
          assert.ok(!/[\n\r]/.test(err as string) && !/\s+at .*:\d+:\d+/.test(err as string), `error is one line: ${JSON.stringify(err)}`);
        } else if (path.startsWith("/predict")) {
          const out = JSON.parse(text) as { predictions?: unknown[]; prediction?: unknown };
          assert.ok(out.predictions || out.prediction, `200 with predictions: ${text.slice(0, 200)}`);
        }
        tally.add("serve /predict body", res.status < 400 ? "ok" : "error", ms);
      }),
      params(400),
    );
  } finally {
    await server.predictor.close();
  }
});

test("fuzz through the CLI: rejected recipes and teacher configs are one 'tsdistill: error:' line, exit 1 or 2, nothing written", { timeout: 240_000 }, async () => {
  process.chdir(cwd);
  // A few of the corrupted recipes and teacher configs that the parsers reject, run as users run them (each spawn
  // costs seconds, so a handful): the process must print exactly one error line and create no run folder.
  const texts = recipeFiles.map((f) => readFileSync(new URL(f, RECIPES)));
  const picked: { args: (p: string) => string[]; file: string }[] = [];
  const mutations = fc.sample(fc.tuple(fc.nat(), mutationArb), { seed: 7, numRuns: 200 });
  for (const [which, m] of mutations) {
    if (picked.length >= 2) break;
    const k = which % texts.length;
    const p = tempFile(recipeFiles[k], mutate(texts[k], m));
    try {
      parseAnyRecipe(readExperimentYaml(p), p);
    } catch {
      const out = join(dir, `cli-run-${picked.length}`);
      picked.push({ file: p, args: (f) => ("variants" in (parseYaml(texts[k].toString()) as object) ? ["run", f, "--out", out] : ["distill", "--config", f, "--out", out]) });
    }
  }
  for (const [which, m] of fc.sample(fc.tuple(fc.nat(), mutationArb), { seed: 8, numRuns: 200 })) {
    if (picked.length >= 4) break;
    const p = tempFile("teacher.yaml", mutate(Buffer.from(toYaml(TEACHERS[which % TEACHERS.length])), m));
    try {
      loadTeacherConfig(p);
    } catch {
      picked.push({ file: p, args: (f) => ["label", "--teacher", f, "--data", "mnist", "--train-size", "10", "--out", join(dir, `cli-label-${picked.length}`)] });
    }
  }
  assert.equal(picked.length, 4, "found 4 rejected inputs");
  for (const { file, args } of picked) {
    const before = listTree(dir).length;
    const r = await runCli(args(file));
    const lines = r.stderr.trim().split("\n");
    assert.ok(r.code === 1 || r.code === 2, `${args(file).join(" ")}: exit ${r.code} (expected 1, or 2 for usage); stderr ${r.stderr}`);
    assert.equal(lines.length, 1, `one stderr line: ${r.stderr}`);
    assert.match(lines[0], /^tsdistill: error: /);
    assert.equal(listTree(dir).length, before, `nothing written: ${args(file).join(" ")}`);
    tally.add("CLI (rejected recipe or teacher config)", "error", 0);
  }
});

test("fuzz configs wrote nothing outside their own temp folder", () => {
  assert.deepEqual(listTree(cwd), [], "nothing written to the working directory");
});
