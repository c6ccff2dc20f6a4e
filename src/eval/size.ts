import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** Total bytes of the files under `path` (a saved model folder or a single file). */
export function bytesOnDisk(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, name) => n + bytesOnDisk(join(path, name)), 0);
}

/** What a page loads for a static/bag embedding folder: config, table, tokenizer (not the runtime code or the projection). */
export const inferenceBytes = (dir: string) => ["config.json", "embeddings.safetensors", "tokenizer.json"].map((f) => bytesOnDisk(join(dir, f))).reduce((a, b) => a + b, 0);
