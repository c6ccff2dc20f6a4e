import { readFileSync } from "node:fs";
import onnxProto from "onnx-proto";
import type { onnx as Onnx } from "onnx-proto";
import { convPads, type Activation, type Padding } from "../engine/ops.js";
import type { LayerConfig } from "../students/layers.js";
import type { SequentialModel } from "../students/model.js";
import { TsdistillError } from "../util/errors.js";
import { writeFileAtomic } from "../util/files.js";
import { quantizeWeightsInt8 } from "./quantize.js";

// onnx-proto is a CommonJS bundle (module.exports = { onnx }): Node's ESM loader only offers it as the default export.
const { onnx } = onnxProto;

export interface OnnxExportOptions {
  /** ONNX operator set (default 13; 13–18 supported). */
  opset?: number;
  /** Name of the graph input (default "input"). */
  inputName?: string;
  /** Name of the graph output (default "logits"). */
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
}

export type GraphPreprocess =
  | { kind: "pixels"; height: number; width: number; channels: 1 | 3 }
  | { kind: "values"; mean: number[]; std: number[] | null };

export const ONNX_MIN_OPSET = 13;
export const ONNX_MAX_OPSET = 18;

const DataType = onnx.TensorProto.DataType;
const AttrType = onnx.AttributeProto.AttributeType;

/** The IR version that goes with an opset: 7 for opset 13 (ONNX 1.8), 8 for opsets 14–18 (ONNX 1.9–1.14). */
function irVersionFor(opset: number): number {
  return opset <= 13 ? 7 : 8;
}

function producerVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "";
  } catch {
    return "";
  }
}

function float32LE(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}

const intAttr = (name: string, i: number): Onnx.IAttributeProto => ({ name, type: AttrType.INT, i });
const intsAttr = (name: string, ints: number[]): Onnx.IAttributeProto => ({ name, type: AttrType.INTS, ints });

/** Collects nodes and initializers; every tensor name is checked to be new. */
class GraphBuilder {
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

  floatInit(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name: this.claim(name), dims, dataType: DataType.FLOAT, rawData: float32LE(data) });
    return name;
  }

  int8Init(name: string, dims: number[], data: Int8Array): string {
    this.initializers.push({ name: this.claim(name), dims, dataType: DataType.INT8, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }
}

const ACTIVATION_OPS: Record<Activation, string | null> = { linear: null, relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh" };

/** [top, left, bottom, right] for ONNX `pads`, TF's rule (the odd pixel goes bottom/right); null when all zero. */
function tfPads(h: number, w: number, k: number, stride: number, padding: Padding): { pads: number[] | null; oh: number; ow: number } {
  const ph = convPads(h, k, stride, padding);
  const pw = convPads(w, k, stride, padding);
  const pads = [ph.before, pw.before, ph.after, pw.after];
  return { pads: pads.some((p) => p !== 0) ? pads : null, oh: ph.out, ow: pw.out };
}

/** [kh, kw, cin, cout] (TF) → [cout, cin, kh, kw] (ONNX). */
function convKernelToOihw(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cin; c++)
        for (let o = 0; o < cout; o++) dst[((o * cin + c) * kh + i) * kw + j] = src[((i * kw + j) * cin + c) * cout + o];
  return dst;
}

function valueInfo(name: string, sampleShape: number[], elemType: number = DataType.FLOAT): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: [{ dimParam: "batch" }, ...sampleShape.map((d) => ({ dimValue: d }))] },
      },
    },
  };
}

/**
 * The model as an ONNX ModelProto (serialized). Input: float32 [batch, ...inputShape] in NHWC, the layout the
 * model is trained in; output: float32 [batch, ...outputShape] (the logits). Convolutions and pools run in
 * NCHW inside the graph: one Transpose before the first of them and one back before Flatten, so the flatten
 * order (and so the following dense kernel) matches TF.js. Dropout is dropped (inference graph).
 */
export function exportOnnx(model: SequentialModel, opts: OnnxExportOptions = {}): Uint8Array {
  const opset = opts.opset ?? 13;
  if (!Number.isInteger(opset) || opset < ONNX_MIN_OPSET || opset > ONNX_MAX_OPSET) {
    throw new TsdistillError(`ONNX export: opset ${opset} is not supported; expected an integer from ${ONNX_MIN_OPSET} to ${ONNX_MAX_OPSET}`);
  }
  const quantize = opts.quantize ?? "none";
  if (quantize !== "none" && quantize !== "int8") throw new TsdistillError(`ONNX export: quantize "${String(quantize)}" is not supported; expected "none" or "int8"`);
  const inputName = opts.inputName ?? "input";
  const outputName = opts.outputName ?? "logits";
  if (!inputName || !outputName || inputName === outputName) {
    throw new TsdistillError(`ONNX export: input and output names must be non-empty and different, got "${inputName}" and "${outputName}"`);
  }

  const pre = opts.graphPreprocess;
  const graphInputName = pre ? pre.kind : inputName;
  if (pre && graphInputName === outputName) throw new TsdistillError(`ONNX export: output name "${outputName}" clashes with the graph input "${graphInputName}"`);
  const g = new GraphBuilder([graphInputName, outputName]);
  let cur = graphInputName;
  let graphInput = valueInfo(graphInputName, model.config.inputShape);
  if (pre) {
    const r = prependPreprocess(g, pre, model.config.inputShape);
    cur = r.output;
    graphInput = r.input;
  }
  let shape = [...model.config.inputShape]; // per-sample shape, always in the model's own (NHWC) order
  let nchw = false; // whether `cur` is in NCHW order (only between a conv/pool and the next flatten or the end)

  const toNchw = (layer: string) => {
    if (nchw || shape.length !== 3) return;
    cur = g.node("Transpose", `${layer}/ToNCHW`, [cur], `${layer}/input_nchw`, [intsAttr("perm", [0, 3, 1, 2])]);
    nchw = true;
  };
  const toNhwc = (layer: string) => {
    if (!nchw) return;
    cur = g.node("Transpose", `${layer}/ToNHWC`, [cur], `${layer}/input_nhwc`, [intsAttr("perm", [0, 2, 3, 1])]);
    nchw = false;
  };
  const activation = (layer: string, act: Activation) => {
    const op = ACTIVATION_OPS[act];
    if (op) cur = g.node(op, `${layer}/${op}`, [cur], `${layer}/${op.toLowerCase()}`);
  };
  /** A kernel initializer (float, or int8 + scales + DequantizeLinear); returns the float kernel's tensor name. */
  const kernel = (layer: string, dims: number[], data: Float32Array, outAxis: number): string => {
    const name = `${layer}/kernel`;
    if (quantize === "none") return g.floatInit(name, dims, data);
    const { q, scales } = quantizeWeightsInt8(data, dims, outAxis);
    const qName = g.int8Init(`${name}_int8`, dims, q);
    const sName = g.floatInit(`${name}_scale`, [scales.length], scales);
    const zName = g.int8Init(`${name}_zero_point`, [scales.length], new Int8Array(scales.length));
    return g.node("DequantizeLinear", `${layer}/DequantizeKernel`, [qName, sName, zName], name, [intAttr("axis", outAxis)]);
  };
  const paramData = (layerIndex: number, i: number): Float32Array => new Float32Array(model.layers[layerIndex].params[i].dataSync() as Float32Array);

  model.layers.forEach((layer, li) => {
    const c: LayerConfig = layer.config;
    const n = c.name;
    switch (c.type) {
      case "dropout":
        break; // identity at inference
      case "dense": {
        if (shape.length !== 1) throw new TsdistillError(`ONNX export: layer ${n}: dense expects a flat input, got shape [${shape}]`);
        const units = c.units;
        const w = kernel(n, [shape[0], units], paramData(li, 0), 1);
        const inputs = [cur, w];
        if (c.useBias) inputs.push(g.floatInit(`${n}/bias`, [units], paramData(li, 1)));
        cur = g.node("Gemm", `${n}/Gemm`, inputs, `${n}/gemm`);
        activation(n, c.activation);
        shape = [units];
        break;
      }
      case "conv2d": {
        if (shape.length !== 3) throw new TsdistillError(`ONNX export: layer ${n}: conv2d expects an [height, width, channels] input, got [${shape}]`);
        const [h, w, cin] = shape;
        const k = c.kernelSize;
        toNchw(n);
        const weights = convKernelToOihw(paramData(li, 0), k, k, cin, c.filters);
        const wName = kernel(n, [c.filters, cin, k, k], weights, 0);
        const inputs = [cur, wName];
        if (c.useBias) inputs.push(g.floatInit(`${n}/bias`, [c.filters], paramData(li, 1)));
        const { pads, oh, ow } = tfPads(h, w, k, c.strides, c.padding);
        const attrs = [intsAttr("kernel_shape", [k, k]), intsAttr("strides", [c.strides, c.strides]), intsAttr("dilations", [1, 1]), intAttr("group", 1)];
        if (pads) attrs.push(intsAttr("pads", pads));
        cur = g.node("Conv", `${n}/Conv`, inputs, `${n}/conv`, attrs);
        activation(n, c.activation);
        shape = [oh, ow, c.filters];
        break;
      }
      case "maxPool2d":
      case "avgPool2d": {
        if (shape.length !== 3) throw new TsdistillError(`ONNX export: layer ${n}: pooling expects an [height, width, channels] input, got [${shape}]`);
        const [h, w, ch] = shape;
        toNchw(n);
        const { pads, oh, ow } = tfPads(h, w, c.poolSize, c.strides, c.padding);
        const attrs = [intsAttr("kernel_shape", [c.poolSize, c.poolSize]), intsAttr("strides", [c.strides, c.strides])];
        if (pads) attrs.push(intsAttr("pads", pads));
        if (c.type === "maxPool2d") {
          cur = g.node("MaxPool", `${n}/MaxPool`, [cur], `${n}/maxpool`, attrs);
        } else {
          // TF averages over the window's in-bounds pixels only.
          attrs.push(intAttr("count_include_pad", 0));
          cur = g.node("AveragePool", `${n}/AveragePool`, [cur], `${n}/avgpool`, attrs);
        }
        shape = [oh, ow, ch];
        break;
      }
      case "flatten": {
        toNhwc(n); // TF.js flattens NHWC data: flattening NCHW would permute the next dense layer's inputs
        cur = g.node("Flatten", `${n}/Flatten`, [cur], `${n}/flatten`, [intAttr("axis", 1)]);
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      }
    }
    if (!sameShape(shape, layer.outputShape)) {
      throw new Error(`ONNX export: layer ${n}: computed output shape [${shape}] but the model has [${layer.outputShape}]`);
    }
  });
  toNhwc("output");
  if (cur === graphInputName) cur = g.node("Identity", "output/Identity", [cur], "output/identity");
  // The last node writes the graph output directly.
  const last = g.nodes[g.nodes.length - 1];
  last.output = [outputName];

  const modelProto: Onnx.IModelProto = {
    irVersion: irVersionFor(opset),
    opsetImport: [{ domain: "", version: opset }],
    producerName: opts.producer ?? "tsdistill",
    producerVersion: producerVersion(),
    graph: {
      name: "tsdistill_model",
      node: g.nodes,
      initializer: g.initializers,
      input: [graphInput],
      output: [valueInfo(outputName, model.outputShape)],
    },
    metadataProps: [
      { key: "tsdistill.input_layout", value: "NHWC" },
      { key: "tsdistill.input_shape", value: JSON.stringify(model.config.inputShape) },
      { key: "tsdistill.quantize", value: quantize },
      { key: "tsdistill.input_kind", value: pre ? pre.kind : "features" },
      ...Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    ],
  };
  if (opts.docString) modelProto.docString = opts.docString;
  const encoded = onnx.ModelProto.encode(onnx.ModelProto.create(modelProto)).finish();
  return new Uint8Array(encoded); // a plain copy, not a view of protobufjs's (possibly pooled) Buffer
}

/**
 * The preprocessing nodes in front of the model: returns the graph input's description and the tensor that feeds
 * the first layer. Pixels: Cast → Div 255 (→ MatMul by the luma weights for a one-channel model). Values: IsNaN →
 * Where (training mean) → Sub mean → Div std.
 */
function prependPreprocess(g: GraphBuilder, pre: GraphPreprocess, inputShape: number[]): { input: Onnx.IValueInfoProto; output: string } {
  if (pre.kind === "pixels") {
    const [h, w, c] = inputShape;
    if (inputShape.length !== 3 || h !== pre.height || w !== pre.width || c !== pre.channels) {
      throw new TsdistillError(`ONNX export: pixel preprocessing for ${pre.height}×${pre.width}×${pre.channels} does not fit the model input [${inputShape}]`);
    }
    let cur = g.node("Cast", "preprocess/Cast", ["pixels"], "preprocess/pixels_float", [intAttr("to", DataType.FLOAT)]);
    cur = g.node("Div", "preprocess/Scale", [cur, g.floatInit("preprocess/255", [], Float32Array.of(255))], "preprocess/scaled");
    if (pre.channels === 1) cur = g.node("MatMul", "preprocess/Gray", [cur, g.floatInit("preprocess/luma", [3, 1], Float32Array.of(0.299, 0.587, 0.114))], "preprocess/gray");
    return { input: valueInfo("pixels", [h, w, 3], DataType.UINT8), output: cur };
  }
  const n = pre.mean.length;
  if (inputShape.length !== 1 || inputShape[0] !== n || (pre.std && pre.std.length !== n)) {
    throw new TsdistillError(`ONNX export: ${n} value columns do not fit the model input [${inputShape}]`);
  }
  const mean = g.floatInit("preprocess/mean", [n], Float32Array.from(pre.mean));
  const missing = g.node("IsNaN", "preprocess/IsMissing", ["values"], "preprocess/is_missing");
  let cur = g.node("Where", "preprocess/FillMissing", [missing, mean, "values"], "preprocess/filled");
  if (pre.std) {
    cur = g.node("Sub", "preprocess/Center", [cur, mean], "preprocess/centered");
    cur = g.node("Div", "preprocess/Standardize", [cur, g.floatInit("preprocess/std", [n], Float32Array.from(pre.std))], "preprocess/standardized");
  }
  return { input: valueInfo("values", [n]), output: cur };
}

/** The graph input kind recorded by exportOnnx (metadata tsdistill.input_kind): "features" for older files. */
export function onnxInputKind(bytes: Uint8Array): { kind: "features" | "pixels" | "values"; metadata: Record<string, string> } {
  const m = onnx.ModelProto.decode(bytes);
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? "";
  const k = metadata["tsdistill.input_kind"];
  return { kind: k === "pixels" || k === "values" ? k : "features", metadata };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Writes exportOnnx(model, opts) to `path` atomically (temp file in the same folder, then rename). Returns the byte count. */
export function saveOnnx(model: SequentialModel, path: string, opts: OnnxExportOptions = {}): number {
  const bytes = exportOnnx(model, opts);
  writeFileAtomic(path, bytes);
  return bytes.length;
}
