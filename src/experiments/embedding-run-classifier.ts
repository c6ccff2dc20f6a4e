// The fine-tune-then-distil part of a `kind: embedding` recipe: on each split a head fitted on the frozen teacher's
// vectors of the training quotes (the fine-tuned teacher), then each classifier student (a static table + head)
// distilled from it on the training quotes, the unlabeled quotes and the augmented training quotes, and the same
// student on the labelled quotes alone. Accuracies are means over the splits; the first split's models are saved.
import { join, basename } from "node:path";
import { onBackend } from "../engine/backend.js";
import type { LabelledTexts } from "../data/fortunes.js";
import { classifierFromStatic, distillClassifier } from "../distill/embedding-classifier.js";
import { bagEmbedder, loadEmbeddingModel, saveEmbeddingModel } from "../embeddings/embedding-model.js";
import { accuracyOf, argmaxRows, chooseProbeL2, fitLinearClassifier, pickRows, timeEmbedding, type EmbedTiming } from "../eval/embedding-metrics.js";
import { inferenceBytes } from "../eval/size.js";
import type { EmbeddingRecipeResult, EmbeddingRow } from "./embedding-result.js";
import type { EmbeddingRecipe } from "./embedding-recipe.js";

export interface ClassifierContext {
  labelled: LabelledTexts;
  unlabeled: string[];
  splits: { train: Int32Array; test: Int32Array }[];
  /** The teacher's vectors of the labelled and unlabeled quotes, row-major. */
  tLabelled: Float32Array;
  tUnlabeled: Float32Array;
  /** Each split's augmented training quotes and their teacher vectors. */
  augmented: { texts: string[]; vectors: Float32Array }[];
  /** Each student's starting table (refined where it was; contextual with from: context), by classifierBaseKey. */
  bases: Map<string, { dir: string; name: string }>;
  teacher: { name: string; params: number; mb: number; timing: EmbedTiming };
  /** Stored in the saved classifiers' metadata. */
  teacherDescription: string;
  dir: string;
  timingTexts: string[];
  training: EmbeddingRecipeResult["training"];
  info: (m: string) => void;
}

type Row = Omit<EmbeddingRow, "smaller" | "faster">;
type ClassifierStudent = EmbeddingRecipe["classifier"]["students"][number];
/** The key of a classifier student's starting table in ClassifierContext.bases, and its folders' suffix. */
export const classifierBaseKey = (c: Pick<ClassifierStudent, "width" | "from">) => `${c.width}${c.from === "context" ? "-context" : ""}`;
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const pct = (x: number) => (100 * x).toFixed(1);

export async function runClassifiers(r: EmbeddingRecipe, cx: ClassifierContext): Promise<Row[]> {
  const { labelled, unlabeled, splits, tLabelled, tUnlabeled, info } = cx;
  const D = tLabelled.length / labelled.texts.length;
  const C = labelled.classNames.length;
  const labelsOf = (rows: Int32Array) => Int32Array.from(rows, (i) => labelled.labels[i]);
  const fineTuned: number[] = [];
  const results = new Map<string, { role: EmbeddingRow["role"]; accuracies: number[]; out: string; params: number }>();
  for (const [k, s] of splits.entries()) {
    const yTrain = labelsOf(s.train);
    const yTest = labelsOf(s.test);
    const headX = pickRows(tLabelled, D, s.train);
    const spec = r.classifier.head;
    const headL2 = spec.l2 === "cv" ? chooseProbeL2({ x: headX, y: yTrain }, C, { epochs: spec.epochs, lr: spec.lr, seed: r.seed }).l2 : spec.l2;
    const head = fitLinearClassifier({ x: headX, y: yTrain }, C, { ...spec, l2: headL2, seed: r.seed });
    fineTuned.push(accuracyOf(head.predict(pickRows(tLabelled, D, s.test), s.test.length), yTest));
    info(`split ${k + 1}/${splits.length}: fine-tuned teacher (frozen ${cx.teacher.name} + linear head): ${pct(fineTuned[k])} % on the test quotes`);
    // Transfer set: the training quotes (with labels), the unlabeled quotes and the augmented training quotes, all
    // with the fine-tuned teacher's logits.
    const trainTexts = Array.from(s.train, (i) => labelled.texts[i]);
    const aug = cx.augmented[k];
    const texts = [...trainTexts, ...unlabeled, ...aug.texts];
    const vectors = new Float32Array(texts.length * D);
    vectors.set(headX);
    vectors.set(tUnlabeled, s.train.length * D);
    vectors.set(aug.vectors, (s.train.length + unlabeled.length) * D);
    const logits = head.logits(vectors, texts.length);
    const labels = Int32Array.from({ length: texts.length }, (_, i) => (i < s.train.length ? yTrain[i] : -1));
    const testTexts = Array.from(s.test, (i) => labelled.texts[i]);
    for (const c of r.classifier.students) {
      const base = cx.bases.get(classifierBaseKey(c))!;
      const from = base.name;
      const n = s.train.length;
      const transfer = c.unlabeled ? { texts, logits, labels } : withoutRows(n, unlabeled.length, C, { texts, logits, labels });
      const variants = [
        { name: `classifier ← ${from}, distilled${c.unlabeled ? "" : " (training quotes + copies)"}`, role: "distilled classifier" as const, ...transfer, hardWeight: c.hardWeight, suffix: "" },
        // The same student on the labelled quotes alone (hard labels only): what the teacher adds.
        { name: `classifier ← ${from}, labels only`, role: "classifier alone" as const, texts: trainTexts, logits: logits.subarray(0, n * C), labels: labels.subarray(0, n), hardWeight: 1, suffix: "-alone" },
      ];
      for (const v of variants) {
        await onBackend(c.backend, async (backend) => {
          const st = loadEmbeddingModel(base.dir);
          const model = classifierFromStatic(st.model, st.tokenizer, C, { texts: trainTexts, labels: yTrain, probe: { ...spec, l2: headL2 } }, r.seed);
          st.model.dispose();
          const res = await distillClassifier(model, st.tokenizer, v.texts, v.logits, v.labels, { epochs: c.epochs, optimizer: { lr: c.lr }, temperature: c.temperature, hardWeight: v.hardWeight, ctx: r.maxTokens, seed: r.seed });
          const out = join(cx.dir, `classifier-${classifierBaseKey(c)}${v.suffix}`);
          if (k === 0) {
            await saveEmbeddingModel(model, out, { tokenizer: st.tokenizer, metadata: { teacher: cx.teacherDescription, classes: labelled.classNames, classifier: { ...c, hardWeight: v.hardWeight, backend, losses: res.losses } } });
            cx.training[v.name] = { seconds: res.seconds, losses: res.losses };
          }
          const accuracy = accuracyOf(argmaxRows(bagEmbedder(model, st.tokenizer).embed(testTexts), testTexts.length, C), yTest);
          const entry = results.get(v.name) ?? results.set(v.name, { role: v.role, accuracies: [], out, params: model.paramCount }).get(v.name)!;
          entry.accuracies.push(accuracy);
          info(`split ${k + 1}/${splits.length}: ${v.name}: ${pct(accuracy)} % (${pct(accuracy / fineTuned[k])} % of the fine-tuned teacher), ${res.seconds.toFixed(0)} s${c.backend ? ` on ${backend}` : ""}`);
          model.dispose();
        });
      }
    }
  }
  const ft = mean(fineTuned);
  const headMb = ((D + 1) * C * 4 + 2 * D * 4) / 1e6; // weights, bias, standardisation
  const t = cx.teacher;
  const rows: Row[] = [{ model: `${t.name} + head (fine-tuned teacher)`, role: "fine-tuned teacher", params: t.params + (D + 1) * C, mb: t.mb + headMb, msPerSentence: t.timing.msPerSentence, sentencesPerSecond: t.timing.sentencesPerSecond, cosine: null, nn10: null, accuracy: ft, accuracies: fineTuned, retention: 1, dir: null }];
  for (const [name, x] of results) {
    // Timed on the first split's saved model (every split's student has the same shape).
    const { model, tokenizer } = loadEmbeddingModel(x.out);
    const e = bagEmbedder(model, tokenizer);
    const timing = await timeEmbedding((texts) => e.embed(texts), cx.timingTexts, { maxSeconds: r.timingSeconds / 2 });
    model.dispose();
    const accuracy = mean(x.accuracies);
    rows.push({ model: name, role: x.role, params: x.params, mb: inferenceBytes(x.out) / 1e6, msPerSentence: timing.msPerSentence, sentencesPerSecond: timing.sentencesPerSecond, cosine: null, nn10: null, accuracy, accuracies: x.accuracies, retention: accuracy / ft, dir: basename(x.out) });
    info(`${name}: ${pct(accuracy)} % (${pct(accuracy / ft)} % of the fine-tuned teacher)${splits.length > 1 ? `, mean of ${splits.length} splits` : ""}, ${timing.msPerSentence.toFixed(3)} ms/sentence`);
  }
  return rows;
}

/** The transfer set without its rows from .. from + count (the unlabeled quotes): what unlabeled: false trains on. */
export function withoutRows(from: number, count: number, C: number, t: { texts: string[]; logits: Float32Array; labels: Int32Array }) {
  const logits = new Float32Array((t.texts.length - count) * C);
  logits.set(t.logits.subarray(0, from * C));
  logits.set(t.logits.subarray((from + count) * C), from * C);
  const keep = (_: unknown, i: number) => i < from || i >= from + count;
  return { texts: t.texts.filter(keep), logits, labels: t.labels.filter(keep) };
}
