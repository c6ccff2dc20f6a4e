/** The first place where two JSON values differ: a dotted path ("optimizer.lr", "layers[2]") and both sides. */
export interface JsonDifference {
  path: string;
  before: unknown;
  after: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Compares two JSON-like values (as JSON would write them: undefined members are absent); returns the first
 * difference, or null when they are equal.
 */
export function firstDifference(before: unknown, after: unknown, path = ""): JsonDifference | null {
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.length !== after.length) return { path: path || "(value)", before, after };
    for (let i = 0; i < before.length; i++) {
      const d = firstDifference(before[i], after[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== undefined || after[k] !== undefined);
    for (const k of keys) {
      const d = firstDifference(before[k], after[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  return before === after ? null : { path: path || "(value)", before, after };
}

/** A value as a short one-line string for an error message. */
export function showJson(v: unknown): string {
  if (v === undefined) return "(unset)";
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
