import { choiceOption, numberOption, parseOptions } from "../args.js";
import { GLOBAL_OPTIONS } from "./common.js";
import { BACKENDS } from "../../engine/backend.js";
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, startServer } from "../../serve/server.js";
import { RAW_FIELDS } from "../../serve/validate.js";
import { startEmbeddingServer } from "../../serve/embed-server.js";
import { isEmbedderFolder } from "../../embeddings/transformer-embedder.js";
import { UsageError } from "../../util/errors.js";

export const SERVE_HELP = `tsdistill serve --model DIR [--onnx FILE|auto] [--host 127.0.0.1] [--port 8080] [--max-body BYTES]

Serves a saved model over HTTP (JSON). Runs in TF.js, or in onnxruntime-node when an ONNX file is given
(--onnx auto uses DIR.onnx or DIR/model.onnx when present, TF.js otherwise). Stops on SIGINT/SIGTERM.

  GET  /health     {"status": "ok"}
  GET  /metadata   what /predict takes (raw kind, columns / text field / image size; tensor shape), classes,
                   parameter count, runtime, labels, the model's metadata
  POST /predict    raw samples, through the preprocessing saved with the model (preprocess.json):
                     tabular  {"records": [{"col": value, ...}, ...]} or {"record": {...}} (absent or null: missing)
                     text     {"texts": ["...", ...]} or {"text": "..."}
                     image    {"images": ["<base64 PNG/JPEG>", ...]} or {"image": "..."} (any size; also for
                              models without preprocess.json whose input is an image, e.g. MNIST)
                   or tensors: {"input": [...]} (one sample, flat or nested to the input shape) or {"inputs": [...]}
                   (features; for an ONNX file whose graph holds the preprocessing, what its input takes)
                   → {"predictions": [{"class", "label", "probabilities", "logits"}]} (softmax computed by the server)
                   (a regression model, task regression in its preprocess.json: {"predictions": [{"value"}]} in the
                   target's units)

Embedding students (a static / bag-of-embeddings folder, or a transformer with head "embed") are served with
  POST /embed      {"texts": ["...", ...]} or {"text": "..."} → {"embeddings": [[...], ...], "dim"}
instead of /predict.

Client errors are answered as {"error": "..."} with a 4xx status (400 bad input, naming the field and index,
e.g. "records[2].age: ..."; 404, 405, 413, 415). The model folder needs no --data: its preprocess.json is read.

  --model DIR            model folder (model.json + weights)
  --onnx FILE|auto       serve this ONNX file (from 'tsdistill export') through onnxruntime-node
  --host ADDR            address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it)
  --port N               port (default 8080; 0 picks a free one)
  --max-body BYTES       largest request body (default ${DEFAULT_MAX_BODY_BYTES}, 1 MiB); larger ones get 413
  --max-batch N          most samples per request (default ${DEFAULT_MAX_BATCH})
  --backend auto|wasm|cpu|native   TF.js backend (default auto: native when its addon loads, else wasm)
  --json                 print the startup line as one JSON object
  --help, -h             this help`;

/** Runs the server until SIGINT or SIGTERM, then closes it (requests in flight finish) and returns. */
export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("serve", argv, {
    ...GLOBAL_OPTIONS,
    model: { type: "string" },
    onnx: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    "max-body": { type: "string" },
    "max-batch": { type: "string" },
  });
  if (values.help) return void process.stdout.write(SERVE_HELP + "\n");
  if (!values.model) throw new UsageError("serve: --model is required (a model folder, e.g. runs/<run>/student)");
  if (values.onnx === "") throw new UsageError('--onnx: expected an ONNX file or "auto", got ""');
  const host = String(values.host ?? "127.0.0.1");
  if (host.trim() === "") throw new UsageError('--host: expected an address such as 127.0.0.1, got ""');
  const port = numberOption("port", values.port, { int: true, min: 0, max: 65535 }) ?? 8080;
  const maxBodyBytes = numberOption("max-body", values["max-body"], { int: true, min: 1 }) ?? DEFAULT_MAX_BODY_BYTES;
  const maxBatch = numberOption("max-batch", values["max-batch"], { int: true, min: 1 }) ?? DEFAULT_MAX_BATCH;
  const backend = choiceOption("backend", values.backend, BACKENDS) ?? "auto";
  const modelDir = String(values.model);

  if (isEmbedderFolder(modelDir)) {
    if (values.onnx) throw new UsageError("--onnx: embedding models are served from their folder; ONNX serving is for class-score models");
    const running = await startEmbeddingServer({ modelDir, host, port, maxBodyBytes, maxBatch, backend });
    const e = running.embedder;
    if (values.json) process.stdout.write(JSON.stringify({ url: running.url, model: modelDir, kind: "embeddings", student: e.kind, dim: e.dim }) + "\n");
    else process.stdout.write(`serving ${modelDir} (${e.kind} embedding model, ${e.dim}-d vectors) at ${running.url}\n`);
    if (!values.quiet) process.stderr.write('tsdistill serve: POST /embed takes {"texts": ["...", ...]} and answers {"embeddings": [[...], ...]}\n');
    return untilSignal(() => running.close(), (line) => void (!values.quiet && process.stderr.write(`tsdistill serve: ${line}\n`)));
  }
  const running = await startServer({ modelDir, onnx: values.onnx as string | undefined, host, port, maxBodyBytes, maxBatch, backend });
  const p = running.predictor;
  const log = (line: string) => {
    if (!values.quiet) process.stderr.write(`tsdistill serve: ${line}\n`);
  };
  if (values.onnx === "auto" && p.runtime === "tfjs") log(`--onnx auto: no ${modelDir.replace(/[/\\]+$/, "")}.onnx or model.onnx found; serving with TF.js`);
  if (p.onnxCheck && (p.onnxCheck.sameClass < 1 || p.onnxCheck.maxAbsDiff > 1e-3)) {
    log(
      `warning: ${p.engine} differs from ${modelDir} on ${p.onnxCheck.samples} random inputs (max |diff| ${p.onnxCheck.maxAbsDiff.toExponential(2)}, ` +
        `same class ${(p.onnxCheck.sameClass * 100).toFixed(0)}%): an int8 export, or a stale one?`,
    );
  }
  const runtime = p.runtime === "tfjs" ? `TF.js (${p.engine})` : `onnxruntime-node (${p.engine})`;
  if (values.json) {
    process.stdout.write(JSON.stringify({ url: running.url, model: modelDir, runtime: p.runtime, engine: p.engine, inputShape: p.inputShape, numClasses: p.numClasses, rawInput: p.rawInput }) + "\n");
  } else {
    process.stdout.write(`serving ${modelDir} with ${runtime} at ${running.url}\n`);
  }
  const raw = p.rawInput ? `raw ${p.rawInput} ({"${RAW_FIELDS[p.rawInput][1]}": [...]}) or tensors ({"inputs": [...]}, ${p.tensorInput.description})` : `tensors only ({"inputs": [...]}, ${p.tensorInput.description}); the model has no preprocess.json`;
  log(`POST /predict takes ${raw}`);

  await untilSignal(() => running.close(), log);
}

/** Waits for SIGINT or SIGTERM, then closes the server (requests in flight finish); a second signal exits at once. */
async function untilSignal(close: () => Promise<void>, log: (line: string) => void): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`tsdistill serve: ${signal} again; exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      log(`${signal}: stopping (requests in flight finish first)`);
      close().then(
        () => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          log("stopped");
          resolve();
        },
        (err) => {
          process.stderr.write(`tsdistill serve: error while stopping: ${(err as Error).message}\n`);
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
