#!/usr/bin/env node
// Builds the optional BLAS addon (native/ → build/Release/tsdistill_native.node) with the node-gyp that ships
// inside npm. Run at install and by hand; it never fails: without a compiler, BLAS or Node headers it prints one
// line saying how to enable the fast path, and tsdistill uses the wasm backend.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const HINT = "install a C compiler and OpenBLAS (Debian/Ubuntu: apt-get install -y build-essential libopenblas-dev), then run `node scripts/build-native.mjs`";

function skip(reason) {
  console.log(`tsdistill: native BLAS backend not built (${reason}); using wasm — to enable it, ${HINT}`);
  process.exit(0);
}

function onPath(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

if (process.env.TSDISTILL_NO_NATIVE === "1") skip("TSDISTILL_NO_NATIVE=1");
if (!onPath(process.env.CC ?? "cc") && !onPath("gcc") && !onPath("clang")) skip("no C compiler found");
if (process.platform !== "darwin") {
  const includes = ["/usr/include", "/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu", "/usr/include/openblas", "/usr/local/include"];
  if (!includes.some((d) => existsSync(join(d, "cblas.h")))) skip("cblas.h not found");
  const libs = ["/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/local/lib"];
  if (!libs.some((d) => existsSync(join(d, "libopenblas.so")))) skip("libopenblas.so not found");
}

// Headers from the local Node install: node-gyp would otherwise try to download them.
const nodedir = process.env.npm_config_nodedir || resolve(dirname(process.execPath), "..");
if (!existsSync(join(nodedir, "include", "node", "node_api.h"))) skip(`Node headers not found under ${nodedir}/include/node`);

const npmDir = process.env.npm_execpath ? dirname(process.env.npm_execpath) : null;
const candidates = [
  npmDir && join(npmDir, "..", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  "/usr/share/nodejs/npm/node_modules/node-gyp/bin/node-gyp.js",
].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
if (!gyp) skip("node-gyp not found next to npm");

const result = spawnSync(process.execPath, [gyp, "rebuild", `--nodedir=${nodedir}`, "--loglevel=error"], {
  cwd: root,
  encoding: "utf8",
  env: { ...process.env, npm_config_nodedir: nodedir },
});
if (result.status !== 0) {
  const tail = `${result.stderr ?? ""}${result.stdout ?? ""}`.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "no output";
  skip(`node-gyp failed: ${tail}`);
}
console.log("tsdistill: native BLAS backend built (build/Release/tsdistill_native.node); use it with --backend native");
