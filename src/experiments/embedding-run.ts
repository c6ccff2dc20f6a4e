// Runs a `kind: embedding` recipe: the teacher's vectors for labelled fortunes and unlabeled quotes (cached in the
// run folder), static tables at several widths from one pass of the teacher over its vocabulary, refined tables,
// trained students, a head fine-tuned on the frozen teacher and classifiers distilled from it; one table.
import { createHash } from "node:crypto";
import { onBackend } from "../engine/backend.js";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stratifiedSplit } from "../data/stratified-split.js";
import { chooseProbeL2, linearProbe, meanCosine, neighbourOverlap, pickRows, timeEmbedding } from "../eval/embedding-metrics.js";
import { bytesOnDisk, inferenceBytes } from "../eval/size.js";
import { resolveTransformerConfig } from "../students/transformer-config.js";
import { saveTransformer } from "../students/transformer-io.js";
import { TransformerModel } from "../students/transformer.js";
import { embedAll, type EmbeddingTeacher } from "../teachers/embedding/embedding-teacher.js";
import { openEmbeddingTeacher } from "../teachers/embedding/embedding-teacher-config.js";
import { openUseLite, useLiteDir } from "../teachers/embedding/tfjs-embedding-teacher.js";
import { writeFileAtomic } from "../util/files.js";
import { distillStaticFromTeacher, type TokenVectors } from "../embeddings/distill-static.js";
import { BagOfEmbeddingsModel, bagEmbedder, bagFromStatic, loadEmbeddingModel, projectTeacher, saveEmbeddingModel, withContext, type Embedder, type Projection } from "../embeddings/embedding-model.js";
import type { EmbeddingRecipe } from "./embedding-recipe.js";
import { augmentTexts } from "../data/text-augment.js";
import { loadEmbeddingData, loadProbeSet, type ProbeSet } from "./embedding-data.js";
import { trainEmbeddingStudent } from "../distill/train-embedding.js";
import { frequentWords } from "../embeddings/words.js";
import { SentencePieceTokenizer } from "../tokenizers/sentencepiece.js";
import { TsdistillError } from "../util/errors.js";
import { openEmbedder } from "../embeddings/transformer-embedder.js";
import { classifierBaseKey, runClassifiers } from "./embedding-run-classifier.js";
import type { EmbeddingRecipeResult, EmbeddingRow } from "./embedding-result.js";

type Split = { train: Int32Array; test: Int32Array };
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

export type { EmbeddingRow, EmbeddingRecipeResult };

const TEACHER_PARAMS_USE_LITE = 6_975_914;

/** Bytes of USE-lite's files: model.json, its weight shards and vocab.json. */
export function useLiteBytes(): number {
  const dir = useLiteDir();
  const json = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as { weightsManifest: { paths: string[] }[] };
  return ["model.json", "vocab.json", ...json.weightsManifest.flatMap((g) => g.paths)].map((f) => bytesOnDisk(join(dir, f))).reduce((a, b) => a + b, 0);
}

export { inferenceBytes };

export interface EmbeddingRecipeOptions {
  /** The run folder the models are saved in. */
  dir: string;
  /** Where teacher vectors are kept across runs (keyed by teacher, maxTokens and the texts); default <dir>/cache. */
  cacheDir?: string;
  quick: boolean;
  /** Folder a teacher.yaml path is relative to. */
  recipeDir: string;
  info?: (m: string) => void;
}

export async function runEmbeddingRecipe(r: EmbeddingRecipe, opts: EmbeddingRecipeOptions): Promise<EmbeddingRecipeResult> {
  const started = performance.now();
  const info = opts.info ?? (() => {});
  const dir = opts.dir;
  const cacheDir = opts.cacheDir ?? join(dir, "cache");
  mkdirSync(cacheDir, { recursive: true });

  // ---- data -------------------------------------------------------------------------------------------------------
  const { labelled, unlabeled, onTopic } = loadEmbeddingData(r.data, r.seed);
  const splits = Array.from({ length: r.data.splits }, (_, k) => stratifiedSplit(labelled.labels, r.data.testShare, k === 0 ? r.seed : r.seed + 99 + k));
  const split = splits[0];
  const nL = labelled.texts.length;
  const C = labelled.classNames.length;
  info(`data: ${nL} labelled quotes in ${C} categories (${split.train.length} train / ${split.test.length} test${splits.length > 1 ? `, ${splits.length} splits` : ""}), ${unlabeled.length} unlabeled quotes (${onTopic} of the labelled categories, not drawn)`);
  const trainTexts = (s: Split) => Array.from(s.train, (i) => labelled.texts[i]);
  // What the static tables are refined on; the training quotes (teacher vectors only) when refine.train is set.
  const refineTexts = r.static.refine.train ? [...unlabeled, ...trainTexts(split)] : unlabeled;

  // ---- teacher ----------------------------------------------------------------------------------------------------
  const teacherSpec = r.teacher === "use-lite" ? "use-lite" : join(opts.recipeDir, r.teacher);
  const teacher: EmbeddingTeacher = teacherSpec === "use-lite" ? await openUseLite({ maxTokens: r.maxTokens }) : await openEmbeddingTeacher(teacherSpec);
  const D = teacher.dim;
  const teacherName = teacherSpec === "use-lite" ? "USE-lite" : teacher.name;
  const hashOf = (texts: string[]) => createHash("sha256").update(JSON.stringify(texts)).digest("hex").slice(0, 16);
  async function teacherVectors(texts: string[], what: string): Promise<Float32Array> {
    const file = join(cacheDir, `${teacherName.replace(/[^\w.-]/g, "_")}-${(teacher.hash ?? "nohash").slice(0, 12)}-${r.maxTokens}-${hashOf(texts)}.f32`);
    if (existsSync(file)) return new Float32Array(readFileSync(file).buffer.slice(0));
    const t0 = performance.now();
    const v = await embedAll(teacher, texts, { batchSize: 32 });
    info(`teacher vectors of the ${what} texts: ${texts.length} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    writeFileAtomic(file, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    return v;
  }
  const tLabelled = await teacherVectors(labelled.texts, "labelled");
  const tUnlabeled = await teacherVectors(unlabeled, "unlabeled");
  // Variants of the refinement text (words dropped, cut to a span), read by the teacher: more texts for each row.
  const variants = r.static.refine.augment.copies > 0 ? augmentTexts(refineTexts, r.static.refine.augment, r.seed + 1) : [];
  const tVariants = variants.length > 0 ? await teacherVectors(variants, "refinement variants") : new Float32Array(0);
  // Augmented training quotes of each split for the classifiers' transfer set (the teacher reads them while it is open).
  const augmented: { texts: string[]; vectors: Float32Array }[] = [];
  for (const s of splits) {
    const texts = r.classifier.students.length > 0 && r.classifier.augment.copies > 0 ? augmentTexts(trainTexts(s), r.classifier.augment, r.seed) : [];
    augmented.push({ texts, vectors: texts.length > 0 ? await teacherVectors(texts, "augmented") : new Float32Array(0) });
  }
  const probeSets: (ProbeSet & { split: { train: Int32Array; test: Int32Array }; vectors: Float32Array })[] = [];
  for (const p of r.probes) {
    const set = loadProbeSet(p, r.seed);
    probeSets.push({ ...set, split: stratifiedSplit(set.labels, r.data.testShare, r.seed), vectors: await teacherVectors(set.texts, `${p.name} probe`) });
    info(`probe set ${p.name}: ${set.texts.length} texts, ${set.classNames.length} classes (${set.classNames.join(", ")})`);
  }
  const timingTexts = labelled.texts.filter((_, i) => i % Math.max(1, Math.ceil(nL / 64)) === 0);
  const teacherTiming = await timeEmbedding((t) => teacher.embed(t), timingTexts, { maxSeconds: r.timingSeconds });
  const teacherMb = (teacherSpec === "use-lite" ? useLiteBytes() : (teacher.paramCount ?? NaN) * 4) / 1e6;
  const teacherParams = teacherSpec === "use-lite" ? TEACHER_PARAMS_USE_LITE : teacher.paramCount ?? NaN;

  // ---- static tables ------------------------------------------------------------------------------------------------
  const statics = new Map<number, { dir: string; projection: Projection | null }>();
  const training: EmbeddingRecipeResult["training"] = {};
  // Whole words from the refinement text (never a held-out quote).
  let words: string[] = [];
  if (r.static.words) {
    if (!(teacher.tokenizer instanceof SentencePieceTokenizer)) throw new TsdistillError(`static.words: teacher ${teacherName}'s tokenizer is ${teacher.tokenizer?.kind ?? "missing"}; whole words need a SentencePiece teacher (USE-lite)`);
    words = frequentWords(refineTexts, teacher.tokenizer, r.static.words);
    info(`static tables: ${words.length} whole words (seen ≥ ${r.static.words.minCount}× in the refinement text, split by the teacher's vocabulary) join its ${teacher.tokenizer.vocabSize} pieces`);
  }
  // The teacher's vector of every piece (and word), kept in the cache like the text vectors.
  const tokenFile = join(cacheDir, `${teacherName.replace(/[^\w.-]/g, "_")}-${(teacher.hash ?? "nohash").slice(0, 12)}-tokens-${hashOf(words)}`);
  let tokenVectors: TokenVectors | undefined = existsSync(`${tokenFile}.f32`) && existsSync(`${tokenFile}.json`)
    ? { vectors: new Float32Array(readFileSync(`${tokenFile}.f32`).buffer.slice(0)), embedded: JSON.parse(readFileSync(`${tokenFile}.json`, "utf8")) as boolean[] }
    : undefined;
  for (const d of r.static.dims) {
    const cached = tokenVectors !== undefined;
    const s = await distillStaticFromTeacher(teacher, { pcaDims: d, sifCoefficient: r.static.sifCoefficient, tokenVectors, words });
    if (!cached) {
      writeFileAtomic(`${tokenFile}.f32`, new Uint8Array(s.tokenVectors.vectors.buffer, s.tokenVectors.vectors.byteOffset, s.tokenVectors.vectors.byteLength));
      writeFileAtomic(`${tokenFile}.json`, JSON.stringify(s.tokenVectors.embedded));
    }
    tokenVectors = s.tokenVectors;
    const out = join(dir, `static-${d}`);
    await saveEmbeddingModel(s.model, out, { tokenizer: s.tokenizer, projection: s.projection, metadata: { teacher: teacher.name, distill: s.info } });
    statics.set(d, { dir: out, projection: s.projection });
    info(`static d=${d}: ${s.info.seconds.toFixed(1)} s, PCA keeps ${(100 * (s.info.explainedVariance ?? 1)).toFixed(1)} % of the token vectors' variance`);
    s.model.dispose();
  }
  const tokenizer = teacher.tokenizer!;
  await teacher.close();

  // ---- refined tables and trained students (on the unlabeled texts) ---------------------------------------------------
  const refined = new Map<number, string>();
  let refineVectors = tUnlabeled;
  if (r.static.refine.train) {
    refineVectors = new Float32Array(refineTexts.length * D);
    refineVectors.set(tUnlabeled);
    refineVectors.set(pickRows(tLabelled, D, split.train), tUnlabeled.length);
  }
  if (variants.length > 0) {
    const v = new Float32Array(refineVectors.length + tVariants.length);
    v.set(refineVectors);
    v.set(tVariants, refineVectors.length);
    refineVectors = v;
  }
  const refineAll = [...refineTexts, ...variants];
  for (const d of r.static.refine.dims) {
    const { model, tokenizer: tok, projection } = loadEmbeddingModel(statics.get(d)!.dir);
    const targets = projectTeacher(projection!, refineVectors, refineAll.length);
    const res = await trainEmbeddingStudent(model, tok, refineAll, targets, { epochs: r.static.refine.epochs, batchSize: 64, optimizer: { lr: r.static.refine.lr }, ctx: r.maxTokens, seed: r.seed, tokenDropout: r.static.refine.tokenDropout, anchor: r.static.refine.anchor });
    const out = join(dir, `static-${d}-refined`);
    await saveEmbeddingModel(model, out, { tokenizer: tok, projection, metadata: { teacher: teacher.name, refined: { epochs: r.static.refine.epochs, losses: res.losses } } });
    refined.set(d, out);
    training[`static-${d}-refined`] = { seconds: res.seconds, losses: res.losses };
    info(`static d=${d} refined: loss ${res.losses.map((l) => l.toFixed(4)).join(" → ")} (${res.seconds.toFixed(0)} s)`);
    model.dispose();
  }
  // ---- contextual tables: the static table + a context layer, trained together like a refinement ------------------
  const contextual = new Map<number, string>();
  for (const d of r.static.context.dims) {
    const c = r.static.context;
    await onBackend(c.backend, async (backend) => {
      const st = loadEmbeddingModel(statics.get(d)!.dir);
      const model = withContext(st.model, c.hidden, r.seed);
      st.model.dispose();
      const res = await trainEmbeddingStudent(model, st.tokenizer, refineAll, projectTeacher(st.projection!, refineVectors, refineAll.length), { epochs: c.epochs, batchSize: 64, optimizer: { lr: c.lr }, ctx: r.maxTokens, seed: r.seed, tokenDropout: c.tokenDropout });
      const out = join(dir, `static-${d}-context`);
      await saveEmbeddingModel(model, out, { tokenizer: st.tokenizer, projection: st.projection, metadata: { teacher: teacher.name, context: { hidden: c.hidden, epochs: c.epochs, tokenDropout: c.tokenDropout, backend, losses: res.losses } } });
      contextual.set(d, out);
      training[`static-${d}-context`] = { seconds: res.seconds, losses: res.losses };
      info(`static d=${d} + context layer (H ${c.hidden}, ${backend}): loss ${res.losses.map((l) => l.toFixed(4)).join(" → ")} (${res.seconds.toFixed(0)} s)`);
      model.dispose();
    });
  }
  // ---- quantised copies (int8 with a scale per row, fp16) of the refined (else static) and contextual tables -------
  const quantized: { name: string; dir: string }[] = [];
  const toQuantize = r.static.quantize.dims.flatMap((d) => [
    { src: refined.get(d) ?? statics.get(d)!.dir, name: `static d=${d}${refined.has(d) ? ", refined" : ""}` },
    ...(contextual.has(d) ? [{ src: contextual.get(d)!, name: `static d=${d} + context` }] : []),
  ]);
  for (const { src, name } of toQuantize) {
    const { model, tokenizer: tok, projection, metadata } = loadEmbeddingModel(src);
    for (const kind of r.static.quantize.kinds) {
      const out = `${src}-${kind}`;
      await saveEmbeddingModel(model, out, { tokenizer: tok, projection, quantize: kind, metadata: { ...metadata, quantized: kind } });
      quantized.push({ name: `${name}, ${kind}`, dir: out });
    }
    model.dispose();
  }
  const trainedDirs: { name: string; dir: string; kind: "bag" | "transformer" }[] = [];
  for (const s of r.students) {
    const terms = [{ loss: "cosine" }, ...(s.rkd > 0 ? [{ loss: "rkd-distance", weight: s.rkd }] : [])];
    const out = join(dir, s.name);
    if (s.kind === "bag") {
      let model: BagOfEmbeddingsModel;
      let bagTokenizer = tokenizer;
      if (s.init === "static") {
        const st = loadEmbeddingModel(statics.get(s.width)!.dir);
        model = bagFromStatic(st.model, st.projection!);
        bagTokenizer = st.tokenizer; // with the table's whole words, if any
        st.model.dispose();
      } else model = new BagOfEmbeddingsModel({ kind: "bag", vocab: tokenizer.vocabSize, width: s.width, dim: D, padId: tokenizer.special.pad }, { seed: r.seed });
      const res = await trainEmbeddingStudent(model, bagTokenizer, unlabeled, tUnlabeled, { epochs: s.epochs, batchSize: 64, optimizer: { lr: s.lr }, ctx: r.maxTokens, seed: r.seed, terms });
      await saveEmbeddingModel(model, out, { tokenizer: bagTokenizer, metadata: { teacher: teacher.name, init: s.init, trained: { epochs: s.epochs, losses: res.losses } } });
      training[s.name] = { seconds: res.seconds, losses: res.losses };
      model.dispose();
    } else {
      const config = resolveTransformerConfig({ layers: s.layers, dim: s.dim, heads: s.heads, ff: s.ff, ctx: s.ctx, head: "embed", embedDim: D }, { vocab: tokenizer.vocabSize, padId: tokenizer.special.pad });
      const model = new TransformerModel(config, r.seed);
      const res = await trainEmbeddingStudent(model, tokenizer, unlabeled, tUnlabeled, { epochs: s.epochs, batchSize: 32, optimizer: { lr: s.lr }, ctx: s.ctx, seed: r.seed, terms });
      await saveTransformer(model, out, { tokenizer, metadata: { teacher: teacher.name, embedding: { normalize: true, addBos: false }, trained: { epochs: s.epochs, losses: res.losses } } });
      training[s.name] = { seconds: res.seconds, losses: res.losses };
      model.dispose();
    }
    trainedDirs.push({ name: s.name, dir: out, kind: s.kind });
    info(`${s.name}: loss ${training[s.name].losses.map((l) => l.toFixed(4)).join(" → ")} (${training[s.name].seconds.toFixed(0)} s)`);
  }

  // ---- evaluation of the embedding models -------------------------------------------------------------------------
  const labelsOf = (rows: Int32Array) => Int32Array.from(rows, (i) => labelled.labels[i]);
  const l2Of = (x: Float32Array, y: Int32Array, spec: EmbeddingRecipe["probe"]) => (spec.l2 === "cv" ? chooseProbeL2({ x, y }, C, { epochs: spec.epochs, lr: spec.lr, seed: r.seed }).l2 : spec.l2);
  // The probe on each split: logistic regression on the split's training quotes, scored on its test quotes.
  const probe = (v: Float32Array, d: number) =>
    splits.map((s) => {
      const x = pickRows(v, d, s.train);
      const y = labelsOf(s.train);
      return linearProbe({ x, y }, { x: pickRows(v, d, s.test), y: labelsOf(s.test) }, C, { ...r.probe, l2: l2Of(x, y, r.probe), seed: r.seed }).testAccuracy;
    });
  const teacherProbes0 = probe(tLabelled, D);
  const teacherProbe = mean(teacherProbes0);
  // The other probe sets: the same logistic regression (L2 by CV on its training rows) on their own split.
  const probeOn = (set: (typeof probeSets)[number], v: Float32Array, d: number) => {
    const y = (rows: Int32Array) => Int32Array.from(rows, (i) => set.labels[i]);
    const train = { x: pickRows(v, d, set.split.train), y: y(set.split.train) };
    const l2 = r.probe.l2 === "cv" ? chooseProbeL2(train, set.classNames.length, { epochs: r.probe.epochs, lr: r.probe.lr, seed: r.seed }).l2 : r.probe.l2;
    return linearProbe(train, { x: pickRows(v, d, set.split.test), y: y(set.split.test) }, set.classNames.length, { ...r.probe, l2, seed: r.seed }).testAccuracy;
  };
  const teacherProbes = Object.fromEntries(probeSets.map((set) => [set.name, probeOn(set, set.vectors, D)]));
  const probesOf = (f: (set: (typeof probeSets)[number]) => number) =>
    probeSets.length === 0 ? undefined : Object.fromEntries(probeSets.map((set) => { const a = f(set); return [set.name, { accuracy: a, retention: a / teacherProbes[set.name] }]; }));
  const rows: EmbeddingRow[] = [];
  const heldOut = r.static.refine.train ? split.test : Int32Array.from({ length: nL }, (_, i) => i);
  const row = (x: Omit<EmbeddingRow, "smaller" | "faster">): EmbeddingRow => ({ ...x, smaller: teacherMb / x.mb, faster: teacherTiming.msPerSentence / x.msPerSentence });
  rows.push(row({ model: `${teacherName} (teacher)`, role: "teacher", params: teacherParams, mb: teacherMb, msPerSentence: teacherTiming.msPerSentence, sentencesPerSecond: teacherTiming.sentencesPerSecond, cosine: 1, nn10: 1, accuracy: teacherProbe, accuracies: teacherProbes0, retention: 1, probes: probesOf((set) => teacherProbes[set.name]), dir: null }));
  async function evaluate(name: string, role: EmbeddingRow["role"], out: string, e: Embedder, projection: Projection | null, mb: number): Promise<void> {
    const v = e.embed(labelled.texts);
    // Cosine and NN@10 on held-out quotes only: the training quotes may be refinement text (static.refine.train),
    // and a student is closer to the teacher on what it was fitted to (d = 96, 2026-12-03: 0.94 on its refinement
    // text, 0.827 on the test quotes).
    const nT = heldOut.length;
    const vTest = pickRows(v, e.dim, heldOut);
    const tTest = pickRows(tLabelled, D, heldOut);
    const target = projection ? projectTeacher(projection, tTest, nT) : tTest;
    const cosine = target.length === vTest.length ? meanCosine(vTest, target, nT) : null;
    const nn10 = nT > 10 ? neighbourOverlap(vTest, tTest, nT, 10) : null;
    const accuracies = probe(v, e.dim);
    const accuracy = mean(accuracies);
    const probes = probesOf((set) => probeOn(set, e.embed(set.texts), e.dim));
    const timing = await timeEmbedding((x) => e.embed(x), timingTexts, { maxSeconds: r.timingSeconds / 2 });
    rows.push(row({ model: name, role, params: e.paramCount, mb, msPerSentence: timing.msPerSentence, sentencesPerSecond: timing.sentencesPerSecond, cosine, nn10, accuracy, accuracies, retention: accuracy / teacherProbe, probes, dir: basename(out) }));
    info(`${name}: cos ${cosine?.toFixed(3) ?? "–"}, NN@10 ${nn10?.toFixed(3) ?? "–"}, probe ${(100 * accuracy).toFixed(1)} %${splits.length > 1 ? ` [${accuracies.map((a) => (100 * a).toFixed(1)).join(" ")}]` : ""}${Object.entries(probes ?? {}).map(([k, p]) => `, ${k} probe ${(100 * p.accuracy).toFixed(1)} %`).join("")}, ${timing.msPerSentence.toFixed(3)} ms/sentence`);
  }
  const evalBag = async (name: string, role: EmbeddingRow["role"], out: string) => {
    const { model, tokenizer: tok, projection } = loadEmbeddingModel(out);
    await evaluate(name, role, out, bagEmbedder(model, tok), projection, inferenceBytes(out) / 1e6);
    model.dispose();
  };
  for (const [d, s] of statics) await evalBag(`static d=${d}`, "static", s.dir);
  for (const [d, out] of refined) await evalBag(`static d=${d}, refined`, "trained", out);
  for (const [d, out] of contextual) await evalBag(`static d=${d} + context`, "trained", out);
  for (const q of quantized) await evalBag(q.name, q.name.includes("refined") || q.name.includes("context") ? "trained" : "static", q.dir);
  for (const t of trainedDirs) {
    if (t.kind === "bag") await evalBag(t.name, "trained", t.dir);
    else {
      const e = await openEmbedder(t.dir);
      await evaluate(t.name, "trained", t.dir, e, null, bytesOnDisk(t.dir) / 1e6);
      e.dispose();
    }
  }

  // ---- fine-tune, then distil -------------------------------------------------------------------------------------
  if (r.classifier.students.length > 0) {
    const bases = new Map(r.classifier.students.map((c) => [classifierBaseKey(c), c.from === "context" ? { dir: contextual.get(c.width)!, name: `static-${c.width} + context` } : { dir: refined.get(c.width) ?? statics.get(c.width)!.dir, name: `static-${c.width}${refined.has(c.width) ? " refined" : ""}` }]));
    const teacherRow = { name: teacherName, params: teacherParams, mb: teacherMb, timing: teacherTiming };
    for (const x of await runClassifiers(r, { labelled, unlabeled, splits, tLabelled, tUnlabeled, augmented, bases, teacher: teacherRow, teacherDescription: teacher.name, dir, timingTexts, training, info })) rows.push(row(x));
  }
  return {
    name: r.name,
    quick: opts.quick,
    runDir: dir,
    data: { categories: labelled.classNames, labelled: nL, train: split.train.length, test: split.test.length, splits: splits.length, heldOut: heldOut.length, unlabeled: unlabeled.length, onTopic, augmented: augmented[0].texts.length, refineVariants: variants.length, maxTokens: r.maxTokens },
    rows,
    training,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The result as one markdown table. */
export function embeddingRecipeTable(res: EmbeddingRecipeResult): string {
  const pct = (x: number) => (100 * x).toFixed(1);
  const num = (x: number | null, digits = 3) => (x === null || !Number.isFinite(x) ? "–" : x.toFixed(digits));
  const extra = [...new Set(res.rows.flatMap((r) => Object.keys(r.probes ?? {})))];
  return [
    `| model | params | MB | × smaller | ms/sentence (batch 1) | × faster | sentences/s (batch 32) | cos→teacher (${res.data.heldOut ?? res.data.test} held-out quotes) | NN@10 overlap (same) | accuracy (probe / classifier${res.data.splits > 1 ? `; mean of ${res.data.splits} splits` : ""}) | retention |${extra.map((k) => ` ${k} probe | ${k} retention |`).join("")}`,
    `|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|${"--:|--:|".repeat(extra.length)}`,
    ...res.rows.map(
      (r) =>
        `| ${r.model} | ${(r.params / 1e6).toFixed(2)}M | ${r.mb.toFixed(2)} | ${r.smaller.toFixed(1)} | ${r.msPerSentence < 1 ? r.msPerSentence.toFixed(3) : r.msPerSentence.toFixed(1)} | ${r.faster.toFixed(0)} | ${r.sentencesPerSecond.toFixed(0)} | ${num(r.cosine)} | ${num(r.nn10)} | ${pct(r.accuracy)} % | ${pct(r.retention)} % |` +
        extra.map((k) => (r.probes?.[k] ? ` ${pct(r.probes[k].accuracy)} % | ${pct(r.probes[k].retention)} % |` : " – | – |")).join(""),
    ),
  ].join("\n");
}
