import { parseOptions, numberOption } from "../args.js";
import { parseQueueUrl } from "../../queue/connection.js";
import { DEFAULT_LOCK_MS, runQueueWorker } from "../../queue/worker.js";
import { UsageError } from "../../util/errors.js";

export const WORKER_HELP = `tsdistill worker --queue redis://HOST:PORT [--concurrency N] [--lock-seconds S]

Takes jobs from the queue in Redis and runs them: teacher-label shards of 'tsdistill label --queue' and trials
of 'tsdistill auto --queue'. Start any number of workers, on any machines that reach the Redis and see the
shared folders (the cache and search folders) at the same paths as the coordinator; each job names its teacher,
data and backend, and the worker checks the teacher and data hashes before it labels anything. A worker that
dies (SIGKILL, power) loses nothing: its job goes back to the queue after --lock-seconds plus one check
interval and another worker runs it. SIGINT or SIGTERM stops taking jobs and exits when the running ones end
(a second one exits at once).

  --queue URL            the Redis: redis://HOST:PORT[/DB]
  --concurrency N        jobs at once, one worker thread each (default 1)
  --lock-seconds S       how long a job stays locked to a worker that stops answering (default ${DEFAULT_LOCK_MS / 1000})
  --quiet, -q            no log lines
  --help, -h             this help`;

export async function workerCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("worker", argv, {
    queue: { type: "string" },
    concurrency: { type: "string" },
    "lock-seconds": { type: "string" },
    quiet: { type: "boolean", short: "q" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return void process.stdout.write(WORKER_HELP + "\n");
  if (!values.queue) throw new UsageError("worker: --queue is required (redis://HOST:PORT)");
  const url = parseQueueUrl(String(values.queue));
  const concurrency = numberOption("concurrency", values.concurrency, { int: true, min: 1, max: 256 }) ?? 1;
  const lockSeconds = numberOption("lock-seconds", values["lock-seconds"], { min: 0.5 }) ?? DEFAULT_LOCK_MS / 1000;
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`worker: ${sig}: no new jobs; exiting when the running ones end (again to exit now)\n`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const quiet = Boolean(values.quiet);
  try {
    const r = await runQueueWorker({
      url,
      concurrency,
      lockMs: Math.round(lockSeconds * 1000),
      log: (line) => void (quiet || process.stderr.write(`worker: ${line}\n`)),
      signal: controller.signal,
    });
    if (!quiet) process.stderr.write(`worker ${r.name}: ${r.finished} job(s) done, ${r.failed} failed\n`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
