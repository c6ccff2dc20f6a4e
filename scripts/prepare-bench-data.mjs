#!/usr/bin/env node
// sklearn's digits, wine and breast-cancer tables → CSVs with a header and a named `label` column, for
// bench/defaults.ts. The tables ship inside Debian's python3-sklearn package (no Python needed): it is fetched with
// `apt-get download` and unpacked with `dpkg-deb -x` into a temp folder. Idempotent: existing CSVs are kept; each
// file is written to a temp name, then renamed.
// Usage: node scripts/prepare-bench-data.mjs [OUT_DIR]   (default runs/data/sklearn)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

const out = process.argv[2] ?? "runs/data/sklearn";
// sklearn's feature names for wine (load_wine().feature_names), so that its records read well in examples.
const WINE_COLUMNS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280_od315", "proline"];
const TABLES = [
  { name: "digits", file: "digits.csv.gz", header: false, column: (i) => `p${i}`, label: (v) => v },
  { name: "wine", file: "wine_data.csv", header: true, column: (i) => WINE_COLUMNS[i], label: (v, names) => names[Number(v)] },
  { name: "breast-cancer", file: "breast_cancer.csv", header: true, column: (i) => `f${i}`, label: (v, names) => names[Number(v)] },
];

const missing = TABLES.filter((t) => !existsSync(join(out, `${t.name}.csv`)));
if (missing.length === 0) {
  process.stdout.write(`${out}: ${TABLES.map((t) => `${t.name}.csv`).join(", ")} already there\n`);
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), "tsdistill-sklearn-"));
try {
  try {
    execFileSync("apt-get", ["download", "python3-sklearn"], { cwd: work, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    process.stderr.write(`prepare-bench-data: 'apt-get download python3-sklearn' failed (${String(err.stderr ?? err.message).trim().split("\n").pop()}); run it on a Debian/Ubuntu machine with apt sources\n`);
    process.exit(1);
  }
  const deb = readdirSync(work).find((f) => f.startsWith("python3-sklearn") && f.endsWith(".deb"));
  execFileSync("dpkg-deb", ["-x", join(work, deb), join(work, "x")]);
  const dataDir = join(work, "x/usr/lib/python3/dist-packages/sklearn/datasets/data");
  mkdirSync(out, { recursive: true });
  for (const t of missing) {
    const raw = readFileSync(join(dataDir, t.file));
    const text = (t.file.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
    const rows = text.trim().split(/\r?\n/).map((l) => l.split(","));
    // sklearn's own header row: n_samples, n_features, then the class names.
    const names = t.header ? rows.shift().slice(2) : [];
    const width = rows[0].length - 1;
    const lines = [[...Array.from({ length: width }, (_, i) => t.column(i)), "label"].join(",")];
    for (const r of rows) lines.push([...r.slice(0, width), t.label(r[width].trim(), names)].join(","));
    const file = join(out, `${t.name}.csv`);
    writeFileSync(`${file}.tmp`, lines.join("\n") + "\n");
    renameSync(`${file}.tmp`, file);
    process.stdout.write(`wrote ${file}: ${rows.length} rows, ${width} features\n`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
