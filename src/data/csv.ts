import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { isMissingToken, tabularSplits, type RawTable, type TabularOptions, type TabularSplits } from "./tabular.js";

export interface CsvRecords {
  /** Every record's fields, header included. */
  records: string[][];
  /** Line on which each record starts, 1-based. */
  lines: number[];
}

/**
 * Splits CSV text into records by RFC 4180: fields separated by `delimiter`, records by CRLF or LF, fields in
 * double quotes may hold delimiters, line breaks and "" (one quote). Blank lines are skipped. Malformed quoting
 * is a DataError naming `file` and the line.
 */
export function parseCsv(text: string, file: string, delimiter = ","): CsvRecords {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: string[][] = [];
  const lines: number[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let atRecordEnd = false;
    while (!atRecordEnd) {
      let field = "";
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new DataError(file, `line ${quoteLine}: quoted field is never closed (expected a closing ")`);
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n") line++;
          field += c;
          i++;
        }
        const next = text[i];
        if (i < n && next !== delimiter && next !== "\n" && next !== "\r") {
          throw new DataError(file, `line ${line}: unexpected ${JSON.stringify(next)} after a closing quote; expected ${JSON.stringify(delimiter)} or the end of the line`);
        }
      } else {
        const start = i;
        while (i < n && text[i] !== delimiter && text[i] !== "\n" && text[i] !== "\r") {
          if (text[i] === '"') throw new DataError(file, `line ${line}: a quote inside an unquoted field; expected the whole field in quotes with "" for each quote`);
          i++;
        }
        field = text.slice(start, i);
      }
      fields.push(field);
      if (i < n && text[i] === delimiter) {
        i++;
        continue;
      }
      if (text[i] === "\r") i++;
      if (text[i] === "\n") i++;
      line++;
      atRecordEnd = true;
    }
    if (fields.length === 1 && fields[0] === "") continue;
    records.push(fields);
    lines.push(startLine);
  }
  return { records, lines };
}

/** A CSV (or TSV) file as a raw table: header row → column names, missing tokens ("", ?, NA, N/A, NaN, null) → null. */
export function readCsvTable(path: string, delimiter?: string): RawTable {
  const text = readDataFile(path, "a CSV file with a header row").toString("utf8");
  const sep = delimiter ?? (/\.tsv$/i.test(path) ? "\t" : ",");
  const { records, lines } = parseCsv(text, path, sep);
  if (records.length === 0) throw new DataError(path, "is empty; expected a header row and data rows");
  const columns = records[0].map((c) => c.trim());
  const seen = new Set<string>();
  columns.forEach((c, j) => {
    if (c === "") throw new DataError(path, `line ${lines[0]}: header field ${j + 1} is empty; expected a column name`);
    if (seen.has(c)) throw new DataError(path, `line ${lines[0]}: column name "${c}" appears twice in the header`);
    seen.add(c);
  });
  const rows = records.slice(1).map((r, k) => {
    if (r.length !== columns.length) {
      throw new DataError(path, `line ${lines[k + 1]}: expected ${columns.length} fields (as in the header), got ${r.length}`);
    }
    return r.map((v) => (isMissingToken(v) ? null : v));
  });
  if (rows.length === 0) throw new DataError(path, "has a header but no data rows");
  return { file: path, columns, rows, lines: lines.slice(1) };
}

export interface CsvOptions extends Omit<TabularOptions, "testTable"> {
  delimiter?: string;
  /** A separate CSV file of test rows (same header). */
  testFile?: string;
}

/** Reads a CSV file into train/test datasets and the fitted preprocessing (see tabularSplits). */
export function loadCsv(path: string, opts: CsvOptions = {}, name = `csv:${path}`): TabularSplits {
  const table = readCsvTable(path, opts.delimiter);
  const testTable = opts.testFile ? readCsvTable(opts.testFile, opts.delimiter) : undefined;
  return tabularSplits(table, name, { ...opts, testTable });
}
