import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../util/errors.js";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** Parses a command's options strictly; unknown or malformed options become a one-line UsageError. */
export function parseOptions(command: string, argv: string[], options: OptionSpec, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    const msg = (err as Error).message.split("\n")[0].replace(/\. To specify a positional argument.*$/, "");
    throw new UsageError(`${command}: ${msg}; see 'tsdistill ${command} --help'`);
  }
}

type Raw = string | boolean | (string | boolean)[] | undefined;

export function numberOption(name: string, raw: Raw, check: { int?: boolean; min?: number; max?: number; exclusiveMin?: boolean } = {}): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw);
  const n = Number(s);
  const kind = check.int ? "an integer" : "a number";
  const bounds =
    check.min !== undefined && check.max !== undefined ? ` in ${check.exclusiveMin ? "(" : "["}${check.min}, ${check.max}]`
    : check.min !== undefined ? (check.exclusiveMin ? ` > ${check.min}` : ` ≥ ${check.min}`)
    : "";
  const fail = () => {
    throw new UsageError(`--${name}: expected ${kind}${bounds}, got "${s}"`);
  };
  if (s.trim() === "" || !Number.isFinite(n)) fail();
  if (check.int && !Number.isInteger(n)) fail();
  if (check.min !== undefined && (check.exclusiveMin ? n <= check.min : n < check.min)) fail();
  if (check.max !== undefined && n > check.max) fail();
  return n;
}

export function choiceOption<T extends string>(name: string, raw: Raw, choices: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw);
  if (!(choices as readonly string[]).includes(s)) throw new UsageError(`--${name}: expected one of ${choices.join(", ")}, got "${s}"`);
  return s as T;
}
