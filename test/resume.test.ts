// Resume after a kill: checkpoints every epoch, `--resume` for train, distill (Hinton and recipes) and run, and the
// cleanup of run folders left by dead runs. The CLI tests SIGKILL real tsdistill processes at seeded points (in the
// middle of an epoch, in the middle of a checkpoint write) and compare the resumed run with an uninterrupted one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { encodeIdx } from "../src/data/idx.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { useBackend, type BackendName } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { loadModel } from "../src/students/io.js";
import { train } from "../src/train/distill.js";
import { CheckpointStore, decodeFitState, FileCheckpoint } from "../src/train/checkpoint.js";
import type { FitOptions } from "../src/train/fit.js";
import { RunFolder } from "../src/run/run-folder.js";
import { parseExperiment } from "../src/experiments/experiment.js";
import { runExperiment } from "../src/experiments/run-experiment.js";
import { processStart } from "../src/util/process-owner.js";
import { Rng } from "../src/util/rng.js";
import { tempDir } from "./helpers.js";
import { nativeTestOptions } from "./native-helpers.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const BIN = join(ROOT, "bin", "tsdistill.js");
const KILL_IN_CHECKPOINT = pathToFileURL(join(ROOT, "test", "fixtures", "kill-in-checkpoint.mjs")).href;
/** Above any Linux pid_max (2^22): a process that is certainly gone. */
const DEAD_PID = 4_194_305;

const { dir: root, cleanup } = tempDir("tsdistill-resume-");
process.on("exit", cleanup);
/** The kill points are drawn from this seed; set TSDISTILL_RESUME_TEST_SEED to try others. */
const SEED = Number(process.env.TSDISTILL_RESUME_TEST_SEED ?? 14);
const rng = new Rng(SEED, "resume-test");

/** A small learnable image set (8×8, 10 classes): 1,000 training images and 200 test images in MNIST's IDX format. */
const DATA = join(root, "data");
mkdirSync(DATA);
for (const [split, n] of [["train", 1000], ["t10k", 200]] as const) {
  const noise = new Rng(1, "data", split);
  const y = Array.from({ length: n }, (_, i) => i % 10);
  const x = y.flatMap((c) => Array.from({ length: 64 }, (_, p) => Math.min(255, (p % 10 === c ? 160 : 20) + noise.int(90))));
  writeFileSync(join(DATA, `${split}-images-idx3-ubyte`), encodeIdx("uint8", [n, 8, 8], x));
  writeFileSync(join(DATA, `${split}-labels-idx1-ubyte`), encodeIdx("uint8", [n], y));
}
const RUNS = join(root, "runs");
mkdirSync(RUNS);

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  pid: number;
  stdout: string;
  stderr: string;
}

interface ChildOptions {
  cwd?: string;
  /** SIGKILL the process in the middle of its Nth checkpoint write (test/fixtures/kill-in-checkpoint.mjs). */
  killInCheckpoint?: number;
  /** SIGKILL it this fraction of an epoch after it reports finishing epoch `epoch` of `label`. */
  killAfterEpoch?: { label: string; epoch: number; fraction: number };
}

/** Runs bin/tsdistill.js as a child process, as a user would, and kills it where asked. */
function tsdistill(args: string[], opts: ChildOptions = {}): Promise<ChildRun> {
  return new Promise((done, fail) => {
    const node = opts.killInCheckpoint ? ["--import", KILL_IN_CHECKPOINT] : [];
    const env = { ...process.env, NO_COLOR: "1", TSDISTILL_TEST_KILL_IN_CHECKPOINT: String(opts.killInCheckpoint ?? "") };
    const child = spawn(process.execPath, [...node, BIN, ...args], { cwd: opts.cwd ?? ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let armed = false;
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => {
      stderr += d;
      const k = opts.killAfterEpoch;
      const m = k && !armed ? new RegExp(`^${k.label} epoch ${k.epoch}/\\d+: .*, ([\\d.]+)s$`, "m").exec(stderr) : null;
      if (m) {
        armed = true;
        setTimeout(() => child.kill("SIGKILL"), k!.fraction * Math.max(Number(m[1]), 0.05) * 1000);
      }
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`tsdistill ${args.join(" ")} timed out; stderr: ${stderr}`));
    }, 180_000);
    child.on("error", fail);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, pid: child.pid!, stdout, stderr });
    });
  });
}

const show = (r: ChildRun) => `exit ${r.code} (${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function assertKilled(r: ChildRun): void {
  assert.equal(r.signal, "SIGKILL", `the process was to be killed:\n${show(r)}`);
}

function assertOk(r: ChildRun): void {
  assert.equal(r.code, 0, show(r));
}

/** Epochs done in a fit's checkpoint (null: none written yet). */
function checkpointEpoch(path: string): number | null {
  return existsSync(path) ? decodeFitState(readFileSync(path), path).epoch : null;
}

/** metrics.json without the timings (the only numbers that differ between runs). */
function curves(runDir: string): unknown {
  const metrics = JSON.parse(readFileSync(join(runDir, "metrics.json"), "utf8")) as Record<string, Record<string, number>[]>;
  return Object.fromEntries(Object.entries(metrics).map(([label, epochs]) => [label, epochs.map(({ seconds: _s, samplesPerSecond: _r, ...m }) => m)]));
}

function assertSameModel(actual: string, expected: string): void {
  const a = readFileSync(join(actual, "weights.bin"));
  const b = readFileSync(join(expected, "weights.bin"));
  assert.ok(a.equals(b), `${actual}/weights.bin differs from ${expected}/weights.bin (bit for bit)`);
}

/** What a finished run folder must not hold: checkpoints, the owner file, temp files. */
function assertClean(runDir: string): void {
  const entries = readdirSync(runDir, { recursive: true }) as string[];
  assert.deepEqual(entries.filter((e) => /checkpoints|owner\.json|\.tmp/.test(e)), [], `${runDir} holds leftovers`);
}

const TRAIN = ["train", "--model", "mlp:64", "--data", `idx:${DATA}`, "--epochs", "6", "--batch-size", "32", "--validation-size", "200", "--backend", "cpu"];

/** The uninterrupted training run (also the teacher of the distillation tests). */
let reference: Promise<ChildRun> | null = null;
function referenceTrain(): Promise<ChildRun> {
  reference ??= tsdistill([...TRAIN, "--out", join(RUNS, "ref-train")]);
  return reference;
}

test("train: SIGKILL in a checkpoint write, then during an epoch of the resumed run; --resume ends bit-identical to an uninterrupted run (cpu)", async (t) => {
  // Left by earlier runs: a partial folder whose process is gone (and one of the older naming), and a live one.
  const dead = join(RUNS, ".killed-earlier.partial");
  mkdirSync(join(dead, "checkpoints"), { recursive: true });
  writeFileSync(join(dead, "owner.json"), JSON.stringify({ pid: DEAD_PID, start: null, since: new Date(0).toISOString(), kind: "train" }));
  const legacy = join(RUNS, `.older-run.${DEAD_PID}.partial`);
  mkdirSync(legacy);
  writeFileSync(join(legacy, "config.json"), "{}");
  const unknown = join(RUNS, `.not-ours.${DEAD_PID}.partial`);
  mkdirSync(unknown);
  const live = join(RUNS, ".running.partial");
  mkdirSync(live);
  writeFileSync(join(live, "owner.json"), JSON.stringify({ pid: process.pid, start: processStart(process.pid), since: new Date().toISOString(), kind: "train" }));

  const ref = await referenceTrain();
  assertOk(ref);
  assert.ok(!existsSync(dead) && !existsSync(legacy), "the partial folders of dead runs are removed by a new run");
  assert.match(ref.stderr, new RegExp(`removed ${dead}: .*pid ${DEAD_PID}`));
  assert.match(ref.stderr, /removed .*older-run/);
  assert.ok(existsSync(live), "a partial folder whose process runs is left alone");
  assert.ok(existsSync(unknown), "a folder that is not a run folder is left alone");

  const out = join(RUNS, "train");
  const partial = join(RUNS, ".train.partial");
  const ckpt = join(partial, "checkpoints", "train.safetensors");
  // Kill 1: in the middle of the checkpoint write after epoch n1 (seeded): the temp file half-written.
  const n1 = 1 + rng.int(3);
  const first = await tsdistill([...TRAIN, "--out", out], { killInCheckpoint: n1 });
  assertKilled(first);
  assert.equal(JSON.parse(readFileSync(join(partial, "owner.json"), "utf8")).pid, first.pid);
  assert.equal(checkpointEpoch(ckpt), n1 === 1 ? null : n1 - 1, "the last complete checkpoint survives a kill during the next write");
  const halfWritten = readdirSync(join(partial, "checkpoints")).filter((f) => f.endsWith(".tmp"));
  assert.equal(halfWritten.length, 1, "the kill left a half-written temp file");

  // Kill 2: during the epoch after epoch e2 of the resumed run (seeded epoch and moment; at least three epochs
  // are left, so the kill comes before the end even when the next epochs run faster).
  const e2 = n1 + rng.int(3 - n1 + 1);
  const fraction = 0.1 + 0.5 * rng.next();
  const second = await tsdistill([...TRAIN, "--out", out, "--resume"], { killAfterEpoch: { label: "train", epoch: e2, fraction } });
  assertKilled(second);
  assert.match(second.stderr, new RegExp(`resuming the interrupted run ${partial}`));
  assert.ok(!readdirSync(join(partial, "checkpoints")).includes(halfWritten[0]), "the resumed run removed the half-written temp file");
  const at = checkpointEpoch(ckpt);
  assert.ok(at !== null && at >= e2, `a checkpoint of epoch ≥ ${e2} (got ${at})`);
  t.diagnostic(`seed ${SEED}: killed in checkpoint write ${n1}; resumed and killed ${(fraction * 100).toFixed(0)}% into the epoch after ${e2} (checkpoint at epoch ${at})`);

  const third = await tsdistill([...TRAIN, "--out", out, "--resume", "--json"]);
  assertOk(third);
  assert.match(third.stderr, new RegExp(`train: continuing after epoch ${at}/6`));
  const result = JSON.parse(third.stdout) as { runDir: string; testAccuracy: number; bestEpoch: number };
  assert.equal(result.runDir, out);
  assertSameModel(join(out, "model"), join(RUNS, "ref-train", "model"));
  assert.deepEqual(curves(out), curves(join(RUNS, "ref-train")), "the same loss and validation curve");
  const refResult = JSON.parse(readFileSync(join(RUNS, "ref-train", "results.json"), "utf8")) as typeof result;
  assert.equal(result.testAccuracy, refResult.testAccuracy);
  assert.equal(result.bestEpoch, refResult.bestEpoch);
  assertClean(out);
  assert.ok(!existsSync(partial));
  assert.ok(existsSync(live), "still left alone");
});

test("distill: killed during an epoch (default --out); --resume with a changed option is refused naming it; --resume picks the run and ends bit-identical", async (t) => {
  assertOk(await referenceTrain());
  const teacher = join(RUNS, "ref-train", "model");
  const DISTILL = ["distill", "--teacher", teacher, "--student", "mlp:16", "--data", `idx:${DATA}`, "--epochs", "5", "--batch-size", "32", "--validation-size", "200", "--temperature", "4", "--alpha", "0.2", "--backend", "cpu"];
  const ref = await tsdistill([...DISTILL, "--out", join(RUNS, "ref-distill")]);
  assertOk(ref);

  // The default run folder (runs/<time>-distill) under a working folder of its own.
  const home = join(root, "home");
  mkdirSync(home);
  const epoch = 1 + rng.int(2);
  const fraction = 0.1 + 0.5 * rng.next();
  const killed = await tsdistill(DISTILL, { cwd: home, killAfterEpoch: { label: "distill", epoch, fraction } });
  assertKilled(killed);
  const partials = readdirSync(join(home, "runs")).filter((n) => n.endsWith("-distill.partial"));
  assert.equal(partials.length, 1, `one partial run folder: ${readdirSync(join(home, "runs"))}`);
  const ckpt = join(home, "runs", partials[0], "checkpoints", "distill.safetensors");
  const at = checkpointEpoch(ckpt);
  t.diagnostic(`killed ${(fraction * 100).toFixed(0)}% into the epoch after ${epoch} (checkpoint at epoch ${at})`);

  const changed = DISTILL.map((a, i) => (DISTILL[i - 1] === "--alpha" ? "0.5" : a));
  const refused = await tsdistill([...changed, "--resume"], { cwd: home });
  assert.equal(refused.code, 2, show(refused));
  const lines = refused.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one error line:\n${show(refused)}`);
  assert.match(lines[0], /--resume: .* alpha 0\.2, this command has 0\.5/);
  assert.equal(checkpointEpoch(ckpt), at, "the refused resume left the interrupted run as it was");

  const resumed = await tsdistill([...DISTILL, "--resume", "--json"], { cwd: home });
  assertOk(resumed);
  const { runDir } = JSON.parse(resumed.stdout) as { runDir: string };
  assert.equal(join(home, "runs", `.${runDir.split("/").pop()}.partial`), join(home, "runs", partials[0]), "the interrupted run's folder was continued");
  assertSameModel(join(runDir, "student"), join(RUNS, "ref-distill", "student"));
  assert.deepEqual(curves(runDir), curves(join(RUNS, "ref-distill")));
  assert.deepEqual(readdirSync(join(home, "runs")), [runDir.split("/").pop()], "nothing else is left in runs/");
  assertClean(runDir);

  const none = await tsdistill([...DISTILL, "--resume"], { cwd: home });
  assert.equal(none.code, 2, show(none));
  assert.match(none.stderr, /--resume: no interrupted distill run in .*runs to continue/);
});

test("distill --config with a trained teacher and two stages (the first with a projector): killed in a checkpoint write; --resume ends bit-identical", async (t) => {
  const recipe = join(root, "two-stages.yaml");
  writeFileSync(
    recipe,
    [
      "name: two-stages",
      "seed: 3",
      "backend: cpu",
      `data: { source: "idx:${DATA}", validationSize: 200 }`,
      "teacher: { kind: train, spec: mlp:32, epochs: 3 }",
      "student: { spec: mlp:16 }",
      "training: { batchSize: 32, optimizer: { kind: adam, lr: 0.003 } }",
      "stages:",
      "  - { name: hints, epochs: 2, terms: [{ loss: fitnets, student: dense_1, teacher: dense_1, projector: linear }] }",
      "  - { name: kd, epochs: 3, terms: [{ loss: kd, options: { temperature: 4, alpha: 0.1 } }] }",
    ].join("\n"),
  );
  const ref = await tsdistill(["distill", "--config", recipe, "--out", join(RUNS, "ref-recipe")]);
  assertOk(ref);
  // Checkpoint writes: teacher 1–3, stage hints 4–5, stage kd 6–8; kill in one of the students' (seeded).
  const n = 4 + rng.int(5);
  const out = join(RUNS, "recipe");
  const killed = await tsdistill(["distill", "--config", recipe, "--out", out], { killInCheckpoint: n });
  assertKilled(killed);
  const store = new CheckpointStore(join(RUNS, ".recipe.partial", "checkpoints"));
  t.diagnostic(`killed in checkpoint write ${n}: teacher at epoch ${checkpointEpoch(store.file("teacher"))}, hints at ${checkpointEpoch(store.file("stage-0"))}, kd at ${checkpointEpoch(store.file("stage-1"))}`);
  const resumed = await tsdistill(["distill", "--config", recipe, "--out", out, "--resume"]);
  assertOk(resumed);
  assertSameModel(join(out, "teacher"), join(RUNS, "ref-recipe", "teacher"));
  assertSameModel(join(out, "student"), join(RUNS, "ref-recipe", "student"));
  assert.deepEqual(curves(out), curves(join(RUNS, "ref-recipe")));
  assertClean(out);
});

// ---- in process ---------------------------------------------------------------------------------------------

function tabular(): { train: InMemoryDataset; validation: InMemoryDataset } {
  const r = new Rng(3, "tabular");
  const n = 500;
  const d = 12;
  const x = Float32Array.from({ length: n * d }, () => r.normal());
  const y = Int32Array.from({ length: n }, (_, i) => (x[i * d] + x[i * d + 1] > 0 ? 1 : 0) + (x[i * d + 2] > 0.5 ? 2 : 0));
  return new InMemoryDataset("tabular", x, y, [d], 4).split(100, 1);
}

/** Trains, stopped (by an exception, as a kill would stop it) after `stopAfter` epochs, then continued from the checkpoint. */
async function interruptedTraining(path: string, options: FitOptions, stopAfter: number): Promise<{ uninterrupted: Float32Array[]; resumed: Float32Array[]; epochsAfterResume: number[] }> {
  const { train: data } = tabular();
  const config = modelConfigFromSpec("mlp:32-16", { inputShape: data.sampleShape, numClasses: 4, dropout: 0.2 });
  const weights = (m: SequentialModel) => m.params.map((p) => Float32Array.from(p.dataSync() as Float32Array));
  const ref = new SequentialModel(config, 1);
  await train(ref, data, options);
  const stopped = new SequentialModel(config, 1);
  const stop = new Error("stopped");
  const onEpoch = (e: { epoch: number }) => {
    if (e.epoch === stopAfter) throw stop;
  };
  await assert.rejects(train(stopped, data, { ...options, checkpoint: new FileCheckpoint(path), reporter: { onEpoch } }), (e) => e === stop);
  const resumed = new SequentialModel(config, 99); // other initial weights: all of them come from the checkpoint
  const epochsAfterResume: number[] = [];
  await train(resumed, data, { ...options, checkpoint: new FileCheckpoint(path), reporter: { onEpoch: (e) => epochsAfterResume.push(e.epoch) } });
  const out = { uninterrupted: weights(ref), resumed: weights(resumed), epochsAfterResume };
  for (const m of [ref, stopped, resumed]) m.dispose();
  return out;
}

for (const backend of ["cpu", "wasm", "native"] as BackendName[]) {
  test(`fit on ${backend}: Adam and SGD with Nesterov momentum, dropout and keep-best, interrupted and resumed from the checkpoint: bit-identical`, backend === "native" ? nativeTestOptions : {}, async () => {
    await useBackend(backend, { fallback: false });
    const { validation } = tabular();
    const optimizers = [
      { kind: "adam", lr: 0.01, weightDecay: 1e-3 },
      { kind: "sgd", lr: 0.05, momentum: 0.9, nesterov: true },
    ] as const;
    for (const [i, optimizer] of optimizers.entries()) {
      const path = join(root, `fit-${backend}-${i}.safetensors`);
      const r = await interruptedTraining(path, { epochs: 5, batchSize: 32, optimizer, schedule: { kind: "cosine", warmupEpochs: 1 }, seed: 5, validation }, 2);
      assert.deepEqual(r.epochsAfterResume, [3, 4, 5], "the resumed fit trains only the epochs after the checkpoint");
      r.uninterrupted.forEach((w, j) => assert.ok(Buffer.from(w.buffer).equals(Buffer.from(r.resumed[j].buffer)), `${optimizer.kind}: parameter ${j} differs`));
    }
  });
}

test("a checkpoint of another training is refused, naming what differs", async () => {
  await useBackend("cpu", { fallback: false });
  const { train: data, validation } = tabular();
  const path = join(root, "other.safetensors");
  const model = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: data.sampleShape, numClasses: 4 }), 1);
  await train(model, data, { epochs: 1, batchSize: 32, seed: 1, validation, checkpoint: new FileCheckpoint(path) });
  await assert.rejects(train(model, data, { epochs: 1, batchSize: 64, seed: 1, validation, checkpoint: new FileCheckpoint(path) }), /other\.safetensors: the checkpoint is of another training \(config\.batchSize was 32, now 64\)/);
  model.dispose();
});

test("run folders: a new run removes dead partial folders and keeps live ones; --resume takes the newest dead one with the same config", () => {
  const parent = join(root, "folders");
  const make = (name: string, pid: number, since: string, config: Record<string, unknown>) => {
    const dir = join(parent, `.${name}.partial`);
    mkdirSync(join(dir, "checkpoints"), { recursive: true });
    writeFileSync(join(dir, "owner.json"), JSON.stringify({ pid, start: pid === process.pid ? processStart(pid) : null, since, kind: "train" }));
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    return dir;
  };
  const said: string[] = [];
  const info = (m: string) => said.push(m);
  const cwd = process.cwd();
  const home = join(root, "folders-home");
  mkdirSync(home);
  process.chdir(home);
  try {
    const parentRuns = join(home, "runs");
    const older = join(parentRuns, ".r-old.partial");
    mkdirSync(older, { recursive: true });
    writeFileSync(join(older, "owner.json"), JSON.stringify({ pid: DEAD_PID, start: null, since: "2001-01-01T00:00:00.000Z", kind: "train" }));
    writeFileSync(join(older, "config.json"), JSON.stringify({ epochs: 3 }));
    const newer = join(parentRuns, ".r-new.partial");
    mkdirSync(newer);
    writeFileSync(join(newer, "owner.json"), JSON.stringify({ pid: DEAD_PID, start: null, since: "2002-01-01T00:00:00.000Z", kind: "train" }));
    writeFileSync(join(newer, "config.json"), JSON.stringify({ epochs: 4 }));
    // Without --out, --resume takes the newest interrupted run of the kind whose config matches, and removes the others.
    assert.throws(() => RunFolder.open({ kind: "train", resume: true, config: { epochs: 5 }, info }), /--resume: no interrupted train run in .*runs has this config; the newest, .*r-new\.partial was started with epochs 4, this command has 5/);
    assert.throws(() => RunFolder.open({ kind: "distill", resume: true, config: { epochs: 3 }, info }), /no interrupted distill run/);
    const run = RunFolder.open({ kind: "train", resume: true, config: { epochs: 3 }, info });
    assert.equal(run.dir, older);
    assert.ok(run.resumed);
    assert.ok(!existsSync(newer), "the other dead run's folder is removed");
    assert.equal(JSON.parse(readFileSync(join(older, "owner.json"), "utf8")).pid, process.pid, "the resumed folder is ours now");
    mkdirSync(run.checkpointDir);
    writeFileSync(join(run.checkpointDir, "x.safetensors"), "");
    assert.equal(run.finish(), join(parentRuns, "r-old"));
    assertClean(join(parentRuns, "r-old"));
  } finally {
    process.chdir(cwd);
  }

  const live = make("live", process.pid, new Date().toISOString(), { epochs: 1 });
  const dead = make("dead", DEAD_PID, new Date().toISOString(), { epochs: 1 });
  assert.throws(() => RunFolder.open({ kind: "train", out: join(parent, "live"), resume: true, config: { epochs: 1 }, info }), /--resume: the run in .*\.live\.partial is still going \(pid \d+\)/);
  assert.throws(() => RunFolder.open({ kind: "train", out: join(parent, "live"), config: { epochs: 1 }, info }), /--out: another tsdistill process \(pid \d+\) is writing/);
  assert.throws(() => RunFolder.open({ kind: "train", out: join(parent, "nothing"), resume: true, config: {}, info }), /--resume: there is no interrupted run for .*nothing/);
  assert.throws(() => RunFolder.open({ kind: "train", out: join(parent, "dead"), resume: true, config: { epochs: 2, lr: 1 }, info }), /--resume: .*\.dead\.partial was started with epochs 1, this command has 2/);
  assert.ok(existsSync(dead), "a refused resume removes nothing");
  const fresh = RunFolder.open({ kind: "train", out: join(parent, "dead"), config: { epochs: 2 }, info });
  assert.ok(!fresh.resumed);
  assert.deepEqual(readdirSync(fresh.dir).sort(), ["config.json", "owner.json"], "a new run in the dead run's place starts empty");
  assert.ok(existsSync(live));
  assert.ok(said.some((m) => m.includes(`removed ${dead}`)), said.join("\n"));
  fresh.discard();
});

test("run (experiment): interrupted in the distilled variant; rerun with the same folder keeps the finished models and ends with the same weights", async () => {
  await useBackend("cpu", { fallback: false });
  const raw = {
    name: "resume-experiment",
    seed: 2,
    backend: "cpu",
    data: { source: `idx:${DATA}`, validationSize: 200, trainSize: 400 },
    teacher: { kind: "train", spec: "mlp:32", epochs: 2 },
    student: { spec: "mlp:8" },
    training: { epochs: 3, batchSize: 64 },
    loss: { terms: [{ loss: "kd", options: { temperature: 4, alpha: 0.2 } }] },
  };
  const ex = () => parseExperiment(raw, "resume-experiment.yaml");
  const refDir = join(root, "experiment", "ref");
  const ref = await runExperiment(ex(), { dir: refDir, checkpoints: new CheckpointStore(join(refDir, "checkpoints")) });
  const dir = join(root, "experiment", "interrupted");
  const checkpoints = new CheckpointStore(join(dir, "checkpoints"));
  const stop = new Error("stopped");
  const reporter = { onEpoch: (e: { label: string; epoch: number }) => {
    if (e.label === "distilled" && e.epoch === 2) throw stop;
  } };
  await assert.rejects(runExperiment(ex(), { dir, checkpoints, reporter }), (e) => e === stop);
  assert.ok(existsSync(join(dir, "alone-0", "result.json")) && !existsSync(join(dir, "variant-0", "result.json")));
  const said: string[] = [];
  const trained: string[] = [];
  const result = await runExperiment(ex(), { dir, checkpoints, info: (m) => said.push(m), reporter: { onEpoch: (e) => trained.push(`${e.label} ${e.epoch}`) } });
  assert.ok(said.some((m) => /mlp:8 alone: kept from the interrupted run/.test(m)), said.join("\n"));
  assert.deepEqual(trained, ["distilled 3"], "only the distilled student's last epoch is trained again");
  for (const sub of ["alone-0/student", "variant-0/student"]) {
    const [a, b] = [await loadModel(join(dir, sub)), await loadModel(join(refDir, sub))];
    a.model.params.forEach((p, i) => assert.ok(Buffer.from((p.dataSync() as Float32Array).buffer).equals(Buffer.from((b.model.params[i].dataSync() as Float32Array).buffer)), `${sub}: parameter ${i}`));
    a.model.dispose();
    b.model.dispose();
  }
  assert.deepEqual(result.rows.map((r) => [r.name, r.errors, r.agreement]), ref.rows.map((r) => [r.name, r.errors, r.agreement]));
  assert.ok(!existsSync(join(dir, "checkpoints", "variant-0")), "a finished model's checkpoints are removed");
});
