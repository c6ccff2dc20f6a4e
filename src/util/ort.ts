// onnxruntime-node, loaded on first use: importing tsdistill must not load its native binding (about 30 MB and a
// thread pool) for programs that never open an ONNX model.
import { createRequire } from "node:module";
import type * as Ort from "onnxruntime-node";

let loaded: typeof Ort | null = null;

export function ortModule(): typeof Ort {
  return (loaded ??= createRequire(import.meta.url)("onnxruntime-node") as typeof Ort);
}
