// Pareto fronts of the search: candidates no other candidate beats on both quality (higher is better) and cost
// (latency or size; lower is better).

export interface ParetoPoint {
  id: number;
  /** Higher is better (validation accuracy or agreement). */
  score: number;
  /** Lower is better (latency in ms, parameters). */
  cost: number;
}

/**
 * The non-dominated points, cheapest first. A point is dominated when another is at least as good on both axes
 * and strictly better on one; of exact duplicates the lower id is kept.
 */
export function paretoFront<T extends ParetoPoint>(points: T[]): T[] {
  const ok = points.filter((p) => Number.isFinite(p.score) && Number.isFinite(p.cost));
  const sorted = [...ok].sort((a, b) => a.cost - b.cost || b.score - a.score || a.id - b.id);
  const front: T[] = [];
  let best = -Infinity;
  for (const p of sorted) {
    if (p.score > best) {
      front.push(p);
      best = p.score;
    }
  }
  return front;
}

/** Whether `a` dominates `b`. */
export function dominates(a: ParetoPoint, b: ParetoPoint): boolean {
  return a.score >= b.score && a.cost <= b.cost && (a.score > b.score || a.cost < b.cost);
}
