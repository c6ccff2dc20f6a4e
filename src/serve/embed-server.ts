// `tsdistill serve` for embedding students (a static / bag-of-embeddings folder, or a transformer with head "embed"):
//
//   GET  /health    → {status: "ok"}
//   GET  /metadata  → {kind: "embeddings", model, dim, params, normalize, maxBatch, maxBodyBytes, metadata}
//   POST /embed     {"texts": ["...", ...]} or {"text": "..."} → {"embeddings": [[...], ...], "dim"}
//
// Client errors are {error: "<one line naming the field>"} with a 4xx status, as on the model server.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { serve } from "@hono/node-server";
import { useBackend, type BackendName } from "../engine/backend.js";
import { openEmbedder } from "../embeddings/transformer-embedder.js";
import type { Embedder } from "../embeddings/embedding-model.js";
import { TsdistillError } from "../util/errors.js";
import { HttpError, isJsonContentType, readBodyLimited } from "./validate.js";
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES } from "./server.js";

export interface EmbeddingServerOptions {
  modelDir: string;
  maxBodyBytes?: number;
  maxBatch?: number;
  /** TF.js backend for transformer students (default auto: native when the addon loads, else wasm). */
  backend?: BackendName;
  host?: string;
  port?: number;
}

export interface EmbeddingServer {
  app: Hono;
  embedder: Embedder & { kind: string; metadata: Record<string, unknown> };
  maxBodyBytes: number;
  maxBatch: number;
}

const ROUTES: Record<string, string[]> = { "/health": ["GET"], "/metadata": ["GET"], "/embed": ["POST"] };

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "string") return "a string";
  return typeof v === "object" ? "an object" : String(v);
}

/** {"texts": [...]} or {"text": "..."} → the texts, or an HttpError naming the field. */
export function parseEmbedBody(body: unknown, maxBatch: number): { texts: string[]; single: boolean } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, `body: expected a JSON object {"texts": ["...", ...]} or {"text": "..."}, got ${describe(body)}`);
  const b = body as Record<string, unknown>;
  const keys = Object.keys(b);
  const extra = keys.filter((k) => k !== "texts" && k !== "text");
  if (extra.length) throw new HttpError(400, `body.${extra[0]}: unknown field; expected "texts" or "text"`);
  if ("texts" in b && "text" in b) throw new HttpError(400, `body: give "texts" or "text", not both`);
  if ("text" in b) {
    if (typeof b.text !== "string") throw new HttpError(400, `text: expected a string, got ${describe(b.text)}`);
    return { texts: [b.text], single: true };
  }
  if (!("texts" in b)) throw new HttpError(400, `body: expected a field "texts" (an array of strings) or "text"`);
  if (!Array.isArray(b.texts)) throw new HttpError(400, `texts: expected an array of strings, got ${describe(b.texts)}`);
  if (b.texts.length === 0) throw new HttpError(400, "texts: empty; expected at least one string");
  if (b.texts.length > maxBatch) throw new HttpError(413, `texts: ${b.texts.length} texts; at most ${maxBatch} per request (--max-batch)`);
  b.texts.forEach((t, i) => {
    if (typeof t !== "string") throw new HttpError(400, `texts[${i}]: expected a string, got ${describe(t)}`);
  });
  return { texts: b.texts as string[], single: false };
}

/** Loads the embedding student and builds the app; nothing listens yet (app.request / app.fetch, or startEmbeddingServer). */
export async function createEmbeddingServer(opts: EmbeddingServerOptions): Promise<EmbeddingServer> {
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  for (const [k, v] of [["maxBodyBytes", maxBodyBytes], ["maxBatch", maxBatch]] as const) if (!Number.isInteger(v) || v < 1) throw new TsdistillError(`${k}: expected an integer ≥ 1, got ${v}`);
  await useBackend(opts.backend ?? "auto");
  const embedder = await openEmbedder(opts.modelDir);
  const app = new Hono();
  const errorJson = (c: Context, status: ContentfulStatusCode, message: string, headers: Record<string, string> = {}) => {
    for (const [k, v] of Object.entries(headers)) c.header(k, v);
    return c.json({ error: message }, status);
  };
  app.get("/health", (c) => c.json({ status: "ok" }));
  const metadata = { kind: "embeddings", model: embedder.kind, dim: embedder.dim, params: embedder.paramCount, maxBatch, maxBodyBytes, metadata: embedder.metadata };
  app.get("/metadata", (c) => c.json(metadata));
  app.post("/embed", async (c) => {
    const contentType = c.req.header("content-type");
    if (!isJsonContentType(contentType)) throw new HttpError(415, `content-type: expected application/json, got ${contentType ? JSON.stringify(contentType.slice(0, 60)) : "none"}`);
    const bytes = await readBodyLimited(c.req.raw.body, c.req.header("content-length"), maxBodyBytes);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new HttpError(400, `body: invalid JSON (${(err as Error).message.slice(0, 120)})`);
    }
    const { texts } = parseEmbedBody(body, maxBatch);
    const v = embedder.embed(texts);
    const d = embedder.dim;
    return c.json({ embeddings: texts.map((_, i) => Array.from(v.subarray(i * d, (i + 1) * d))), dim: d });
  });
  for (const [path, methods] of Object.entries(ROUTES)) {
    app.all(path, (c) => errorJson(c, 405, `${c.req.method} ${path}: method not allowed; use ${methods.join(" or ")}`, { allow: (methods.includes("GET") ? [...methods, "HEAD"] : methods).join(", ") }));
  }
  app.notFound((c) => errorJson(c, 404, `${c.req.method} ${c.req.path.slice(0, 100)}: no such route; this is an embedding model: GET /health, GET /metadata, POST /embed`));
  app.onError((err, c) => {
    if (err instanceof HttpError) return errorJson(c, err.status, err.message, err.headers);
    process.stderr.write(`tsdistill serve: internal error on ${c.req.method} ${c.req.path}: ${(err as Error)?.stack ?? String(err)}\n`);
    return errorJson(c, 500, `internal error: ${String((err as Error)?.message ?? err).split("\n")[0]}`);
  });
  return { app, embedder, maxBodyBytes, maxBatch };
}

/** createEmbeddingServer + listen (default 127.0.0.1, any free port); close() stops it and releases the model. */
export async function startEmbeddingServer(opts: EmbeddingServerOptions): Promise<EmbeddingServer & { url: string; server: Server; close(): Promise<void> }> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 0;
  const s = await createEmbeddingServer(opts);
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const srv = serve({ fetch: s.app.fetch, hostname: host, port }) as Server;
      srv.once("error", (err: NodeJS.ErrnoException) => reject(new TsdistillError(`cannot listen on ${host}:${port}: ${err.code === "EADDRINUSE" ? "the address is already in use" : err.message}`)));
      srv.once("listening", () => resolve(srv));
    });
  } catch (err) {
    s.embedder.dispose();
    throw err;
  }
  const actual = (server.address() as AddressInfo).port;
  const h = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }).then(() => s.embedder.dispose()));
  return { ...s, url: `http://${h}:${actual}`, server, close };
}
