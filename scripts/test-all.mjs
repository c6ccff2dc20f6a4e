// `npm test`: every test/*.test.ts with Node's test runner (through tsx), two files at a time. The files named in
// test/slow-first.txt start first, in that order, then the rest alphabetically: the runner starts files in the
// order given, so a long file started last would run alone on one core at the end (longest first keeps both busy).
// Extra arguments go to the runner (e.g. --test-reporter=tap).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

const all = readdirSync("test")
  .filter((f) => f.endsWith(".test.ts"))
  .sort();
const first = readFileSync("test/slow-first.txt", "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const missing = first.filter((f) => !existsSync(`test/${f}`));
if (missing.length > 0) {
  console.error(`test/slow-first.txt: no such test file: ${missing.join(", ")}`);
  process.exit(2);
}
const files = [...first, ...all.filter((f) => !first.includes(f))].map((f) => `test/${f}`);
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...process.argv.slice(2), ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
