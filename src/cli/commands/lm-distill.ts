import { choiceOption, numberOption, parseOptions } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, TRAINING_OPTIONS, announceData, openRunFolder, printResult, recordingReporter, reporterFrom, selectBackend } from "./common.js";
import { LM_DATA_HELP, LM_EVAL_HELP, LM_EVAL_OPTIONS, LM_TEACHER_HELP, lmEvalSettings, lmTrainingSettings, loadLmData, openLmTeacherOption } from "./lm-common.js";
import { LM_METHODS, methodNeedsTeacher, runLmMethod, type LmMethod, type LmMethodSettings } from "../../distill/lm-method.js";
import { evaluateLmSuite, formatLmSuite } from "../../eval/lm-suite.js";
import { isTransformerSpec, transformerConfigFromSpec } from "../../students/spec.js";
import { TransformerModel } from "../../students/transformer.js";
import { saveTransformer } from "../../students/transformer-io.js";
import { hashDataset } from "../../teachers/label-cache.js";
import { readLmGenerationCache } from "../../teachers/lm-generation-cache.js";
import { describeLmTeacher } from "../../teachers/lm-teacher.js";
import { openLmTopKCache } from "../../teachers/lm-topk-cache.js";
import { checkSameVocabulary } from "../../tokenizers/compare.js";
import { CheckpointStore } from "../../train/checkpoint.js";
import { UsageError } from "../../util/errors.js";

export const LM_DISTILL_HELP = `tsdistill distill --teacher LM --student transformer:…,causal --data text:…|sotu [--method M] [options]

Distills a causal LM from an LM teacher on a corpus (test documents held out whole), then reports held-out bits per
byte, next-token agreement with the teacher, the teacher's NLL of the student's samples and ms/token, and saves the
student (run folder/model). Token-level methods need one vocabulary on both sides: the corpus is tokenised with
the teacher's tokenizer unless the data spec names one, and a mismatch is refused before training, naming both.

  --teacher LM           ${LM_TEACHER_HELP}
  --student SPEC         transformer:layers=N,dim=N,heads=N[,ff=N,causal,tie] (vocab and ctx from the data)
  --data SPEC            ${LM_DATA_HELP}
  --method M             kl (default): forward KL per token | reverse-kl | jsd (generalised JSD(β)) | skew-kl (DistiLLM) |
                         topk (top-k KD with a tail bucket, from --topk-cache) | gkd (on-policy: a share λ of batches
                         are the student's own continuations at τ, scored by the teacher; JSD(β)) | seqkd (sequence-level
                         KD: cross-entropy on the teacher's generations from --generations; works across tokenizers)
  --temperature T        softmax temperature of the token terms (default 1)
  --beta B               JSD's β (jsd, gkd; default 0.5: 0 is forward KL, 1 reverse KL)
  --alpha A              skew KL's α (default 0.1)
  --k K                  topk: entries per token (default the cache's k)
  --lambda L             gkd: share of on-policy batches (default 0.5)
  --tau X                gkd: the student's sampling temperature (default 0.9)
  --topk-cache DIR       topk: 'tsdistill label --top-k K' over the same --data and --train-size
  --generations DIR      seqkd: 'tsdistill label --generations N' (any tokenizer)
  --epochs N (default 3), --batch-size N (windows; default 16), --lr, --optimizer, --schedule, --seed, --train-size N,
  --out, --resume: as for train
${LM_EVAL_HELP}
${GLOBAL_HELP}`;

export async function lmDistillCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("distill", argv, {
    ...GLOBAL_OPTIONS,
    ...TRAINING_OPTIONS,
    ...LM_EVAL_OPTIONS,
    teacher: { type: "string" },
    student: { type: "string" },
    method: { type: "string" },
    temperature: { type: "string" },
    beta: { type: "string" },
    alpha: { type: "string" },
    k: { type: "string" },
    lambda: { type: "string" },
    tau: { type: "string" },
    "topk-cache": { type: "string" },
    generations: { type: "string" },
  });
  if (values.help) return void process.stdout.write(LM_DISTILL_HELP + "\n");
  const spec = values.student as string | undefined;
  if (!spec || !isTransformerSpec(spec)) throw new UsageError("distill: --student transformer:layers=N,dim=N,heads=N,causal is required for text:/sotu data");
  const method: LmMethod = choiceOption("method", values.method, LM_METHODS) ?? "kl";
  if (method === "alone") throw new UsageError("distill: --method alone trains without a teacher; use tsdistill train");
  const ms: LmMethodSettings = {
    method,
    temperature: numberOption("temperature", values.temperature, { min: 0, exclusiveMin: true }),
    beta: numberOption("beta", values.beta, { min: 0, max: 1 }),
    alpha: numberOption("alpha", values.alpha, { min: 0, max: 1 }),
    k: numberOption("k", values.k, { int: true, min: 1 }),
    lambda: numberOption("lambda", values.lambda, { min: 0, max: 1 }),
    tau: numberOption("tau", values.tau, { min: 0 }),
  };
  if (method === "topk" && !values["topk-cache"]) throw new UsageError("distill: --method topk needs --topk-cache DIR (tsdistill label --top-k K over the same --data)");
  if (method === "seqkd" && !values.generations) throw new UsageError("distill: --method seqkd needs --generations DIR (tsdistill label --generations N)");
  const settings = lmTrainingSettings(values);
  const evalSettings = lmEvalSettings(values);
  const backend = await selectBackend(values);
  const teacher = await openLmTeacherOption(values, methodNeedsTeacher(method));
  try {
    const fallbackCtx = teacher?.ctx != null ? Math.min(128, teacher.ctx) : undefined;
    const corpus = loadLmData(settings.data, settings, { tokenizer: teacher?.tokenizer ?? undefined, ctx: fallbackCtx });
    const tokenLevel = method !== "seqkd";
    let vocab = corpus.tokenizer.vocabSize;
    if (tokenLevel && teacher) {
      checkSameVocabulary({ vocab: teacher.vocab, tokenizer: teacher.tokenizer, name: teacher.name }, { vocab: teacher.vocab ?? vocab, tokenizer: corpus.tokenizer });
      vocab = teacher.vocab!;
    }
    const topKCache = method === "topk" ? openLmTopKCache(String(values["topk-cache"]), { datasetHash: hashDataset(corpus.train), ctx: corpus.ctx }) : null;
    if (topKCache) {
      checkSameVocabulary({ vocab: topKCache.manifest.vocab, name: `cache ${values["topk-cache"]}` }, { vocab: corpus.tokenizer.vocabSize, tokenizer: corpus.tokenizer });
      vocab = topKCache.manifest.vocab;
    }
    const genCache = method === "seqkd" ? readLmGenerationCache(String(values.generations)) : null;
    const config = transformerConfigFromSpec(spec, { vocab, seqLen: corpus.ctx, padId: corpus.tokenizer.special.pad, head: "lm" });
    if (!config.causal) throw new UsageError(`distill: --student ${spec}: a language model needs causal attention; add ",causal"`);
    const progress = reporterFrom(values);
    const runConfig = { command: "distill", kind: "lm", teacher: values.teacher ?? null, student: spec, data: settings.data, ...ms, topkCache: values["topk-cache"] ?? null, generations: values.generations ?? null, trainWindows: corpus.train.size, backend, ...settings.fit };
    const run = openRunFolder(values, "distill-lm", runConfig, progress);
    announceData(values, [...corpus.summary, ...(teacher ? [describeLmTeacher(teacher)] : [])]);
    try {
      const student = new TransformerModel(config, settings.seed);
      const checkpoint = new CheckpointStore(run.checkpointDir).at("distill");
      const r = await runLmMethod({ ...settings.fit, settings: ms, student, tokenizer: corpus.tokenizer, data: corpus.train, teacher, topKCache, generations: genCache?.records, generationsDocumentStart: genCache?.manifest.sampling.documentStart, reporter: recordingReporter(run, progress), checkpoint });
      topKCache?.close();
      const test = await evaluateLmSuite({ model: student, tokenizer: corpus.tokenizer, test: corpus.test, teacher, samples: evalSettings.samples, promptTokens: evalSettings.promptTokens, maxTokens: evalSettings.maxTokens, seed: settings.seed });
      await saveTransformer(student, run.path("model"), { tokenizer: corpus.tokenizer, metadata: { spec, data: settings.data, task: "causal-lm", method, teacher: values.teacher ?? null, testBitsPerByte: test.bitsPerByte } });
      const result = { student: spec, kind: "lm", method, ...test, steps: r.steps, onPolicyBatches: r.onPolicyBatches ?? 0, trainWindows: corpus.train.size, testWindows: corpus.test.size, trainSeconds: r.seconds, backend };
      run.writeJson("results.json", result);
      const dir = run.finish();
      student.dispose();
      printResult(values, { ...result, runDir: dir, modelDir: `${dir}/model` }, `${spec} (${method}): ${formatLmSuite(test)}\nsaved to ${dir}/model`);
    } catch (err) {
      run.discard();
      throw err;
    }
  } finally {
    await teacher?.close();
  }
}
