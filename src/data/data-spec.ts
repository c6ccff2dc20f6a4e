import { UsageError } from "../util/errors.js";

/** A parsed --data value: `kind:path?key=value&flag`. Values may be percent-encoded. */
export interface DataSpec {
  kind: string;
  path: string;
  options: Map<string, string | true>;
}

export function parseDataSpec(spec: string, help: string): DataSpec {
  const colon = spec.indexOf(":");
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? "" : spec.slice(colon + 1);
  const q = rest.indexOf("?");
  const path = q < 0 ? rest : rest.slice(0, q);
  const options = new Map<string, string | true>();
  if (q >= 0) {
    for (const part of rest.slice(q + 1).split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const key = decode(eq < 0 ? part : part.slice(0, eq), spec);
      if (options.has(key)) throw new UsageError(`--data ${spec}: option "${key}" is given twice`);
      options.set(key, eq < 0 ? true : decode(part.slice(eq + 1), spec));
    }
  }
  if (colon >= 0 && path === "") throw new UsageError(`--data ${spec}: expected a path after "${kind}:"; ${help}`);
  return { kind, path, options };
}

function decode(s: string, spec: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new UsageError(`--data ${spec}: "${s}" is not valid percent-encoding`);
  }
}

/** Reads typed options from a DataSpec, refusing unknown keys (naming the ones that are known). */
export class SpecOptions {
  constructor(
    private readonly spec: string,
    private readonly parsed: DataSpec,
    private readonly known: Record<string, string>,
  ) {
    for (const key of parsed.options.keys()) {
      if (!(key in known)) {
        const list = Object.entries(known).map(([k, v]) => `${k}${v ? "=" + v : ""}`).join(", ");
        throw new UsageError(`--data ${spec}: unknown option "${key}" for ${parsed.kind}; expected ${list}`);
      }
    }
  }

  private fail(key: string, got: string | true): never {
    throw new UsageError(`--data ${this.spec}: ${key}: expected ${this.known[key] || "no value"}, got ${got === true ? "no value" : JSON.stringify(got)}`);
  }

  string(key: string): string | undefined {
    const v = this.parsed.options.get(key);
    if (v === undefined) return undefined;
    if (v === true) this.fail(key, v);
    return v;
  }

  /** One of `values` (the option's description in `known` lists them). */
  choice<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.string(key);
    if (v !== undefined && !values.includes(v as T)) this.fail(key, v);
    return v as T | undefined;
  }

  flag(key: string): boolean {
    const v = this.parsed.options.get(key);
    if (v === undefined) return false;
    if (v !== true) this.fail(key, v);
    return true;
  }

  list(key: string): string[] | undefined {
    return this.string(key)?.split(",").filter((s) => s !== "");
  }

  number(key: string, check: (n: number) => boolean): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || !check(n)) this.fail(key, v);
    return n;
  }

  boolean(key: string): boolean | undefined {
    const v = this.parsed.options.get(key);
    if (v === undefined) return undefined;
    if (v === true || v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    this.fail(key, v);
  }

  /** "a-b" or "a" → [a, b]; "0" → [0, 0]. */
  range(key: string): [number, number] | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const m = /^(\d+)(?:-(\d+))?$/.exec(v);
    if (!m) this.fail(key, v);
    return [Number(m[1]), Number(m[2] ?? m[1])];
  }

  /** "HxW" or "N" (square) → [H, W]. */
  size(key: string): [number, number] | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const m = /^(\d+)(?:x(\d+))?$/i.exec(v);
    const h = m ? Number(m[1]) : 0;
    const w = m ? Number(m[2] ?? m[1]) : 0;
    if (!(h >= 1 && w >= 1 && h <= 4096 && w <= 4096)) this.fail(key, v);
    return [h, w];
  }
}
