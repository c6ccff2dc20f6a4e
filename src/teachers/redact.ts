import { z } from "zod";
import { TsdistillError } from "../util/errors.js";

// Opt-in redaction of the texts an API teacher sends off the machine. Each match is replaced by a placeholder
// naming its kind ([EMAIL], [PHONE], [CARD], [IBAN], [REDACTED] for user patterns) and counted. The built-in
// patterns are deliberately broad (a false positive costs a label's quality, a false negative leaks data):
// - email: local@domain.tld;
// - card: 13–19 digits in groups separated by single spaces or dashes that pass the Luhn check;
// - iban: two letters, two check digits, 11–30 alphanumerics (spaces allowed every 4), mod-97 valid;
// - phone: an optional +country code, then 7–15 digits with spaces, dots, dashes or one (area) group;
//   whole digit runs only, not ISO dates; run after card and iban so their digits are not counted twice.

export const REDACT_KINDS = ["email", "card", "iban", "phone"] as const;
export type RedactKind = (typeof REDACT_KINDS)[number];

export const RedactConfig = z.union([
  z.literal(true).transform(() => ({ kinds: [...REDACT_KINDS], patterns: [] as string[] })),
  z
    .object({
      /** Built-in kinds to redact (default all four). */
      kinds: z.array(z.enum(REDACT_KINDS)).default([...REDACT_KINDS]),
      /** JavaScript regular expressions (no slashes); each match becomes [REDACTED]. */
      patterns: z.array(z.string().min(1)).default([]),
    })
    .strict(),
]);
export type RedactConfig = z.output<typeof RedactConfig>;
export type RedactConfigInput = z.input<typeof RedactConfig>;

export interface RedactionCounts {
  email: number;
  card: number;
  iban: number;
  phone: number;
  /** Matches of the user's patterns, all together. */
  patterns: number;
  total: number;
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const CARD = /\b\d(?:[ -]?\d){12,18}\b/g;
const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g;
// Whole digit runs only (not the tail of a longer number); ISO dates (2024-01-05) are not phone numbers.
const PHONE = /(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d(?:[ .-]?\d){6,14}(?![\w.-]*\d)/g;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

function ibanValid(s: string): boolean {
  const t = s.replace(/ /g, "");
  const moved = t.slice(4) + t.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = ch >= "A" && ch <= "Z" ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

/** Applies a redaction config to texts and keeps the counts of what it replaced. */
export class Redactor {
  readonly config: RedactConfig;
  readonly #patterns: RegExp[];
  readonly #counts: RedactionCounts = { email: 0, card: 0, iban: 0, phone: 0, patterns: 0, total: 0 };

  constructor(config: RedactConfigInput, where = "redact") {
    const parsed = RedactConfig.safeParse(config);
    if (!parsed.success) throw new TsdistillError(`${where}: expected true or { kinds: [${REDACT_KINDS.join(", ")}], patterns: [regex, …] }`);
    this.config = parsed.data;
    this.#patterns = this.config.patterns.map((p, i) => {
      try {
        return new RegExp(p, "g");
      } catch (err) {
        throw new TsdistillError(`${where}.patterns[${i}]: not a valid regular expression (${(err as Error).message})`);
      }
    });
  }

  get counts(): RedactionCounts {
    return { ...this.#counts };
  }

  /** The text with every match replaced; counts are added to this redactor's totals. */
  apply(text: string): string {
    const kinds = new Set(this.config.kinds);
    let out = text;
    const replace = (re: RegExp, kind: RedactKind | "patterns", placeholder: string, valid: (m: string) => boolean = () => true) => {
      out = out.replace(re, (m) => {
        if (m === placeholder || !valid(m)) return m;
        this.#counts[kind]++;
        this.#counts.total++;
        return placeholder;
      });
    };
    // User patterns first: they name what the user knows to be sensitive, whatever it looks like.
    for (const re of this.#patterns) replace(re, "patterns", "[REDACTED]", (m) => m.length > 0);
    if (kinds.has("email")) replace(EMAIL, "email", "[EMAIL]");
    if (kinds.has("iban")) replace(IBAN, "iban", "[IBAN]", ibanValid);
    if (kinds.has("card")) replace(CARD, "card", "[CARD]", (m) => luhn(m.replace(/\D/g, "")));
    if (kinds.has("phone")) replace(PHONE, "phone", "[PHONE]", (m) => !ISO_DATE.test(m));
    return out;
  }
}

/** Merges command-line redaction (--redact, --redact-pattern) into a config's `redact` section. */
export function mergeRedact(fromConfig: RedactConfigInput | undefined, cli: { all?: boolean; patterns?: string[] } | undefined): RedactConfigInput | undefined {
  if (!cli || (!cli.all && !cli.patterns?.length)) return fromConfig;
  const base = fromConfig === undefined ? undefined : RedactConfig.parse(fromConfig);
  const kinds = cli.all ? [...REDACT_KINDS] : (base?.kinds ?? []);
  return { kinds, patterns: [...(base?.patterns ?? []), ...(cli.patterns ?? [])] };
}
