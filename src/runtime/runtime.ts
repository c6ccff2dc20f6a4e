// The preprocessing runtime (preprocess.mjs: plain JavaScript, no imports, shipped verbatim next to exported
// models) as the rest of tsdistill uses it. The specifier goes through ../../src on purpose: the .mjs is not
// compiled, so it resolves to the same file from src/ (run through tsx) and from dist/ (compiled).
import { fileURLToPath } from "node:url";
import { DataError } from "../util/errors.js";
import { PreprocessError } from "../../src/runtime/preprocess.mjs";

export * from "../../src/runtime/preprocess.mjs";

/** The runtime module and its type declarations, as files to copy next to an export. */
export const RUNTIME_FILES = {
  module: fileURLToPath(new URL("../../src/runtime/preprocess.mjs", import.meta.url)),
  types: fileURLToPath(new URL("../../src/runtime/preprocess.d.mts", import.meta.url)),
};

/** Runs `f`, turning the runtime's PreprocessError into tsdistill's one-line DataError (same text). */
export function asDataError<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof PreprocessError) throw new DataError(err.where, err.problem);
    throw err;
  }
}
