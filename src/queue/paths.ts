// Jobs travel to other processes and machines, whose working folder may differ: every path in a job is made
// absolute on the coordinator (storage shared between machines is mounted at the same path on each).
import { isAbsolute, resolve } from "node:path";
import { parseDataSpec } from "../data/data-spec.js";
import { DATA_HELP } from "../data/sources.js";

/** Spec kinds whose path is a file or folder (mnist has none). */
const PATH_KINDS = new Set(["idx", "csv", "arff", "jsonl", "images"]);
/** Spec options that name files or folders. */
const PATH_OPTIONS = new Set(["test", "unlabeled"]);

/** A --data value with its paths absolute (resolved against `cwd`); other kinds and options unchanged. */
export function absoluteDataSpec(spec: string, cwd: string): string {
  const parsed = parseDataSpec(spec, DATA_HELP);
  if (!PATH_KINDS.has(parsed.kind)) return spec;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const options = [...parsed.options].map(([k, v]) => {
    if (v === true) return encodeURIComponent(k);
    return `${encodeURIComponent(k)}=${encodeURIComponent(PATH_OPTIONS.has(k) ? abs(v) : v)}`;
  });
  return `${parsed.kind}:${abs(parsed.path)}${options.length ? `?${options.join("&")}` : ""}`;
}

/** A --teacher value with its path absolute: a model folder, an .onnx or config file, or fn:<module>#export. */
export function absoluteTeacherSpec(spec: string, cwd: string): string {
  if (spec.startsWith("fn:")) {
    const [file, ...rest] = spec.slice(3).split("#");
    return `fn:${resolve(cwd, file)}${rest.length ? `#${rest.join("#")}` : ""}`;
  }
  return resolve(cwd, spec);
}
