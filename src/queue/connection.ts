// The Redis behind `--queue redis://HOST:PORT[/DB]`: one BullMQ queue ("tsdistill") shared by coordinators
// (`label --queue`, `auto --queue`) and workers (`tsdistill worker`). Redis is the only service they share;
// the shards and trial models go to folders on storage every machine mounts at the same path.
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { TsdistillError, UsageError } from "../util/errors.js";

export const QUEUE_NAME = "tsdistill";

/** Checks a --queue value: redis://HOST:PORT with an optional /DB (0–15) and nothing else. */
export function parseQueueUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--queue: expected redis://HOST:PORT (e.g. redis://127.0.0.1:6379), got "${raw}"`);
  }
  if (url.protocol !== "redis:") throw new UsageError(`--queue: expected a redis:// address (e.g. redis://127.0.0.1:6379), got "${raw}"`);
  if (url.hostname === "") throw new UsageError(`--queue: expected a host in "${raw}" (redis://HOST:PORT)`);
  const db = url.pathname.replace(/^\//, "");
  if (db !== "" && !/^(\d|1[0-5])$/.test(db)) throw new UsageError(`--queue: expected a database number 0–15 after the port, got "/${db}" in "${raw}"`);
  if (url.search || url.hash) throw new UsageError(`--queue: expected redis://HOST:PORT[/DB] without options, got "${raw}"`);
  return raw;
}

/** The address as logs show it: a password in it (redis://:PASSWORD@HOST:PORT) is replaced by ***. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}

/**
 * A connection that retries for ever (BullMQ needs maxRetriesPerRequest null): commands wait while Redis is
 * down or restarting and go through once it is back.
 */
export function redisConnection(url: string, onEvent?: (what: "lost" | "back", detail: string) => void): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(100 * times, 1000), lazyConnect: false });
  // Only after the first connection: before it, waitReady reports an unreachable Redis as one error.
  let up = false;
  let down = false;
  const lost = (detail: string) => {
    if (up && !down) onEvent?.("lost", detail);
    down = true;
  };
  redis.on("error", (err: Error) => lost((err as NodeJS.ErrnoException).code ?? err.message));
  redis.on("close", () => lost("connection closed"));
  redis.on("ready", () => {
    if (up && down) onEvent?.("back", url);
    up = true;
    down = false;
  });
  return redis;
}

/** Waits until the connection is ready; a Redis that cannot be reached in `timeoutMs` is a one-line error. */
export async function waitReady(redis: Redis, url: string, timeoutMs = 10_000): Promise<void> {
  if (redis.status === "ready") return;
  let last = "no answer";
  const onError = (err: Error) => void (last = (err as NodeJS.ErrnoException).code ?? err.message);
  redis.on("error", onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TsdistillError(`--queue ${shownUrl(url)}: cannot reach Redis (${last}) within ${timeoutMs / 1000} s; start redis-server there or check the address`)), timeoutMs);
      redis.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    redis.off("error", onError);
  }
}

/** The coordinator's side: the queue it adds jobs to, over its own connection. */
export interface QueueClient {
  queue: Queue;
  redis: Redis;
  close(): Promise<void>;
}

export async function openQueue(url: string, log?: (line: string) => void): Promise<QueueClient> {
  const redis = redisConnection(url, (what, detail) => log?.(what === "lost" ? `queue: lost Redis at ${shownUrl(url)} (${detail}); waiting for it to come back` : `queue: Redis at ${shownUrl(url)} is back`));
  try {
    await waitReady(redis, url);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const queue = new Queue(QUEUE_NAME, { connection: redis });
  return {
    queue,
    redis,
    close: async () => {
      // A Redis that is down would keep close() waiting: give it a moment, then drop the connection.
      await Promise.race([queue.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
      redis.removeAllListeners("close");
      redis.disconnect();
    },
  };
}

/** Worker names carry their slot count: `host:pid#slots` (BullMQ lists workers by connection name). */
export function workerName(host: string, pid: number, slots: number): string {
  return `${host}:${pid}#${slots}`;
}

/** "host:pid" of a worker name (what logs show). */
export function shortWorkerName(name: string | undefined): string {
  return (name ?? "?").replace(/#\d+$/, "");
}

/** The workers connected to the queue now, with their slots. */
export async function connectedWorkers(queue: Queue): Promise<{ name: string; slots: number }[]> {
  const clients = (await queue.getWorkers()) as { rawname?: string }[];
  const names = new Set(clients.map((c) => c.rawname ?? "").filter((n) => n.includes(":w:")).map((n) => n.slice(n.indexOf(":w:") + 3)));
  return [...names].map((name) => ({ name, slots: Number(/#(\d+)$/.exec(name)?.[1] ?? 1) }));
}
