// The CLI as users run it: a child process of bin/tsdistill.js (dist/ when built, else the sources via tsx).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { encodeIdx } from "../src/data/idx.js";
import { runCli, tempDir, type Run } from "./helpers.js";

const cli = (args: string[], timeoutMs = 120_000) => runCli(args, timeoutMs);

const describe = (r: Run) => `exit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;

/** stderr holds exactly one non-empty line (with its newline). */
function assertOneLine(r: Run): string {
  const lines = r.stderr.split("\n");
  assert.ok(lines.length === 2 && lines[1] === "" && lines[0].length > 0, `stderr is not exactly one line:\n${describe(r)}`);
  return lines[0];
}

const { dir: tmp, cleanup } = tempDir("tsdistill-cli-");
process.on("exit", cleanup);

/** A tiny MNIST-format data set (8×8 images) for runs that need data but not MNIST: --data idx:<TINY>. */
const TINY = join(tmp, "tiny-data");
mkdirSync(TINY);
for (const [split, n] of [
  ["train", 60],
  ["t10k", 20],
] as const) {
  writeFileSync(join(TINY, `${split}-images-idx3-ubyte`), encodeIdx("uint8", [n, 8, 8], Array.from({ length: n * 64 }, (_, i) => (i * 37) % 256)));
  writeFileSync(join(TINY, `${split}-labels-idx1-ubyte`), encodeIdx("uint8", [n], Array.from({ length: n }, (_, i) => i % 10)));
}

test("--help prints the usage and exits 0; no command prints it too but exits 2", async () => {
  const help = await cli(["--help"]);
  assert.equal(help.code, 0, describe(help));
  assert.match(help.stdout, /Usage: tsdistill <command>/);
  for (const cmd of ["demo", "train", "distill", "eval"]) assert.match(help.stdout, new RegExp(`\\b${cmd}\\b`));
  assert.equal(help.stderr, "");

  const none = await cli([]);
  assert.equal(none.code, 2, describe(none));
  assert.match(none.stdout, /Usage:/);
});

interface FailCase {
  name: string;
  args: (out: string) => string[];
  code: number;
  /** Substrings the one stderr line must contain. */
  mentions: (out: string) => string[];
}

const FAILURES: FailCase[] = [
  { name: "unknown command", args: () => ["frobnicate"], code: 2, mentions: () => ['"frobnicate"', "train"] },
  { name: "train without --model", args: (o) => ["train", "--out", o], code: 2, mentions: () => ["--model"] },
  { name: "train with a bad model spec", args: (o) => ["train", "--model", "mlp:abc", "--out", o], code: 1, mentions: () => ["mlp:abc"] },
  { name: "train with a non-numeric --epochs", args: (o) => ["train", "--model", "mlp:8", "--epochs", "x", "--out", o], code: 2, mentions: () => ["--epochs", '"x"'] },
  { name: "train with a missing data folder", args: (o) => ["train", "--model", "mlp:8", "--data", "idx:/nonexistent/tsdistill-data", "--out", o], code: 1, mentions: () => ["/nonexistent/tsdistill-data"] },
  { name: "train with an unknown option", args: (o) => ["train", "--model", "mlp:8", "--bogus-option", "--out", o], code: 2, mentions: () => ["--bogus-option"] },
  { name: "eval with a missing model", args: () => ["eval", "--model", "/nonexistent/model-dir"], code: 1, mentions: () => ["/nonexistent/model-dir/model.json"] },
];

test("failures: the right exit code, one stderr line naming the problem, no run folder left", { concurrency: 2 }, async (t) => {
  const runs = FAILURES.map((c, i) =>
    t.test(c.name, async () => {
      const parent = join(tmp, `fail-${i}`);
      mkdirSync(parent);
      const out = join(parent, "run");
      const r = await cli(c.args(out));
      assert.equal(r.code, c.code, describe(r));
      const line = assertOneLine(r);
      assert.match(line, /^tsdistill: /);
      for (const m of c.mentions(out)) assert.ok(line.includes(m), `stderr does not mention ${m}:\n${describe(r)}`);
      assert.doesNotMatch(line, /internal error|    at /, "a user error, not a stack trace");
      assert.equal(r.stdout, "", `nothing on stdout:\n${describe(r)}`);
      assert.ok(!existsSync(out), `run folder ${out} was created`);
      assert.deepEqual(readdirSync(parent), [], "no hidden .partial folders remain");
    }),
  );
  await Promise.all(runs);
});

test(
  "a diverging run (--lr 1e30) fails with one line and exit 1, leaving no run folder",
  async () => {
    const parent = join(tmp, "diverge");
    mkdirSync(parent);
    const out = join(parent, "run");
    const r = await cli(["train", "--model", "mlp:64", "--lr", "1e30", "--data", `idx:${TINY}`, "--validation-size", "10", "--epochs", "1", "--batch-size", "10", "--out", out, "--quiet"]);
    assert.ok(!existsSync(out), "no run folder");
    assert.deepEqual(readdirSync(parent), [], "no hidden .partial folders remain");
    const line = assertOneLine(r);
    assert.equal(r.code, 1, describe(r));
    assert.match(line, /loss became (NaN|-?Infinity).*lower learning rate/);
    assert.doesNotMatch(line, /internal error/);
  },
);

test("--out pointing at an existing folder fails and leaves that folder alone", async () => {
  const out = join(tmp, "existing");
  mkdirSync(out);
  writeFileSync(join(out, "keep.txt"), "precious");
  const r = await cli(["train", "--model", "mlp:8", "--data", `idx:${TINY}`, "--validation-size", "10", "--epochs", "1", "--out", out, "--quiet"]);
  assert.equal(r.code, 1, describe(r));
  const line = assertOneLine(r);
  assert.ok(line.includes(out) && line.includes("already exists"), describe(r));
  assert.deepEqual(readdirSync(out), ["keep.txt"]);
  assert.equal(readFileSync(join(out, "keep.txt"), "utf8"), "precious");
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith(".")), [], "no hidden .partial folders remain");
});

test("train → distill → eval on a small MNIST budget", async () => {
  const base = join(tmp, "ok");
  mkdirSync(base);
  const teacherRun = join(base, "t");
  // Batch size 32 and lr 0.01: the defaults (128, 0.001) give 8 small steps on 1000 images, too few to learn much.
  const tr = await cli(["train", "--model", "mlp:16", "--train-size", "1000", "--validation-size", "200", "--epochs", "1", "--batch-size", "32", "--lr", "0.01", "--out", teacherRun, "--quiet", "--json"]);
  assert.equal(tr.code, 0, describe(tr));
  assert.equal(tr.stderr, "", "--quiet prints nothing on stderr");
  const trLines = tr.stdout.trim().split("\n");
  assert.equal(trLines.length, 1, `stdout is one JSON line:\n${describe(tr)}`);
  const trJson = JSON.parse(trLines[0]);
  assert.equal(typeof trJson.testAccuracy, "number");
  assert.ok(trJson.testAccuracy > 0.5 && trJson.testAccuracy <= 1, `test accuracy ${trJson.testAccuracy}`);
  assert.equal(trJson.testSize, 10000);
  assert.equal(trJson.params, 784 * 16 + 16 + 16 * 10 + 10);
  assert.equal(trJson.runDir, teacherRun);
  for (const f of ["config.json", "metrics.json", "results.json", "model/model.json", "model/weights.bin"]) {
    assert.ok(existsSync(join(teacherRun, f)), `${f} exists in the run folder`);
  }
  const config = JSON.parse(readFileSync(join(teacherRun, "config.json"), "utf8"));
  assert.equal(config.model, "mlp:16");
  assert.equal(config.trainSize, 1000);
  assert.equal(config.validationSize, 200);
  assert.equal(config.epochs, 1);
  const metrics = JSON.parse(readFileSync(join(teacherRun, "metrics.json"), "utf8"));
  assert.equal(metrics.train.length, 1);
  assert.equal(typeof metrics.train[0].valAccuracy, "number");
  assert.deepEqual(JSON.parse(readFileSync(join(teacherRun, "results.json"), "utf8")).testAccuracy, trJson.testAccuracy);
  assert.deepEqual(readdirSync(base), ["t"], "no leftovers next to the run folder");

  const distillRun = join(base, "d");
  const di = await cli([
    "distill",
    "--teacher",
    join(teacherRun, "model"),
    "--student",
    "mlp:8",
    "--train-size",
    "1000",
    "--validation-size",
    "200",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--lr",
    "0.01",
    "--out",
    distillRun,
    "--quiet",
    "--json",
  ]);
  assert.equal(di.code, 0, describe(di));
  const diLines = di.stdout.trim().split("\n");
  assert.equal(diLines.length, 1, describe(di));
  const diJson = JSON.parse(diLines[0]);
  assert.equal(typeof diJson.agreementWithTeacher, "number");
  // One epoch from a weak teacher teaches little; only the plumbing is checked here (e2e-distill checks quality).
  assert.ok(diJson.agreementWithTeacher >= 0 && diJson.agreementWithTeacher <= 1, `agreement ${diJson.agreementWithTeacher}`);
  assert.equal(diJson.teacherTestAccuracy, trJson.testAccuracy, "the saved teacher reproduces its test accuracy");
  for (const f of ["config.json", "metrics.json", "results.json", "student/model.json", "student/weights.bin"]) {
    assert.ok(existsSync(join(distillRun, f)), `${f} exists in the distill run folder`);
  }

  const ev = await cli(["eval", "--model", join(distillRun, "student"), "--teacher", join(teacherRun, "model"), "--json"]);
  assert.equal(ev.code, 0, describe(ev));
  const evLines = ev.stdout.trim().split("\n");
  assert.equal(evLines.length, 1, describe(ev));
  const evJson = JSON.parse(evLines[0]);
  assert.equal(evJson.accuracy, diJson.testAccuracy, "eval reproduces the distilled student's test accuracy");
  assert.equal(evJson.teacherAccuracy, trJson.testAccuracy);
  assert.equal(evJson.agreementWithTeacher, diJson.agreementWithTeacher);
  assert.equal(evJson.params, 784 * 8 + 8 + 8 * 10 + 10);
  assert.ok(evJson.bytesOnDisk > evJson.params * 4, `bytesOnDisk ${evJson.bytesOnDisk}`);
  assert.ok(evJson.latencyMsBatch1 > 0, `latency ${evJson.latencyMsBatch1}`);
});
