// Request validation for POST /predict: every rejection is an HttpError whose message is one line naming the
// field (with the index of the first bad value) and what was expected.

/** A client error: answered as {error: message} with this HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 413 | 415,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

const FLOAT32_MAX = 3.4028234663852886e38;

export interface ParsedInputs {
  /** n samples, back to back. */
  x: Float32Array;
  n: number;
  /** Whether the request used `input` (one sample) rather than `inputs` (a batch). */
  single: boolean;
}

/** A short, one-line rendering of a JSON value for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") return "an object";
  if (typeof v === "number") return String(v);
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 39)}…"` : s;
}

const shapeText = (shape: number[]) => `[${shape.join(",")}]`;

function countLeaves(v: unknown): number {
  if (!Array.isArray(v)) return 1;
  let n = 0;
  for (const e of v) n += countLeaves(e);
  return n;
}

/**
 * Reads one sample (a flat array of `size` numbers, or nested exactly to `shape`) into out[offset…]. `where` names
 * the sample in messages: "input" or "inputs[3]".
 */
function readSample(v: unknown, where: string, shape: number[], size: number, out: Float32Array, offset: number, values: TensorValues = "float32"): void {
  const expected = `${shapeText(shape)} = ${size} values per sample`;
  if (!Array.isArray(v)) {
    throw new HttpError(400, `${where}: expected an array of numbers (${expected}, flat or nested), got ${describeValue(v)}`);
  }
  let nested = false;
  for (const e of v) {
    if (Array.isArray(e)) {
      nested = true;
      break;
    }
  }
  if (!nested || shape.length === 1) {
    if (v.length !== size) throw new HttpError(400, `${where}: expected ${expected}, got ${countLeaves(v)}`);
    for (let i = 0; i < size; i++) out[offset + i] = checkNumber(v[i], where, `[${i}]`, values);
    return;
  }
  const leaves = countLeaves(v);
  if (leaves !== size) throw new HttpError(400, `${where}: expected ${expected}, got ${leaves}`);
  // Right number of values: they must be nested exactly as the input shape.
  let k = offset;
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      out[k++] = checkNumber(node, where, path, values);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new HttpError(
        400,
        `${where}${path}: expected an array of ${shape[depth]} (samples are ${size} values flat or nested as ${shapeText(shape)}), got ${describeValue(node)}`,
      );
    }
    for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${path}[${i}]`);
  };
  walk(v, 0, "");
}

function checkNumber(v: unknown, where: string, path: string, values: TensorValues = "float32"): number {
  if (values === "nullable" && v === null) return NaN;
  if (values === "uint8") {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 255) throw new HttpError(400, `${where}${path}: expected an integer pixel value 0..255, got ${describeValue(v)}`);
    return v;
  }
  if (typeof v !== "number") throw new HttpError(400, `${where}${path}: expected a finite number, got ${describeValue(v)}`);
  if (!Number.isFinite(v)) throw new HttpError(400, `${where}${path}: expected a finite number, got ${v} (a literal beyond the double range)`);
  if (Math.abs(v) > FLOAT32_MAX) throw new HttpError(400, `${where}${path}: expected a finite float32, got ${v} (|x| must be ≤ 3.4028235e38)`);
  return v;
}

/** What tensor values must be: any finite float32, integers 0..255 (pixels), or float32 or null for missing (values). */
export type TensorValues = "float32" | "uint8" | "nullable";

export type RawInputKind = "records" | "texts" | "images";

/** The body fields of each raw input kind: [one sample, a batch]. */
export const RAW_FIELDS: Record<RawInputKind, [string, string]> = { records: ["record", "records"], texts: ["text", "texts"], images: ["image", "images"] };

const RAW_HINT: Record<RawInputKind, string> = {
  records: '{"records": [{"column": value, ...}, ...]}',
  texts: '{"texts": ["...", ...]}',
  images: '{"images": ["<base64 PNG or JPEG>", ...]}',
};

export interface ParsedRaw {
  /** The raw samples (images already base64-decoded to bytes). */
  rows: unknown[];
  n: number;
  single: boolean;
  /** The body field they came from ("records", "text", …): names them in errors. */
  field: string;
}

export interface PredictBodyOptions {
  /** The raw kind the model takes (null: tensors only). */
  raw?: RawInputKind | null;
  /** What tensor values must be (default float32). */
  values?: TensorValues;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64Image(v: unknown, where: string): Uint8Array {
  if (typeof v !== "string") throw new HttpError(400, `${where}: expected a base64-encoded PNG or JPEG string, got ${describeValue(v)}`);
  const s = v.replace(/^data:[a-z/+.-]*;base64,/i, "").replace(/\s+/g, "");
  if (s.length === 0 || s.length % 4 === 1 || !BASE64.test(s)) throw new HttpError(400, `${where}: expected a base64-encoded PNG or JPEG string, got ${describeValue(v)} (not base64)`);
  const b = Buffer.from(s, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Validates a parsed /predict body: tensors {input: sample} / {inputs: sample[]}, or raw samples of the kind the
 * model takes ({record}/{records}, {text}/{texts}, {image}/{images} with base64 PNG/JPEG), 1…maxBatch samples.
 */
export function parsePredictBody(body: unknown, shape: number[], maxBatch: number, opts: PredictBodyOptions = {}): ({ kind: "tensor" } & ParsedInputs) | ({ kind: "raw" } & ParsedRaw) {
  const size = shape.reduce((a, b) => a * b, 1);
  const raw = opts.raw ?? null;
  const tensorHint = `"input" (one sample, ${shapeText(shape)} = ${size} numbers) or "inputs" (an array of samples)`;
  const accepted = raw ? `${tensorHint.replace(" or ", ", ")}, "${RAW_FIELDS[raw][0]}" or "${RAW_FIELDS[raw][1]}" (${raw}: ${RAW_HINT[raw]})` : tensorHint;
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, `body: expected a JSON object {"input": [...]} or {"inputs": [[...], ...]}${raw ? ` or ${RAW_HINT[raw]}` : ""}, got ${describeValue(body)}`);
  }
  const b = body as Record<string, unknown>;
  const fields = ["input", "inputs", ...Object.values(RAW_FIELDS).flat()].filter((f) => Object.hasOwn(b, f));
  if (fields.length === 0) throw new HttpError(400, `body: expected a field ${accepted}`);
  if (fields.length > 1) {
    if (fields.length === 2 && fields[0] === "input" && fields[1] === "inputs") throw new HttpError(400, `body: expected either "input" (one sample) or "inputs" (a batch), not both`);
    throw new HttpError(400, `body: expected one of the fields ${fields.map((f) => `"${f}"`).join(", ")}, not ${fields.length}`);
  }
  const field = fields[0];
  if (field === "input" || field === "inputs") return { kind: "tensor", ...parseTensors(b, shape, size, maxBatch, opts.values ?? "float32") };
  const kind = (Object.keys(RAW_FIELDS) as RawInputKind[]).find((k) => RAW_FIELDS[k].includes(field))!;
  if (kind !== raw) {
    const takes = raw ? `${raw} (${RAW_HINT[raw]}) or tensors` : `only tensors (${tensorHint}); it has no preprocess.json`;
    throw new HttpError(400, `${field}: this model takes ${takes}, not ${kind}`);
  }
  const single = field === RAW_FIELDS[kind][0];
  let rows: unknown[];
  if (single) rows = [b[field]];
  else {
    const v = b[field];
    if (!Array.isArray(v)) throw new HttpError(400, `${field}: expected an array of ${kind} (${RAW_HINT[kind]}), got ${describeValue(v)}`);
    if (v.length === 0) throw new HttpError(400, `${field}: expected 1 to ${maxBatch} samples, got an empty array`);
    if (v.length > maxBatch) throw new HttpError(400, `${field}: expected at most ${maxBatch} samples per request (max batch), got ${v.length}`);
    rows = v;
  }
  if (kind === "images") rows = rows.map((r, i) => decodeBase64Image(r, single ? field : `${field}[${i}]`));
  return { kind: "raw", rows, n: rows.length, single, field };
}

function parseTensors(b: Record<string, unknown>, shape: number[], size: number, maxBatch: number, values: TensorValues): ParsedInputs {
  if (Object.hasOwn(b, "input")) {
    const x = new Float32Array(size);
    readSample(b.input, "input", shape, size, x, 0, values);
    return { x, n: 1, single: true };
  }
  const inputs = b.inputs;
  if (!Array.isArray(inputs)) throw new HttpError(400, `inputs: expected an array of samples (each ${shapeText(shape)} = ${size} numbers), got ${describeValue(inputs)}`);
  if (inputs.length === 0) throw new HttpError(400, `inputs: expected 1 to ${maxBatch} samples, got an empty array`);
  if (inputs.length > maxBatch) throw new HttpError(400, `inputs: expected at most ${maxBatch} samples per request (max batch), got ${inputs.length}`);
  const x = new Float32Array(inputs.length * size);
  inputs.forEach((s, i) => readSample(s, `inputs[${i}]`, shape, size, x, i * size, values));
  return { x, n: inputs.length, single: false };
}

/** Whether a Content-Type header is JSON (application/json or application/*+json, any parameters). */
export function isJsonContentType(header: string | undefined | null): boolean {
  if (!header) return false;
  const mime = header.split(";")[0].trim().toLowerCase();
  return mime === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(mime);
}

/**
 * Reads a request body up to `maxBytes`: rejects at once when Content-Length says more, and otherwise counts the
 * streamed bytes and stops reading as soon as the count passes the limit (413 either way).
 */
export async function readBodyLimited(body: ReadableStream<Uint8Array> | null, contentLength: string | undefined | null, maxBytes: number): Promise<Uint8Array> {
  const limitHint = `the limit is ${maxBytes} bytes (--max-body)`;
  if (contentLength != null && contentLength !== "") {
    const declared = Number(contentLength);
    if (Number.isFinite(declared) && declared > maxBytes) {
      throw new HttpError(413, `body: Content-Length ${declared} bytes is over the limit; ${limitHint}`, { connection: "close" });
    }
  }
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        // Stop here: the rest is never read into memory; the connection is closed after the answer.
        throw new HttpError(413, `body: more than ${maxBytes} bytes received; ${limitHint}`, { connection: "close" });
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}
