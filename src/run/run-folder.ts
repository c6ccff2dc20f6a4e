import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/files.js";
import { TsdistillError } from "../util/errors.js";

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * The folder a run writes (config, per-epoch metrics, results, models). It is filled under a hidden temp
 * name and renamed into place by `finish()`; `discard()` removes it, so a failed run leaves nothing behind.
 */
export class RunFolder {
  private constructor(
    readonly finalDir: string,
    readonly dir: string,
  ) {}

  /** `out` is the run folder to create; default runs/<timestamp>-<kind>. */
  static create(kind: string, out?: string): RunFolder {
    const finalDir = resolve(out ?? join("runs", `${timestamp()}-${kind}`));
    if (existsSync(finalDir)) throw new TsdistillError(`--out: ${finalDir} already exists; choose a new folder`);
    const tmp = join(dirname(finalDir), `.${basename(finalDir)}.${process.pid}.partial`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    return new RunFolder(finalDir, tmp);
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(this.path(name), JSON.stringify(value, null, 2) + "\n");
  }

  finish(): string {
    renameSync(this.dir, this.finalDir);
    return this.finalDir;
  }

  discard(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
