// Importing tsdistill has no side effects beyond TF.js: the root module loads none of the optional parts
// (onnxruntime-node, better-sqlite3, Hono, BullMQ/ioredis, Playwright, the native addon, whose load also calls
// mallopt), each in a child process that lists every module it then holds. The subpath exports resolve to sources.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { NATIVE_ADDON_PATH } from "../src/engine/native-addon.js";

const OPTIONAL = ["onnxruntime-node", "onnxruntime_binding", "better-sqlite3", "better_sqlite3", "/hono/", "@hono", "bullmq", "ioredis", "playwright", "tsdistill_native"];

function loadedBy(entry: string, backend?: string): string[] {
  const r = spawnSync(process.execPath, ["--import", "tsx", "test/fixtures/import-probe.mjs", entry, ...(backend ? [backend] : [])], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, `import probe of ${entry} failed: ${r.stderr.slice(-1500)}`);
  const found = JSON.parse(r.stdout) as { esm: string[]; cjs: string[]; shared: string[] };
  assert.ok(found.esm.length > 50, `the probe saw the modules it loaded (${found.esm.length})`);
  return [...found.esm, ...found.cjs, ...found.shared];
}

const optionalIn = (modules: string[]) => OPTIONAL.filter((name) => modules.some((m) => m.includes(name)));

test("importing the root module loads none of the optional parts, and TF.js's flags stay untouched", { timeout: 150_000 }, () => {
  assert.deepEqual(optionalIn(loadedBy("src/index.ts")), []);
  const prod = spawnSync(process.execPath, ["--import", "tsx", "-e", 'await import("./src/index.ts"); const tf = await import("@tensorflow/tfjs-core"); process.stdout.write(String(tf.env().getFlags().PROD ?? "unset"));'], { encoding: "utf8", timeout: 120_000 });
  assert.equal(prod.status, 0, prod.stderr);
  assert.equal(prod.stdout, "unset", "PROD is set by useBackend, not at import");
});

test("the probe sees optional parts where they are used: tsdistill/serve loads Hono, tsdistill/auto SQLite", { timeout: 150_000 }, () => {
  assert.ok(optionalIn(loadedBy("src/serve/index.ts")).includes("/hono/"));
  assert.ok(optionalIn(loadedBy("src/auto/index.ts")).some((n) => n.includes("sqlite")));
});

test("the native addon (and its mallopt) loads only when the native backend is selected", { timeout: 150_000 }, (t) => {
  assert.ok(!optionalIn(loadedBy("src/index.ts", "cpu")).includes("tsdistill_native"), "cpu backend: no addon");
  if (!existsSync(NATIVE_ADDON_PATH)) return t.skip(`native addon not built; build it with: node scripts/build-native.mjs`);
  assert.ok(optionalIn(loadedBy("src/index.ts", "native")).includes("tsdistill_native"), "native backend: the addon is loaded");
});

test("the root export is the public API only; every subpath export has its source", () => {
  const root = readFileSync("src/index.ts", "utf8");
  assert.doesNotMatch(root, /from "\.\/(cli|serve|auto|runs|queue|dashboard)\//, "no CLI, server, search or queue in the root export");
  const exports = (JSON.parse(readFileSync("package.json", "utf8")) as { exports: Record<string, string | { types: string; default: string }> }).exports;
  for (const [name, target] of Object.entries(exports)) {
    if (typeof target === "string") continue;
    const source = target.default.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts");
    assert.ok(existsSync(source), `${name}: ${source} exists`);
    assert.equal(target.types, target.default.replace(/\.js$/, ".d.ts"), `${name}: types beside the code`);
  }
  for (const name of [".", "./teachers/onnx", "./auto", "./serve", "./cli"]) assert.ok(name in exports, `${name} is exported`);
});
