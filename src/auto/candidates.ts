// Which candidates a search trains: sampled from the space (the first one the demo's known-good student, halved
// in width until it fits) and checked against the parameter and latency constraints before any training.
import type { RunStore, SearchRow } from "../runs/store.js";
import { DEFAULT_CANDIDATE, DEFAULT_REGRESSION_CANDIDATE, paramCount, sampleCandidate, scaleSpec, type Candidate, type SpaceOptions } from "./space.js";
import type { Constraints } from "./summary.js";

export interface CandidateContext {
  store: RunStore;
  searchId: SearchRow["id"];
  seed: number;
  /** Start from the demo's known-good candidate (bracket 0, candidate 0). */
  seedDefault: boolean;
  regression: boolean;
  space: SpaceOptions;
  shape: { inputShape: number[]; numClasses: number };
  constraints: Constraints;
  /** Batch-1 latency of an untrained model with this spec; null when the search stopped before it ran. */
  measure: (spec: string) => Promise<number | null>;
  log: (message: string) => void;
}

export interface AdmittedCandidate {
  cand: Candidate;
  params: number;
  latencyMs: number;
}

function skip(ctx: CandidateContext, b: number, k: number, cand: Candidate, params: number, latencyMs: number | null, reason: string): void {
  const row = ctx.store.ensureTrial(ctx.searchId, { key: `b${b}-c${k}-r0`, bracket: b, candidate: k, rung: 0, config: cand, spec: cand.student, params, latencyMs, fidelity: 0 });
  ctx.store.endTrial(row.id, "skipped", reason);
}

/**
 * Candidate k of bracket b: reused from the store, or sampled (k = 0 of bracket 0: the default, halved in
 * width until it fits) and checked against the constraints. null: skipped; undefined: not measured (stopped).
 */
export async function admitCandidate(ctx: CandidateContext, b: number, k: number): Promise<AdmittedCandidate | null | undefined> {
  const { store: st, shape, constraints } = ctx;
  const known = st.trialByKey(ctx.searchId, `b${b}-c${k}-r0`);
  if (known?.status === "skipped") return null;
  if (known) return { cand: known.config as Candidate, params: known.params ?? 0, latencyMs: known.latencyMs ?? NaN };
  const isDefault = b === 0 && k === 0 && ctx.seedDefault;
  const base = isDefault ? (ctx.regression ? DEFAULT_REGRESSION_CANDIDATE : DEFAULT_CANDIDATE) : sampleCandidate(ctx.space, ctx.seed, b, k);
  const factors = isDefault ? [1, 0.5, 0.25, 0.125, 0.0625] : [1];
  let last = { cand: base, params: 0, latency: null as number | null, reason: "" };
  for (const f of factors) {
    const cand = { ...base, student: scaleSpec(base.student, f) };
    const params = paramCount(cand.student, shape.inputShape, shape.numClasses);
    last = { cand, params, latency: null, reason: "" };
    if (constraints.maxParams !== undefined && params > constraints.maxParams) {
      last.reason = `params ${params} > --max-params ${constraints.maxParams}`;
      continue;
    }
    const latency = await ctx.measure(cand.student);
    if (latency === null) return undefined;
    last.latency = latency;
    if (constraints.maxLatencyMs !== undefined && latency > constraints.maxLatencyMs) {
      last.reason = `latency ${latency.toFixed(3)} ms > --max-latency-ms ${constraints.maxLatencyMs}`;
      continue;
    }
    return { cand, params, latencyMs: latency };
  }
  skip(ctx, b, k, last.cand, last.params, last.latency, last.reason);
  ctx.log(`candidate b${b}-c${k} ${last.cand.student} skipped before training: ${last.reason}`);
  return null;
}
