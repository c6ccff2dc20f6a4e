// Successive halving with epochs as the resource. Each bracket trains n candidates for the first rung's epochs,
// keeps the best 1/η by validation score, trains those for the next rung's epochs, and so on up to maxEpochs.
// Promotion waits for the whole rung (synchronous halving): the decisions then depend only on the trial results,
// not on which worker finished first, so a seed gives the same search with any number of workers. Brackets run
// concurrently, which keeps workers busy while a bracket's last rung trains a single candidate.
import { UsageError } from "../util/errors.js";

export interface HalvingOptions {
  minEpochs: number;
  maxEpochs: number;
  /** Reduction factor η: each rung keeps 1/η of the candidates and trains them ~η times longer. */
  eta: number;
}

/** Epochs per rung: maxEpochs / η^k rounded, from the cheapest rung (≥ minEpochs) up to exactly maxEpochs. */
export function rungEpochs({ minEpochs, maxEpochs, eta }: HalvingOptions): number[] {
  if (!(Number.isInteger(minEpochs) && minEpochs >= 1)) throw new UsageError(`--min-epochs: expected an integer ≥ 1, got ${minEpochs}`);
  if (!(Number.isInteger(maxEpochs) && maxEpochs >= minEpochs)) throw new UsageError(`--max-epochs: expected an integer ≥ --min-epochs (${minEpochs}), got ${maxEpochs}`);
  if (!(eta >= 2)) throw new UsageError(`--eta: expected a number ≥ 2, got ${eta}`);
  const rungs: number[] = [];
  for (let k = 0; ; k++) {
    const e = Math.round(maxEpochs / eta ** k);
    if (e < minEpochs || (rungs.length && e >= rungs[0])) break;
    rungs.unshift(e);
  }
  return rungs;
}

/** Candidates a full bracket starts with: η^(rungs − 1), so that one candidate reaches the last rung. */
export function bracketSize(numRungs: number, eta: number): number {
  return Math.max(1, Math.round(eta ** (numRungs - 1)));
}

export interface RungResult {
  candidate: number;
  /** Validation score (higher is better); null for a failed trial, which is never promoted. */
  score: number | null;
}

/**
 * The candidates promoted from a rung: the best ⌊n/η⌋ (at least one) by score, ties broken by the lower
 * candidate index; `always` (e.g. the seeded default candidate) is promoted when it did not fail.
 */
export function promote(results: RungResult[], eta: number, always: number[] = []): number[] {
  const ok = results.filter((r) => r.score !== null && Number.isFinite(r.score));
  const keep = Math.max(1, Math.floor(results.length / eta));
  const ranked = [...ok].sort((a, b) => b.score! - a.score! || a.candidate - b.candidate);
  const chosen = new Set(ranked.slice(0, keep).map((r) => r.candidate));
  for (const c of always) if (ok.some((r) => r.candidate === c)) chosen.add(c);
  return [...chosen].sort((a, b) => a - b);
}
