import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../engine/backend.js";
import { loadLmCorpus } from "../data/lm-corpus.js";
import { cacheLmGenerations, cacheLmTopK } from "../distill/lm-caches.js";
import { runLmMethod, type LmMethodSettings } from "../distill/lm-method.js";
import { evaluateLmSuite, type LmSuiteResult } from "../eval/lm-suite.js";
import { exportTransformerOnnx } from "../export/onnx-transformer.js";
import { transformerConfigFromSpec } from "../students/spec.js";
import { TransformerModel } from "../students/transformer.js";
import { isTransformerFolder, loadTransformer, saveTransformer } from "../students/transformer-io.js";
import { readLmGenerationCache } from "../teachers/lm-generation-cache.js";
import { openOnnxLmTeacher } from "../teachers/lm-teacher-onnx.js";
import { openLmTopKCache } from "../teachers/lm-topk-cache.js";
import { writeTokenizerFiles } from "../tokenizers/io.js";
import type { TrainingReporter } from "../train/reporter.js";
import { TsdistillError } from "../util/errors.js";
import { writeDirAtomic } from "../util/files.js";
import { rowSettings, type LmRecipe } from "./lm-recipe.js";

// Runs a `kind: lm` recipe (lm-recipe.ts): teacher (trained or reused), its ONNX export as the teacher of every
// row, the caches the rows need, one student per row at equal steps, and one evaluation per model.

export interface LmRunOptions {
  /** The run folder (exists). */
  dir: string;
  /** Where trained teachers are kept and reused (default <dir>/../teachers). */
  teacherStore: string;
  reporter?: TrainingReporter;
  info?: (line: string) => void;
}

export interface LmRowResult extends LmSuiteResult {
  name: string;
  method: string;
  steps: number;
  trainSeconds: number;
}

export interface LmRunResult {
  name: string;
  data: string;
  trainWindows: number;
  testWindows: number;
  teacher: LmSuiteResult & { spec: string; dir: string; reused: boolean; onnx: string };
  rows: LmRowResult[];
  topKBytesPerToken: number | null;
  seconds: number;
}

function teacherKey(r: LmRecipe): string {
  return createHash("sha256").update(JSON.stringify({ spec: r.teacher.spec, data: r.data.source, windows: r.teacher.trainWindows ?? null, training: r.teacher.training, seed: r.seed })).digest("hex").slice(0, 16);
}

export async function runLmRecipe(r: LmRecipe, o: LmRunOptions): Promise<LmRunResult> {
  const start = performance.now();
  const info = o.info ?? (() => {});
  await useBackend(r.backend);
  const corpus = loadLmCorpus(r.data.source);
  corpus.summary.forEach((l) => info(l));
  const train = r.data.trainWindows ? corpus.train.take(r.data.trainWindows) : corpus.train;
  const test = r.data.testWindows ? corpus.test.take(r.data.testWindows) : corpus.test;
  const tokenizer = corpus.tokenizer;
  const context = { vocab: tokenizer.vocabSize, seqLen: corpus.ctx, padId: tokenizer.special.pad, head: "lm" as const };

  // Teacher: trained once per (spec, data, windows, training, seed) and kept in the teacher store.
  const teacherDir = join(o.teacherStore, `${r.name}-teacher-${teacherKey(r)}`);
  const reused = isTransformerFolder(teacherDir);
  let teacherModel: TransformerModel;
  if (reused) {
    info(`teacher: reusing ${teacherDir}`);
    teacherModel = (await loadTransformer(teacherDir)).model;
  } else {
    const tc = transformerConfigFromSpec(r.teacher.spec, context);
    if (!tc.causal) throw new TsdistillError(`teacher.spec: ${r.teacher.spec}: expected a causal LM (add ",causal")`);
    teacherModel = new TransformerModel(tc, r.seed);
    const teacherTrain = r.teacher.trainWindows ? corpus.train.take(r.teacher.trainWindows) : corpus.train;
    info(`teacher: training ${r.teacher.spec} on ${teacherTrain.size} windows`);
    await runLmMethod({ ...r.teacher.training, optimizer: { kind: "adam", lr: r.teacher.training.lr }, seed: r.seed, settings: { method: "alone" }, student: teacherModel, tokenizer, data: teacherTrain, reporter: o.reporter });
    await saveTransformer(teacherModel, teacherDir, { tokenizer, metadata: { spec: r.teacher.spec, data: r.data.source, task: "causal-lm", recipe: r.name } });
  }
  // The rows' teacher is the ONNX export (Optimum names), through the ONNX teacher path.
  const onnxDir = join(o.dir, "teacher-onnx");
  await writeDirAtomic(onnxDir, (tmp) => {
    writeFileSync(join(tmp, "model.onnx"), exportTransformerOnnx(teacherModel));
    writeTokenizerFiles(tokenizer, tmp);
  });
  const teacher = await openOnnxLmTeacher(onnxDir);
  const evalOpts = { tokenizer, test, teacher, samples: r.eval.samples, promptTokens: r.eval.promptTokens, maxTokens: r.eval.maxTokens, agreementWindows: r.eval.agreementWindows, seed: r.seed };
  try {
    const teacherEval = await evaluateLmSuite({ ...evalOpts, model: teacherModel });
    info(`teacher: ${teacherEval.bitsPerByte.toFixed(4)} bits/byte, ${teacherModel.paramCount} params`);
    const rows = r.rows.map(rowSettings);
    let topKBytesPerToken: number | null = null;
    const topKDir = join(o.dir, "cache-topk");
    const genDir = join(o.dir, "cache-generations");
    if (rows.some((x) => x.method === "topk")) {
      const k = Math.max(r.topK, ...rows.filter((x) => x.method === "topk").map((x) => x.k ?? r.topK));
      const m = await cacheLmTopK(teacher, train, topKDir, { k });
      topKBytesPerToken = m.bytesPerToken;
      info(`top-${k} cache: ${m.bytesPerToken} bytes/token`);
    }
    if (rows.some((x) => x.method === "seqkd")) {
      await cacheLmGenerations(teacher, train, tokenizer, genDir, { seed: r.seed });
      info(`generation cache: ${train.size} continuations`);
    }
    const studentConfig = transformerConfigFromSpec(r.student.spec, context);
    const results: LmRowResult[] = [];
    for (const row of rows) {
      const student = new TransformerModel(studentConfig, r.seed);
      const settings: LmMethodSettings = { ...row };
      const topKCache = row.method === "topk" ? openLmTopKCache(topKDir) : null;
      const gen = row.method === "seqkd" ? readLmGenerationCache(genDir) : null;
      try {
        info(`row ${row.name}: training`);
        const fitted = await runLmMethod({
          ...r.training,
          optimizer: { kind: "adam", lr: r.training.lr },
          seed: r.seed,
          settings,
          student,
          tokenizer,
          data: train,
          teacher,
          topKCache,
          generations: gen?.records,
          generationsDocumentStart: gen?.manifest.sampling.documentStart,
          reporter: o.reporter,
        });
        const ev = await evaluateLmSuite({ ...evalOpts, model: student });
        results.push({ name: row.name, method: row.method, ...ev, steps: fitted.steps, trainSeconds: fitted.seconds });
        info(`row ${row.name}: ${ev.bitsPerByte.toFixed(4)} bits/byte, agreement ${ev.agreement === null ? "-" : (ev.agreement * 100).toFixed(2) + "%"}`);
      } finally {
        topKCache?.close();
        student.dispose();
      }
    }
    const onnx = join(onnxDir, "model.onnx");
    return { name: r.name, data: r.data.source, trainWindows: train.size, testWindows: test.size, teacher: { ...teacherEval, spec: r.teacher.spec, dir: teacherDir, reused, onnx }, rows: results, topKBytesPerToken, seconds: (performance.now() - start) / 1000 };
  } finally {
    await teacher.close();
    teacherModel.dispose();
  }
}

/** The markdown table of a run: one row per student method, the teacher last. */
export function lmRunTable(res: LmRunResult): string {
  const samples = res.rows[0]?.teacherNll?.samples ?? res.teacher.teacherNll?.samples ?? 0;
  const head = `| row | held-out bits/byte | next-token agreement | teacher NLL of ${samples} student samples (nats/token) | params | ms/token | steps |`;
  const line = (name: string, m: LmSuiteResult, steps: string) =>
    `| ${name} | ${m.bitsPerByte.toFixed(4)} | ${m.agreement === null ? "-" : `${(m.agreement * 100).toFixed(2)}%`} | ${m.teacherNll ? m.teacherNll.nllPerToken.toFixed(4) : "-"} | ${m.params.toLocaleString("en-US")} | ${m.msPerToken.toFixed(3)} | ${steps} |`;
  return [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |", ...res.rows.map((x) => line(x.name, x, String(x.steps))), line(`teacher (ONNX${res.teacher.reused ? ", reused" : ""})`, res.teacher, "-")].join("\n");
}
