#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm ci` / `npm run build`); falls back to the TypeScript sources
// through tsx when dist/ has not been built.
import { existsSync } from "node:fs";

const compiled = new URL("../dist/cli/main.js", import.meta.url);
let main;
if (existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import(new URL("../src/cli/main.ts", import.meta.url).href));
}
const code = await main(process.argv.slice(2));
// The wasm backend keeps no handles open, but exit explicitly so a stray timer cannot hold the process.
process.exit(code);
