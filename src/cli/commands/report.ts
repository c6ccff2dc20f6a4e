import { parseOptions, numberOption } from "../args.js";
import { DATA_OPTIONS, dataOptionHelp, GLOBAL_HELP, GLOBAL_OPTIONS, dataSpec, printResult, selectBackend } from "./common.js";
import { DATA_SPECS_HELP } from "../../data/sources.js";
import { writeRunReport } from "../../report/run-report.js";
import { UsageError } from "../../util/errors.js";

export const REPORT_HELP = `tsdistill report --run DIR [--out FILE] [options]

Writes one self-contained HTML report of a run folder (from demo, train, distill or distill --config) and the
same data as JSON next to it (FILE with .json): the teacher-vs-student table from results.json, loss and
validation-accuracy curves for every phase in metrics.json, and, for the run's model folders evaluated on the
test split, reliability diagrams (ECE), confusion-matrix heat maps, per-class accuracy, latency and throughput.
The page uses no scripts and loads nothing from the network.

  --run DIR              the run folder
  --out FILE             the HTML file (default DIR/report.html; the JSON goes to DIR/report.json)
${dataOptionHelp("evaluate on this data set (default: the run's own)")}
  --batch N              batch size for the throughput measurement (default 256)
  --watts-per-core W     energy estimate: CPU time per 1,000 predictions × W watts per busy core (default 5)
  --no-eval              do not load or evaluate the models (curves and results.json only)
  --no-timing            evaluate the models but skip latency and throughput
${GLOBAL_HELP}

${DATA_SPECS_HELP}`;

export async function reportCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("report", argv, {
    ...GLOBAL_OPTIONS,
    run: { type: "string" },
    out: { type: "string" },
    ...DATA_OPTIONS,
    batch: { type: "string" },
    "watts-per-core": { type: "string" },
    "no-eval": { type: "boolean" },
    "no-timing": { type: "boolean" },
  });
  if (values.help) return void process.stdout.write(REPORT_HELP + "\n");
  if (!values.run) throw new UsageError("report: --run is required (a run folder, e.g. runs/<time>-demo)");
  const batchSize = numberOption("batch", values.batch, { int: true, min: 1 }) ?? 256;
  const evaluate = !values["no-eval"];
  const backend = evaluate ? await selectBackend(values) : null;
  const { html, json, report } = await writeRunReport(String(values.run), values.out as string | undefined, {
    data: values.data === undefined ? undefined : dataSpec(values),
    evaluate,
    timing: !values["no-timing"],
    batchSize,
    backend: backend ?? undefined,
    wattsPerCore: numberOption("watts-per-core", values["watts-per-core"], { min: 0, exclusiveMin: true }),
  });
  const models = report.evaluation?.models.map((m) => m.name) ?? [];
  printResult(
    values,
    { html, json, runDir: report.runDir, kind: report.kind, charts: report.charts, models, notes: report.notes },
    [`wrote ${html}`, `  and ${json}`, `${report.charts.length} charts (${report.charts.join(", ")})${models.length ? `; evaluated ${models.join(", ")} on ${report.data}` : ""}`, ...report.notes.map((n) => `note: ${n}`)].join("\n"),
  );
}
