// Shared pieces of the fuzz suite (test/fuzz-*.test.ts): byte mutators, the "clean outcome" oracle and a tally
// that the suite prints, so docs/RELIABILITY.md's figures can be repeated. Not a test file itself.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import fc from "fast-check";
import { TsdistillError } from "../src/util/errors.js";

/** The suite's fixed seed: every run tries the same inputs. FUZZ_SEED overrides it for exploratory runs. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261202);
/** Runs per property; FUZZ_RUNS scales them (e.g. 10 for a long hunt). */
export const FUZZ_SCALE = Number(process.env.FUZZ_RUNS ?? 1);
/** Any single parse slower than this counts as a hang (generous: the test machine is shared and loaded). */
export const SLOW_MS = 5000;

export function params(numRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(numRuns * FUZZ_SCALE)), endOnFailure: true, includeErrorInReport: true };
}

/** A byte-level corruption of a valid file: truncation, bit flips, a random overwrite or insertion. */
export type Mutation =
  | { kind: "truncate"; at: number }
  | { kind: "flip"; bits: { at: number; bit: number }[] }
  | { kind: "overwrite"; at: number; bytes: Uint8Array }
  | { kind: "insert"; at: number; bytes: Uint8Array };

// Uniform over the file (fc.double leans towards 0, which would corrupt mostly the first byte).
const position = fc.nat({ max: 0xffffffff }).map((v) => v / 2 ** 32);

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  position.map((at) => ({ kind: "truncate" as const, at })),
  fc.array(fc.record({ at: position, bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 8 }).map((bits) => ({ kind: "flip" as const, bits })),
  fc.record({ at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }).map((r) => ({ kind: "overwrite" as const, ...r })),
  fc.record({ at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }).map((r) => ({ kind: "insert" as const, ...r })),
);

/** Mutations aimed at a file's first `headerBytes` (where the format's fields are), half the time. */
export function mutationNear(headerBytes: number, total: number): fc.Arbitrary<Mutation> {
  const frac = Math.min(1, headerBytes / Math.max(1, total));
  const inHeader = mutationArb.map((m) => scalePositions(m, frac));
  return fc.oneof(mutationArb, inHeader);
}

function scalePositions(m: Mutation, frac: number): Mutation {
  switch (m.kind) {
    case "truncate":
    case "overwrite":
    case "insert":
      return { ...m, at: m.at * frac };
    case "flip":
      return { ...m, bits: m.bits.map((b) => ({ ...b, at: b.at * frac })) };
  }
}

export function mutate(input: Uint8Array, m: Mutation): Uint8Array {
  // A copy first: Buffer#slice is a view, and a mutation must never reach the caller's bytes.
  const bytes = Uint8Array.from(input);
  const idx = (at: number) => Math.min(bytes.length - 1, Math.floor(at * bytes.length));
  switch (m.kind) {
    case "truncate":
      return bytes.slice(0, Math.floor(m.at * bytes.length));
    case "flip": {
      const out = bytes.slice();
      for (const b of m.bits) out[idx(b.at)] ^= 1 << b.bit;
      return out;
    }
    case "overwrite": {
      const out = bytes.slice();
      out.set(m.bytes.slice(0, out.length - idx(m.at)), idx(m.at));
      return out;
    }
    case "insert": {
      const at = idx(m.at);
      const out = new Uint8Array(bytes.length + m.bytes.length);
      out.set(bytes.subarray(0, at));
      out.set(m.bytes, at);
      out.set(bytes.subarray(at), at + m.bytes.length);
      return out;
    }
  }
}

/** Tallies per reader: inputs tried, clean errors, correct results. Printed at the end of each fuzz file. */
export class Tally {
  private rows = new Map<string, { tried: number; errors: number; ok: number; slowestMs: number }>();
  add(reader: string, outcome: "ok" | "error", ms: number): void {
    const r = this.rows.get(reader) ?? { tried: 0, errors: 0, ok: 0, slowestMs: 0 };
    r.tried++;
    if (outcome === "ok") r.ok++;
    else r.errors++;
    r.slowestMs = Math.max(r.slowestMs, ms);
    this.rows.set(reader, r);
  }
  print(): void {
    for (const [reader, r] of this.rows) {
      console.log(`fuzz ${reader}: ${r.tried} inputs, ${r.errors} clean errors, ${r.ok} accepted, slowest ${r.slowestMs.toFixed(0)} ms`);
    }
  }
}

/**
 * The oracle: the call returns (a result the caller then checks) or throws a TsdistillError whose message is
 * one non-empty line without a stack frame; anything else (TypeError, RangeError, a raw library error, a
 * multi-line message) fails the property. Returns the outcome for the tally.
 */
export function assertCleanError(err: unknown, what: string): void {
  if (!(err instanceof TsdistillError)) {
    const e = err as Error;
    assert.fail(`${what}: expected a TsdistillError (one clear line), got ${e?.name ?? typeof err}: ${e?.message ?? String(err)}\n${e?.stack ?? ""}`);
  }
  const msg = err.message;
  assert.ok(msg.trim().length > 0, `${what}: empty error message`);
  assert.ok(!/[\n\r]/.test(msg), `${what}: error message spans lines: ${JSON.stringify(msg)}`);
  assert.ok(!/\n\s+at |^\s*at .*:\d+:\d+/.test(msg), `${what}: error message holds a stack frame: ${msg}`);
  assert.ok(msg.length < 2000, `${what}: error message is ${msg.length} characters long`);
}

export function cleanly<T>(tally: Tally, reader: string, fn: () => T, check?: (v: T) => void): void {
  const t0 = performance.now();
  let value: T;
  try {
    value = fn();
  } catch (err) {
    const ms = performance.now() - t0;
    assertCleanError(err, reader);
    assert.ok(ms < SLOW_MS, `${reader}: took ${ms.toFixed(0)} ms to reject an input`);
    tally.add(reader, "error", ms);
    return;
  }
  const ms = performance.now() - t0;
  assert.ok(ms < SLOW_MS, `${reader}: took ${ms.toFixed(0)} ms on one input`);
  check?.(value);
  tally.add(reader, "ok", ms);
}

export async function cleanlyAsync<T>(tally: Tally, reader: string, fn: () => Promise<T>, check?: (v: T) => void | Promise<void>): Promise<void> {
  const t0 = performance.now();
  let value: T;
  try {
    value = await fn();
  } catch (err) {
    const ms = performance.now() - t0;
    assertCleanError(err, reader);
    assert.ok(ms < SLOW_MS, `${reader}: took ${ms.toFixed(0)} ms to reject an input`);
    tally.add(reader, "error", ms);
    return;
  }
  const ms = performance.now() - t0;
  assert.ok(ms < SLOW_MS, `${reader}: took ${ms.toFixed(0)} ms on one input`);
  await check?.(value);
  tally.add(reader, "ok", ms);
}

/** Lists a folder recursively (relative names), to show that a fuzz run wrote nothing it should not. */
export function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}
