import { parse as parseYaml } from "yaml";
import { readDataFile } from "./files.js";
import { TsdistillError } from "./errors.js";

/** Reads a YAML (or JSON) file; a missing file or bad YAML is one error line naming the file. */
export function readYamlFile(path: string, what: string): unknown {
  const text = readDataFile(path, what).toString("utf8");
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new TsdistillError(`${path}: not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
}
