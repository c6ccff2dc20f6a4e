import type { InMemoryDataset } from "../data/dataset.js";
import { mixupBatches, type Augment } from "../data/augment.js";
import { mungeBatches } from "../data/munge.js";
import { asUnlabeled, concatDatasets } from "../data/transfer.js";
import { runTeacher } from "../teachers/teacher-run.js";
import { classificationMetrics } from "../eval/classification.js";
import type { TrainableModel } from "../students/trainable.js";
import { onlineTeacherProblem, type LogitLookup, type Teacher } from "../teachers/teacher.js";
import type { FitCheckpoint } from "./checkpoint.js";
import { distill, train, type DistillOptions, type DistillResult } from "./distill.js";
import { TsdistillError } from "../util/errors.js";
import type { FitResult } from "./fit.js";

/** A distillation setting tried on the validation split. */
export interface KdSetting {
  temperature: number;
  alpha: number;
  /** Function matching on batches changed this way, labelled by the teacher as the student sees them (absent: the cached logits). */
  matching?: MatchingAugmentation;
}

/**
 * The grid searched when T and/or α are "auto". T = 4, α = 0.1 (Hinton's MNIST setting) collapsed a small image
 * student to one class and lost on tabular data; milder settings with more weight on the labels did not
 * (docs/RESULTS.md, "Defaults"), so the grid spans both.
 */
export const AUTO_TEMPERATURES = [1, 2, 4] as const;
export const AUTO_ALPHAS = [0.1, 0.5] as const;

/**
 * Function matching (Beyer et al. 2022, "a good teacher is patient and consistent"): the student matches the
 * teacher's outputs on augmented batches (mixup or MUNGE) that the teacher labels as the student sees them, for FM_EPOCH_FACTOR × the
 * epochs. With "auto", T = 1 and α = 0 (pure matching): on the labels' own rows the teacher's soft labels carry little
 * beyond the hard labels, on the mixed points in between they carry its function (docs/RESULTS.md, "Defaults").
 */
export const FM_TEMPERATURE = 1;
export const FM_ALPHA = 0;
export const FM_EPOCH_FACTOR = 2;
/**
 * Adam's learning rate for function matching and its fallback when none was given: at 0.001 the matching student
 * was still improving at the end of the run on small sets (docs/RESULTS.md, "Defaults").
 */
export const FM_LR = 0.003;

/**
 * How function matching changes each batch. Default MUNGE (Bucilă et al. 2006): new rows near the data, where a
 * mixup blend of two distant rows falls between them (in bench/defaults.ts MUNGE beat mixup before the fallback on
 * 8 of the 10 sets, tables, text and images: docs/RESULTS.md, "Defaults").
 */
export type MatchingAugmentation = "mixup" | "munge";
export const FM_AUGMENTATION: MatchingAugmentation = "munge";

function matchingAugment(kind: MatchingAugmentation, transfer: InMemoryDataset): Augment {
  return kind === "mixup" ? mixupBatches() : mungeBatches(transfer.x, transfer.size, transfer.sampleSize);
}

/** "auto": function matching when the teacher can label new feature vectors (onlineTeacherProblem), else the cached-logit search. */
export type FunctionMatchingMode = "auto" | "on" | "off";

export interface AutoDistillOptions extends Omit<DistillOptions, "student" | "temperature" | "alpha" | "teacher" | "validation" | "checkpoint" | "label"> {
  teacherLogits: LogitLookup;
  data: InMemoryDataset;
  validation: InMemoryDataset;
  /** A fresh, identically initialised student for each training (same seed → same start). */
  makeStudent: () => TrainableModel;
  /** How each distillation trains (default distill(); the CLI passes the library's Distiller with one kd term). */
  distillWith?: (options: DistillOptions) => Promise<DistillResult>;
  temperature: number | "auto";
  alpha: number | "auto";
  /** Epochs of each search candidate (default: a quarter of `epochs`, at least 1). */
  searchEpochs?: number;
  /** One checkpoint per training phase (search candidates, distilled, alone), so --resume continues any of them. */
  checkpointFor?: (phase: string) => FitCheckpoint | undefined;
  /** The teacher itself, for function matching (it labels each augmented batch); without it only teacherLogits are used. */
  teacher?: Teacher;
  /** Default "auto"; "on" fails when the teacher cannot label new inputs. */
  functionMatching?: FunctionMatchingMode;
  /** How function matching changes each batch (default FM_AUGMENTATION, MUNGE). */
  matchingAugmentation?: MatchingAugmentation;
  /**
   * The learning rate of the function-matching run and of its fallback (default FM_LR, with Adam); null keeps the
   * optimiser's (the CLI passes null when --lr or --optimizer was given).
   */
  functionMatchingLr?: number | null;
  /**
   * Samples without labels (label −1) that join the distilled students' transfer set after `data`'s rows: only the
   * teacher labels them (cached `teacherLogits` must cover them, rows data.size…), the student alone never sees them.
   */
  unlabeled?: InMemoryDataset;
  /** Called with each fully trained student (distilled, then the student alone) before one is disposed, e.g. to test both. */
  inspect?: (role: "distilled" | "student alone", student: TrainableModel) => void;
}

export interface ValidationScore {
  /** Higher is better: accuracy, or −RMSE for regression. */
  score: number;
  /**
   * Classification: the validation cross-entropy at the kept epoch, which breaks ties in accuracy (small validation
   * splits often tie, e.g. both at 100 % of 14 samples); null for regression.
   */
  valLoss: number | null;
  valAccuracy: number | null;
  valRmse: number | null;
}

export interface CandidateReport extends KdSetting, ValidationScore {
  epochs: number;
}

export interface AutoDistillReport {
  /** What was asked for ("auto" or the number given). */
  requested: { temperature: number | "auto"; alpha: number | "auto"; functionMatching: FunctionMatchingMode };
  /**
   * Whether the distillation matched the teacher on augmented batches (function matching: mixup or MUNGE) and why, or why not
   * (e.g. "teacher x runs asynchronously": then the cached-logit search ran instead).
   */
  functionMatching: { used: boolean; reason: string };
  /** The search over the grid (empty when both were given). */
  candidates: CandidateReport[];
  /** The setting of the full distillation run. */
  chosen: KdSetting;
  distilled: ValidationScore & { epochs: number };
  /** The same student trained on the labels alone with the same budget (null when both T and α were given). */
  alone: (ValidationScore & { epochs: number }) | null;
  /** Rows in the distilled students' transfer set: the labelled training rows and the unlabeled ones only the teacher labels. */
  transfer: { labelled: number; unlabeled: number };
  /** The teacher's validation accuracy, where the teacher was at hand and the student alone was trained (else null). */
  teacherValAccuracy: number | null;
  /** Which student is returned: the distilled one, or the student alone (pickFinal says when). */
  picked: "distilled" | "student alone";
}

export interface AutoDistillResult {
  student: TrainableModel;
  fit: FitResult & { teacherSeconds?: number };
  report: AutoDistillReport;
}

/**
 * The grid for the "auto" parts; a number given by the user is kept fixed. Regression has no temperature. With
 * function matching "auto" is one setting (FM_TEMPERATURE, FM_ALPHA), so there is no search.
 */
export function searchGrid(temperature: number | "auto", alpha: number | "auto", regression: boolean, matching?: MatchingAugmentation): KdSetting[] {
  const ts = regression ? [1] : temperature !== "auto" ? [temperature] : matching ? [FM_TEMPERATURE] : [...AUTO_TEMPERATURES];
  const as = alpha !== "auto" ? [alpha] : matching ? [FM_ALPHA] : [...AUTO_ALPHAS];
  return ts.flatMap((t) => as.map((a) => ({ temperature: t, alpha: a, ...(matching ? { matching } : {}) })));
}

/**
 * Whether function matching runs, and why (or why not). "auto" runs it when T or α is "auto" and the teacher can
 * label new inputs; "on" with a teacher that cannot is an error.
 */
export function functionMatchingPlan(mode: FunctionMatchingMode, teacher: Teacher | undefined, settingsGiven = false): { used: boolean; reason: string } {
  if (mode === "off") return { used: false, reason: "turned off (--function-matching off)" };
  if (mode === "auto" && settingsGiven) return { used: false, reason: "T and α given: one plain distillation (--function-matching on matches on augmented batches with them)" };
  const problem = onlineTeacherProblem(teacher);
  if (problem && mode === "on") throw new TsdistillError(`function matching needs a teacher that labels new feature vectors, but ${problem}`);
  if (problem) return { used: false, reason: `unavailable: ${problem}; distilled from its outputs over the transfer set` };
  return { used: true, reason: `batches labelled by the teacher as the student sees them, ${FM_EPOCH_FACTOR}× the epochs` };
}

export function scoreOf(fit: FitResult): ValidationScore {
  if (fit.bestValRmse !== undefined && fit.bestValRmse !== null) return { score: -fit.bestValRmse, valLoss: null, valAccuracy: null, valRmse: fit.bestValRmse };
  if (fit.bestValAccuracy === null) throw new Error("auto distillation needs a validation split");
  const kept = fit.history[fit.bestEpoch - 1];
  return { score: fit.bestValAccuracy, valLoss: kept?.valLoss ?? null, valAccuracy: fit.bestValAccuracy, valRmse: null };
}

/** a beats b on validation: higher score; on equal scores, lower validation loss. */
export function beats(a: ValidationScore, b: ValidationScore): boolean {
  if (a.score !== b.score) return a.score > b.score;
  return a.valLoss !== null && b.valLoss !== null && a.valLoss < b.valLoss;
}

/** The best candidate (beats()); on a full tie the earlier one in grid order (lower T, lower α). */
export function bestCandidate(candidates: readonly CandidateReport[]): CandidateReport {
  if (candidates.length === 0) throw new Error("bestCandidate: no candidates");
  return candidates.reduce((best, c) => (beats(c, best) ? c : best));
}

/**
 * The student alone is kept when it beats the distilled one on validation (a full tie goes to the distilled
 * student), or when the teacher itself scores no higher than the student alone on validation accuracy: a student
 * can only learn what the teacher knows beyond the labels, and a distilled student that still wins on a small
 * validation split then wins by chance (on credit-g, whose teacher scored below the student alone, the distilled
 * student won on validation and lost on test: docs/RESULTS.md, "Defaults").
 */
export function pickFinal(distilled: ValidationScore, alone: ValidationScore | null, teacherValAccuracy: number | null = null): AutoDistillReport["picked"] {
  if (alone === null) return "distilled";
  if (teacherValAccuracy !== null && alone.valAccuracy !== null && teacherValAccuracy <= alone.valAccuracy) return "student alone";
  return beats(alone, distilled) ? "student alone" : "distilled";
}

/** The teacher's accuracy on the validation split (classification, with the teacher at hand; null otherwise). */
async function teacherValidationAccuracy(teacher: Teacher | undefined, validation: InMemoryDataset, regression: boolean): Promise<number | null> {
  if (!teacher || regression || validation.size === 0) return null;
  const logits = await runTeacher(teacher, validation, { validate: false });
  return classificationMetrics(logits, validation.y, teacher.numClasses).accuracy;
}

/**
 * Distillation with defaults that do not lose. When the teacher can label new feature vectors (and function matching
 * is not "off"), the student matches it on augmented batches (MUNGE by default) for FM_EPOCH_FACTOR × the epochs (T = 1, α = 0 when
 * "auto"). Otherwise, for T and/or α "auto", a short run of each grid setting on the cached logits, scored on the
 * validation split, picks the setting of the full run. With any "auto", the same student is also trained on the
 * labels alone with the full budget, and returned instead when the distilled one is worse on validation. With both
 * numbers given and no function matching it is a plain distill(). Deterministic for a given seed and backend.
 */
export async function autoDistill(options: AutoDistillOptions): Promise<AutoDistillResult> {
  const { makeStudent, temperature, alpha, searchEpochs, checkpointFor, teacherLogits, teacher, functionMatching = "auto", matchingAugmentation = FM_AUGMENTATION, functionMatchingLr = FM_LR, inspect, data, validation, unlabeled, distillWith = distill, ...fitOptions } = options;
  // The distilled students' transfer set: the labelled rows first (their indices into teacherLogits stay), then the unlabeled.
  const transfer = unlabeled && unlabeled.size > 0 ? concatDatasets([data, asUnlabeled(unlabeled)], `${data.name}+unlabeled`) : data;
  const regression = data.task === "regression";
  const auto = alpha === "auto" || (!regression && temperature === "auto");
  const fm = { ...functionMatchingPlan(functionMatching, teacher, !auto) };
  const matching = fm.used ? matchingAugmentation : undefined;
  if (matching) fm.reason = `${matching === "mixup" ? "mixup" : "MUNGE"} ${fm.reason}`;
  const grid = searchGrid(temperature, alpha, regression, matching);
  const candidates: CandidateReport[] = [];
  const epochs = fitOptions.epochs;
  const shortEpochs = searchEpochs ?? Math.max(1, Math.round(epochs / 4));
  // Function matching: the teacher labels each augmented batch (no cached logits), for FM_EPOCH_FACTOR × the epochs at
  // functionMatchingLr; its fallback trains with the same budget and optimiser.
  const adam = (fitOptions.optimizer?.kind ?? "adam") === "adam";
  const fmOptimizer = fm.used && functionMatchingLr !== null && adam ? { ...(fitOptions.optimizer ?? { kind: "adam" as const }), lr: functionMatchingLr } : fitOptions.optimizer;
  if (fm.used) fm.reason += `, learning rate ${fmOptimizer?.lr ?? 1e-3}${fmOptimizer === fitOptions.optimizer ? " (as given)" : ""} for both`;
  // With unlabeled rows the transfer set is larger: fewer epochs over it, so that the distilled student takes as many
  // steps as the student alone does over the labelled rows.
  const batchSize = fitOptions.batchSize ?? 128;
  const stepsPerEpoch = (n: number) => Math.max(1, Math.ceil(n / batchSize));
  const overTransfer = (epochsOverData: number) => (transfer === data ? epochsOverData : Math.max(1, Math.round((epochsOverData * stepsPerEpoch(data.size)) / stepsPerEpoch(transfer.size))));
  // Built once (MUNGE's neighbour search is quadratic in the rows) and shared by every run that matches.
  let augment: Augment | undefined;
  const augmentFor = (kind: MatchingAugmentation) => (augment ??= matchingAugment(kind, transfer));
  const kdSource = (s: KdSetting, n: number): Partial<DistillOptions> & { aloneEpochs: number } =>
    s.matching
      ? { teacher, augment: augmentFor(s.matching), epochs: overTransfer(n * FM_EPOCH_FACTOR), aloneEpochs: n * FM_EPOCH_FACTOR, optimizer: fmOptimizer }
      : { teacherLogits, epochs: overTransfer(n), aloneEpochs: n, optimizer: fitOptions.optimizer };
  if (grid.length > 1) {
    for (const s of grid) {
      const student = makeStudent();
      try {
        const { aloneEpochs: _, ...source } = kdSource(s, shortEpochs);
        const fit = await distillWith({ ...fitOptions, data: transfer, validation, ...source, student, temperature: s.temperature, alpha: s.alpha, label: `search T=${s.temperature} α=${s.alpha}`, checkpoint: checkpointFor?.(`search-T${s.temperature}-a${s.alpha}`) });
        candidates.push({ ...s, ...scoreOf(fit), epochs: source.epochs! });
      } finally {
        student.dispose();
      }
    }
  }
  const best = candidates.length ? bestCandidate(candidates) : grid[0];
  const chosen: KdSetting = { temperature: best.temperature, alpha: best.alpha, ...(best.matching ? { matching: best.matching } : {}) };
  const distilledStudent = makeStudent();
  let aloneStudent: TrainableModel | null = null;
  try {
    const { aloneEpochs, ...source } = kdSource(chosen, epochs);
    const distilledFit = await distillWith({ ...fitOptions, data: transfer, validation, ...source, student: distilledStudent, temperature: chosen.temperature, alpha: chosen.alpha, label: "distill", checkpoint: checkpointFor?.("distill") });
    const distilled = { ...scoreOf(distilledFit), epochs: source.epochs! };
    inspect?.("distilled", distilledStudent);
    let alone: AutoDistillReport["alone"] = null;
    let aloneFit: FitResult | null = null;
    if (auto) {
      // The same budget as the distilled student (function matching trains longer), so that the choice is fair.
      aloneStudent = makeStudent();
      aloneFit = await train(aloneStudent, data, { ...fitOptions, epochs: aloneEpochs, optimizer: source.optimizer, validation, label: "student alone", checkpoint: checkpointFor?.("alone") });
      alone = { ...scoreOf(aloneFit), epochs: aloneEpochs };
      inspect?.("student alone", aloneStudent);
    }
    const teacherValAccuracy = alone ? await teacherValidationAccuracy(teacher, validation, regression) : null;
    const picked = pickFinal(distilled, alone, teacherValAccuracy);
    const report: AutoDistillReport = { requested: { temperature, alpha, functionMatching }, functionMatching: fm, candidates, chosen, distilled, alone, transfer: { labelled: data.size, unlabeled: transfer.size - data.size }, teacherValAccuracy, picked };
    if (picked === "student alone") {
      distilledStudent.dispose();
      const student = aloneStudent!;
      aloneStudent = null;
      return { student, fit: aloneFit!, report };
    }
    return { student: distilledStudent, fit: distilledFit, report };
  } catch (err) {
    distilledStudent.dispose();
    throw err;
  } finally {
    aloneStudent?.dispose();
  }
}

/** The report in a few lines for the terminal. */
export function formatAutoDistillReport(r: AutoDistillReport): string[] {
  const v = (s: ValidationScore) => (s.valRmse !== null ? `val RMSE ${s.valRmse.toPrecision(5)}` : `val accuracy ${((s.valAccuracy ?? 0) * 100).toFixed(2)}%` + (s.valLoss !== null ? ` (loss ${s.valLoss.toFixed(4)})` : ""));
  // Regression has no temperature.
  const regression = r.distilled.valRmse !== null;
  const setting = (s: KdSetting) => (regression ? `α=${s.alpha}` : `T=${s.temperature} α=${s.alpha}`);
  const lines: string[] = [`function matching: ${r.functionMatching.used ? "yes" : "no"} (${r.functionMatching.reason})`];
  if (r.transfer.unlabeled > 0) lines.push(`transfer set: ${r.transfer.labelled} labelled + ${r.transfer.unlabeled} unlabeled rows (only the teacher labels those; the student alone trains on the labelled rows, for as many steps)`);
  if (r.candidates.length) {
    lines.push(`search (${regression ? "" : `T ${r.requested.temperature}, `}α ${r.requested.alpha}; ${r.candidates[0].epochs} epoch(s) each): ` + r.candidates.map((c) => `${setting(c)} ${v(c)}`).join("; "));
  }
  lines.push(`distilled with ${setting(r.chosen)}${r.chosen.matching ? ` on ${r.chosen.matching === "mixup" ? "mixup" : "MUNGE"} batches` : ""} (${r.distilled.epochs} epochs): ${v(r.distilled)}` + (r.alone ? `; student alone (${r.alone.epochs} epochs): ${v(r.alone)}` : ""));
  const pc = (x: number) => `${(x * 100).toFixed(2)}%`;
  const teacherNoBetter = r.teacherValAccuracy !== null && r.alone?.valAccuracy != null && r.teacherValAccuracy <= r.alone.valAccuracy;
  if (r.alone) {
    lines.push(
      r.picked === "distilled"
        ? "kept the distilled student (not worse on validation than the student alone)"
        : teacherNoBetter
          ? `kept the student alone: the teacher scores no higher than it on validation (${pc(r.teacherValAccuracy!)} vs ${pc(r.alone.valAccuracy!)}), so it has nothing to teach`
          : `kept the student alone: it beat the distilled student on validation (${regression ? "RMSE" : "accuracy, then loss"})`,
    );
  }
  return lines;
}
