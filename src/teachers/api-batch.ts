import { TsdistillError } from "../util/errors.js";

// A batch of API inputs run with a pool of workers (the failure rules are at the top of api-http.ts): results in
// input order, or one error with what finished attached.

export interface BatchProgress {
  done: number;
  failed: number;
  total: number;
  retries: number;
}

/** One failed attempt that is about to be retried. */
export interface RetryInfo {
  /** Position of the input in the batch. */
  index: number;
  /** Attempts made so far for this input (1 after the first failure). */
  attempt: number;
  /** HTTP status, or null for a timeout / network error. */
  status: number | null;
  /** One line, key scrubbed: `HTTP 429 "…"`, `timed out after … ms`, `network error (ECONNRESET)`. */
  message: string;
  /** The wait before the next attempt: Retry-After (capped) or the jittered backoff. */
  delayMs: number;
}

export interface BatchOptions {
  /** After each input finishes (done or failed for good). */
  onProgress?: (p: BatchProgress) => void;
  /** Before each retry's wait (for logging). */
  onRetry?: (r: RetryInfo) => void;
  /** Cancels the batch (it then rejects). */
  signal?: AbortSignal;
}

/** A request that failed in a way a retry cannot fix (4xx other than 408/429, an unreadable 200). */
export class ApiRequestError extends TsdistillError {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = "ApiRequestError";
  }
}

/** A failed batch: one line of message; the finished results are attached, never returned as a result. */
export class ApiBatchError<T> extends TsdistillError {
  constructor(
    message: string,
    /** Last HTTP status seen (null: none, e.g. only timeouts / connection errors). */
    readonly status: number | null,
    /** Results that did finish (each knows its input's position); the batch as a whole did not. */
    readonly completed: T[] = [],
    /** Inputs that failed for good. */
    readonly failed: number[] = [],
    /** Inputs never sent. */
    readonly notStarted: number[] = [],
  ) {
    super(message);
    this.name = "ApiBatchError";
  }
}

export type OneResult<R> = { ok: true; value: R } | { ok: false; status: number | null; message: string };

export interface RunBatchOptions<R, E extends ApiBatchError<R>> extends BatchOptions {
  concurrency: number;
  maxRetries: number;
  /** Starts every error line ("api teacher"). */
  what: string;
  /** Builds the batch's error (a subclass of ApiBatchError, so callers can test with instanceof). */
  makeError: (message: string, status: number | null, completed: R[], failed: number[], notStarted: number[]) => E;
  /** Called once per input that finished. */
  onDone?: () => void;
  onFailed?: () => void;
  /** Counts retries for BatchProgress. */
  retries: () => number;
  /** The word for a finished input in messages ("labelled", "scored"). */
  doneWord: string;
  /** What `completed` holds, for the message ("labels", "scores"). */
  resultNoun: string;
}

/**
 * Runs `one` for inputs 0 … n−1 with `concurrency` workers; results come back in input order. Rejects with one
 * error (built by makeError) when any input fails for good, when a request fails in a way a retry cannot fix, or
 * when the signal aborts; never resolves with a partial list.
 */
export async function runBatch<R, E extends ApiBatchError<R>>(
  n: number,
  one: (i: number, signal: AbortSignal, onStatus: (s: number) => void) => Promise<OneResult<R>>,
  opts: RunBatchOptions<R, E>,
): Promise<R[]> {
  const results: (R | undefined)[] = new Array(n);
  const failures: { index: number; status: number | null; message: string }[] = [];
  const ctrl = new AbortController();
  const onOuterAbort = () => ctrl.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (opts.signal?.aborted) ctrl.abort(opts.signal.reason);
  let fatal = null as ApiRequestError | null;
  let other: unknown = null;
  let next = 0;
  let done = 0;
  let lastStatus = null as number | null;
  const retriesAtStart = opts.retries();
  const progress = () => opts.onProgress?.({ done, failed: failures.length, total: n, retries: opts.retries() - retriesAtStart });

  const worker = async () => {
    while (next < n && !failures.length && !ctrl.signal.aborted) {
      const i = next++;
      try {
        const r = await one(i, ctrl.signal, (s) => (lastStatus = s));
        if (r.ok) {
          results[i] = r.value;
          done++;
          opts.onDone?.();
        } else {
          failures.push({ index: i, status: r.status, message: r.message });
          opts.onFailed?.();
        }
        progress();
      } catch (e) {
        if (e instanceof ApiRequestError) fatal ??= e;
        else if (!ctrl.signal.aborted) other ??= e;
        ctrl.abort(e);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, n) }, worker));
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
  const completed = results.filter((r): r is R => r !== undefined);
  const notStarted = Array.from({ length: n - next }, (_, j) => next + j);
  if (fatal) throw opts.makeError(fatal.message, fatal.status, completed, failures.map((f) => f.index), notStarted);
  if (other) throw other;
  if (opts.signal?.aborted) throw opts.makeError(`${opts.what}: cancelled; ${done} of ${n} inputs ${opts.doneWord}`, lastStatus, completed, [], notStarted);
  if (failures.length) {
    const last = failures[failures.length - 1];
    const f = failures.length;
    const r = opts.maxRetries;
    throw opts.makeError(
      `${opts.what}: ${f} of ${n} input${n === 1 ? "" : "s"} failed after ${r} retr${r === 1 ? "y" : "ies"} each ` +
        `(last: ${last.message}; last HTTP status: ${lastStatus ?? "none"}); ${done} ${opts.doneWord}, ${notStarted.length} not started, nothing returned (the error's .completed holds the finished ${opts.resultNoun})`,
      lastStatus,
      completed,
      failures.map((x) => x.index),
      notStarted,
    );
  }
  return results as R[];
}
