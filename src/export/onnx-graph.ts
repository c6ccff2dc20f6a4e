import { readFileSync } from "node:fs";
import onnxProto from "onnx-proto";
import type { onnx as Onnx } from "onnx-proto";
import { TsdistillError } from "../util/errors.js";
import { quantizeWeightsInt8 } from "./quantize.js";

/** Graph-building pieces shared by the ONNX exporters (sequential models in onnx.ts, transformers in onnx-transformer.ts). */

// onnx-proto is a CommonJS bundle (module.exports = { onnx }): Node's ESM loader only offers it as the default export.
export const { onnx } = onnxProto;
export type { Onnx };

export const ONNX_MIN_OPSET = 13;
export const ONNX_MAX_OPSET = 18;

export const DataType = onnx.TensorProto.DataType;
const AttrType = onnx.AttributeProto.AttributeType;

export type Quantize = "none" | "int8";

/** What exportOnnx / saveOnnx take (onnx.ts; transformers: onnx-transformer.ts). */
export interface OnnxExportOptions {
  /** ONNX operator set (default 13; 13–18 supported). Transformers: default 17, 17–18 (see onnx-transformer.ts). */
  opset?: number;
  /** Name of the graph input (default "input"). Not for transformers: their inputs are input_ids and attention_mask. */
  inputName?: string;
  /** Name of the graph output (default "logits"; for a transformer's embed head "sentence_embedding"). */
  outputName?: string;
  /** ModelProto.producer_name (default "tsdistill"). */
  producer?: string;
  /** ModelProto.doc_string. */
  docString?: string;
  /**
   * "int8": kernels are stored as int8 with one symmetric float scale per output channel (per output unit for
   * dense layers) and dequantized in the graph by DequantizeLinear; biases stay float32. Default "none".
   * Note: onnxruntime's CPU optimizer (level "all", its default) turns DequantizeLinear → MatMul into its
   * MatMulNBits kernel, which by default (accuracy level 4) also quantizes the activations; the session config
   * entry "session.qdq_matmulnbits_accuracy_level" = "1" keeps fp32 math (exactly the graph's ONNX meaning).
   */
  quantize?: "none" | "int8";
  /**
   * Preprocessing put into the graph in front of the model (see graph-preprocess.ts): "pixels" takes uint8 RGB
   * [batch, height, width, 3] (cast, / 255, and the BT.601 luma for a one-channel model); "values" takes a numeric
   * tabular model's raw column values with NaN for missing (filled with the training mean, then standardised).
   * The graph input is then named "pixels" or "values" instead of `inputName`.
   */
  graphPreprocess?: GraphPreprocess;
  /** More metadata_props entries (key → value). */
  metadata?: Record<string, string>;
  /** Transformers, with quantize "int8": also store the token and position tables as int8 (one scale per row). Default false. */
  quantizeEmbeddings?: boolean;
  /** Transformers: take `position_ids` int64 [batch, sequence] as a third input (default false: positions 0…T−1). */
  positionIds?: boolean;
  /**
   * Causal transformer LMs: a key/value cache in Optimum's "with past" layout, for incremental decoding: inputs
   * `past_key_values.{i}.key|value` float [batch, heads, past_sequence, head_size] (past_sequence 0 for the
   * prompt), attention_mask over past + new tokens, outputs `present.{i}.key|value` (the cache to feed next).
   * Default false.
   */
  pastKeyValues?: boolean;
}

export type GraphPreprocess =
  | { kind: "pixels"; height: number; width: number; channels: 1 | 3 }
  | { kind: "values"; mean: number[]; std: number[] | null };

/** The IR version that goes with an opset: 7 for opset 13 (ONNX 1.8), 8 for opsets 14–18 (ONNX 1.9–1.14). */
export function irVersionFor(opset: number): number {
  return opset <= 13 ? 7 : 8;
}

export function producerVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "";
  } catch {
    return "";
  }
}

/** Checks the opset against [min, max] (default: every opset the exporters support); `why` says what sets the bounds. */
export function checkOpset(opset: number, min = ONNX_MIN_OPSET, max = ONNX_MAX_OPSET, why = ""): number {
  if (!Number.isInteger(opset) || opset < min || opset > max) {
    throw new TsdistillError(`ONNX export: opset ${opset} is not supported${why}; expected an integer from ${min} to ${max}`);
  }
  return opset;
}

export function checkQuantize(quantize: unknown): Quantize {
  if (quantize !== "none" && quantize !== "int8") throw new TsdistillError(`ONNX export: quantize "${String(quantize)}" is not supported; expected "none" or "int8"`);
  return quantize;
}

function float32LE(data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}

function int64LE(data: readonly number[]): Uint8Array {
  const out = new Uint8Array(data.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, BigInt(data[i]), true);
  return out;
}

export const intAttr = (name: string, i: number): Onnx.IAttributeProto => ({ name, type: AttrType.INT, i });
export const intsAttr = (name: string, ints: number[]): Onnx.IAttributeProto => ({ name, type: AttrType.INTS, ints });
export const floatAttr = (name: string, f: number): Onnx.IAttributeProto => ({ name, type: AttrType.FLOAT, f });

/** Collects nodes and initializers; every tensor name is checked to be new. */
export class GraphBuilder {
  readonly nodes: Onnx.INodeProto[] = [];
  readonly initializers: Onnx.ITensorProto[] = [];
  private readonly names = new Set<string>();

  constructor(reserved: string[]) {
    for (const n of reserved) this.claim(n);
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new TsdistillError(`ONNX export: tensor name "${name}" is used twice (layer names must not clash with the input/output names)`);
    this.names.add(name);
    return name;
  }

  /** Adds a node with one output named `output`; returns that name. */
  node(opType: string, name: string, inputs: string[], output: string, attribute: Onnx.IAttributeProto[] = []): string {
    this.nodes.push({ opType, name, input: inputs, output: [this.claim(output)], attribute });
    return output;
  }

  /**
   * Adds a node whose output is a name reserved in the constructor (a graph output): the exporter names the
   * graph's outputs up front so no layer can take them.
   */
  outputNode(opType: string, name: string, inputs: string[], output: string, attribute: Onnx.IAttributeProto[] = []): string {
    if (!this.names.has(output)) throw new Error(`ONNX export: "${output}" is not a reserved output name`);
    this.nodes.push({ opType, name, input: inputs, output: [output], attribute });
    return output;
  }

  /** Adds a node with several outputs; returns their names. */
  nodeOutputs(opType: string, name: string, inputs: string[], outputs: string[], attribute: Onnx.IAttributeProto[] = []): string[] {
    this.nodes.push({ opType, name, input: inputs, output: outputs.map((o) => this.claim(o)), attribute });
    return outputs;
  }

  floatInit(name: string, dims: number[], data: ArrayLike<number>): string {
    this.initializers.push({ name: this.claim(name), dims, dataType: DataType.FLOAT, rawData: float32LE(data) });
    return name;
  }

  int8Init(name: string, dims: number[], data: Int8Array): string {
    this.initializers.push({ name: this.claim(name), dims, dataType: DataType.INT8, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  int64Init(name: string, dims: number[], data: readonly number[]): string {
    this.initializers.push({ name: this.claim(name), dims, dataType: DataType.INT64, rawData: int64LE(data) });
    return name;
  }

  /**
   * A weight tensor named `name`: a float initializer, or (int8) an int8 initializer `${name}_int8` with one
   * symmetric scale per index of `axis` (`${name}_scale`, zero points `${name}_zero_point`) dequantized by a
   * DequantizeLinear node `${node}/DequantizeKernel` whose output is `name`. Returns `name`.
   */
  weight(name: string, dims: number[], data: Float32Array, quantize: Quantize, axis: number, node = name.replace(/\/[^/]*$/, "")): string {
    if (quantize === "none") return this.floatInit(name, dims, data);
    const { q, scales } = quantizeWeightsInt8(data, dims, axis);
    const qName = this.int8Init(`${name}_int8`, dims, q);
    const sName = this.floatInit(`${name}_scale`, [scales.length], scales);
    const zName = this.int8Init(`${name}_zero_point`, [scales.length], new Int8Array(scales.length));
    return this.node("DequantizeLinear", `${node}/DequantizeKernel`, [qName, sName, zName], name, [intAttr("axis", axis)]);
  }
}

/** A graph input/output: element type and dims (numbers are fixed sizes, strings are named dynamic ones). */
export function tensorInfo(name: string, elemType: number, dims: (number | string)[]): Onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) } } },
  };
}

export interface ModelParts {
  opset: number;
  graphName: string;
  g: GraphBuilder;
  inputs: Onnx.IValueInfoProto[];
  outputs: Onnx.IValueInfoProto[];
  metadata: Record<string, string>;
  producer?: string;
  docString?: string;
}

/** The serialized ModelProto (a plain copy, not a view of protobufjs's possibly pooled Buffer). */
export function encodeModel(p: ModelParts): Uint8Array {
  const modelProto: Onnx.IModelProto = {
    irVersion: irVersionFor(p.opset),
    opsetImport: [{ domain: "", version: p.opset }],
    producerName: p.producer ?? "tsdistill",
    producerVersion: producerVersion(),
    graph: { name: p.graphName, node: p.g.nodes, initializer: p.g.initializers, input: p.inputs, output: p.outputs },
    metadataProps: Object.entries(p.metadata).map(([key, value]) => ({ key, value })),
  };
  if (p.docString) modelProto.docString = p.docString;
  return new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create(modelProto)).finish());
}
