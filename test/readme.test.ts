// The README's library section is real code: its ts block is typechecked against the sources (strict, as a user's
// project would), a misspelt term option in it fails to compile, and the block runs (at a tiny size: smaller
// models and fewer epochs, the same calls) to the end, saving the student.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

function libraryBlock(): string {
  const readme = readFileSync("README.md", "utf8");
  const section = readme.slice(readme.indexOf("\n## Library\n"));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m, "README.md: a ```ts block under ## Library");
  return m[1];
}

function withSources(code: string): string {
  assert.match(code, /from "tsdistill"/);
  return code.replace(/from "tsdistill"/g, 'from "../../src/index.js"');
}

function tsc(files: string[]): { status: number | null; out: string } {
  const args = ["node_modules/typescript/bin/tsc", "--noEmit", "--strict", "--target", "ES2022", "--module", "NodeNext", "--moduleResolution", "NodeNext", "--skipLibCheck", "--types", "node", ...files];
  const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 240_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

test("README library section: typechecks; a misspelt kd option does not", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join("test", ".readme-"));
  try {
    const good = join(dir, "library.ts");
    const bad = join(dir, "library-typo.ts");
    const code = withSources(libraryBlock());
    writeFileSync(good, code);
    assert.match(code, /kd\(\{ temperature: 4/);
    writeFileSync(bad, code.replace("kd({ temperature: 4", "kd({ temprature: 4"));
    const r = tsc([good, bad]);
    const errors = r.out.split("\n").filter((l) => /error TS/.test(l));
    assert.notEqual(r.status, 0, "the misspelt option is a compile error");
    assert.ok(errors.length > 0 && errors.every((l) => l.includes("library-typo.ts")), `only the misspelt copy fails:\n${r.out}`);
    assert.ok(errors.some((l) => l.includes("temprature")), r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("README library section: runs end to end (tiny models, few epochs) and saves the student", { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join("test", ".readme-"));
  try {
    const file = join(dir, "library-run.ts");
    const modelDir = resolve(dir, "student-model");
    const small = withSources(libraryBlock())
      .replace('"mlp:1200-1200"', '"mlp:24-24"')
      .replace('"mlp:800-800"', '"mlp:16-16"')
      .replace("epochs: 10", "epochs: 1")
      .replace("epochs: 8", "epochs: 2")
      .replace('"student-model"', JSON.stringify(modelDir));
    writeFileSync(file, small);
    const r = spawnSync(process.execPath, ["--import", "tsx", file], { encoding: "utf8", timeout: 540_000 });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /epoch 1\/2: loss \d/);
    assert.match(r.stdout, /epoch 2\/2: loss \d/);
    const acc = /accuracy: ([\d.]+)/.exec(r.stdout);
    assert.ok(acc && Number(acc[1]) > 0.5, `test accuracy above chance: ${r.stdout}`);
    assert.ok(existsSync(join(modelDir, "model.json")), "the student was saved");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
