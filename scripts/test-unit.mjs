// `npm run test:unit`: runs the files listed in test/unit-tier.txt with Node's test runner (through tsx).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

const files = readFileSync("test/unit-tier.txt", "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"))
  .map((f) => `test/${f}`);
const missing = files.filter((f) => !existsSync(f));
if (missing.length > 0) {
  console.error(`test/unit-tier.txt: no such test file: ${missing.join(", ")}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
