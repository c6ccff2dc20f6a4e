import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/files.js";
import { TsdistillError, UsageError } from "../util/errors.js";
import { currentOwner, ownerAlive, pidAlive, type ProcessOwner } from "../util/process-owner.js";
import { firstDifference, showJson } from "../util/json-diff.js";

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Inside a partial folder: which process writes it (removed, with the checkpoints, when the run finishes). */
const OWNER_FILE = "owner.json";
const CHECKPOINT_DIR = "checkpoints";

interface OwnerRecord extends ProcessOwner {
  /** The kind of run (its command, or recipe name): what a --resume without --out looks for. */
  kind: string;
}

export interface RunFolderOptions {
  /** The kind of run: suffix of the default folder name (runs/<time>-<kind>), and what --resume looks for. */
  kind: string;
  /** The run folder to create; default runs/<time>-<kind>. */
  out?: string;
  /** Continue an interrupted run of the same kind and config (at --out, else the newest in runs/). */
  resume?: boolean;
  /** Written as config.json; a resumed run must have the same. */
  config?: Record<string, unknown>;
  /** Top-level config fields not compared on resume (e.g. a recipe file's path, when its content is compared). */
  ignoreOnResume?: string[];
  /** Where to say what was removed or resumed (default: stderr). */
  info?: (line: string) => void;
}

/**
 * The folder a run writes (config, per-epoch metrics, checkpoints, results, models). It is filled under a hidden
 * name next to it, `.<name>.partial`, that holds an owner.json naming the process, and renamed into place by
 * `finish()`; `discard()` removes it, so a failed run leaves nothing behind. A run killed outright (SIGKILL, power)
 * leaves its partial folder: `--resume` continues it from its checkpoints, and any other run started in the same
 * runs folder removes it (a partial folder whose process still runs is never touched).
 */
export class RunFolder {
  private constructor(
    readonly finalDir: string,
    readonly dir: string,
    /** Whether this run continues an interrupted one (its checkpoints and metrics are in the folder). */
    readonly resumed: boolean,
  ) {}

  /** A new run folder (no --resume): `out`, or runs/<timestamp>-<kind>. */
  static create(kind: string, out?: string): RunFolder {
    return RunFolder.open({ kind, out });
  }

  static open(opts: RunFolderOptions): RunFolder {
    const info = opts.info ?? ((line: string) => process.stderr.write(`${line}\n`));
    const config = opts.config && (JSON.parse(JSON.stringify(opts.config)) as Record<string, unknown>);
    if (opts.resume) {
      const parent = resolve(opts.out === undefined ? "runs" : dirname(resolve(opts.out)));
      const partial = opts.out === undefined ? newestInterrupted(parent, opts.kind, config, opts.ignoreOnResume) : interruptedAt(resolve(opts.out), config, opts.ignoreOnResume);
      writeFileAtomic(join(partial, OWNER_FILE), JSON.stringify({ ...currentOwner(), kind: opts.kind }) + "\n");
      removeTempFiles(partial);
      removeDeadPartials(parent, info, partial);
      info(`resuming the interrupted run ${partial}`);
      return new RunFolder(finalDirOf(partial), partial, true);
    }
    const finalDir = resolve(opts.out ?? join("runs", `${timestamp()}-${opts.kind}`));
    if (existsSync(finalDir)) throw new TsdistillError(`--out: ${finalDir} already exists; choose a new folder`);
    const parent = dirname(finalDir);
    const partial = partialOf(finalDir);
    const busy = () => {
      const pid = readOwner(partial)?.pid;
      return new TsdistillError(pid ? `--out: another tsdistill process (pid ${pid}) is writing ${finalDir}` : `--out: ${partial} is in the way and names no process; remove it or choose a new folder`);
    };
    const owner = existsSync(partial) ? readOwner(partial) : null;
    if (owner && ownerAlive(owner)) throw busy();
    removeDeadPartials(parent, info);
    if (existsSync(partial)) throw busy();
    // Filled under a name of our own, then renamed: the partial folder never exists without its owner and config.
    const staging = join(parent, `.${basename(finalDir)}.${process.pid}.creating`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, OWNER_FILE), JSON.stringify({ ...currentOwner(), kind: opts.kind }) + "\n");
    if (config) writeFileSync(join(staging, "config.json"), JSON.stringify(config, null, 2) + "\n");
    try {
      renameSync(staging, partial);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      if (existsSync(partial)) throw busy();
      throw err;
    }
    return new RunFolder(finalDir, partial, false);
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Where the run's training checkpoints go (removed when the run finishes). */
  get checkpointDir(): string {
    return this.path(CHECKPOINT_DIR);
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(this.path(name), JSON.stringify(value, null, 2) + "\n");
  }

  /** Moves the folder into place; the checkpoints and the owner file go. */
  finish(): string {
    if (existsSync(this.finalDir)) throw new TsdistillError(`${this.finalDir} was created by someone else while this run went on; its results are in ${this.dir}`);
    renameSync(this.dir, this.finalDir);
    rmSync(join(this.finalDir, CHECKPOINT_DIR), { recursive: true, force: true });
    rmSync(join(this.finalDir, OWNER_FILE), { force: true });
    return this.finalDir;
  }

  discard(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const PARTIAL = /^\.(.+)\.partial$/;
/** Before owner files, partial folders were named `.<name>.<pid>.partial`. */
const LEGACY_PARTIAL = /^\..+\.(\d+)\.partial$/;
const CREATING = /^\..+\.(\d+)\.creating$/;

function partialOf(finalDir: string): string {
  return join(dirname(finalDir), `.${basename(finalDir)}.partial`);
}

function finalDirOf(partial: string): string {
  return join(dirname(partial), PARTIAL.exec(basename(partial))![1]);
}

function readOwner(partial: string): OwnerRecord | null {
  try {
    const o = JSON.parse(readFileSync(join(partial, OWNER_FILE), "utf8")) as OwnerRecord;
    return typeof o.pid === "number" ? o : null;
  } catch {
    return null;
  }
}

function readConfig(partial: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(join(partial, "config.json"), "utf8")) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The first config field where a resumed run differs from the interrupted one, as one line; null when none. */
function configMismatch(partial: string, config: Record<string, unknown> | undefined, ignore: string[] = []): string | null {
  if (!config) return null;
  const before = readConfig(partial);
  if (!before) return `${partial} has no readable config.json`;
  const strip = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).filter(([k]) => !ignore.includes(k)));
  const d = firstDifference(strip(before), strip(config));
  return d && `${partial} was started with ${d.path} ${showJson(d.before)}, this command has ${showJson(d.after)}`;
}

/** The partial folder of the interrupted run that would have become `finalDir`. */
function interruptedAt(finalDir: string, config: Record<string, unknown> | undefined, ignore?: string[]): string {
  const partial = partialOf(finalDir);
  if (existsSync(finalDir)) throw new UsageError(`--resume: ${finalDir} has already finished`);
  if (!existsSync(partial)) throw new UsageError(`--resume: there is no interrupted run for ${finalDir} (no ${partial})`);
  const owner = readOwner(partial);
  if (!owner) throw new UsageError(`--resume: ${partial} has no ${OWNER_FILE} (written by an older tsdistill?); it cannot be resumed`);
  if (ownerAlive(owner)) throw new UsageError(`--resume: the run in ${partial} is still going (pid ${owner.pid})`);
  const mismatch = configMismatch(partial, config, ignore);
  if (mismatch) throw new UsageError(`--resume: ${mismatch}`);
  return partial;
}

/** The newest interrupted run of this kind in `parent` whose config matches. */
function newestInterrupted(parent: string, kind: string, config: Record<string, unknown> | undefined, ignore?: string[]): string {
  const candidates = listPartials(parent)
    .map((p) => ({ p, owner: readOwner(p) }))
    .filter((c): c is { p: string; owner: OwnerRecord } => c.owner !== null && c.owner.kind === kind && !ownerAlive(c.owner))
    .sort((a, b) => b.owner.since.localeCompare(a.owner.since));
  if (candidates.length === 0) throw new UsageError(`--resume: no interrupted ${kind} run in ${parent} to continue (use --out DIR to name one)`);
  const match = candidates.find((c) => configMismatch(c.p, config, ignore) === null);
  if (!match) throw new UsageError(`--resume: no interrupted ${kind} run in ${parent} has this config; the newest, ${configMismatch(candidates[0].p, config, ignore)}`);
  return match.p;
}

function listPartials(parent: string): string[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .filter((n) => PARTIAL.test(n))
    .map((n) => join(parent, n))
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory());
}

/** Removes the partial folders in `parent` whose process is gone (except `keep`), saying which. */
function removeDeadPartials(parent: string, info: (line: string) => void, keep?: string): void {
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent)) {
    const path = join(parent, name);
    if (path === keep) continue;
    let pid: number | null = null;
    if (PARTIAL.test(name)) {
      const owner = readOwner(path);
      if (owner) pid = ownerAlive(owner) ? null : owner.pid;
      else {
        // An older tsdistill's (it wrote config.json first): not some other tool's folder of a similar name.
        const legacy = LEGACY_PARTIAL.exec(name);
        pid = legacy && existsSync(join(path, "config.json")) && !pidAlive(Number(legacy[1])) ? Number(legacy[1]) : null;
      }
    } else {
      const creating = CREATING.exec(name);
      pid = creating && !pidAlive(Number(creating[1])) ? Number(creating[1]) : null;
    }
    if (pid === null) continue;
    rmSync(path, { recursive: true, force: true });
    info(`removed ${path}: the partial folder of a run that was killed (pid ${pid} is gone)`);
  }
}

/** Temp files and folders of atomic writes (util/files.ts) cut short by the kill of the run that owned the folder. */
function removeTempFiles(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name.startsWith(".") && /\.tmp(\.old)?$/.test(entry.name)) rmSync(path, { recursive: true, force: true });
    else if (entry.isDirectory()) removeTempFiles(path);
  }
}
