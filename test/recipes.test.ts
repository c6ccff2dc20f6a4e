// YAML recipes: validation errors that name the field, the shipped examples, and a recipe with one term of
// each family trained end to end on a small MNIST budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { useBackend } from "../src/engine/backend.js";
import { loadRecipe, parseRecipe, recipeStages, type RecipeInput } from "../src/distill/recipe.js";
import { runRecipe } from "../src/distill/run-recipe.js";
import { WeightedSumLoss } from "../src/distill/terms.js";
import { SequentialModel } from "../src/students/model.js";
import { isTransformerSpec, modelConfigFromSpec } from "../src/students/spec.js";
import { buildModel } from "../src/students/any-model.js";
import type { TokenPreprocess } from "../src/data/jsonl-tokens.js";
import { modelTeacher } from "../src/teachers/teacher.js";
import { TsdistillError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";
import { loadExperiment } from "../src/experiments/experiment.js";

await useBackend("wasm");

const base: RecipeInput = {
  name: "t",
  data: { source: "mnist", validationSize: 500, trainSize: 1500 },
  teacher: { kind: "train", spec: "mlp:64-64", epochs: 1, trainSize: 3000 },
  student: { spec: "mlp:32-32" },
  training: { epochs: 2, batchSize: 32 },
  loss: { terms: [{ loss: "kd", options: { temperature: 4 } }] },
};

/** Byte token ids at ctx 128: what a transformer student in a shipped recipe reads (jsonl:…?tokenizer=byte). */
const BYTE_TOKENS: TokenPreprocess = { kind: "tokens", version: 1, textField: "text", labelField: "label", labelNames: [], ctx: 128, addBos: true, addEos: false, tokenizer: { tokenizer: { kind: "byte" } } };

function shapesFor(studentSpec: string, teacherSpec: string) {
  const shape = { inputShape: [28, 28, 1], numClasses: 10 };
  const s = isTransformerSpec(studentSpec) ? buildModel(studentSpec, { inputShape: [128], numClasses: 10, preprocess: BYTE_TOKENS, seed: 1 }) : new SequentialModel(modelConfigFromSpec(studentSpec, shape), 1);
  const t = new SequentialModel(modelConfigFromSpec(teacherSpec, shape), 2);
  const teacher = modelTeacher(t);
  return {
    shapes: {
      studentLayer: (n: string) => (n === "logits" ? s.outputShape : s instanceof SequentialModel ? s.layers.find((l) => l.config.name === n)?.outputShape : undefined),
      teacherLayer: (n: string) => (n === "logits" ? t.outputShape : teacher.layers!().find((l) => l.name === n)?.shape),
      studentLayers: s.layerNames(),
      teacherLayers: t.layerNames(),
    },
    dispose: () => {
      s.dispose();
      t.dispose();
    },
  };
}

function expectError(fn: () => unknown, ...parts: (string | RegExp)[]) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TsdistillError, `expected a TsdistillError, got ${err}`);
    assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
    for (const p of parts) assert.ok(typeof p === "string" ? err.message.includes(p) : p.test(err.message), `"${err.message}" should mention ${p}`);
    return true;
  });
}

test("recipe validation names the file and the field", () => {
  expectError(() => parseRecipe({ ...base, teacher: { kind: "onnx" } }, "r.yaml"), "r.yaml", "teacher.kind");
  expectError(() => parseRecipe({ ...base, teacher: { kind: "train", spec: "mlp:8", epochs: 0 } }, "r.yaml"), "teacher.epochs");
  expectError(() => parseRecipe({ ...base, sed: 3 } as RecipeInput, "r.yaml"), "sed", "unknown field");
  expectError(() => parseRecipe({ ...base, loss: { terms: [{ loss: "kd", wieght: 2 }] } } as unknown as RecipeInput, "r.yaml"), "loss.terms[0].wieght");
  expectError(() => parseRecipe({ ...base, loss: undefined }, "r.yaml"), "loss", "exactly one");
  expectError(() => parseRecipe({ ...base, stages: [{ name: "a", epochs: 1, terms: [{ loss: "kd" }] }] }, "r.yaml"), "exactly one");
});

test("term compilation: unknown losses, bad options, layers and projectors are checked before training", () => {
  const { shapes, dispose } = shapesFor("mlp:32-16", "mlp:64-48");
  try {
    expectError(() => WeightedSumLoss.compile([{ loss: "kdd", weight: 1, options: {}, projector: "auto" }], shapes, 1, "r.yaml: loss.terms"), 'r.yaml: loss.terms[0].loss: unknown loss "kdd"', "kd, ");
    expectError(() => WeightedSumLoss.compile([{ loss: "kd", weight: 1, options: { temprature: 2 }, projector: "auto" }], shapes, 1), "loss.terms[0].options.temprature", "unknown field");
    expectError(() => WeightedSumLoss.compile([{ loss: "kd", weight: 1, options: { temperature: "hot" }, projector: "auto" }], shapes, 1), "loss.terms[0].options.temperature");
    expectError(() => WeightedSumLoss.compile([{ loss: "fitnets", weight: 1, options: {}, projector: "auto" }], shapes, 1), 'needs "student" and "teacher"', "dense_1");
    expectError(() => WeightedSumLoss.compile([{ loss: "fitnets", weight: 1, options: {}, student: "dense_9", teacher: "dense_1", projector: "auto" }], shapes, 1), 'no student layer "dense_9"');
    expectError(() => WeightedSumLoss.compile([{ loss: "sp", weight: 1, options: {}, student: "dense_1", teacher: "dense_1", projector: "linear" }], shapes, 1), "takes no projector");
    const fit = WeightedSumLoss.compile([{ loss: "fitnets", weight: 1, options: {}, student: "dense_1", teacher: "dense_2", projector: "auto" }, { loss: "kd", weight: 1, options: {}, projector: "auto" }], shapes, 1);
    assert.deepEqual(fit.studentCapture, ["dense_1"]);
    assert.deepEqual(fit.teacherCapture, ["dense_2"]);
    assert.deepEqual(fit.extraParams.map((p) => p.shape), [[32, 48], [48]], "a 32→48 linear projector");
    fit.dispose();
    const same = WeightedSumLoss.compile([{ loss: "cosine", weight: 1, options: {}, student: "logits", teacher: "logits", projector: "auto" }], shapes, 1);
    assert.equal(same.extraParams.length, 0, "no projector when widths match");
    same.dispose();
  } finally {
    dispose();
  }
});

test("every shipped recipe parses and its terms compile against its teacher and student", () => {
  // Experiment recipes (tsdistill run) are checked variant by variant; `kind:` recipes (vad) have their own schema.
  const files = readdirSync("recipes").filter((f) => f.endsWith(".yaml") && !/^kind:/m.test(readFileSync(join("recipes", f), "utf8")));
  assert.ok(files.length >= 4, `recipes/ has examples: ${files}`);
  const families = new Set<string>();
  const all = files.flatMap((f) => [false, true].flatMap((quick) => {
    const ex = loadExperiment(join("recipes", f));
    if (quick && !ex.extras.quick) return [];
    return loadExperiment(join("recipes", f), { quick }).variants.map((v) => ({ f: `${f}${quick ? " --quick" : ""} ${v.name}`, r: v.recipe }));
  }));
  for (const { f, r } of all) {
    if (r.teacher.kind !== "train") continue;
    const { shapes, dispose } = shapesFor(r.student.spec, r.teacher.spec);
    try {
      for (const [i, st] of recipeStages(r).entries()) {
        const c = WeightedSumLoss.compile(st.terms, shapes, 1, `${f} stage ${i}`);
        for (const t of st.terms) families.add(t.loss);
        c.dispose();
      }
    } finally {
      dispose();
    }
  }
  for (const loss of ["kd", "fitnets", "rkd-distance", "sp", "cosine", "ce"]) assert.ok(families.has(loss), `an example uses ${loss}`);
});

test("loadRecipe: missing file and invalid YAML are one-line errors naming the file", () => {
  const { dir, cleanup } = tempDir();
  try {
    expectError(() => loadRecipe(join(dir, "nope.yaml")), "nope.yaml", "not found");
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "teacher: [unclosed\n");
    expectError(() => loadRecipe(bad), "bad.yaml", "YAML");
  } finally {
    cleanup();
  }
});

test("a recipe with one term of each family (CE, KD, FitNets, RKD) trains end to end, in two stages", async (t) => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "combined.yaml");
    writeFileSync(
      file,
      stringify({
        ...base,
        teacher: { kind: "train", spec: "mlp:64-64", epochs: 2, trainSize: 3000 },
        loss: undefined,
        stages: [
          { name: "hints", epochs: 1, terms: [{ loss: "fitnets", student: "dense_1", teacher: "dense_2" }] },
          {
            name: "all",
            epochs: 3,
            terms: [
              { loss: "ce", weight: 0.1 },
              { loss: "kd", weight: 0.9, options: { temperature: { kind: "linear", from: 8, to: 4 } } },
              // The hint's squared error is ~100× the other terms: a small, decaying weight keeps it a regulariser.
              { loss: "fitnets", weight: { kind: "step", steps: [[0, 0.02], [1, 0.005]] }, student: "dense_1", teacher: "dense_2" },
              { loss: "rkd-distance", weight: 5, student: "dense_2", teacher: "dense_2" },
            ],
          },
        ],
      }),
    );
    const r = await runRecipe(loadRecipe(file), { source: file });
    t.diagnostic(`teacher ${r.teacher?.accuracy}, student ${r.student.accuracy}, agreement ${r.student.agreementWithTeacher}`);
    assert.deepEqual(r.stages.map((s) => s.name), ["hints", "all"]);
    assert.deepEqual(r.stages[1].terms, ["ce", "kd", "fitnets", "rkd-distance"]);
    for (const s of r.stages) {
      const losses = s.history.map((h) => h.loss);
      assert.ok(losses.every(Number.isFinite), `finite losses in ${s.name}`);
      assert.ok(losses[losses.length - 1] <= losses[0], `the loss of stage ${s.name} goes down: ${losses}`);
    }
    assert.ok(r.teacher!.accuracy > 0.8, `teacher accuracy ${r.teacher!.accuracy}`);
    // Chance is 0.1; the same student on hard labels alone reaches about 0.72 with two epochs of this budget.
    assert.ok(r.student.accuracy > 0.6, `student accuracy ${r.student.accuracy}`);
    assert.ok(r.student.agreementWithTeacher > 0.6, `agreement ${r.student.agreementWithTeacher}`);
  } finally {
    cleanup();
  }
});

test("CLI: distill --config runs a recipe; a bad recipe fails with one line and leaves no run folder", async () => {
  const { spawnSync } = await import("node:child_process");
  const { existsSync, readdirSync: ls } = await import("node:fs");
  const { dir, cleanup } = tempDir();
  const cli = (...args: string[]) => spawnSync(process.execPath, ["bin/tsdistill.js", ...args], { encoding: "utf8" });
  try {
    const good = join(dir, "good.yaml");
    writeFileSync(
      good,
      stringify({
        name: "cli",
        data: { validationSize: 300, trainSize: 1000 },
        teacher: { kind: "train", spec: "mlp:32", epochs: 1, trainSize: 2000 },
        student: { spec: "mlp:16" },
        training: { epochs: 1, batchSize: 32 },
        loss: { terms: [{ loss: "kd", options: { temperature: 4, alpha: 0.1 } }] },
      }),
    );
    const out = join(dir, "run");
    const r = cli("distill", "--config", good, "--out", out, "--quiet", "--json");
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.name, "cli");
    // One epoch of 31 batches: both are well above chance (10 %) on the 10,000 test images, not yet good.
    assert.ok(res.student.accuracy > 0.15 && res.teacher.accuracy > 0.3, r.stdout);
    for (const f of ["config.json", "metrics.json", "results.json", "teacher/model.json", "student/model.json", "student/weights.bin"]) {
      assert.ok(existsSync(join(out, f)), `run folder has ${f}`);
    }

    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, stringify({ teacher: { kind: "train", spec: "mlp:8", epochs: 1 }, student: { spec: "mlp:8" }, loss: { terms: [{ loss: "kdd" }] } }));
    const out2 = join(dir, "run2");
    const e = cli("distill", "--config", bad, "--out", out2);
    assert.equal(e.status, 1, e.stderr);
    const lines = e.stderr.trim().split("\n");
    assert.equal(lines.length, 1, e.stderr);
    assert.match(lines[0], /bad\.yaml: loss\.terms\[0\]\.loss: unknown loss "kdd"/);
    assert.ok(!existsSync(out2), "no run folder");
    assert.deepEqual(ls(dir).filter((f) => f.includes("partial")), [], "no partial folders");

    const mixed = cli("distill", "--config", good, "--epochs", "3");
    assert.equal(mixed.status, 2);
    assert.match(mixed.stderr, /--epochs cannot be combined with --config/);
  } finally {
    cleanup();
  }
});
