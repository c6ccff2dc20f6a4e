import type { InMemoryDataset } from "../data/dataset.js";
import { apiDryRun, formatDryRun } from "../teachers/api-dry-run.js";
import type { Teacher } from "../teachers/teacher.js";
import { printResult } from "./commands/common.js";

// The privacy options of the commands that can send texts to an API teacher (label, distill).

export const PRIVACY_OPTIONS = {
  redact: { type: "boolean" },
  "redact-pattern": { type: "string", multiple: true },
  "dry-run": { type: "boolean" },
} as const;

export const PRIVACY_HELP = `  --redact               api teachers: replace e-mail addresses, phone, card and IBAN-like numbers in each text
                         before it leaves the machine ([EMAIL], [PHONE], [CARD], [IBAN]); counts in teacherStats
  --redact-pattern RE    also replace matches of this regular expression with [REDACTED] (repeatable)
  --dry-run              api teachers: print the requests that would be sent (after redaction) and the token and
                         cost estimate; sends nothing, writes nothing`;

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The api-teacher options (--redact, --redact-pattern) for openTeachers' context. */
export function redactOptions(values: Values): { all?: boolean; patterns?: string[] } | undefined {
  const patterns = ((values["redact-pattern"] as string[] | undefined) ?? []).map(String);
  return values.redact || patterns.length ? { all: Boolean(values.redact), patterns } : undefined;
}

/** --dry-run: prints what the api teacher would be sent over `data`. */
export function printDryRun(values: Values, teacher: Teacher, data: InMemoryDataset): void {
  const d = apiDryRun(teacher, data);
  printResult(values, { dryRun: d }, formatDryRun(d));
}
