import { numberOption, parseOptions } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, printResult, selectBackend } from "./common.js";
import { loadLmFolder } from "./lm-common.js";
import { generate } from "../../generate/generate.js";
import { UsageError } from "../../util/errors.js";

export const GENERATE_HELP = `tsdistill generate --model DIR --prompt TEXT [options]

Continues the prompt with a causal LM saved by tsdistill (train or distill on text:/sotu data), token by token
with a KV cache, and prints the prompt and its continuation. The prompt begins a document (the model sees its
end-of-document token first, as in training); generation stops at the end of a document or after --max-tokens.

  --model DIR            the model folder (run folder/model)
  --prompt TEXT          the text to continue (may be empty)
  --max-tokens N         most tokens to generate (default 128)
  --temperature X        sampling temperature (default 1; 0: greedy)
  --top-k K              sample among the K most likely tokens (default 0: all)
  --top-p P              nucleus sampling: the smallest set of tokens whose probability reaches P (default 1)
  --seed N               sampling seed (default 0): same seed, model and backend → same text
${GLOBAL_HELP}`;

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("generate", argv, {
    ...GLOBAL_OPTIONS,
    model: { type: "string" },
    prompt: { type: "string" },
    "max-tokens": { type: "string" },
    temperature: { type: "string" },
    "top-k": { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
  });
  if (values.help) return void process.stdout.write(GENERATE_HELP + "\n");
  if (!values.model) throw new UsageError("generate: --model DIR is required (a causal LM saved by tsdistill)");
  if (values.prompt === undefined) throw new UsageError('generate: --prompt TEXT is required (--prompt "" starts a new document)');
  const opts = {
    maxTokens: numberOption("max-tokens", values["max-tokens"], { int: true, min: 1 }) ?? 128,
    temperature: numberOption("temperature", values.temperature, { min: 0 }) ?? 1,
    topK: numberOption("top-k", values["top-k"], { int: true, min: 0 }) ?? 0,
    topP: numberOption("top-p", values["top-p"], { min: 0, max: 1, exclusiveMin: true }) ?? 1,
    seed: numberOption("seed", values.seed, { int: true, min: 0 }) ?? 0,
  };
  const backend = await selectBackend(values);
  const { model, tokenizer } = await loadLmFolder(String(values.model));
  try {
    const prompt = String(values.prompt);
    const start = tokenizer.special.eos ?? tokenizer.special.bos;
    const ids = [...(start !== null ? [start] : []), ...tokenizer.encode(prompt)];
    if (ids.length === 0) throw new UsageError(`generate: the prompt is empty and the ${tokenizer.kind} tokenizer has no end-of-document or BOS token to start from`);
    const t0 = performance.now();
    const g = generate(model, ids, { ...opts, eos: tokenizer.special.eos });
    const ms = performance.now() - t0;
    const continuation = tokenizer.decode(g.ids);
    const json = { prompt, continuation, tokens: g.ids.length, stop: g.stop, msPerToken: g.ids.length ? ms / g.ids.length : null, ...opts, backend };
    printResult(values, json, prompt + continuation);
  } finally {
    model.dispose();
  }
}
