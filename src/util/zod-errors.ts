import type { z } from "zod";
import { escapeControl } from "./errors.js";

/** "teacher.kind", "loss.terms[2].options.temperature" */
export function fieldPath(path: PropertyKey[], base = ""): string {
  return path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), base);
}

/**
 * The first problem of a zod error as one line naming the field, e.g.
 * `recipe.yaml: teacher.epochs: expected number to be >0`. `base` prefixes the field path.
 */
export function describeZodError(err: z.ZodError, opts: { file?: string; base?: string } = {}): string {
  const issue = err.issues[0];
  const keys = (issue as { keys?: string[] }).keys;
  let path = fieldPath(issue.path, opts.base ?? "");
  let message = issue.message.replace(/^Invalid input: /, "").replace(/^Too (small|big): /, "");
  if (issue.code === "unrecognized_keys" && keys?.length) {
    path = fieldPath([...issue.path, keys[0]], opts.base ?? "");
    message = "unknown field";
  }
  const more = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more problem${err.issues.length > 2 ? "s" : ""})` : "";
  // Keys come from the user's file, so they may hold line breaks; the line stays one line.
  return escapeControl([opts.file, path || "value", `${message}${more}`].filter(Boolean).join(": "));
}
