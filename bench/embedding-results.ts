// The use-embeddings section of docs/RESULTS.md from a finished full run of recipes/use-embeddings.yaml:
//   node --import tsx bench/embedding-results.ts runs/<run folder>
// It replaces the block between the markers below (or appends it); bench/results.ts keeps the block when it
// rewrites the page. Measured numbers only: everything comes from the run's results.json and config.json.
import { existsSync, readFileSync, statSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { embeddingRecipeTable, type EmbeddingRecipeResult } from "../src/experiments/embedding-run.js";
import { writeFileAtomic } from "../src/util/files.js";

export const EMBEDDING_RESULTS_START = "<!-- use-embeddings:start -->";
export const EMBEDDING_RESULTS_END = "<!-- use-embeddings:end -->";

const dir = process.argv[2];
const note = process.argv[3] ?? "";
if (!dir || !existsSync(join(dir, "results.json"))) {
  process.stderr.write("usage: node --import tsx bench/embedding-results.ts RUN_DIR [NOTE]  (a finished run of recipes/use-embeddings.yaml)\n");
  process.exit(2);
}
const r = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as EmbeddingRecipeResult;
if (r.quick) throw new Error(`${dir}: a --quick run; RESULTS.md holds full runs only`);
const date = statSync(join(dir, "results.json")).mtime.toISOString().slice(0, 10);
const teacher = r.rows.find((x) => x.role === "teacher")!;
const ft = r.rows.find((x) => x.role === "fine-tuned teacher");
const best = (role: string) => r.rows.filter((x) => x.role === role).sort((a, b) => b.retention - a.retention)[0];
const emb = [...r.rows.filter((x) => x.role === "static" || x.role === "trained")].sort((a, b) => b.retention - a.retention)[0];
const small = r.rows.filter((x) => (x.role === "static" || x.role === "trained") && x.smaller >= 20 && x.faster >= 20).sort((a, b) => b.retention - a.retention)[0];
const dc = best("distilled classifier");
const da = best("classifier alone");
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const classifierVerdict = (x: typeof dc) => `${x.model}: ${pct(x.retention)} (${pct(x.accuracy)} vs ${pct(ft!.accuracy)}) at ${x.faster.toFixed(0)}× faster, ${x.smaller.toFixed(1)}× smaller. ${x.retention >= 0.97 && x.faster >= 10 ? "Met." : "Not met."}`;
// Runs from before the on-topic transfer set have no onTopic count: all their unlabeled quotes were off-topic.
const onTopic = r.data.onTopic ?? 0;
const spamRow = r.rows.find((x) => x.probes?.spam);
const spam = spamRow ? "a seeded sample of up to 300 emails per class, split like the fortunes" : "";
const lines = [
  EMBEDDING_RESULTS_START,
  "## use-embeddings",
  "",
  `Command: \`npx tsdistill run recipes/use-embeddings.yaml\` — ${date}, backend wasm, seed 0, ${Math.round(r.seconds)} s (teacher vectors from runs/embedding-cache where present), on ${cpus().length} cores shared with other jobs (load average ${loadavg()[0].toFixed(0)} when this page was written): timings are noisy, accuracies deterministic.${note ? ` ${note}` : ""}`,
  "",
  `Teacher USE-lite (texts cut to ${r.data.maxTokens} tokens). Labelled: Debian fortunes, ${r.data.categories.length} categories (${r.data.categories.join(", ")}), ${r.data.labelled} quotes, ${r.data.train} train / ${r.data.test} test${(r.data.splits ?? 1) > 1 ? ` on each of ${r.data.splits} seeded splits (accuracy: the mean over the splits, each split's in results.json; the fine-tuned teacher and the classifiers are trained again on each; the saved classifiers are the first split's)` : ""}; cosine and NN@10 on ${r.data.heldOut ?? r.data.test} held-out quotes (text no student was refined or trained on); unlabeled (transfer and refinement text): ${r.data.unlabeled} quotes, ${onTopic} of them quotes of the labelled categories not drawn for the labelled set (labels discarded; never a labelled quote), ${r.data.unlabeled - onTopic} of the other categories${r.data.augmented ? `; the classifiers' transfer set adds ${r.data.augmented} augmented copies of the training quotes (Tang et al. 2019: words dropped with p 0.1, cut to a 1–5-gram with p 0.25; teacher-labelled only)` : ""}${r.data.refineVariants ? `; the refined and contextual tables also see ${r.data.refineVariants} teacher-read variants of the unlabeled quotes (static.refine.augment: words dropped with p 0.3, cut to a 1–16-word span with p 0.5)` : ""}. Static, contextual (+ context: a context layer over the table) and bag students run in the JavaScript runtime, the teacher in TF.js wasm. MB: what a page loads (config, table, tokenizer); int8 / fp16: the table stored quantised (int8 with a float32 scale per row), probed as stored. Accuracy: linear probe on frozen vectors (classifiers: their own test accuracy); retention: of the teacher's probe accuracy (classifiers: of the fine-tuned teacher's).${spam ? ` spam probe: the same probe on ${spam} (SpamAssassin, runs/data/spam-assassin.jsonl from \`node scripts/prepare-spam.mjs\`), retention of the teacher's.` : ""}`,
  "",
  embeddingRecipeTable(r),
  "",
  `Targets (issue 17): an embedding student ≥ 20× smaller and faster keeping ≥ 95 % of the probe accuracy — ${small ? `best at ≥ 20× smaller and ≥ 20× faster: ${small.model}, ${pct(small.retention)} at ${small.smaller.toFixed(1)}× smaller and ${small.faster.toFixed(0)}× faster${small.probes?.spam ? ` (spam probe: ${pct(small.probes.spam.retention)} of the teacher's)` : ""}` : "no student here is ≥ 20× smaller and ≥ 20× faster"}; best of all: ${emb.model}, ${pct(emb.retention)} (${emb.smaller.toFixed(1)}× smaller). ${(small?.retention ?? 0) >= 0.95 ? "Met." : "Not met."} A distilled classifier ≥ 97 % of the fine-tuned teacher at ≥ 10× speed-up — ${dc && ft ? `fine-tune then distil (trained on the fine-tuned teacher's logits): best ${classifierVerdict(dc)}${da ? ` Distil then fine-tune (DistilBERT's route: a student whose table was distilled from the teacher, fine-tuned on the labelled quotes alone): best ${classifierVerdict(da)}` : ""}` : "no classifier in this run."} Teacher probe: ${pct(teacher.accuracy)}.`,
  EMBEDDING_RESULTS_END,
].join("\n");
const path = "docs/RESULTS.md";
const doc = readFileSync(path, "utf8");
const start = doc.indexOf(EMBEDDING_RESULTS_START);
const end = doc.indexOf(EMBEDDING_RESULTS_END);
const next = start >= 0 && end > start ? doc.slice(0, start) + lines + doc.slice(end + EMBEDDING_RESULTS_END.length) : `${doc.trimEnd()}\n\n${lines}\n`;
writeFileAtomic(path, next);
process.stdout.write(`wrote the use-embeddings section of ${path}\n`);
