// The embedding paths of `tsdistill distill --task embedding` and `tsdistill eval` on an embedding student: an
// embedding teacher (use-lite, a teacher.yaml) distilled into a static table, a bag-of-embeddings or a transformer
// student; students measured against the teacher (cosine, NN@10, linear probe, size, latency).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { numberOption, parseOptions } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, printResult, reporterFrom, selectBackend } from "./common.js";
import { EMBEDDING_DATA_HELP, loadEmbeddingTexts } from "../../data/embedding-texts.js";
import { stratifiedSplit } from "../../data/stratified-split.js";
import { distillStaticFromTeacher } from "../../embeddings/distill-static.js";
import { BagOfEmbeddingsModel, bagFromStatic, loadEmbeddingModel, projectTeacher, saveEmbeddingModel, type Projection } from "../../embeddings/embedding-model.js";
import { trainEmbeddingStudent } from "../../distill/train-embedding.js";
import { openEmbedder } from "../../embeddings/transformer-embedder.js";
import { argmaxRows, accuracyOf, linearProbe, meanCosine, neighbourOverlap, pickRows, timeEmbedding } from "../../eval/embedding-metrics.js";
import { bytesOnDisk } from "../../eval/size.js";
import { resolveTransformerConfig } from "../../students/transformer-config.js";
import { saveTransformer } from "../../students/transformer-io.js";
import { TransformerModel } from "../../students/transformer.js";
import { embedAll, type EmbeddingTeacher } from "../../teachers/embedding/embedding-teacher.js";
import { openEmbeddingTeacher } from "../../teachers/embedding/embedding-teacher-config.js";
import { openUseLite } from "../../teachers/embedding/tfjs-embedding-teacher.js";
import { UsageError } from "../../util/errors.js";

export const DISTILL_EMBEDDING_HELP = `tsdistill distill --task embedding --teacher use-lite|teacher.yaml --student SPEC [--data SPEC] --out DIR [options]

Distils an embedding teacher (a sentence encoder: use-lite, or a teacher.yaml with kind: embedding) into a student
folder that tsdistill serve, tsdistill eval, tsdistill export and a browser page (embed-runtime.mjs) load.

  --student SPEC         static:d=128[,sif=0.0001][,refine=EPOCHS]   Model2Vec-style table (no data needed; refine:
                                                                      cosine to the projected teacher on --data)
                         bag:width=128[,init=static|random]           table + linear head, trained on --data
                         transformer:layers=2,dim=128,heads=4[,ff=256][,ctx=64]   trained on --data
  --data SPEC            unlabeled texts for refine/bag/transformer: ${EMBEDDING_DATA_HELP}
  --max-texts N          at most N texts of --data (a seeded sample)
  --max-tokens N         tokens per text read by the teacher and the student (default 128)
  --epochs N             training epochs (default 8; refine: its own count)
  --lr X                 Adam step size (default 1e-3)
  --seed N               seed (default 0)
  --out DIR              the student folder (default runs/<time>-embedding-<kind>)
${GLOBAL_HELP}`;

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** "kind:k=v,k=v" → kind and its options (numbers where they parse). */
export function parseStudentSpec(spec: string): { kind: string; opts: Record<string, string> } {
  const [kind, rest = ""] = spec.split(/:(.*)/s);
  const opts: Record<string, string> = {};
  for (const part of rest.split(",").filter(Boolean)) {
    const [k, v] = part.split("=");
    if (!k || v === undefined) throw new UsageError(`--student: "${part}" in ${spec}: expected key=value`);
    opts[k.trim()] = v.trim();
  }
  return { kind, opts };
}

const ALLOWED: Record<string, string[]> = { static: ["d", "sif", "refine"], bag: ["width", "init"], transformer: ["layers", "dim", "heads", "ff", "ctx"] };

async function openTeacher(spec: string, maxTokens: number): Promise<EmbeddingTeacher> {
  return spec === "use-lite" ? openUseLite({ maxTokens }) : openEmbeddingTeacher(spec);
}

export async function distillEmbeddingCommand(values: Values): Promise<void> {
  if (!values.teacher) throw new UsageError("distill --task embedding: --teacher is required (use-lite, or a teacher.yaml with kind: embedding)");
  if (!values.student) throw new UsageError("distill --task embedding: --student is required, e.g. static:d=128, bag:width=128, transformer:layers=2,dim=128,heads=4");
  const { kind, opts } = parseStudentSpec(String(values.student));
  if (!ALLOWED[kind]) throw new UsageError(`--student: unknown kind "${kind}"; expected static, bag or transformer`);
  for (const k of Object.keys(opts)) if (!ALLOWED[kind].includes(k)) throw new UsageError(`--student: ${kind} takes ${ALLOWED[kind].join(", ")}; got "${k}"`);
  if (opts.init !== undefined && !["static", "random"].includes(opts.init)) throw new UsageError(`--student: init=${opts.init}; expected static (rows and PCA from a static table) or random`);
  const int = (name: string, raw: string | undefined, dflt: number) => numberOption(name, raw, { int: true, min: 1 }) ?? dflt;
  const maxTokens = int("max-tokens", values["max-tokens"] as string | undefined, 128);
  const epochs = int("epochs", values.epochs as string | undefined, 8);
  const lr = numberOption("lr", values.lr as string | undefined, { min: 0, exclusiveMin: true }) ?? 1e-3;
  const seed = numberOption("seed", values.seed as string | undefined, { int: true, min: 0 }) ?? 0;
  const maxTexts = numberOption("max-texts", values["max-texts"] as string | undefined, { int: true, min: 2 });
  const refine = kind === "static" && opts.refine !== undefined ? int("student refine", opts.refine, 1) : 0;
  const needsData = kind !== "static" || refine > 0;
  if (needsData && !values.data) throw new UsageError(`distill --task embedding: --data is required for ${kind === "static" ? "static:refine" : kind} students (${EMBEDDING_DATA_HELP})`);
  const out = values.out ? String(values.out) : join("runs", `${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}-embedding-${kind}`);
  if (existsSync(out)) throw new UsageError(`--out: ${out} already exists; choose a new folder`);
  const texts = needsData ? loadEmbeddingTexts(String(values.data), { max: maxTexts, seed }).texts : [];
  const backend = await selectBackend(values);
  const progress = reporterFrom(values);
  const teacherSpec = String(values.teacher);
  const teacher = await openTeacher(teacherSpec, maxTokens);
  const started = performance.now();
  let summary: Record<string, unknown>;
  try {
    const targets = needsData ? await embedAll(teacher, texts, { batchSize: 32, onProgress: (d, n) => d % 320 === 0 && progress.info(`teacher: ${d}/${n} texts`) }) : null;
    // The student's training reports the library's ProgressEvents to the CLI's progress output.
    const training = { reporter: progress, label: "student" };
    const terms = [{ loss: "cosine" }, { loss: "rkd-distance", weight: 1 }];
    if (kind === "static" || (kind === "bag" && opts.init !== "random")) {
      const d = int("student d", opts.d ?? opts.width, 128);
      const sif = opts.sif === undefined ? 1e-4 : opts.sif === "none" ? null : numberOption("student sif", opts.sif, { min: 0, exclusiveMin: true, max: 1 })!;
      const s = await distillStaticFromTeacher(teacher, { pcaDims: Math.min(d, teacher.dim), sifCoefficient: sif, onProgress: (a, n) => a % 2048 === 0 && progress.info(`teacher: ${a}/${n} tokens`) });
      let model: BagOfEmbeddingsModel = s.model;
      let losses: number[] = [];
      if (kind === "static" && refine > 0) {
        losses = (await trainEmbeddingStudent(model, s.tokenizer, texts, projectTeacher(s.projection!, targets!, texts.length), { epochs: refine, optimizer: { lr }, ctx: maxTokens, seed, ...training })).losses;
      } else if (kind === "bag") {
        model = bagFromStatic(s.model, s.projection!);
        s.model.dispose();
        losses = (await trainEmbeddingStudent(model, s.tokenizer, texts, targets!, { epochs, optimizer: { lr }, ctx: maxTokens, seed, terms, ...training })).losses;
      }
      await saveEmbeddingModel(model, out, { tokenizer: s.tokenizer, projection: kind === "static" ? s.projection : null, metadata: { teacher: teacherSpec, student: String(values.student), distill: s.info, losses } });
      summary = { kind, params: model.paramCount, dim: model.config.dim, losses };
      model.dispose();
    } else {
      const tok = teacher.tokenizer;
      if (!tok) throw new UsageError(`--student ${kind}: teacher ${teacherSpec} exposes no tokenizer for the student to read ids with`);
      let model: BagOfEmbeddingsModel | TransformerModel;
      const ctx = kind === "transformer" ? int("student ctx", opts.ctx, 64) : maxTokens;
      if (kind === "bag") model = new BagOfEmbeddingsModel({ kind: "bag", vocab: tok.vocabSize, width: int("student width", opts.width, 128), dim: teacher.dim, padId: tok.special.pad }, { seed });
      else model = new TransformerModel(resolveTransformerConfig({ layers: int("student layers", opts.layers, 2), dim: int("student dim", opts.dim, 128), heads: int("student heads", opts.heads, 4), ff: opts.ff ? int("student ff", opts.ff, 256) : undefined, ctx, head: "embed", embedDim: teacher.dim }, { vocab: tok.vocabSize, padId: tok.special.pad }), seed);
      const { losses } = await trainEmbeddingStudent(model, tok, texts, targets!, { epochs, optimizer: { lr }, ctx, seed, terms, ...training, batchSize: kind === "transformer" ? 32 : 64 });
      const metadata = { teacher: teacherSpec, student: String(values.student), losses };
      if (model instanceof BagOfEmbeddingsModel) await saveEmbeddingModel(model, out, { tokenizer: tok, metadata });
      else await saveTransformer(model, out, { tokenizer: tok, metadata: { ...metadata, embedding: { normalize: true, addBos: false } } });
      summary = { kind, params: model.paramCount, dim: teacher.dim, losses };
      model.dispose();
    }
  } finally {
    await teacher.close();
  }
  const result = { out, teacher: teacherSpec, student: String(values.student), texts: texts.length, backend, seconds: (performance.now() - started) / 1000, mb: bytesOnDisk(out) / 1e6, ...summary };
  printResult(values, result, `wrote ${out}: ${kind} student, ${(Number(summary.params) / 1e6).toFixed(2)}M params, ${summary.dim}-d vectors, ${result.mb.toFixed(2)} MB (${texts.length} texts, ${result.seconds.toFixed(0)} s)`);
}

export const EVAL_EMBEDDING_HELP = `tsdistill eval --model DIR --data SPEC [--teacher use-lite|teacher.yaml] [options]   (embedding students)

An embedding student folder (static, bag, transformer with head "embed") is measured on labelled texts: a linear
probe (logistic regression on the frozen vectors, stratified 80/20 split) and its test accuracy; a classifier
folder (from the use-embeddings recipe: config metadata.classes) is scored directly. With --teacher: the teacher's
probe accuracy, the retention (student / teacher), cosine to the teacher (a static table: in its PCA space),
top-10 nearest-neighbour overlap, size and batch-1 latency of both, and the speed-up.

  --data SPEC            ${EMBEDDING_DATA_HELP} (default fortunes:computers,food,law,love,politics,sports)
  --per-category N       fortunes: at most N quotes per category (default 150)
  --max-tokens N         tokens per text the teacher reads (default 128)
  --seed N               split and probe seed (default 0)`;

export async function evalEmbeddingCommand(values: Values): Promise<void> {
  const modelDir = String(values.model);
  const maxTokens = numberOption("max-tokens", values["max-tokens"] as string | undefined, { int: true, min: 1 }) ?? 128;
  const seed = numberOption("seed", values.seed as string | undefined, { int: true, min: 0 }) ?? 0;
  const perCategory = numberOption("per-category", values["per-category"] as string | undefined, { int: true, min: 2 }) ?? 150;
  const spec = values.data ? String(values.data) : "fortunes:computers,food,law,love,politics,sports";
  const data = loadEmbeddingTexts(spec, { perCategory, seed });
  if (!data.labels || data.classNames.length < 2) throw new UsageError(`--data: ${spec} has no labels in two or more classes; eval of an embedding student needs labelled texts`);
  const keep = Array.from(data.labels.keys()).filter((i) => data.labels![i] >= 0);
  const texts = keep.map((i) => data.texts[i]);
  const labels = Int32Array.from(keep, (i) => data.labels![i]);
  const C = data.classNames.length;
  const split = stratifiedSplit(labels, 0.2, seed);
  const yTr = Int32Array.from(split.train, (i) => labels[i]);
  const yTe = Int32Array.from(split.test, (i) => labels[i]);
  await selectBackend(values);
  const student = await openEmbedder(modelDir);
  const probe = (v: Float32Array, d: number) => linearProbe({ x: pickRows(v, d, split.train), y: yTr }, { x: pickRows(v, d, split.test), y: yTe }, C, { seed }).testAccuracy;
  const timing = (embed: (t: string[]) => unknown) => timeEmbedding(embed, texts.slice(0, 48), { maxSeconds: 10 });
  const classes = student.metadata.classes as string[] | undefined;
  let sv: Float32Array;
  let accuracy: number;
  let kind: "probe" | "classifier" = "probe";
  try {
    sv = student.embed(texts);
    if (Array.isArray(classes) && classes.length === student.dim) {
      // A classifier: its outputs are class logits in the order of metadata.classes.
      kind = "classifier";
      const map = data.classNames.map((c) => classes.indexOf(c));
      if (map.some((m) => m < 0)) throw new UsageError(`--data: classes ${data.classNames.join(", ")}; the classifier ${modelDir} knows ${classes.join(", ")}`);
      const pred = argmaxRows(pickRows(sv, C, split.test), split.test.length, student.dim);
      accuracy = accuracyOf(Int32Array.from(pred, (p) => map.indexOf(p)), yTe);
    } else accuracy = probe(sv, student.dim);
  } catch (err) {
    student.dispose();
    throw err;
  }
  const st = await timing((t) => student.embed(t));
  const studentMb = bytesOnDisk(modelDir) / 1e6;
  const result: Record<string, unknown> = { model: modelDir, data: spec, texts: texts.length, test: split.test.length, classes: data.classNames, metric: kind, accuracy, params: student.paramCount, mb: studentMb, msPerSentence: st.msPerSentence };
  const lines = [`${modelDir}: ${kind === "probe" ? "linear-probe" : "classifier"} accuracy ${(100 * accuracy).toFixed(1)} % on ${split.test.length} test texts of ${spec}; ${(student.paramCount / 1e6).toFixed(2)}M params, ${studentMb.toFixed(2)} MB, ${st.msPerSentence.toFixed(3)} ms/sentence`];
  if (values.teacher) {
    const teacher = await openTeacher(String(values.teacher), maxTokens);
    try {
      const tv = await embedAll(teacher, texts, { batchSize: 32 });
      const tAcc = probe(tv, teacher.dim);
      const tt = await timing((t) => teacher.embed(t));
      let projection: Projection | null = null;
      if (student.kind === "static") projection = loadEmbeddingModel(modelDir).projection;
      const target = projection ? projectTeacher(projection, tv, texts.length) : tv;
      const cosine = kind === "probe" && target.length === sv.length ? meanCosine(sv, target, texts.length) : null;
      const nn10 = kind === "probe" && texts.length > 10 ? neighbourOverlap(sv, tv, texts.length, 10) : null;
      Object.assign(result, { teacher: String(values.teacher), teacherAccuracy: tAcc, retention: accuracy / tAcc, cosine, nn10, teacherMsPerSentence: tt.msPerSentence, speedup: tt.msPerSentence / st.msPerSentence });
      lines.push(`teacher ${values.teacher}: probe accuracy ${(100 * tAcc).toFixed(1)} %, ${tt.msPerSentence.toFixed(1)} ms/sentence → retention ${(100 * accuracy / tAcc).toFixed(1)} %, ${(tt.msPerSentence / st.msPerSentence).toFixed(0)}× faster` + (cosine !== null ? `, cosine ${cosine.toFixed(3)}` : "") + (nn10 !== null ? `, NN@10 overlap ${nn10.toFixed(3)}` : ""));
    } finally {
      await teacher.close();
    }
  }
  student.dispose();
  printResult(values, result, lines.join("\n"));
}

/** Options the embedding paths add to distill and eval. */
export const EMBEDDING_CLI_OPTIONS = {
  task: { type: "string" },
  "max-tokens": { type: "string" },
  "max-texts": { type: "string" },
  "per-category": { type: "string" },
  lr: { type: "string" },
} as const;

export function parseEmbeddingArgs(command: string, argv: string[]): Values {
  return parseOptions(command, argv, { ...GLOBAL_OPTIONS, ...EMBEDDING_CLI_OPTIONS, teacher: { type: "string" }, student: { type: "string" }, data: { type: "string" }, out: { type: "string" }, epochs: { type: "string" }, seed: { type: "string" }, model: { type: "string" } }).values as Values;
}

/** The value of `--name V` or `--name=V` in argv (the last one), or undefined. */
function argValue(argv: string[], name: string): string | undefined {
  let v: string | undefined;
  argv.forEach((a, i) => {
    if (a === `--${name}` && i + 1 < argv.length) v = argv[i + 1];
    else if (a.startsWith(`--${name}=`)) v = a.slice(name.length + 3);
  });
  return v;
}

/** Whether a distill/eval command line is for an embedding model: --task embedding, or --model an embedding folder. */
export function isEmbeddingCommandLine(argv: string[], isEmbeddingFolder: (dir: string) => boolean): boolean {
  // --task classification|regression is the data's own option (csv/arff): those command lines are not ours.
  const task = argValue(argv, "task");
  if (task === "embedding") return true;
  if (task !== undefined) return false;
  const model = argValue(argv, "model");
  return model !== undefined && isEmbeddingFolder(model);
}
