import { parseOptions, numberOption } from "../args.js";
import { GLOBAL_HELP, GLOBAL_OPTIONS, recordingReporter, reporterFrom, selectBackend } from "./common.js";
import { demoConfig, demoConfigWith, formatDemoTable, runMnistDemo } from "../../demo/mnist-demo.js";
import { RunFolder } from "../../run/run-folder.js";
import { loadMnist } from "../../data/mnist.js";
import { readYamlFile } from "../../util/yaml-file.js";

export const DEMO_HELP = `tsdistill demo [--quick] [--config FILE] [options]

On MNIST: trains a teacher (784-1200-1200-10 with dropout) on the 55,000 training images, trains the student
784-800-800-10 alone on a transfer set (the first 20,000 of those images), distills the same student (same
initial weights, same images, same epochs) from the teacher, and prints test errors, accuracy, agreement with
the teacher, parameters, size on disk, batch-1 latency and the share of the student→teacher gap closed.
The teacher and the student-alone baseline train at the same time on the two cores. The default run took
12 minutes on a 2-core machine (≤ 15); --quick under 3.

  --quick                a smaller budget (teacher 2 epochs; students 4 epochs on 15,000 images)
  --config FILE          a YAML or JSON file of demo settings replacing the preset's, e.g.
                         {teacherTrainSize: 3000, trainSize: 1500, teacher: {spec: "mlp:96", epochs: 2}}
                         (fields: seed, teacherTrainSize, trainSize, validationSize, teacher.{spec, dropout,
                         inputDropout, jitter, epochs}, student.{spec, epochs}, temperature, alpha, batchSize, lr)
  --seed N               random seed (default 42; a seed in --config wins)
  --out DIR              run folder (default runs/<time>-demo)
${GLOBAL_HELP}`;

export async function demoCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("demo", argv, { ...GLOBAL_OPTIONS, quick: { type: "boolean" }, config: { type: "string" }, seed: { type: "string" }, out: { type: "string" } });
  if (values.help) return void process.stdout.write(DEMO_HELP + "\n");
  const seed = numberOption("seed", values.seed, { int: true, min: 0 }) ?? 42;
  const preset = demoConfig(Boolean(values.quick), seed);
  const file = values.config as string | undefined;
  const config = file === undefined ? preset : demoConfigWith(preset, readYamlFile(file, "a demo settings file"), file);
  await selectBackend(values);
  loadMnist(); // fail on missing data before creating the run folder
  const progress = reporterFrom(values);
  const run = RunFolder.create("demo", values.out as string | undefined);
  try {
    run.writeJson("config.json", { command: "demo", quick: Boolean(values.quick), ...(file === undefined ? {} : { configFile: file }), ...config });
    const reporter = recordingReporter(run, progress);
    const result = await runMnistDemo(config, { reporter, run, info: (m) => progress.info(m) });
    run.writeJson("results.json", result);
    const dir = run.finish();
    result.runDir = dir;
    if (values.json) process.stdout.write(JSON.stringify(result) + "\n");
    else process.stdout.write(`\n${formatDemoTable(result)}\nRun folder: ${dir}\n`);
  } catch (err) {
    run.discard();
    throw err;
  }
}
