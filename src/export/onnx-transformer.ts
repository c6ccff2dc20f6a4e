import { outputWidth, type TransformerConfig } from "../students/transformer-config.js";
import type { TransformerModel } from "../students/transformer.js";
import { TsdistillError } from "../util/errors.js";
import { checkOpset, checkQuantize, DataType, encodeModel, floatAttr, GraphBuilder, intAttr, intsAttr, tensorInfo, type OnnxExportOptions, type Quantize } from "./onnx-graph.js";

/**
 * A TransformerModel as an ONNX graph with dynamic batch and sequence length, under the names of a Hugging Face
 * Optimum export so the file can serve as an ONNX causal-LM teacher:
 *   inputs  input_ids int64 [batch, sequence], attention_mask int64 [batch, sequence] (non-zero = real token),
 *           optionally position_ids int64 [batch, sequence] (default: 0…sequence−1 on every row);
 *   output  logits [batch, sequence, vocab] (head lm), logits [batch, classes] (classify) or
 *           sentence_embedding [batch, embedDim] (embed, the name of Optimum's sentence-transformers export).
 * With `pastKeyValues` (causal LMs): Optimum's "with past" layout — inputs past_key_values.{i}.key|value
 * [batch, heads, past_sequence, head_size] for blocks i = 0…layers−1 (past_sequence 0 for the prompt), attention_mask
 * [batch, past_sequence + sequence], positions past_sequence…; outputs logits and present.{i}.key|value (the keys
 * and values of every position so far, to feed as the next call's past). Without it every call runs the whole
 * sequence.
 *
 * Opset 17 (18 also accepted): LayerNormalization is one standard node there (at 13 it would be seven nodes that
 * onnxruntime fuses back anyway), and every other op used means the same at 13–18. Not higher: onnx.ts's
 * range, and Gelu (opset 20) is not needed — the tanh form is composed from Pow/Mul/Add/Tanh, exactly TF.js's.
 *
 * Masks are built in the graph as one boolean [batch, 1, sequence|1, sequence] "masked" tensor — key is padding
 * (attention_mask = 0) OR (causal) key position > query position, from Range(0, sequence) compared with itself —
 * turned into an additive −1e9 by Where. Like TF.js, a key masked for both reasons gets −1e9 once, so even rows
 * with every key masked give the same (uniform) attention as TF.js. TF.js derives padding from the pad id in the
 * ids; the graph takes it from attention_mask, so the two agree when attention_mask = (input_ids ≠ padId).
 */

const MASKED = -1e9;
const LN_EPSILON = 1e-5;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

export const TRANSFORMER_ONNX_DEFAULT_OPSET = 17;
export const TRANSFORMER_ONNX_MIN_OPSET = 17;

/** The graph's input and output names for a config and options. */
export function transformerOnnxNames(config: TransformerConfig, opts: Pick<OnnxExportOptions, "positionIds" | "outputName" | "pastKeyValues"> = {}): { inputs: string[]; output: string; presents: string[] } {
  const cache = (prefix: string) => (opts.pastKeyValues ? Array.from({ length: config.layers }, (_, i) => [`${prefix}.${i}.key`, `${prefix}.${i}.value`]).flat() : []);
  const inputs = ["input_ids", "attention_mask", ...(opts.positionIds ? ["position_ids"] : []), ...cache("past_key_values")];
  return { inputs, output: opts.outputName ?? (config.head === "embed" ? "sentence_embedding" : "logits"), presents: cache("present") };
}

export function exportTransformerOnnx(model: TransformerModel, opts: OnnxExportOptions = {}): Uint8Array {
  const c = model.config;
  const opset = checkOpset(opts.opset ?? TRANSFORMER_ONNX_DEFAULT_OPSET, TRANSFORMER_ONNX_MIN_OPSET, undefined, " for a transformer (LayerNormalization needs 17)");
  const quantize = checkQuantize(opts.quantize ?? "none");
  if (opts.inputName !== undefined) throw new TsdistillError(`ONNX export: inputName does not apply to a transformer; its inputs are input_ids and attention_mask`);
  if (opts.graphPreprocess) throw new TsdistillError(`ONNX export: graphPreprocess does not apply to a transformer; it takes token ids (tokenize before the graph)`);
  if (opts.quantizeEmbeddings && quantize !== "int8") throw new TsdistillError(`ONNX export: quantizeEmbeddings needs quantize "int8"`);
  const past = Boolean(opts.pastKeyValues);
  if (past && (c.head !== "lm" || !c.causal)) throw new TsdistillError(`ONNX export: pastKeyValues needs a causal LM (head lm, causal); this model has head ${c.head}${c.causal ? "" : ", bidirectional attention"}`);
  const names = transformerOnnxNames(c, opts);
  if (!names.output || names.inputs.includes(names.output) || names.presents.includes(names.output)) throw new TsdistillError(`ONNX export: output name "${names.output}" must be non-empty and differ from the inputs ${names.inputs.join(", ")}`);
  const g = new GraphBuilder([...names.inputs, names.output, ...names.presents]);
  const weights = new Map(model.namedWeights().map((p) => [p.name, { shape: p.tensor.shape, data: p.tensor.dataSync() as Float32Array }]));
  const param = (name: string): Float32Array => {
    const w = weights.get(name);
    if (!w) throw new Error(`ONNX export: the model has no weight "${name}"`);
    return new Float32Array(w.data);
  };
  const scalar = (name: string, v: number) => g.floatInit(name, [], [v]);
  const ints = (name: string, v: number[]) => g.int64Init(name, [v.length], v);

  // Embeddings: Gather rows of the token table, plus positions (given, or 0…T−1).
  const embQuant: Quantize = opts.quantizeEmbeddings ? "int8" : "none";
  const tokenTable = g.weight("embeddings/token", [c.vocab, c.dim], param("embeddings/token"), embQuant, 0, "embeddings/token");
  const positionTable = g.weight("embeddings/position", [c.ctx, c.dim], param("embeddings/position"), embQuant, 0, "embeddings/position");
  const shape = g.node("Shape", "input/Shape", ["input_ids"], "input/shape");
  const seqLen = g.node("Gather", "input/SequenceLength", [shape, g.int64Init("input/axis_1", [], [1])], "input/sequence_length", [intAttr("axis", 0)]);
  const needRange = c.causal || !opts.positionIds;
  const zero64 = g.int64Init("input/zero", [], [0]);
  const one64 = g.int64Init("input/one", [], [1]);
  // With a cache: the new tokens sit at positions P…P+T−1 after the P cached ones, and keys span 0…P+T−1.
  const pastLen = past ? g.node("Gather", "input/PastLength", [g.node("Shape", "input/PastShape", [names.inputs.find((n) => n.startsWith("past_key_values."))!], "input/past_shape"), g.int64Init("input/axis_2", [], [2])], "input/past_length", [intAttr("axis", 0)]) : "";
  const totalLen = past ? g.node("Add", "input/TotalLength", [pastLen, seqLen], "input/total_length") : seqLen;
  const range = needRange ? g.node("Range", "input/Range", [past ? pastLen : zero64, totalLen, one64], "input/positions") : "";
  const keyRange = past ? g.node("Range", "input/KeyRange", [zero64, totalLen, one64], "input/key_positions") : range;
  const tok = g.node("Gather", "embeddings/TokenGather", [tokenTable, "input_ids"], "embeddings/tokens", [intAttr("axis", 0)]);
  const pos = g.node("Gather", "embeddings/PositionGather", [positionTable, opts.positionIds ? "position_ids" : range], "embeddings/positions", [intAttr("axis", 0)]);
  let h = g.node("Add", "embeddings/Add", [tok, pos], "embeddings/output"); // [B, T, C]

  // masked[b, 0, i, j] = attention_mask[b, j] == 0 || (causal && j > i)
  const padKey = g.node("Equal", "mask/IsPadding", ["attention_mask", g.int64Init("mask/zero", [], [0])], "mask/is_padding"); // [B, T]
  let masked = g.node("Unsqueeze", "mask/PaddingKeys", [padKey, ints("mask/axes_1_2", [1, 2])], "mask/padding_keys"); // [B, 1, 1, T]
  if (c.causal) {
    const query = g.node("Unsqueeze", "mask/QueryPositions", [range, ints("mask/axes_1", [1])], "mask/query_positions"); // [T, 1]
    const key = g.node("Unsqueeze", "mask/KeyPositions", [keyRange, ints("mask/axes_0", [0])], "mask/key_positions"); // [1, T] (or [1, P+T])
    const future = g.node("Greater", "mask/Future", [key, query], "mask/future"); // [T, T]
    masked = g.node("Or", "mask/Or", [masked, future], "mask/masked"); // [B, 1, T, T]
  }
  const bias = g.node("Where", "mask/Bias", [masked, scalar("mask/masked_value", MASKED), scalar("mask/zero_float", 0)], "mask/bias");

  const quantizedLinear = (name: string, x: string, inDim: number, outDim: number, bias: boolean): string => {
    const w = g.weight(`${name}/kernel`, [inDim, outDim], param(`${name}/kernel`), quantize, 1);
    const y = g.node("MatMul", `${name}/MatMul`, [x, w], `${name}/matmul`);
    return bias ? g.node("Add", `${name}/BiasAdd`, [y, g.floatInit(`${name}/bias`, [outDim], param(`${name}/bias`))], `${name}/output`) : y;
  };
  const layerNorm = (name: string, x: string): string =>
    g.node("LayerNormalization", `${name}/LayerNormalization`, [x, g.floatInit(`${name}/gamma`, [c.dim], param(`${name}/gamma`)), g.floatInit(`${name}/beta`, [c.dim], param(`${name}/beta`))], `${name}/output`, [intAttr("axis", -1), floatAttr("epsilon", LN_EPSILON)]);

  const H = c.heads;
  const hs = c.dim / H;
  const headShape = ints("attention/head_shape", [0, 0, H, hs]); // 0 keeps batch and sequence from the input
  const mergedShape = ints("attention/merged_shape", [0, 0, c.dim]);
  const qkvSplit = ints("attention/qkv_split", [c.dim, c.dim, c.dim]);
  const scale = scalar("attention/scale", 1 / Math.sqrt(hs));
  const geluC = scalar("gelu/c", GELU_C);
  const geluS = scalar("gelu/sqrt_2_over_pi", SQRT_2_OVER_PI);
  const half = scalar("gelu/half", 0.5);
  const one = scalar("gelu/one", 1);
  const three = scalar("gelu/three", 3);

  for (let i = 1; i <= c.layers; i++) {
    const b = `block_${i}`;
    const a = `${b}/attention`;
    const qkv = quantizedLinear(`${a}/qkv`, layerNorm(`${b}/ln_1`, h), c.dim, 3 * c.dim, true); // [B, T, 3C]: q | k | v
    const [q, k, v] = g.nodeOutputs("Split", `${a}/Split`, [qkv, qkvSplit], [`${a}/q`, `${a}/k`, `${a}/v`], [intAttr("axis", 2)]);
    const heads = (t: string, perm: number[]) => g.node("Transpose", `${t}/Transpose`, [g.node("Reshape", `${t}/Reshape`, [t, headShape], `${t}/heads`)], `${t}/heads_t`, [intsAttr("perm", perm)]);
    const qh = heads(q, [0, 2, 1, 3]); // [B, H, T, hs]
    let kt: string;
    let vh = heads(v, [0, 2, 1, 3]); // [B, H, T, hs]
    if (past) {
      // present = past ++ new along the sequence axis: [B, H, P+T, hs]
      const [pk, pv, ok, ov] = [`past_key_values.${i - 1}.key`, `past_key_values.${i - 1}.value`, `present.${i - 1}.key`, `present.${i - 1}.value`];
      const kh = g.outputNode("Concat", `${a}/PresentKey`, [pk, heads(k, [0, 2, 1, 3])], ok, [intAttr("axis", 2)]);
      vh = g.outputNode("Concat", `${a}/PresentValue`, [pv, vh], ov, [intAttr("axis", 2)]);
      kt = g.node("Transpose", `${a}/KeyTranspose`, [kh], `${a}/keys_t`, [intsAttr("perm", [0, 1, 3, 2])]); // [B, H, hs, P+T]
    } else {
      kt = heads(k, [0, 2, 3, 1]); // [B, H, hs, T]
    }
    const raw = g.node("MatMul", `${a}/Scores`, [qh, kt], `${a}/scores_raw`);
    const scores = g.node("Add", `${a}/Mask`, [g.node("Mul", `${a}/Scale`, [raw, scale], `${a}/scores_scaled`), bias], `${a}/scores`); // [B, H, T, T]
    const probs = g.node("Softmax", `${a}/Softmax`, [scores], `${a}/probs`, [intAttr("axis", -1)]);
    const mixed = g.node("MatMul", `${a}/Mix`, [probs, vh], `${a}/mixed`); // [B, H, T, hs]
    const merged = g.node("Reshape", `${a}/Merge`, [g.node("Transpose", `${a}/MergeTranspose`, [mixed], `${a}/mixed_t`, [intsAttr("perm", [0, 2, 1, 3])]), mergedShape], `${a}/merged`);
    h = g.node("Add", `${b}/Residual1`, [h, quantizedLinear(`${a}/proj`, merged, c.dim, c.dim, true)], `${b}/residual_1`);

    const m = `${b}/mlp`;
    const x = quantizedLinear(`${m}/fc`, layerNorm(`${b}/ln_2`, h), c.dim, c.ff, true);
    // GELU, tanh form, in TF.js's order: ½x · (1 + tanh((x + c·x³)·√(2/π)))
    const u = g.node("Mul", `${m}/GeluU`, [g.node("Add", `${m}/GeluInner`, [x, g.node("Mul", `${m}/GeluCube`, [g.node("Pow", `${m}/GeluPow`, [x, three], `${m}/gelu_x3`), geluC], `${m}/gelu_cx3`)], `${m}/gelu_inner`), geluS], `${m}/gelu_u`);
    const gate = g.node("Add", `${m}/GeluGate`, [one, g.node("Tanh", `${m}/GeluTanh`, [u], `${m}/gelu_tanh`)], `${m}/gelu_gate`);
    const act = g.node("Mul", `${m}/Gelu`, [g.node("Mul", `${m}/GeluHalf`, [x, half], `${m}/gelu_half_x`), gate], `${m}/gelu`);
    h = g.node("Add", `${b}/Residual2`, [h, quantizedLinear(`${m}/proj`, act, c.ff, c.dim, true)], `${b}/output`);
  }
  h = layerNorm("final_norm", h); // [B, T, C]

  const out = names.output;
  if (c.head === "lm") {
    if (c.tie) {
      const tableT = g.node("Transpose", "head/TiedTranspose", [tokenTable], "head/token_table_t", [intsAttr("perm", [1, 0])]);
      g.outputNode("MatMul", "head/MatMul", [h, tableT], out);
    } else {
      const w = g.weight("head/kernel", [c.dim, c.vocab], param("head/kernel"), quantize, 1);
      g.outputNode("MatMul", "head/MatMul", [h, w], out);
    }
  } else {
    let pooled: string;
    if (c.pool === "first") {
      pooled = g.node("Gather", "pool/First", [h, g.int64Init("pool/index_0", [], [0])], "pool/output", [intAttr("axis", 1)]); // [B, C]
    } else {
      // Mean over real tokens: Σ h·keep / max(Σ keep, 1), as TF.js.
      const keep = g.node("Unsqueeze", "pool/Keep", [g.node("Cast", "pool/KeepFloat", [g.node("Not", "pool/IsReal", [padKey], "pool/is_real")], "pool/keep_flat", [intAttr("to", DataType.FLOAT)]), ints("pool/axes_2", [2])], "pool/keep"); // [B, T, 1]
      const axis1 = ints("pool/axes_1", [1]);
      const sum = g.node("ReduceSum", "pool/Sum", [g.node("Mul", "pool/Masked", [h, keep], "pool/masked"), axis1], "pool/sum", [intAttr("keepdims", 0)]); // [B, C]
      const count = g.node("Max", "pool/CountAtLeast1", [g.node("ReduceSum", "pool/Count", [keep, axis1], "pool/count_raw", [intAttr("keepdims", 0)]), scalar("pool/one", 1)], "pool/count"); // [B, 1]
      pooled = g.node("Div", "pool/Mean", [sum, count], "pool/output");
    }
    const width = outputWidth(c);
    const w = g.weight("head/kernel", [c.dim, width], param("head/kernel"), quantize, 1);
    const y = g.node("MatMul", "head/MatMul", [pooled, w], "head/matmul");
    g.outputNode("Add", "head/BiasAdd", [y, g.floatInit("head/bias", [width], param("head/bias"))], out);
  }

  const ids = (name: string) => tensorInfo(name, DataType.INT64, ["batch", "sequence"]);
  const cacheInfo = (name: string, length: string) => tensorInfo(name, DataType.FLOAT, ["batch", H, length, hs]);
  const inputInfo = (name: string) =>
    name.startsWith("past_key_values.") ? cacheInfo(name, "past_sequence") : name === "attention_mask" && past ? tensorInfo(name, DataType.INT64, ["batch", "total_sequence"]) : ids(name);
  const outDims = c.head === "lm" ? ["batch", "sequence", c.vocab] : ["batch", outputWidth(c)];
  return encodeModel({
    opset,
    graphName: "tsdistill_transformer",
    g,
    inputs: names.inputs.map(inputInfo),
    outputs: [tensorInfo(out, DataType.FLOAT, outDims), ...names.presents.map((n) => cacheInfo(n, "total_sequence"))],
    metadata: {
      "tsdistill.model": "transformer",
      "tsdistill.head": c.head,
      "tsdistill.config": JSON.stringify(c),
      "tsdistill.quantize": quantize,
      "tsdistill.quantize_embeddings": String(Boolean(opts.quantizeEmbeddings)),
      "tsdistill.input_kind": "tokens",
      "tsdistill.past_key_values": String(past),
      ...opts.metadata,
    },
    producer: opts.producer,
    docString: opts.docString,
  });
}
