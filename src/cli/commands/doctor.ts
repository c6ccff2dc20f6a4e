import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseOptions } from "../args.js";
import { GLOBAL_OPTIONS, printResult, selectBackend } from "./common.js";
import { loadNativeAddon, nativeLoadError, NATIVE_ADDON_PATH } from "../../engine/native-addon.js";

export const DOCTOR_HELP = `tsdistill doctor [--backend auto|wasm|cpu|native] [--json]

Reports the compute setup: the backend a command would use (after any fallback), whether the native BLAS addon
loaded (and why not), the BLAS library with its build configuration and core type, its thread count, the CPU
model and the OPENBLAS_* environment.

  --backend NAME         the backend to check (default auto: native when the addon loads, else wasm)
  --json                 print the result as one JSON object`;

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"));
    if (line) return line.split(":")[1].trim();
  } catch {
    // not Linux: os.cpus() below
  }
  return cpus()[0]?.model ?? "unknown";
}

export interface DoctorReport {
  /** The backend a command runs on (auto resolved). */
  backend: string;
  /** What was asked for (--backend, default auto). */
  requested: string;
  nativeAddon: { loaded: true; path: string } | { loaded: false; reason: string | null };
  blas: { library: string; config: string; corename: string; threads: number } | null;
  threads: number | null;
  cpu: { model: string; cores: number };
  env: Record<string, string | undefined>;
  node: string;
}

/** The report for the backend now in use, and its human-readable form. */
export function doctorReport(backend: string, requested = backend): { report: DoctorReport; text: string } {
  const nativeAddon = loadNativeAddon();
  const blas = nativeAddon?.blasInfo() ?? null;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("OPENBLAS_") || k === "OMP_NUM_THREADS"));
  const report: DoctorReport = {
    backend,
    requested,
    nativeAddon: nativeAddon ? { loaded: true, path: NATIVE_ADDON_PATH } : { loaded: false, reason: nativeLoadError },
    blas,
    threads: blas?.threads ?? null,
    cpu: { model: cpuModel(), cores: cpus().length },
    env,
    node: process.version,
  };
  const lines = [
    `backend        ${backend}${requested === "auto" ? ` (auto: ${backend === "native" ? "the native addon loaded" : "no native addon, so wasm"})` : requested !== backend ? ` (${requested} was asked for)` : ""}`,
    `native addon   ${nativeAddon ? `loaded (${NATIVE_ADDON_PATH})` : `not loaded: ${nativeLoadError}`}`,
    `BLAS           ${blas ? `${blas.library} — ${blas.config}` : "none (the wasm and cpu backends do not use BLAS)"}`,
    `BLAS core      ${blas?.corename ?? "–"}`,
    `BLAS threads   ${blas?.threads ?? "–"}`,
    `CPU            ${report.cpu.model} (${report.cpu.cores} cores)`,
    `environment    ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ") || "no OPENBLAS_* variables set"}`,
    `node           ${process.version}`,
  ];
  return { report, text: lines.join("\n") };
}

export async function doctorCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("doctor", argv, GLOBAL_OPTIONS);
  if (values.help) {
    process.stdout.write(DOCTOR_HELP + "\n");
    return;
  }
  const { report, text } = doctorReport(await selectBackend(values), typeof values.backend === "string" ? values.backend : "auto");
  printResult(values, report, text);
}
