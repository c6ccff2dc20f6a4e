import { convPads, type Activation, type Padding } from "../engine/ops.js";
import type { LayerConfig } from "../students/layers.js";
import type { SequentialModel } from "../students/model.js";
import { TransformerModel } from "../students/transformer.js";
import { TsdistillError } from "../util/errors.js";
import { writeFileAtomic } from "../util/files.js";
import { checkOpset, checkQuantize, DataType, encodeModel, GraphBuilder, intAttr, intsAttr, tensorInfo } from "./onnx-graph.js";
import { exportTransformerOnnx } from "./onnx-transformer.js";

export { ONNX_MAX_OPSET, ONNX_MIN_OPSET } from "./onnx-graph.js";

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
  /** Transformers, with quantize "int8": also store the token and position tables as int8 (one scale per row). Default false. */
  quantizeEmbeddings?: boolean;
  /** Transformers: take `position_ids` int64 [batch, sequence] as a third input (default false: positions 0…T−1). */
  positionIds?: boolean;
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
  for (const key of ["quantizeEmbeddings", "positionIds"] as const) {
    if (opts[key]) throw new TsdistillError(`ONNX export: ${key} applies to transformers only; this is a sequential model`);
  }
  const inputName = opts.inputName ?? "input";
  const outputName = opts.outputName ?? "logits";
  if (!inputName || !outputName || inputName === outputName) {
    throw new TsdistillError(`ONNX export: input and output names must be non-empty and different, got "${inputName}" and "${outputName}"`);
  }

  const g = new GraphBuilder([inputName, outputName]);
  let cur = inputName;
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
  if (cur === inputName) cur = g.node("Identity", "output/Identity", [cur], "output/identity");
  // The last node writes the graph output directly.
  const last = g.nodes[g.nodes.length - 1];
  last.output = [outputName];

  return encodeModel({
    opset,
    graphName: "tsdistill_model",
    g,
    inputs: [tensorInfo(inputName, DataType.FLOAT, ["batch", ...model.config.inputShape])],
    outputs: [tensorInfo(outputName, DataType.FLOAT, ["batch", ...model.outputShape])],
    metadata: { "tsdistill.input_layout": "NHWC", "tsdistill.input_shape": JSON.stringify(model.config.inputShape), "tsdistill.quantize": quantize },
    producer: opts.producer,
    docString: opts.docString,
  });
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
