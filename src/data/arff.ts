import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { tabularSplits, type Cell, type ColumnDeclaration, type RawTable, type TabularOptions, type TabularSplits } from "./tabular.js";

/**
 * Weka's ARFF format: `@relation`, one `@attribute NAME TYPE` per column (numeric/real/integer, a nominal set
 * {a, 'b c'}, or string), `@data`, then one row per line, comma-separated, dense or sparse ({index value, …}),
 * `?` for a missing value, `%` comments. Nominal attributes become categorical columns with their declared
 * categories (in declared order), so the tabular pipeline is the same as for CSV.
 */
export function parseArff(text: string, file: string): RawTable {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const srcLines = text.split(/\r?\n/);
  const columns: string[] = [];
  const declared: ColumnDeclaration[] = [];
  let inData = false;
  const rows: Cell[][] = [];
  const lines: number[] = [];
  srcLines.forEach((raw, k) => {
    const lineNo = k + 1;
    const line = stripComment(raw).trim();
    if (line === "") return;
    const at = (what: string) => `line ${lineNo}: ${what}`;
    if (!inData) {
      const lower = line.toLowerCase();
      if (lower.startsWith("@relation")) return;
      if (lower.startsWith("@data")) {
        if (columns.length === 0) throw new DataError(file, at("@data before any @attribute; expected the attributes first"));
        inData = true;
        return;
      }
      if (!lower.startsWith("@attribute")) throw new DataError(file, at(`expected @relation, @attribute or @data, got "${line.slice(0, 40)}"`));
      const rest = line.slice("@attribute".length).trim();
      const [name, after] = takeName(rest, file, lineNo);
      const type = after.trim();
      const lowerType = type.toLowerCase();
      if (type.startsWith("{")) {
        if (!type.endsWith("}")) throw new DataError(file, at(`attribute "${name}": nominal values must end with "}"`));
        const cats = splitValues(type.slice(1, -1), file, lineNo).map((v) => v.value);
        declared.push({ kind: "categorical", categories: cats });
      } else if (lowerType === "numeric" || lowerType === "real" || lowerType === "integer") {
        declared.push({ kind: "numeric" });
      } else if (lowerType === "string") {
        declared.push({ kind: "categorical" });
      } else {
        throw new DataError(file, at(`attribute "${name}" has type "${type}"; expected numeric, real, integer, string or {nominal values} (date and relational attributes are not supported)`));
      }
      if (columns.includes(name)) throw new DataError(file, at(`attribute "${name}" is declared twice`));
      columns.push(name);
      return;
    }
    rows.push(parseRow(line, columns, declared, file, lineNo));
    lines.push(lineNo);
  });
  if (!inData) throw new DataError(file, "has no @data section; expected an ARFF file (@relation, @attribute …, @data)");
  if (rows.length === 0) throw new DataError(file, "has no data rows after @data");
  return { file, columns, rows, lines, declared };
}

function parseRow(line: string, columns: string[], declared: ColumnDeclaration[], file: string, lineNo: number): Cell[] {
  let values: (Cell | undefined)[];
  if (line.startsWith("{")) {
    if (!line.endsWith("}")) throw new DataError(file, `line ${lineNo}: sparse row must end with "}"`);
    // Sparse rows list only non-zero values; an omitted value is 0 (for a nominal attribute, its first value).
    values = declared.map((d) => (d.kind === "numeric" ? "0" : d.categories?.[0] ?? null));
    const body = line.slice(1, -1).trim();
    for (const entry of body === "" ? [] : splitValues(body, file, lineNo, true)) {
      const m = /^(\d+)\s+([\s\S]*)$/.exec(entry.raw);
      const idx = m ? Number(m[1]) : -1;
      if (!m || idx >= columns.length) throw new DataError(file, `line ${lineNo}: sparse entry "${entry.raw}": expected "<index 0..${columns.length - 1}> <value>"`);
      const [v] = splitValues(m[2], file, lineNo);
      values[idx] = v.quoted || v.value !== "?" ? v.value : null;
    }
  } else {
    const parts = splitValues(line, file, lineNo);
    if (parts.length !== columns.length) throw new DataError(file, `line ${lineNo}: expected ${columns.length} values (one per @attribute), got ${parts.length}`);
    values = parts.map((v) => (!v.quoted && v.value === "?" ? null : v.value));
  }
  return values.map((v, j) => {
    const d = declared[j];
    if (v === null || v === undefined) return null;
    if (d.kind === "numeric" && !Number.isFinite(Number(v.trim() === "" ? NaN : v))) {
      throw new DataError(file, `line ${lineNo}: attribute "${columns[j]}": expected a number, got "${v}"`);
    }
    if (d.kind === "categorical" && d.categories && !d.categories.includes(v)) {
      throw new DataError(file, `line ${lineNo}: attribute "${columns[j]}": "${v}" is not one of its declared values {${d.categories.join(", ")}}`);
    }
    return v;
  });
}

/** The line up to its first % outside quotes (ARFF comments run to the end of the line). */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "%") return line.slice(0, i);
  }
  return line;
}

/** An attribute name, quoted or not, and the rest of the line. */
function takeName(s: string, file: string, lineNo: number): [string, string] {
  const q = s[0];
  if (q === "'" || q === '"') {
    const [v] = splitValues(s.slice(0, closingQuote(s, file, lineNo) + 1), file, lineNo);
    return [v.value, s.slice(closingQuote(s, file, lineNo) + 1)];
  }
  const m = /^(\S+)\s+([\s\S]+)$/.exec(s);
  if (!m) throw new DataError(file, `line ${lineNo}: expected "@attribute <name> <type>"`);
  return [m[1], m[2]];
}

function closingQuote(s: string, file: string, lineNo: number): number {
  for (let i = 1; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === s[0]) return i;
  }
  throw new DataError(file, `line ${lineNo}: quoted value is never closed (expected a closing ${s[0]})`);
}

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', "%": "%" };

/**
 * Splits a comma-separated ARFF list into values: surrounding spaces are dropped, values may be quoted with
 * ' or " (backslash escapes inside). With `keepRaw`, each entry's raw text is kept (sparse "index value").
 */
function splitValues(s: string, file: string, lineNo: number, keepRaw = false): { value: string; quoted: boolean; raw: string }[] {
  const out: { value: string; quoted: boolean; raw: string }[] = [];
  let i = 0;
  for (;;) {
    while (s[i] === " " || s[i] === "\t") i++;
    const start = i;
    let value = "";
    let quoted = false;
    if (!keepRaw && (s[i] === "'" || s[i] === '"')) {
      const q = s[i++];
      quoted = true;
      for (;;) {
        if (i >= s.length) throw new DataError(file, `line ${lineNo}: quoted value is never closed (expected a closing ${q})`);
        if (s[i] === "\\" && i + 1 < s.length) {
          value += ESCAPES[s[i + 1]] ?? s[i + 1];
          i += 2;
        } else if (s[i] === q) {
          i++;
          break;
        } else value += s[i++];
      }
      while (s[i] === " " || s[i] === "\t") i++;
      if (i < s.length && s[i] !== ",") throw new DataError(file, `line ${lineNo}: unexpected "${s[i]}" after a quoted value; expected ","`);
    } else {
      let inQuote: string | null = null;
      while (i < s.length && (inQuote || s[i] !== ",")) {
        if (inQuote && s[i] === "\\") i++;
        else if (inQuote && s[i] === inQuote) inQuote = null;
        else if (!inQuote && (s[i] === "'" || s[i] === '"')) inQuote = s[i];
        i++;
      }
      value = s.slice(start, i).trim();
      if (value === "") throw new DataError(file, `line ${lineNo}: empty value at position ${out.length + 1}; expected a value or ? for missing`);
    }
    out.push({ value, quoted, raw: s.slice(start, i).trim() });
    if (i >= s.length) return out;
    i++; // the comma
  }
}

export type ArffOptions = Omit<TabularOptions, "testTable"> & { testFile?: string };

export function readArffTable(path: string): RawTable {
  return parseArff(readDataFile(path, "an ARFF file").toString("utf8"), path);
}

/** Reads an ARFF file into train/test datasets and the fitted preprocessing (see tabularSplits). */
export function loadArff(path: string, opts: ArffOptions = {}, name = `arff:${path}`): TabularSplits {
  const table = readArffTable(path);
  const testTable = opts.testFile ? readArffTable(opts.testFile) : undefined;
  return tabularSplits(table, name, { ...opts, testTable });
}
