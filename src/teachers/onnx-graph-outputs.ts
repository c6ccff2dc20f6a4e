import onnxProto from "onnx-proto";
import { DataError } from "../util/errors.js";

const { onnx } = onnxProto;

/**
 * The model's bytes with the named intermediate tensors added as graph outputs, so onnxruntime returns them.
 * Each is declared with its value_info (type and shape) when the file carries one (shape inference was run on it),
 * else with its name only: onnxruntime infers the type itself when it resolves the graph.
 */
export function withExtraOutputs(bytes: Uint8Array, names: readonly string[], file: string): Uint8Array {
  if (names.length === 0) return bytes;
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new DataError(file, `is not an ONNX model (${(err as Error).message})`);
  }
  const graph = model.graph;
  if (!graph) throw new DataError(file, "has no graph");
  const produced = new Set<string>();
  for (const i of graph.input ?? []) if (i.name) produced.add(i.name);
  for (const node of graph.node ?? []) for (const o of node.output ?? []) if (o) produced.add(o);
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const infos = new Map((graph.valueInfo ?? []).map((v) => [v.name, v]));
  for (const name of names) {
    if (!produced.has(name)) {
      const sample = [...produced].filter((n) => !(graph.initializer ?? []).some((t) => t.name === n)).slice(0, 12);
      throw new DataError(file, `has no tensor named "${name}" to capture (node outputs include: ${sample.join(", ")}${produced.size > 12 ? ", …" : ""})`);
    }
    if (outputs.has(name)) continue;
    (graph.output ??= []).push(infos.get(name) ?? onnx.ValueInfoProto.create({ name }));
    outputs.add(name);
  }
  return onnx.ModelProto.encode(model).finish();
}
