import { numberOption, parseOptions } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, announceData, printResult, selectBackend } from "./common.js";
import { LM_DATA_HELP, LM_EVAL_HELP, LM_EVAL_OPTIONS, LM_TEACHER_HELP, lmEvalSettings, loadLmData, loadLmFolder, openLmTeacherOption } from "./lm-common.js";
import { evaluateLmSuite, formatLmSuite } from "../../eval/lm-suite.js";
import { describeLmTeacher } from "../../teachers/lm-teacher.js";
import { UsageError } from "../../util/errors.js";

export const LM_EVAL_COMMAND_HELP = `tsdistill eval --model DIR [--teacher LM] [--data text:…|sotu] [options]   (causal LMs)

Evaluates a causal LM saved by tsdistill on the held-out documents of its corpus: bits per byte, perplexity and
next-token accuracy; with --teacher, next-token top-1 agreement with the teacher (one tokenizer on both sides) and
the teacher's NLL of the student's samples (nats per teacher token and bits per byte; across tokenizers the text
is re-tokenised by the teacher); ms/token of batch-1 generation with the KV cache.

  --model DIR            the LM folder (run folder/model)
  --teacher LM           ${LM_TEACHER_HELP}
  --data SPEC            the corpus (default: the one recorded in the model folder, tokenised with the model's
                         tokenizer and its context); ${LM_DATA_HELP}
  --split test|validation   which held-out documents (default test)
  --windows N            score only the first N held-out windows
  --seed N               sampling seed (default 42)
${LM_EVAL_HELP}
${GLOBAL_HELP}`;

export async function lmEvalCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("eval", argv, { ...GLOBAL_OPTIONS, ...LM_EVAL_OPTIONS, model: { type: "string" }, teacher: { type: "string" }, data: { type: "string" }, split: { type: "string" }, windows: { type: "string" }, seed: { type: "string" } });
  if (values.help) return void process.stdout.write(LM_EVAL_COMMAND_HELP + "\n");
  if (!values.model) throw new UsageError("eval: --model DIR is required");
  const ev = lmEvalSettings(values);
  const seed = numberOption("seed", values.seed, { int: true, min: 0 }) ?? 42;
  const windows = numberOption("windows", values.windows, { int: true, min: 1 });
  const split = values.split === undefined ? "test" : String(values.split);
  if (split !== "test" && split !== "validation") throw new UsageError(`--split: expected test or validation, got "${split}"`);
  const backend = await selectBackend(values);
  const { model, tokenizer, metadata } = await loadLmFolder(String(values.model));
  const teacher = await openLmTeacherOption(values, false);
  try {
    const spec = (values.data as string | undefined) ?? (typeof metadata.data === "string" ? metadata.data : undefined);
    if (!spec) throw new UsageError(`eval: the model folder ${values.model} records no corpus; pass --data text:…|sotu`);
    const corpus = loadLmData(spec, {}, { tokenizer, ctx: model.config.ctx });
    let held = split === "test" ? corpus.test : corpus.validation;
    if (!held) throw new UsageError(`eval: the corpus ${spec} has no ${split} documents (validation=0)`);
    if (windows !== undefined) held = held.take(windows);
    announceData(values, [...corpus.summary, ...(teacher ? [describeLmTeacher(teacher)] : [])]);
    const r = await evaluateLmSuite({ model, tokenizer, test: held, teacher, samples: ev.samples, promptTokens: ev.promptTokens, maxTokens: ev.maxTokens, seed });
    printResult(values, { model: values.model, kind: "lm", data: spec, split, windows: held.size, ...r, backend }, `${values.model} on the ${split} documents of ${spec} (${held.size} windows):\n${formatLmSuite(r)}`);
  } finally {
    model.dispose();
    await teacher?.close();
  }
}
