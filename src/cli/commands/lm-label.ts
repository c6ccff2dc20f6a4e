import { choiceOption, numberOption, parseOptions } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, announceData, printResult, reporterFrom, selectBackend } from "./common.js";
import { LM_DATA_HELP, LM_TEACHER_HELP, loadLmData, openLmTeacherOption } from "./lm-common.js";
import { cacheLmGenerations, cacheLmTopK } from "../../distill/lm-caches.js";
import { describeLmTeacher } from "../../teachers/lm-teacher.js";
import { describeLmTopKCache, DISTILLKIT_BYTES_PER_TOKEN_K128 } from "../../teachers/lm-topk-cache.js";
import { UsageError } from "../../util/errors.js";

export const LM_LABEL_HELP = `tsdistill label --teacher LM --data text:…|sotu --out DIR (--top-k K | --generations N) [options]   (causal LMs)

Runs an LM teacher once over the corpus's training windows (the same windows 'tsdistill distill' trains on: same
--data and --train-size) into a resumable, atomic cache: an interrupted run keeps its finished shards.
  --top-k K: every token's K most likely next tokens with their log-probabilities (fp16, or int8 with a scale) and
             the tail mass, in safetensors shards; prints bytes per token. For 'distill --method topk --topk-cache DIR'.
  --generations N: N continuations of each window's first --prompt-tokens tokens (JSON lines; text, so any student
             tokenizer can use them). For 'distill --method seqkd --generations DIR'.

  --teacher LM           ${LM_TEACHER_HELP}
  --data SPEC            ${LM_DATA_HELP} (tokenised with the teacher's tokenizer unless it names one)
  --out DIR              the cache folder
  --train-size N         only the first N training windows
  --values f16|int8      top-k: how log-probs are stored (default f16)
  --prompt-tokens P      generations: prompt tokens (default ctx/4)
  --max-tokens M         generations: tokens per continuation (default ctx − P)
  --temperature X        generations: sampling temperature (default 1)
  --seed N               generations: sampling seed (default 0)
  --shard-size N         windows (top-k, default 256) or prompts (generations, default 64) per shard
  --overwrite            replace a cache made with another teacher, data or settings
${GLOBAL_HELP}`;

export async function lmLabelCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("label", argv, {
    ...GLOBAL_OPTIONS,
    teacher: { type: "string" },
    data: { type: "string" },
    out: { type: "string" },
    "train-size": { type: "string" },
    "top-k": { type: "string" },
    values: { type: "string" },
    generations: { type: "string" },
    "prompt-tokens": { type: "string" },
    "max-tokens": { type: "string" },
    temperature: { type: "string" },
    seed: { type: "string" },
    "shard-size": { type: "string" },
    overwrite: { type: "boolean" },
  });
  if (values.help) return void process.stdout.write(LM_LABEL_HELP + "\n");
  if (!values.out) throw new UsageError("label: --out DIR is required (the cache folder)");
  const k = numberOption("top-k", values["top-k"], { int: true, min: 1 });
  const n = numberOption("generations", values.generations, { int: true, min: 1 });
  if ((k === undefined) === (n === undefined)) throw new UsageError("label: give one of --top-k K (a top-k logit cache) or --generations N (a generation cache) for an LM corpus");
  const valuesKind = choiceOption("values", values.values, ["f16", "int8"] as const) ?? "f16";
  const trainSize = numberOption("train-size", values["train-size"], { int: true, min: 1 });
  const shardSize = numberOption("shard-size", values["shard-size"], { int: true, min: 1 });
  const backend = await selectBackend(values);
  const teacher = (await openLmTeacherOption(values, true))!;
  const progress = reporterFrom(values);
  try {
    const corpus = loadLmData(String(values.data), { trainSize }, { tokenizer: teacher.tokenizer ?? undefined, ctx: teacher.ctx != null ? Math.min(128, teacher.ctx) : undefined });
    announceData(values, [...corpus.summary, describeLmTeacher(teacher)]);
    const out = String(values.out);
    const onShard = (i: number, total: number) => progress.info(`shard ${i + 1}/${total} written`);
    if (k !== undefined) {
      const m = await cacheLmTopK(teacher, corpus.train, out, { k, values: valuesKind, shardSize, overwrite: Boolean(values.overwrite), onShard });
      const tokens = m.numWindows * m.ctx;
      const human = `${describeLmTopKCache(m)}\n${m.bytesPerToken} bytes/token (DistillKit's reference: ~${DISTILLKIT_BYTES_PER_TOKEN_K128} at k = 128); ${tokens.toLocaleString("en-US")} tokens; cache in ${out}`;
      printResult(values, { kind: "lm-topk", dir: out, k: m.k, values: m.values, windows: m.numWindows, ctx: m.ctx, tokens, bytesPerToken: m.bytesPerToken, backend }, human);
    } else {
      const m = await cacheLmGenerations(teacher, corpus.train, corpus.tokenizer, out, {
        n,
        promptTokens: numberOption("prompt-tokens", values["prompt-tokens"], { int: true, min: 1 }),
        maxTokens: numberOption("max-tokens", values["max-tokens"], { int: true, min: 1 }),
        temperature: numberOption("temperature", values.temperature, { min: 0 }),
        seed: numberOption("seed", values.seed, { int: true, min: 0 }),
        shardSize,
        overwrite: Boolean(values.overwrite),
        onShard,
      });
      const human = `${m.numPrompts} prompts × ${m.sampling.n} continuations of up to ${m.sampling.maxTokens} tokens from ${m.teacherName}; cache in ${out}`;
      printResult(values, { kind: "lm-generations", dir: out, prompts: m.numPrompts, n: m.sampling.n, maxTokens: m.sampling.maxTokens, backend }, human);
    }
  } finally {
    await teacher.close();
  }
}
