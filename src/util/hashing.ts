/** Content hashes (sha256, hex) of files and byte arrays: the identities caches and run folders are keyed by. */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { DataError, TsdistillError } from "./errors.js";

/** sha256 (hex) of one file, read in chunks. */
export function sha256File(path: string): string {
  const hash = createHash("sha256");
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new DataError(path, `could not be read for hashing (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) break;
      hash.update(buf.subarray(0, got));
    }
  } catch (err) {
    throw new DataError(path, `could not be read for hashing (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * One hash for a set of files (e.g. a teacher's model.json and weights): sha256 over each file's hex sha256
 * followed by "\n", in the order given (so `sha256sum a b | cut -c1-64 | sha256sum` reproduces it). File names
 * do not enter the hash; order does.
 */
export function hashFiles(paths: string[]): string {
  if (paths.length === 0) throw new TsdistillError("hashFiles: no files given");
  const hash = createHash("sha256");
  for (const p of paths) hash.update(`${sha256File(p)}\n`);
  return hash.digest("hex");
}


/** sha256 (hex) of a byte array. */
export function sha256Bytes(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
