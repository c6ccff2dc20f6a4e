import { parseOptions, numberOption } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, TRAINING_HELP, TRAINING_OPTIONS, printResult, recordingReporter, reporterFrom, selectBackend, splitTrainValidation, trainingSettings } from "./common.js";
import { loadImageData } from "../../data/sources.js";
import { modelConfigFromSpec } from "../../students/spec.js";
import { SequentialModel } from "../../students/model.js";
import { loadModel, saveModel } from "../../students/io.js";
import { distill } from "../../train/distill.js";
import { modelTeacher } from "../../teachers/teacher.js";
import { agreement, evaluate } from "../../eval/classification.js";
import { RunFolder } from "../../run/run-folder.js";
import { UsageError } from "../../util/errors.js";
import { loadRecipe } from "../../distill/recipe.js";
import { runRecipe } from "../../distill/run-recipe.js";

export const DISTILL_HELP = `tsdistill distill --teacher DIR --student SPEC [options]
tsdistill distill --config RECIPE.yaml [--out DIR] [--quiet] [--json]

With --config, runs a YAML recipe (teacher, student, data, a weighted sum of loss terms from any family, stages,
optimiser, schedule, seed); see recipes/ for one commented example per family.

Distills a student from a saved teacher (a TF.js layers model folder, e.g. from 'tsdistill train') with
Hinton's loss α·CE(y, s) + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)). The teacher's logits are computed once.

  --teacher DIR          teacher model folder (model.json + weights)
  --student SPEC         student architecture, e.g. mlp:800-800
  --temperature T        softmax temperature (default 4)
  --alpha A              weight of the hard-label loss, 1 − α goes to the teacher (default 0.1)
  --dropout X            student dropout after hidden dense layers (default 0)
${TRAINING_HELP}
${GLOBAL_HELP}`;

export async function distillCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("distill", argv, {
    ...GLOBAL_OPTIONS,
    ...TRAINING_OPTIONS,
    teacher: { type: "string" },
    student: { type: "string" },
    temperature: { type: "string" },
    alpha: { type: "string" },
    dropout: { type: "string" },
    config: { type: "string" },
  });
  if (values.help) return void process.stdout.write(DISTILL_HELP + "\n");
  if (values.config) return recipeCommand(values);
  if (!values.teacher) throw new UsageError("distill: --teacher is required (a model folder, e.g. runs/<run>/model)");
  if (!values.student) throw new UsageError("distill: --student is required (e.g. --student mlp:800-800)");
  const settings = trainingSettings(values);
  const temperature = numberOption("temperature", values.temperature, { min: 0, exclusiveMin: true }) ?? 4;
  const alpha = numberOption("alpha", values.alpha, { min: 0, max: 1 }) ?? 0.1;
  const dropout = numberOption("dropout", values.dropout, { min: 0, max: 0.99 }) ?? 0;
  const backend = await selectBackend(values);
  const data = loadImageData(settings.data);
  const spec = String(values.student);
  const studentConfig = modelConfigFromSpec(spec, { inputShape: data.train.sampleShape, numClasses: data.train.numClasses, dropout });
  const { model: teacherModel } = await loadModel(String(values.teacher));
  if (teacherModel.numOutputs !== data.train.numClasses) {
    throw new UsageError(`--teacher: the model has ${teacherModel.numOutputs} outputs but ${settings.data} has ${data.train.numClasses} classes`);
  }
  const { train: trainSet, validation } = splitTrainValidation(data.train, settings);
  const run = RunFolder.create("distill", values.out as string | undefined);
  try {
    run.writeJson("config.json", { command: "distill", teacher: values.teacher, student: spec, temperature, alpha, dropout, data: settings.data, trainSize: trainSet.size, validationSize: validation.size, backend, ...settings.fit });
    const student = new SequentialModel(studentConfig, settings.seed);
    const reporter = recordingReporter(run, reporterFrom(values));
    const teacher = modelTeacher(teacherModel);
    const fitResult = await distill({ ...settings.fit, teacher, student, data: trainSet, temperature, alpha, validation, reporter });
    const test = evaluate((x) => student.predict(x), data.test);
    const teacherTest = evaluate((x) => teacher.logits(x), data.test);
    const agree = agreement(teacherTest.logits, test.logits, data.test.numClasses);
    await saveModel(student, run.path("student"), { spec, role: "distilled student", teacher: values.teacher, temperature, alpha, data: settings.data, input: "pixels scaled to [0, 1]", outputs: "logits" });
    const result = {
      student: spec,
      params: student.paramCount,
      testAccuracy: test.accuracy,
      testErrors: test.errors,
      teacherTestAccuracy: teacherTest.accuracy,
      teacherParams: teacherModel.paramCount,
      agreementWithTeacher: agree,
      testSize: test.n,
      bestEpoch: fitResult.bestEpoch,
      trainSeconds: fitResult.seconds,
      teacherSeconds: fitResult.teacherSeconds,
      backend,
    };
    run.writeJson("results.json", result);
    const dir = run.finish();
    printResult(
      values,
      { ...result, runDir: dir, studentDir: `${dir}/student` },
      `${spec}: test accuracy ${(test.accuracy * 100).toFixed(2)}% (${test.errors} errors), teacher ${(teacherTest.accuracy * 100).toFixed(2)}%, agreement ${(agree * 100).toFixed(2)}%\nsaved to ${dir}/student`,
    );
    student.dispose();
    teacherModel.dispose();
  } catch (err) {
    run.discard();
    throw err;
  }
}

async function recipeCommand(values: Record<string, string | boolean | (string | boolean)[] | undefined>): Promise<void> {
  const allowed = new Set(["config", "out", "quiet", "json", "help", "backend"]);
  const extra = Object.keys(values).filter((k) => values[k] !== undefined && !allowed.has(k));
  if (extra.length) throw new UsageError(`distill: --${extra[0]} cannot be combined with --config (set it in the recipe)`);
  const file = String(values.config);
  const recipe = loadRecipe(file);
  if (values.backend) recipe.backend = (await selectBackend(values)) as typeof recipe.backend;
  const progress = reporterFrom(values);
  const run = RunFolder.create(recipe.name, (values.out as string | undefined) ?? recipe.output);
  try {
    run.writeJson("config.json", { command: "distill --config", file, recipe });
    const result = await runRecipe(recipe, { reporter: recordingReporter(run, progress), run, info: (m) => progress.info(m), source: file });
    run.writeJson("results.json", result);
    const dir = run.finish();
    result.runDir = dir;
    const s = result.student;
    printResult(
      values,
      result,
      `${recipe.name}: student ${s.spec} test accuracy ${(s.accuracy * 100).toFixed(2)}% (${s.errors} errors), teacher ${(result.teacher.accuracy * 100).toFixed(2)}%, agreement ${(s.agreementWithTeacher * 100).toFixed(2)}%\nsaved to ${dir}/student`,
    );
  } catch (err) {
    run.discard();
    throw err;
  }
}
