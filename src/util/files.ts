import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { DataError } from "./errors.js";
import { dirname, join, basename } from "node:path";

let tmpCounter = 0;

/** Writes a file atomically: a temp file in the same folder, then rename, so readers never see half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.${++tmpCounter}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Fills a folder atomically: `fill` writes into a temp sibling folder which is renamed over `dir` only when
 * `fill` succeeds; on failure nothing is left behind.
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.${process.pid}.${Date.now()}.${++tmpCounter}.tmp`);
  mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  // Move an existing folder aside first, so a failed rename never loses it.
  const old = existsSync(dir) ? `${tmp}.old` : null;
  if (old) renameSync(dir, old);
  try {
    renameSync(tmp, dir);
  } catch (err) {
    if (old) renameSync(old, dir);
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (old) rmSync(old, { recursive: true, force: true });
}

/** Reads a whole file, turning "missing", "a folder" and "unreadable" into one-line DataErrors naming it. */
export function readDataFile(path: string, expected: string): Buffer {
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new DataError(path, `not found; expected ${expected}`);
  }
  if (!isFile) throw new DataError(path, `is not a regular file; expected ${expected}`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new DataError(path, `could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); expected ${expected}`);
  }
}
