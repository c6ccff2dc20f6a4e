// `tsdistill serve`: a saved model behind a small HTTP JSON API (Hono on node:http).
//
//   GET  /health    → {status: "ok"}
//   GET  /metadata  → {input: {raw, tensor}, inputShape, numClasses, params, runtime, engine, labels?, metadata, onnxCheck?}
//   POST /predict   {input: sample} | {inputs: sample[]} (tensors), or raw samples through the model's preprocessing:
//                   {record(s)} | {text(s)} | {image(s): base64 PNG/JPEG} → {predictions: [{class, label?, probabilities, logits}]}
//                   (a regression model: {predictions: [{value}]}, the value in the target's units)
//
// Every client error is {error: "<one line naming the field and what was expected>"} with a 4xx status; the
// server keeps serving after each.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { serve } from "@hono/node-server";
import type { BackendName } from "../engine/backend.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { createPredictor, oneLine, type Predictor } from "./predictor.js";
import { HttpError, isJsonContentType, parsePredictBody, RAW_FIELDS, readBodyLimited, type TensorValues } from "./validate.js";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_BATCH = 256;

export interface ServerOptions {
  /** A saved model folder (model.json + weights). */
  modelDir: string;
  /** An ONNX file to serve through onnxruntime-node, or "auto" (`<modelDir>.onnx`, then `<modelDir>/model.onnx`; TF.js if neither exists). */
  onnx?: string | "auto";
  /** Largest accepted request body (default 1 MiB). */
  maxBodyBytes?: number;
  /** Most samples per /predict request (default 256). */
  maxBatch?: number;
  /** TF.js backend (default auto: native when the addon loads, else wasm). */
  backend?: BackendName;
}

export interface StartOptions extends ServerOptions {
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
}

export interface Prediction {
  class: number;
  label?: string;
  probabilities: number[];
  logits: number[];
}

/** A regression model's answer for one sample, in the target's units. */
export interface ValuePrediction {
  value: number;
}

export interface InferenceServer {
  app: Hono;
  predictor: Predictor;
  maxBodyBytes: number;
  maxBatch: number;
}

export interface RunningServer extends InferenceServer {
  url: string;
  host: string;
  port: number;
  server: Server;
  /** Stops accepting connections, lets requests in flight finish (up to `graceMs`, default 5 s), then releases the model. */
  close(graceMs?: number): Promise<void>;
}

const ROUTES: Record<string, string[]> = { "/health": ["GET"], "/metadata": ["GET"], "/predict": ["POST"] };
const ROUTE_LIST = Object.entries(ROUTES)
  .map(([path, methods]) => `${methods.join("|")} ${path}`)
  .join(", ");

function positiveInt(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new TsdistillError(`${name}: expected an integer ≥ 1, got ${v}`);
  return v;
}

/** /metadata's "input": what /predict takes, raw and as tensors. */
export function inputDescription(p: Predictor): Record<string, unknown> {
  const pre = p.preprocess;
  const tensor = { fields: ["input", "inputs"], ...p.tensorInput };
  if (!pre || !p.rawInput) return { raw: null, tensor };
  const raw: Record<string, unknown> = { kind: p.rawInput, fields: RAW_FIELDS[p.rawInput], preprocessing: p.preprocessSaved ? "preprocess.json" : "implied by the input shape: RGBA → [0, 1] at the model's size" };
  if (pre.kind === "tabular") {
    raw.columns = pre.columns.map((c) => (c.kind === "categorical" ? { name: c.name, kind: c.kind, categories: c.categories } : { name: c.name, kind: c.kind }));
    raw.label = pre.label;
    raw.missing = "an absent key or null is a missing value (numeric: the training mean; categorical: its own slot)";
  } else if (pre.kind === "text" || pre.kind === "tokens") {
    raw.textField = pre.textField;
    raw.accepts = `strings, or objects with a string field "${pre.textField}"`;
  } else {
    raw.image = { height: pre.height, width: pre.width, channels: pre.channels };
    raw.accepts = "base64 PNG or JPEG (a data: URL prefix is allowed), any size: resized bilinearly to the model's size";
  }
  return { raw, tensor };
}

const errorJson = (c: Context, status: ContentfulStatusCode, message: string, headers: Record<string, string> = {}) => {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  return c.json({ error: message }, status);
};

/** Loads the model (and ONNX file) and builds the Hono app; nothing listens yet (use app.fetch / app.request, or startServer). */
export async function createServer(opts: ServerOptions): Promise<InferenceServer> {
  const maxBodyBytes = positiveInt("maxBodyBytes", opts.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
  const maxBatch = positiveInt("maxBatch", opts.maxBatch, DEFAULT_MAX_BATCH);
  const predictor = await createPredictor({ modelDir: opts.modelDir, onnx: opts.onnx, backend: opts.backend });
  const p = predictor;

  const app = new Hono();

  app.get("/health", (c) => c.json({ status: "ok" }));

  const tensorValues: TensorValues = p.tensorInput.dtype === "uint8" ? "uint8" : p.tensorInput.kind === "values" ? "nullable" : "float32";
  const metadata = {
    input: inputDescription(p),
    inputShape: p.inputShape,
    numClasses: p.numClasses,
    params: p.params,
    runtime: p.runtime,
    engine: p.engine,
    ...(p.labels ? { labels: p.labels } : {}),
    ...(p.onnxCheck ? { onnxCheck: p.onnxCheck } : {}),
    task: p.regression ? "regression" : "classification",
    ...(p.regression ? { target: p.regression } : {}),
    maxBatch,
    maxBodyBytes,
    metadata: p.metadata,
  };
  app.get("/metadata", (c) => c.json(metadata));

  app.post("/predict", async (c) => {
    const contentType = c.req.header("content-type");
    if (!isJsonContentType(contentType)) {
      throw new HttpError(415, `content-type: expected application/json, got ${contentType ? JSON.stringify(oneLine(contentType, 60)) : "none"}`);
    }
    const bytes = await readBodyLimited(c.req.raw.body, c.req.header("content-length"), maxBodyBytes);
    const text = new TextDecoder().decode(bytes);
    if (text.trim() === "") throw new HttpError(400, `body: empty; expected a JSON object {"input": [...]} or {"inputs": [[...], ...]}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, `body: invalid JSON (${oneLine((err as Error).message, 120)})`);
    }
    const parsed = parsePredictBody(body, p.inputShape, maxBatch, { raw: p.rawInput, values: tensorValues });
    let logits: Float32Array;
    if (parsed.kind === "tensor") logits = await p.predict(parsed.x, parsed.n);
    else {
      try {
        logits = await p.predictRaw(parsed.rows, parsed.field);
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        // A bad sample: one line naming the field and index ("records[2].age: …"; "record.age" for one sample).
        const msg = parsed.single ? err.message.replace(`${parsed.field}[0]`, parsed.field) : err.message;
        throw new HttpError(400, oneLine(msg, 400));
      }
    }
    const n = parsed.n;
    const C = p.numClasses;
    const decoded = p.decode(logits, n);
    const predictions = decoded.map((d, r) => {
      if (!("class" in d)) return d;
      const pred: Prediction = { class: d.class, ...(p.labels ? { label: d.label } : {}), probabilities: d.probabilities, logits: Array.from(logits.subarray(r * C, (r + 1) * C)) };
      return pred;
    });
    return c.json({ predictions });
  });

  // A known path with another method: 405 with Allow (HEAD is answered for GET routes by Hono itself).
  for (const [path, methods] of Object.entries(ROUTES)) {
    const allow = methods.includes("GET") ? [...methods, "HEAD"] : methods;
    app.all(path, (c) => errorJson(c, 405, `${c.req.method} ${path}: method not allowed; use ${methods.join(" or ")}`, { allow: allow.join(", ") }));
  }

  app.notFound((c) => errorJson(c, 404, `${c.req.method} ${oneLine(c.req.path, 100)}: no such route; routes are ${ROUTE_LIST}`));

  app.onError((err, c) => {
    if (err instanceof HttpError) return errorJson(c, err.status, err.message, err.headers);
    process.stderr.write(`tsdistill serve: internal error on ${c.req.method} ${c.req.path}: ${(err as Error)?.stack ?? String(err)}\n`);
    return errorJson(c, 500, `internal error: ${oneLine((err as Error)?.message ?? String(err))}`);
  });

  return { app, predictor, maxBodyBytes, maxBatch };
}

function urlFor(host: string, port: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** createServer + listen on host:port (default 127.0.0.1, any free port). */
export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TsdistillError(`port: expected an integer in [0, 65535], got ${port}`);
  const inference = await createServer(opts);
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: inference.app.fetch, hostname: host, port }) as Server;
      const onError = (err: NodeJS.ErrnoException) => {
        s.off("listening", onListening);
        const why =
          err.code === "EADDRINUSE" ? "the address is already in use"
          : err.code === "EACCES" ? "permission denied"
          : err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" ? "no such local address"
          : (err.message ?? String(err));
        reject(new TsdistillError(`cannot listen on ${host}:${port}: ${why}`));
      };
      const onListening = () => {
        s.off("error", onError);
        resolve(s);
      };
      s.once("error", onError);
      s.once("listening", onListening);
    });
  } catch (err) {
    await inference.predictor.close();
    throw err;
  }
  const actualPort = (server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  const close = (graceMs = 5000): Promise<void> =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      await inference.predictor.close();
    })());
  return { ...inference, url: urlFor(host, actualPort), host, port: actualPort, server, close };
}
