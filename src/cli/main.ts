import { readFileSync } from "node:fs";
import { TsdistillError } from "../util/errors.js";
import { demoCommand } from "./commands/demo.js";
import { trainCommand } from "./commands/train.js";
import { distillCommand } from "./commands/distill.js";
import { evalCommand } from "./commands/eval.js";
import { exportCommand } from "./commands/export.js";
import { labelCommand } from "./commands/label.js";
import { serveCommand } from "./commands/serve.js";
import { reportCommand } from "./commands/report.js";
import { autoCommand } from "./commands/auto.js";
import { runsCommand } from "./commands/runs.js";
import { runCommand } from "./commands/run.js";
import { doctorCommand } from "./commands/doctor.js";
import { workerCommand } from "./commands/worker.js";
import { dashboardCommand } from "./commands/dashboard.js";
import { generateCommand } from "./commands/generate.js";

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; summary: string }> = {
  demo: { run: demoCommand, summary: "MNIST end to end: teacher, student alone, distilled student, comparison table" },
  train: { run: trainCommand, summary: "train a model on hard labels and save it (TF.js layers format)" },
  label: { run: labelCommand, summary: "run a teacher once over the transfer set into a resumable safetensors cache" },
  run: { run: runCommand, summary: "run an experiment recipe (recipes/*.yaml): teacher, student alone and distilled variants, one table" },
  distill: { run: distillCommand, summary: "distill a student from a saved teacher" },
  eval: { run: evalCommand, summary: "evaluate a model (and its teacher): accuracy, top-k, fidelity, KL, ECE, confusion, latency, throughput, size" },
  report: { run: reportCommand, summary: "HTML + JSON report of a run folder: curves, results, calibration, confusion, speed" },
  serve: { run: serveCommand, summary: "serve a saved model over HTTP (JSON): /health, /metadata, /predict (TF.js or onnxruntime)" },
  export: { run: exportCommand, summary: "export a saved model to ONNX (float or int8, checked in onnxruntime) or TF.js" },
  auto: { run: autoCommand, summary: "search for the best student under size / latency / agreement constraints (resumable; Pareto report)" },
  runs: { run: runsCommand, summary: "list and compare the searches and trials in the run store (SQLite)" },
  dashboard: { run: dashboardCommand, summary: "web UI on 127.0.0.1: runs and searches, live training curves, compare runs, Pareto plots, reports" },
  worker: { run: workerCommand, summary: "run teacher-label shards and auto trials from a Redis queue (label --queue, auto --queue)" },
  generate: { run: generateCommand, summary: "continue a prompt with a causal LM saved by tsdistill (KV cache; temperature, top-k, top-p, seed)" },
  doctor: { run: doctorCommand, summary: "report the backend in use, the native BLAS addon, BLAS config, threads and CPU" },
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
