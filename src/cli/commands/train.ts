import { parseOptions, numberOption } from "../args.js";
import { lmTrainCommand } from "./lm-train.js";
import { argvHasLmData } from "./lm-common.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, TRAINING_HELP, TRAINING_OPTIONS, announceData, fmt, openRunFolder, printResult, recordingReporter, reporterFrom, selectBackend, sizedFit, splitTrainValidation, trainingSettings } from "./common.js";
import { DATA_SPECS_HELP, loadImageData } from "../../data/sources.js";
import { buildModel, saveAnyModel } from "../../students/any-model.js";
import { TRANSFORMER_SPEC_HELP } from "../../students/spec.js";
import { train } from "../../train/distill.js";
import { evaluate } from "../../eval/classification.js";
import { evaluateRegression } from "../../eval/regression.js";
import { CheckpointStore } from "../../train/checkpoint.js";
import { UsageError } from "../../util/errors.js";

export const TRAIN_HELP = `tsdistill train --model SPEC [options]
(Causal language models on text:/sotu corpora: tsdistill train --data "sotu?ctx=128" --help)

Trains a model on hard labels and saves it in the TF.js layers format (run folder/model), e.g. a teacher:
  tsdistill train --model mlp:1200-1200 --dropout 0.5 --input-dropout 0.2 --epochs 10
or a transformer text classifier over token ids (saved as config.json + model.safetensors + tokenizer.json):
  tsdistill train --model transformer:layers=2,dim=64,heads=2,ff=256 --data "jsonl:FILE?tokenizer=byte&ctx=128"
Prints how the data was read and split first (stderr). On a regression data set the model has one output, trained
with MSE on the standardised target (its mean and std are saved in preprocess.json), and is scored by RMSE, MAE, R².

  --model SPEC           mlp:<units>-<units>… or cnn:<tokens> (e.g. cnn:conv32-pool-conv64-pool-dense128), or
                         transformer:… on token data (vocab, ctx, classes and pad id from the data's tokenizer):
                         ${TRANSFORMER_SPEC_HELP}
  --dropout X            dropout rate after each hidden dense layer (default 0)
  --input-dropout X      dropout rate on the input (default 0)
${TRAINING_HELP}
${GLOBAL_HELP}

${DATA_SPECS_HELP}`;

export async function trainCommand(argv: string[]): Promise<void> {
  if (argvHasLmData(argv)) return lmTrainCommand(argv);
  const { values } = parseOptions("train", argv, { ...GLOBAL_OPTIONS, ...TRAINING_OPTIONS, model: { type: "string" }, dropout: { type: "string" }, "input-dropout": { type: "string" } });
  if (values.help) return void process.stdout.write(TRAIN_HELP + "\n");
  if (!values.model) throw new UsageError("train: --model is required (e.g. --model mlp:800-800)");
  const settings = trainingSettings(values);
  const dropout = numberOption("dropout", values.dropout, { min: 0, max: 0.99 }) ?? 0;
  const inputDropout = numberOption("input-dropout", values["input-dropout"], { min: 0, max: 0.99 }) ?? 0;
  const backend = await selectBackend(values);
  const data = loadImageData(settings.data);
  const spec = String(values.model);
  // Built before the run folder exists: a spec that does not fit the data leaves nothing behind.
  const model = buildModel(spec, { inputShape: data.train.sampleShape, numClasses: data.train.numClasses, preprocess: data.preprocess, dropout, inputDropout, seed: settings.seed });
  const { train: trainSet, validation, summary } = splitTrainValidation(data, settings);
  settings.fit = sizedFit(settings, trainSet.size);
  const regression = data.train.task === "regression";
  const progress = reporterFrom(values);
  const config = { command: "train", model: spec, dropout, inputDropout, data: settings.data, trainSize: trainSet.size, validationSize: validation.size, backend, ...settings.fit, dataSummary: summary };
  let run;
  try {
    run = openRunFolder(values, "train", config, progress);
  } catch (err) {
    model.dispose();
    throw err;
  }
  announceData(values, summary);
  try {
    const reporter = recordingReporter(run, progress);
    const checkpoint = new CheckpointStore(run.checkpointDir).at("train");
    const fitResult = await train(model, trainSet, { ...settings.fit, validation, reporter, label: "train", checkpoint });
    const input = data.preprocess?.kind === "tokens" ? "token ids from preprocess.json (its tokenizer)" : data.preprocess ? "features from preprocess.json" : "pixels scaled to [0, 1]";
    let result: Record<string, unknown>;
    let headline: string;
    if (regression) {
      const test = evaluateRegression((x) => model.predict(x), data.test);
      await saveAnyModel(model, run.path("model"), { spec, dropout, inputDropout, data: settings.data, input, task: "regression", outputs: "standardised value (value = output × target.std + target.mean, see preprocess.json)", testRmse: test.rmse }, data.preprocess);
      result = { model: spec, task: "regression", params: model.paramCount, testRmse: test.rmse, testMae: test.mae, testR2: test.r2, testSize: test.n, bestEpoch: fitResult.bestEpoch, bestValRmse: fitResult.bestValRmse ?? null, trainSeconds: fitResult.seconds, backend };
      headline = `${spec}: test RMSE ${fmt(test.rmse)}, MAE ${fmt(test.mae)}, R² ${test.r2.toFixed(4)} (${test.n} test rows)`;
    } else {
      const test = evaluate((x) => model.predict(x), data.test);
      await saveAnyModel(model, run.path("model"), { spec, dropout, inputDropout, data: settings.data, input, outputs: "logits", testAccuracy: test.accuracy }, data.preprocess);
      result = { model: spec, params: model.paramCount, testAccuracy: test.accuracy, testErrors: test.errors, testSize: test.n, bestEpoch: fitResult.bestEpoch, bestValAccuracy: fitResult.bestValAccuracy, trainSeconds: fitResult.seconds, backend };
      headline = `${spec}: test accuracy ${(test.accuracy * 100).toFixed(2)}% (${test.errors} errors of ${test.n})`;
    }
    run.writeJson("results.json", result);
    const dir = run.finish();
    model.dispose();
    printResult(values, { ...result, runDir: dir, modelDir: `${dir}/model`, dataSummary: summary }, `${headline}, ${model.paramCount.toLocaleString("en-US")} params\nsaved to ${dir}/model`);
  } catch (err) {
    model.dispose();
    run.discard();
    throw err;
  }
}
