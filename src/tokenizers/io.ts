import { existsSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { ByteTokenizer } from "./byte.js";
import { HfTokenizer } from "./huggingface.js";
import { SentencePieceTokenizer } from "./sentencepiece.js";
import type { Tokenizer } from "./tokenizer.js";

export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";

/**
 * Writes tokenizer.json ({"kind": "byte"} or the Hugging Face file) and, for Hugging Face tokenizers with one,
 * tokenizer_config.json into `dir` (a folder being filled by writeDirAtomic).
 */
export function writeTokenizerFiles(tokenizer: Tokenizer, dir: string): void {
  const files = tokenizer.toFiles();
  writeFileSync(join(dir, TOKENIZER_FILE), JSON.stringify(files.tokenizer));
  if (files.config && Object.keys(files.config).length > 0) writeFileSync(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify(files.config));
}

function readJsonObject(path: string, expected: string): Record<string, unknown> {
  const text = readDataFile(path, expected).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DataError(path, `is not valid JSON (${(err as Error).message}); expected ${expected}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new DataError(path, `expected a JSON object: ${expected}`);
  return value as Record<string, unknown>;
}

/** A tokenizer from the contents of tokenizer.json (and tokenizer_config.json). */
export function tokenizerFromJson(json: Record<string, unknown>, config: Record<string, unknown> = {}, source = TOKENIZER_FILE): Tokenizer {
  if (json.kind === "byte") return new ByteTokenizer();
  if (json.kind === "sentencepiece") return SentencePieceTokenizer.fromJson(json, source);
  if (json.kind !== undefined) throw new DataError(source, `kind is ${JSON.stringify(json.kind)}; expected "byte" or a Hugging Face tokenizer.json (or "sentencepiece")`);
  return new HfTokenizer(json, config, source);
}

/**
 * Loads a tokenizer from a folder holding tokenizer.json (a saved model, a Hugging Face model folder) or from a
 * tokenizer.json file; a tokenizer_config.json beside it names the special tokens.
 */
export function loadTokenizer(path: string): Tokenizer {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, TOKENIZER_FILE) : path;
  const expected = 'a tokenizer.json (Hugging Face, or {"kind": "byte"})';
  const json = readJsonObject(file, expected);
  const configPath = join(dirname(file), TOKENIZER_CONFIG_FILE);
  const config = existsSync(configPath) ? readJsonObject(configPath, "a Hugging Face tokenizer_config.json") : {};
  return tokenizerFromJson(json, config, file);
}

/** "byte" (the default) or the path of a tokenizer.json or of a folder holding one. */
export function openTokenizer(spec = "byte"): Tokenizer {
  return spec === "byte" ? new ByteTokenizer() : loadTokenizer(spec);
}
