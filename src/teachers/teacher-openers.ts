import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { InMemoryDataset } from "../data/dataset.js";
import { loadModel } from "../students/io.js";
import { DataError } from "../util/errors.js";
import { hashFiles } from "../util/hashing.js";
import { hashModelFolder } from "./model-hash.js";
import { OnnxTeacher, type OnnxTeacherOptions } from "./onnx-teacher.js";
import { EnsembleTeacher, FunctionTeacher, type FunctionTeacherOptions, type TeacherFunction } from "./function-teacher.js";
import { TfjsTeacher, type TfjsTeacherOptions } from "./tfjs-teacher.js";
import { modelTeacher, type Teacher } from "./teacher.js";
import type { InputSpec } from "./input-spec.js";
import { withInputSpec } from "./spec-teacher.js";

export interface OpenedTeacher {
  teacher: Teacher;
  /** Content hash that identifies the teacher in caches. */
  hash: string;
  close(): Promise<void>;
  /** Running statistics worth reporting (the api teacher: requests, retries, tokens, cost). */
  stats?(): Record<string, unknown>;
  /** Number of weights, where the teacher's files say (TF.js folders). */
  paramCount?: number;
}

/** What identifies an input spec in a hash: its settings, with the tokenizer files by content rather than path. */
export function inputSpecIdentity(spec: InputSpec | undefined): Record<string, unknown> | undefined {
  if (!spec) return undefined;
  if (spec.kind !== "text") return { ...spec };
  const { tokenizer, tokenizerConfig, ...rest } = spec;
  return { ...rest, tokenizer: hashFiles([tokenizer]), ...(tokenizerConfig ? { tokenizerConfig: hashFiles([tokenizerConfig]) } : {}) };
}

/** sha256 of a base hash and the settings that change a teacher's outputs (none: the base hash itself). */
export function hashWithSettings(base: string, settings: Record<string, unknown>): string {
  const set = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  if (Object.keys(set).length === 0) return base;
  return createHash("sha256").update(`${base}\n${JSON.stringify(set)}`).digest("hex");
}

/** Imports `module#export` (default export without "#"); the export must be a function. */
export async function importFunction(spec: string, what: string): Promise<(...args: never[]) => unknown> {
  const [file, exportName = "default"] = spec.split("#");
  const path = resolve(file);
  if (!existsSync(path)) throw new DataError(path, `not found; expected a JS/TS module exporting ${what}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new DataError(path, `could not be imported (${(err as Error).message.split("\n")[0]})`);
  }
  const fn = mod[exportName];
  if (typeof fn !== "function") throw new DataError(path, `has no function export "${exportName}" (exports: ${Object.keys(mod).join(", ") || "none"}); expected ${what}`);
  return fn as (...args: never[]) => unknown;
}

/**
 * A TF.js folder: an engine model when the engine can load it (tsdistill's own folders: every layer capturable,
 * logits as trained), else a stock layers or graph model through TfjsTeacher.
 */
export async function openTfjsFolder(dir: string, opts: TfjsTeacherOptions & { input?: InputSpec } = {}): Promise<OpenedTeacher> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DataError(dir, "not found; expected a TF.js model folder (model.json + weight files)");
  const folderHash = hashModelFolder(dir);
  const hash = hashWithSettings(folderHash, { output: opts.output === "auto" ? undefined : opts.output, outputNode: opts.outputNode, input: inputSpecIdentity(opts.input) });
  const opened = await openTfjsModel(dir, opts, hash);
  if (!opts.input) return opened;
  try {
    return { ...opened, teacher: withInputSpec(opened.teacher, opts.input, join(dir, "model.json"), hash) };
  } catch (err) {
    await opened.close();
    throw err;
  }
}

async function openTfjsModel(dir: string, opts: TfjsTeacherOptions, hash: string): Promise<OpenedTeacher> {
  const stockOnly = opts.output !== undefined && opts.output !== "auto";
  if (!stockOnly && !opts.outputNode && !TfjsTeacher.isGraphModel(dir)) {
    const engine = await loadModel(dir).catch((err: unknown) => {
      if (err instanceof DataError && /trainable engine supports|only square|not channels-last/.test(err.message)) return null;
      if (err instanceof Error && /only square/.test(err.message)) return null;
      throw err;
    });
    if (engine) {
      const t = modelTeacher(engine.model, dir, hash);
      if (opts.classNames) t.metadata!.output.classNames = opts.classNames;
      return { teacher: t, hash, close: async () => engine.model.dispose(), paramCount: engine.model.paramCount };
    }
  }
  const t = await TfjsTeacher.open(dir, { ...opts, hash });
  return { teacher: t, hash, close: async () => t.dispose(), paramCount: t.paramCount };
}

/** An ONNX file; the hash covers the file and the settings that change its outputs. */
export async function openOnnxFile(path: string, opts: OnnxTeacherOptions, builderHash?: string): Promise<OpenedTeacher> {
  const hash = hashWithSettings(hashFiles([path]), {
    output: opts.output === "auto" ? undefined : opts.output,
    outputName: opts.outputName,
    layout: opts.layout === "auto" ? undefined : opts.layout,
    inputBuilder: builderHash,
    state: opts.state,
    input: inputSpecIdentity(opts.inputSpec),
  });
  const t = await OnnxTeacher.open(path, { ...opts, hash });
  return { teacher: t, hash, close: () => t.close() };
}

/**
 * `module#export` as a function teacher over `data` (its class count read from its answer on the first rows).
 * Hash: the module file's sha256 and the export name, plus input/output settings other than the defaults.
 */
export async function openFunction(spec: string, data: InMemoryDataset, opts: Omit<FunctionTeacherOptions, "hash"> = {}): Promise<OpenedTeacher> {
  const fn = (await importFunction(spec, "a teacher function ({ raw, rows, x, n, sampleShape }) => logits")) as unknown as TeacherFunction;
  const base = hashFiles([resolve(spec.split("#")[0])]) + `#${spec.split("#")[1] ?? "default"}`;
  const settings = { input: opts.input === "features" ? "features" : undefined, output: opts.output === "probabilities" ? "probabilities" : undefined };
  const hash = settings.input || settings.output ? hashWithSettings(base, settings) : base;
  const t = await FunctionTeacher.forData(fn, spec, data, { ...opts, hash });
  return { teacher: t, hash, close: async () => {} };
}

/** Opened teachers as one weighted ensemble (closes them all if it cannot be made). */
export async function ensembleOf(opened: OpenedTeacher[], weights: number[] | undefined, sampleShape: number[]): Promise<OpenedTeacher> {
  try {
    const hash = createHash("sha256").update(`ensemble:${opened.map((o) => o.hash).join("+")}@${(weights ?? []).join(",")}`).digest("hex");
    const ensemble = new EnsembleTeacher(opened.map((o) => o.teacher), weights, sampleShape, hash);
    const withStats = opened.filter((o) => o.stats);
    return {
      teacher: ensemble,
      hash,
      close: async () => {
        for (const o of opened) await o.close();
      },
      stats: withStats.length ? () => Object.fromEntries(withStats.map((o) => [o.teacher.name, o.stats!()])) : undefined,
    };
  } catch (err) {
    for (const o of opened) await o.close();
    throw err;
  }
}
