import { readFileSync } from "node:fs";
import { TsdistillError } from "../util/errors.js";

type Command = (argv: string[]) => Promise<void>;

/**
 * A command whose module is imported when it runs: a CLI process loads only its own command's code (each command
 * module pulls in its own dependencies; loading all of them cost every process about 0.7 s of CPU at startup).
 */
function lazy<K extends string>(load: () => Promise<Record<K, Command>>, name: K): Command {
  return async (argv) => (await load())[name](argv);
}

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  demo: { run: lazy(() => import("./commands/demo.js"), "demoCommand"), summary: "MNIST end to end: teacher, student alone, distilled student, comparison table" },
  train: { run: lazy(() => import("./commands/train.js"), "trainCommand"), summary: "train a model on hard labels and save it (TF.js layers format)" },
  label: { run: lazy(() => import("./commands/label.js"), "labelCommand"), summary: "run a teacher once over the transfer set into a resumable safetensors cache" },
  run: { run: lazy(() => import("./commands/run.js"), "runCommand"), summary: "run an experiment recipe (recipes/*.yaml): teacher, student alone and distilled variants, one table" },
  distill: { run: lazy(() => import("./commands/distill.js"), "distillCommand"), summary: "distill a student from a saved teacher" },
  eval: { run: lazy(() => import("./commands/eval.js"), "evalCommand"), summary: "evaluate a model (and its teacher): accuracy, top-k, fidelity, KL, ECE, confusion, latency, throughput, size" },
  report: { run: lazy(() => import("./commands/report.js"), "reportCommand"), summary: "HTML + JSON report of a run folder: curves, results, calibration, confusion, speed" },
  serve: { run: lazy(() => import("./commands/serve.js"), "serveCommand"), summary: "serve a saved model over HTTP (JSON): /health, /metadata, /predict (TF.js or onnxruntime)" },
  export: { run: lazy(() => import("./commands/export.js"), "exportCommand"), summary: "export a saved model to ONNX (float or int8, checked in onnxruntime) or TF.js" },
  auto: { run: lazy(() => import("./commands/auto.js"), "autoCommand"), summary: "search for the best student under size / latency / agreement constraints (resumable; Pareto report)" },
  runs: { run: lazy(() => import("./commands/runs.js"), "runsCommand"), summary: "list and compare the searches and trials in the run store (SQLite)" },
  dashboard: { run: lazy(() => import("./commands/dashboard.js"), "dashboardCommand"), summary: "web UI on 127.0.0.1: runs and searches, live training curves, compare runs, Pareto plots, reports" },
  worker: { run: lazy(() => import("./commands/worker.js"), "workerCommand"), summary: "run teacher-label shards and auto trials from a Redis queue (label --queue, auto --queue)" },
  generate: { run: lazy(() => import("./commands/generate.js"), "generateCommand"), summary: "continue a prompt with a causal LM saved by tsdistill (KV cache; temperature, top-k, top-p, seed)" },
  doctor: { run: lazy(() => import("./commands/doctor.js"), "doctorCommand"), summary: "report the backend in use, the native BLAS addon, BLAS config, threads and CPU" },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export const MAIN_HELP = `tsdistill — knowledge distillation for TypeScript

Usage: tsdistill <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join("\n")}

Run 'tsdistill <command> --help' for a command's options.`;

/** Runs the CLI; returns the exit code. Errors meant for users print as one line. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(MAIN_HELP + "\n");
    return command ? 0 : 2;
  }
  if (command === "--version" || command === "-v") {
    process.stdout.write(version() + "\n");
    return 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`tsdistill: unknown command "${command}"; expected one of ${Object.keys(COMMANDS).join(", ")}\n`);
    return 2;
  }
  try {
    await entry.run(rest);
    return 0;
  } catch (err) {
    if (err instanceof TsdistillError) {
      process.stderr.write(`tsdistill: error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`tsdistill: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 70;
  }
}
