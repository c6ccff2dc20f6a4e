import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** Total bytes of the files under `path` (a saved model folder or a single file). */
export function bytesOnDisk(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, name) => n + bytesOnDisk(join(path, name)), 0);
}
