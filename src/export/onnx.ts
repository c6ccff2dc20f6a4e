import type { onnx as Onnx } from "onnx-proto";
import { convPads, type Activation, type Padding } from "../engine/ops.js";
import type { LayerConfig } from "../students/layers.js";
import type { SequentialModel } from "../students/model.js";
import { TransformerModel } from "../students/transformer.js";
import { TsdistillError } from "../util/errors.js";
import { writeFileAtomic } from "../util/files.js";
import { checkOpset, checkQuantize, DataType, encodeModel, GraphBuilder, intAttr, intsAttr, onnx, tensorInfo, type GraphPreprocess, type OnnxExportOptions } from "./onnx-graph.js";
import { exportTransformerOnnx } from "./onnx-transformer.js";

export { ONNX_MAX_OPSET, ONNX_MIN_OPSET } from "./onnx-graph.js";
export type { GraphPreprocess, OnnxExportOptions } from "./onnx-graph.js";

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
  return tensorInfo(name, elemType, ["batch", ...sampleShape]);
}

/**
 * The model as an ONNX ModelProto (serialized). Input: float32 [batch, ...inputShape] in NHWC, the layout the
 * model is trained in; output: float32 [batch, ...outputShape] (the logits). Convolutions and pools run in
 * NCHW inside the graph: one Transpose before the first of them and one back before Flatten, so the flatten
 * order (and so the following dense kernel) matches TF.js. Dropout is dropped (inference graph).
 */
export function exportOnnx(model: SequentialModel | TransformerModel, opts: OnnxExportOptions = {}): Uint8Array {
  if (model instanceof TransformerModel) return exportTransformerOnnx(model, opts);
  const opset = checkOpset(opts.opset ?? 13);
  const quantize = checkQuantize(opts.quantize ?? "none");
  for (const key of ["quantizeEmbeddings", "positionIds", "pastKeyValues"] as const) {
    if (opts[key]) throw new TsdistillError(`ONNX export: ${key} applies to transformers only; this is a sequential model`);
  }
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
  const kernel = (layer: string, dims: number[], data: Float32Array, outAxis: number): string => g.weight(`${layer}/kernel`, dims, data, quantize, outAxis, layer);
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

  return encodeModel({
    opset,
    graphName: "tsdistill_model",
    g,
    inputs: [graphInput],
    outputs: [valueInfo(outputName, model.outputShape)],
    metadata: {
      "tsdistill.input_layout": "NHWC",
      "tsdistill.input_shape": JSON.stringify(model.config.inputShape),
      "tsdistill.quantize": quantize,
      "tsdistill.input_kind": pre ? pre.kind : "features",
      ...opts.metadata,
    },
    producer: opts.producer,
    docString: opts.docString,
  });
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

/**
 * Writes exportOnnx(model, opts) to `path` atomically (temp file in the same folder, then rename). Returns the byte
 * count. The one entry point for both kinds of model: a TransformerModel goes to exportTransformerOnnx.
 */
export function saveOnnx(model: SequentialModel | TransformerModel, path: string, opts: OnnxExportOptions = {}): number {
  const bytes = exportOnnx(model, opts);
  writeFileAtomic(path, bytes);
  return bytes.length;
}
