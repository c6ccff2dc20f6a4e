import { parseOptions } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, TRAINING_OPTIONS, announceData, openRunFolder, printResult, recordingReporter, reporterFrom, selectBackend } from "./common.js";
import { LM_DATA_HELP, lmTrainingSettings, loadLmData } from "./lm-common.js";
import { runLmMethod } from "../../distill/lm-method.js";
import { evaluateLmSuite, formatLmSuite } from "../../eval/lm-suite.js";
import { transformerConfigFromSpec, isTransformerSpec } from "../../students/spec.js";
import { TransformerModel } from "../../students/transformer.js";
import { saveTransformer } from "../../students/transformer-io.js";
import { CheckpointStore } from "../../train/checkpoint.js";
import { UsageError } from "../../util/errors.js";

export const LM_TRAIN_HELP = `tsdistill train --model transformer:…,causal --data text:…|sotu [options]

Trains a causal language model (next-token cross-entropy) on a corpus whose test documents are held out whole, then
reports held-out bits per byte, perplexity and ms/token, and saves it (run folder/model: config.json,
model.safetensors, tokenizer.json), e.g.
  tsdistill train --model transformer:layers=2,dim=128,heads=4,causal,tie --data "sotu?ctx=128" --epochs 2

  --model SPEC           transformer:layers=N,dim=N,heads=N[,ff=N,ctx=N,causal,tie,dropout=R] (--student is the same);
                         ctx and vocab default to the data's
  --data SPEC            ${LM_DATA_HELP}
  --epochs N             (default 3)   --batch-size N (windows; default 16)   --lr X (default 0.001)
  --optimizer, --schedule, --warmup, --seed, --train-size N (first N training windows), --out, --resume: as for other models
${GLOBAL_HELP}`;

export async function lmTrainCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("train", argv, { ...GLOBAL_OPTIONS, ...TRAINING_OPTIONS, model: { type: "string" }, student: { type: "string" } });
  if (values.help) return void process.stdout.write(LM_TRAIN_HELP + "\n");
  const spec = (values.model ?? values.student) as string | undefined;
  if (!spec || !isTransformerSpec(spec)) throw new UsageError("train: --model transformer:layers=N,dim=N,heads=N,causal is required for text:/sotu data (a causal LM)");
  const settings = lmTrainingSettings(values);
  const backend = await selectBackend(values);
  const corpus = loadLmData(settings.data, settings);
  const config = transformerConfigFromSpec(spec, { vocab: corpus.tokenizer.vocabSize, seqLen: corpus.ctx, padId: corpus.tokenizer.special.pad, head: "lm" });
  if (!config.causal) throw new UsageError(`train: --model ${spec}: a language model needs causal attention; add ",causal"`);
  const progress = reporterFrom(values);
  const runConfig = { command: "train", kind: "lm", model: spec, data: settings.data, trainWindows: corpus.train.size, backend, ...settings.fit };
  const run = openRunFolder(values, "train-lm", runConfig, progress);
  announceData(values, corpus.summary);
  try {
    const model = new TransformerModel(config, settings.seed);
    const checkpoint = new CheckpointStore(run.checkpointDir).at("train");
    const r = await runLmMethod({ ...settings.fit, settings: { method: "alone" }, student: model, tokenizer: corpus.tokenizer, data: corpus.train, reporter: recordingReporter(run, progress), checkpoint });
    const test = await evaluateLmSuite({ model, tokenizer: corpus.tokenizer, test: corpus.test, seed: settings.seed });
    await saveTransformer(model, run.path("model"), { tokenizer: corpus.tokenizer, metadata: { spec, data: settings.data, task: "causal-lm", testBitsPerByte: test.bitsPerByte } });
    const result = { model: spec, kind: "lm", ...test, steps: r.steps, trainWindows: corpus.train.size, testWindows: corpus.test.size, trainSeconds: r.seconds, backend };
    run.writeJson("results.json", result);
    const dir = run.finish();
    model.dispose();
    printResult(values, { ...result, runDir: dir, modelDir: `${dir}/model` }, `${spec}: ${formatLmSuite(test)}\nsaved to ${dir}/model`);
  } catch (err) {
    run.discard();
    throw err;
  }
}
