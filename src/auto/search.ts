// `tsdistill auto`: finds the best student under size / latency / agreement constraints. The teacher runs once
// over the transfer, validation and test splits (resumable safetensors caches in the output folder); candidates
// are sampled from the space, filtered on parameters and measured batch-1 latency before any training, and
// trained in brackets of successive halving by a pool of worker threads. Every trial lives in the run store, so
// running the same command again after an interruption reuses the finished trials and reruns the rest.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { useBackend, type BackendName } from "../engine/backend.js";
import { loadSplits } from "../data/sources.js";
import { hashDataset, labelDataset } from "../teachers/label-cache.js";
import { openTeacher } from "../teachers/open-teacher.js";
import { checkTeacherTask, rescaledTeacher, teacherOutputScale, UNITS } from "../teachers/teacher-task.js";
import { formatDataSummary } from "../data/summary.js";
import type { RunStore, TrialRow } from "../runs/store.js";
import { TsdistillError, UsageError } from "../util/errors.js";
import { bracketSize, promote, rungEpochs, type HalvingOptions } from "./asha.js";
import { JobAborted, JobNotStarted, JobPool, type AutoJobRunner, type PoolOptions } from "./pool.js";
import { defaultSpace, describeCandidate, type Candidate, type SpaceOptions } from "./space.js";
import { admitCandidate, type CandidateContext } from "./candidates.js";
import type { MeasureResult, TrainTrialResult } from "./trial.js";
import { scoreOf, type Constraints, type Objective } from "./summary.js";
import { finalizeSearch, type AutoResult } from "./finalize.js";
import { openSearch } from "./search-folder.js";

export { DEFAULT_DB } from "./search-folder.js";

export interface AutoOptions {
  /** Teacher: a TF.js model folder, an .onnx file or fn:module#export. */
  teacher: string;
  data: string;
  trainSize?: number;
  /** Default 10 % of the training split, at most 5,000. */
  validationSize?: number;
  seed: number;
  constraints: Constraints;
  /** Default accuracy (classification) or r2 (regression), on the validation split. */
  objective?: Objective;
  /** Stop starting trials after this many seconds (all invocations of this search together). */
  timeBudgetSeconds?: number;
  /** Number of candidates to try (those skipped by the constraints do not count). */
  trials?: number;
  /** Worker threads (0: run every job in this thread). */
  workers: number;
  out: string;
  /** Run store; default: the one named in <out>/search.json, else runs/tsdistill.db. */
  db?: string;
  backend: BackendName;
  halving: HalvingOptions;
  batchSize: number;
  /** Overrides of the default space (tests use tiny widths). */
  space?: Partial<SpaceOptions>;
  /** Start from the demo's known-good candidate, scaled down to fit the constraints (default true). */
  seedDefault?: boolean;
  /** Seconds of timed runs per latency measurement (default 1). */
  latencySeconds?: number;
  log?: (message: string) => void;
  signal?: AbortSignal;
  /** Runs the trials and latency probes elsewhere (e.g. on queue workers) instead of this process's threads. */
  pool?: (opts: PoolOptions) => AutoJobRunner;
}

export async function runAutoSearch(opts: AutoOptions): Promise<AutoResult> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const backend = await useBackend(opts.backend);
  const split = { validationSize: opts.validationSize, trainSize: opts.trainSize, seed: opts.seed };
  const { train, validation, test, summary } = loadSplits(opts.data, split);
  const regression = train.task === "regression";
  const objective: Objective = opts.objective ?? (regression ? "r2" : "accuracy");
  if (regression && objective === "accuracy") throw new UsageError(`--objective: ${opts.data} is a regression task; expected r2 or agreement`);
  if (!regression && objective === "r2") throw new UsageError(`--objective: r2 is for regression; ${opts.data} is a classification task (expected accuracy or agreement)`);
  const shape = { inputShape: train.sampleShape, numClasses: train.numClasses };
  const space: SpaceOptions = { ...defaultSpace(train.sampleShape, train.numClasses, train.task), ...opts.space };
  const rungs = rungEpochs(opts.halving);
  const n0 = bracketSize(rungs.length, opts.halving.eta);
  if (opts.timeBudgetSeconds === undefined && opts.trials === undefined) throw new UsageError("auto: give --time-budget or --trials");

  const opened = await openTeacher(opts.teacher, train);
  // Regression caches hold the teacher's numbers in the target's units.
  const teacher = regression ? rescaledTeacher(opened.teacher, teacherOutputScale(opts.teacher), UNITS) : opened.teacher;
  let teacherClosed = false;
  const closeTeacher = async () => {
    if (!teacherClosed) await opened.close();
    teacherClosed = true;
  };
  let store: RunStore | null = null;
  try {
    checkTeacherTask(teacher.numClasses, train, opts.teacher, opts.data);
    for (const line of formatDataSummary(summary)) log(line);
    const settings = {
      version: 1,
      teacher: opts.teacher,
      teacherHash: opened.hash,
      data: opts.data,
      ...(regression ? { task: "regression" } : {}),
      datasetHash: hashDataset(train),
      split,
      objective,
      constraints: opts.constraints,
      rungs,
      eta: opts.halving.eta,
      batchSize: opts.batchSize,
      backend,
      space,
      seedDefault: opts.seedDefault ?? true,
      timeBudgetSeconds: opts.timeBudgetSeconds ?? null,
      trials: opts.trials ?? null,
      workers: opts.workers,
    };
    const o = openSearch(opts, settings);
    store = o.store;
    const search = o.search;
    const out = search.outDir;
    const st = store;
    const leftOver = st.markInterrupted(search.id, "the previous run stopped while this trial ran");
    // A killed run can leave half-written model folders (hidden temp names); they are never read, remove them.
    const trialsDir = join(out, "trials");
    if (existsSync(trialsDir)) for (const name of readdirSync(trialsDir)) if (name.startsWith(".") && name.includes(".tmp")) rmSync(join(trialsDir, name), { recursive: true, force: true });
    log(o.resumed ? `resuming search ${search.id} in ${out} (${st.trials(search.id).filter((t) => t.status === "finished").length} trials finished, ${leftOver} interrupted)` : `search ${search.id} in ${out} (run store ${st.path})`);
    st.updateSearch(search.id, { status: "running" });

    // The teacher runs once per split; every trial reads these caches.
    const caches = { train: join(out, "teacher-cache"), validation: join(out, "teacher-cache-val"), test: join(out, "teacher-cache-test") };
    for (const [name, data] of [["train", train], ["validation", validation], ["test", test]] as const) {
      await labelDataset(teacher, data, caches[name], { teacherHash: opened.hash, signal: opts.signal });
    }
    await closeTeacher();
    log(`teacher outputs cached for ${train.size} transfer, ${validation.size} validation and ${test.size} test samples`);

    // Time: the budget covers every invocation from its start (data, teacher, trials); the store keeps the
    // seconds spent so far.
    let lastTick = started;
    const tick = () => {
      const now = performance.now();
      st.updateSearch(search.id, { addSeconds: (now - lastTick) / 1000 });
      lastTick = now;
    };
    const deadline = opts.timeBudgetSeconds === undefined ? Infinity : started + (opts.timeBudgetSeconds - search.elapsedSeconds) * 1000;
    let budgetHit = false;
    const admit = () => {
      if (opts.signal?.aborted) return false;
      if (performance.now() < deadline) return true;
      if (!budgetHit) log(`time budget of ${opts.timeBudgetSeconds} s spent: no new trials; waiting for the running ones`);
      budgetHit = true;
      return false;
    };
    const pool = opts.pool ? opts.pool({ size: opts.workers, admit }) : new JobPool({ size: opts.workers, admit });
    const onAbort = () => void pool.stop();
    opts.signal?.addEventListener("abort", onAbort);

    const bracketCount = opts.trials === undefined ? Infinity : Math.ceil(opts.trials / n0);
    const candidatesIn = (b: number) => (opts.trials === undefined ? n0 : Math.min(n0, opts.trials - b * n0));
    const trialSeed = opts.seed;
    // Wakes the bracket scheduler below whenever a job, a bracket or a sampling phase ends (the pool's load or
    // `sampling` may have dropped), instead of polling.
    let wake: () => void = () => {};
    const changed = () => new Promise<void>((r) => (wake = r));
    const notify = () => wake();

    /** Runs (or reuses) one trial; returns its validation score, or null when it failed or did not run. */
    const runTrial = async (b: number, k: number, r: number, cand: Candidate, params: number, latencyMs: number): Promise<number | null> => {
      const key = `b${b}-c${k}-r${r}`;
      const row = st.ensureTrial(search.id, { key, bracket: b, candidate: k, rung: r, config: cand, spec: cand.student, params, latencyMs, fidelity: rungs[r] });
      if (row.status === "finished") return scoreOf({ valAccuracy: row.valAccuracy ?? 0, valAgreement: row.valAgreement ?? 0 }, objective);
      // A failure (e.g. a diverging loss) is deterministic for the seed: running it again would fail again.
      if (row.status === "failed") return null;
      const modelDir = join(out, "trials", key);
      try {
        const res = (await pool
          .run(
          {
            kind: "train",
            backend,
            data: opts.data,
            split,
            teacherCache: caches.train,
            validationCache: caches.validation,
            candidate: cand,
            epochs: rungs[r],
            batchSize: opts.batchSize,
            seed: trialSeed,
            modelDir,
            metadata: { role: "auto trial", trial: key, spec: cand.student, candidate: cand, epochs: rungs[r], teacher: opts.teacher, data: opts.data },
          },
          { onStart: () => st.startTrial(row.id), onEpoch: (m) => st.addEpoch(row.id, m) },
          )
          .finally(notify)) as TrainTrialResult;
        st.finishTrial(row.id, {
          seconds: res.seconds,
          valAccuracy: res.valAccuracy,
          valAgreement: res.valAgreement,
          valLoss: res.valLoss,
          metrics: { bestEpoch: res.bestEpoch },
          modelDir: res.modelDir,
        });
        tick();
        // A promoted candidate's lower-rung model is superseded by this one.
        for (const low of st.trials(search.id).filter((t) => t.bracket === b && t.candidate === k && t.rung < r && t.modelDir)) {
          rmSync(low.modelDir!, { recursive: true, force: true });
          st.setModelDir(low.id, null);
        }
        const scores = regression
          ? `val R² ${res.valAccuracy.toFixed(4)}, RMSE ${Number(res.valLoss.toPrecision(5))}, R² vs teacher ${res.valAgreement.toFixed(4)}`
          : `val accuracy ${(res.valAccuracy * 100).toFixed(2)}%, agreement ${(res.valAgreement * 100).toFixed(2)}%`;
        log(`trial ${key} ${describeCandidate(cand)}, ${rungs[r]} epoch(s): ${scores} (${res.seconds.toFixed(1)} s)`);
        return scoreOf(res, objective);
      } catch (err) {
        if (err instanceof JobNotStarted) return null;
        if (err instanceof JobAborted) {
          st.endTrial(row.id, "interrupted", "the search was interrupted while this trial ran");
          return null;
        }
        const msg = (err as Error).message.split("\n")[0];
        st.endTrial(row.id, "failed", msg);
        log(`trial ${key} ${describeCandidate(cand)} failed: ${msg}`);
        return null;
      }
    };

    /** Batch-1 latency of an untrained model with this spec, measured in a worker. */
    const measure = async (spec: string): Promise<number | null> => {
      try {
        const m = (await pool.run({ kind: "measure", backend, spec, ...shape, maxSeconds: opts.latencySeconds ?? 1 }).finally(notify)) as MeasureResult;
        return m.latencyMs;
      } catch (err) {
        if (err instanceof JobNotStarted || err instanceof JobAborted) return null;
        throw err;
      }
    };

    const candidates: CandidateContext = { store: st, searchId: search.id, seed: opts.seed, seedDefault: opts.seedDefault ?? true, regression, space, shape, constraints: opts.constraints, measure, log };
    const candidate = (b: number, k: number) => admitCandidate(candidates, b, k);

    let sampling = 0;
    const runBracket = async (b: number): Promise<void> => {
      const want = candidatesIn(b);
      const alive: { k: number; cand: Candidate; params: number; latencyMs: number }[] = [];
      sampling++;
      try {
        // Sampling stops after 20 draws per wanted candidate, so impossible constraints cannot loop forever.
        for (let k = 0; alive.length < want && k < want * 20; k++) {
          const c = await candidate(b, k);
          if (c === undefined) return;
          if (c) alive.push({ k, ...c });
        }
      } finally {
        sampling--;
        notify();
      }
      let current = alive;
      for (let r = 0; r < rungs.length && current.length > 0; r++) {
        const scores = await Promise.all(current.map((c) => runTrial(b, c.k, r, c.cand, c.params, c.latencyMs)));
        if (r === rungs.length - 1 || !admit()) break;
        const always = b === 0 && (opts.seedDefault ?? true) ? [0] : [];
        const keep = new Set(promote(current.map((c, i) => ({ candidate: c.k, score: scores[i] })), opts.halving.eta, always));
        current = current.filter((c) => keep.has(c.k));
      }
    };

    const running = new Set<Promise<void>>();
    let failure: unknown = null;
    try {
      for (let b = 0; b < bracketCount && admit(); b++) {
        const p = runBracket(b).catch((err) => void (failure ??= err));
        running.add(p);
        void p.finally(() => {
          running.delete(p);
          notify();
        });
        // Start the next bracket only when a worker would otherwise sit idle.
        while (running.size > 0 && (sampling > 0 || pool.load >= pool.capacity)) await changed();
      }
      await Promise.all(running);
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      await pool.close();
    }
    if (failure) throw failure;
    tick();
    if (opts.signal?.aborted) {
      st.markInterrupted(search.id, "the search was interrupted while this trial ran");
      st.updateSearch(search.id, { status: "interrupted" });
      throw new TsdistillError(`auto: interrupted; run the same command again to continue the search in ${out}`, 130);
    }
    const status = budgetHit ? "budget" : "finished";
    return await finalizeSearch(st, st.search(search.id)!, { status, dataSummary: summary, test, caches, backend, seconds: (performance.now() - started) / 1000, log });
  } catch (err) {
    if (store && opts.signal?.aborted && !(err instanceof TsdistillError)) {
      throw new TsdistillError(`auto: interrupted; run the same command again to continue the search in ${resolve(opts.out)}`, 130);
    }
    throw err;
  } finally {
    await closeTeacher();
    store?.close();
  }
}

export type { TrialRow };
