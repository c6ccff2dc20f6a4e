// ONNX export of a bag-of-embeddings / static embedding model: ids and attention mask in, sentence vectors out.
//
//   input_ids int64 [batch, tokens], attention_mask int64 [batch, tokens] (1 = real token, 0 = padding)
//   → Gather(table, input_ids) [B, T, W] → × mask → ReduceSum over T / max(Σ mask, 1)   (mean of the real tokens)
//     (with a context layer, context-layer.ts: Pad/Slice/Concat the rows' neighbours → MatMul + Add → Relu → z = rows
//     + h·W2, scores h·q, −1e9 at padding → Softmax over T → ReduceSum of z × weights)
//   → MatMul + Add (the head, when the model has one) → ÷ max(‖v‖₂, 1e-12) (when the model normalises)
//   → embeddings float32 [batch, dim]
//
// Opset 13 (ReduceSum and Unsqueeze take their axes as inputs). Tokenise with the model's tokenizer.json; the graph
// holds no tokenizer.
import onnxProto from "onnx-proto";
import type { onnx as Onnx } from "onnx-proto";
import type * as ort from "onnxruntime-node";
import { ortModule } from "../util/ort.js";
import { bagEmbedder, type BagOfEmbeddingsModel } from "../embeddings/embedding-model.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { writeFileAtomic } from "../util/files.js";

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

function floatInit(name: string, dims: number[], data: Float32Array): Onnx.ITensorProto {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return { name, dims, dataType: DataType.FLOAT, rawData: bytes };
}

function int64Init(name: string, values: number[]): Onnx.ITensorProto {
  return { name, dims: [values.length], dataType: DataType.INT64, int64Data: values };
}

function io(name: string, elemType: number, dims: (number | string)[]): Onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } } };
}

/** The model as a serialized ONNX ModelProto (see the file comment for the graph). */
export function exportEmbeddingOnnx(model: BagOfEmbeddingsModel, opts: { producer?: string; metadata?: Record<string, string> } = {}): Uint8Array {
  const t = model.tensors();
  const c = model.config;
  const nodes: Onnx.INodeProto[] = [];
  const node = (opType: string, inputs: string[], output: string, attribute: Onnx.IAttributeProto[] = []) => {
    nodes.push({ opType, name: output, input: inputs, output: [output], attribute });
    return output;
  };
  const inits: Onnx.ITensorProto[] = [
    floatInit("table", [c.vocab, c.width], t.embeddings.data as Float32Array),
    int64Init("axis_tokens", [1]),
    int64Init("axis_last", [2]),
    floatInit("one", [], Float32Array.of(1)),
  ];
  const rows = node("Gather", ["table", "input_ids"], "rows", [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 }]); // [B, T, W]
  const maskF = node("Cast", ["attention_mask"], "mask_float", [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: DataType.FLOAT }]); // [B, T]
  const mask3 = node("Unsqueeze", [maskF, "axis_last"], "mask_3d"); // [B, T, 1]
  const masked = node("Mul", [rows, mask3], "masked_rows");
  const keep0 = [{ name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: 0 }];
  let cur: string;
  if (c.context > 0) cur = contextNodes(t, c.width, c.context, masked, mask3, node, inits);
  else {
    const sum = node("ReduceSum", [masked, "axis_tokens"], "row_sum", keep0); // [B, W]
    const count = node("ReduceSum", [mask3, "axis_tokens"], "token_count", keep0); // [B, 1]
    cur = node("Div", [sum, node("Max", [count, "one"], "token_count_min1")], "pooled"); // [B, W]
  }
  if (c.head) {
    inits.push(floatInit("head_kernel", [c.width, c.dim], t["head/kernel"].data as Float32Array), floatInit("head_bias", [c.dim], t["head/bias"].data as Float32Array));
    cur = node("Add", [node("MatMul", [cur, "head_kernel"], "head_matmul"), "head_bias"], "head_out");
  }
  if (c.normalize) {
    inits.push(floatInit("eps", [], Float32Array.of(1e-12)));
    const sq = node("ReduceSum", [node("Mul", [cur, cur], "squares"), "axis_tokens"], "square_sum", [{ name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
    cur = node("Div", [cur, node("Max", [node("Sqrt", [sq], "norm"), "eps"], "norm_min")], "normalized");
  }
  nodes[nodes.length - 1].output = ["embeddings"];
  const proto: Onnx.IModelProto = {
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: opts.producer ?? "tsdistill",
    graph: {
      name: "tsdistill_embeddings",
      node: nodes,
      initializer: inits,
      input: [io("input_ids", DataType.INT64, ["batch", "tokens"]), io("attention_mask", DataType.INT64, ["batch", "tokens"])],
      output: [io("embeddings", DataType.FLOAT, ["batch", c.dim])],
    },
    metadataProps: [
      { key: "tsdistill.input_kind", value: "token-ids" },
      { key: "tsdistill.embedding_kind", value: c.kind },
      { key: "tsdistill.normalize", value: String(c.normalize) },
      ...Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    ],
  };
  return new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish());
}

type NodeFn = (opType: string, inputs: string[], output: string, attribute?: Onnx.IAttributeProto[]) => string;

/** The context layer (context-layer.ts) on masked rows [B, T, W] → pooled [B, W]. */
function contextNodes(t: ReturnType<BagOfEmbeddingsModel["tensors"]>, W: number, H: number, masked: string, mask3: string, node: NodeFn, inits: Onnx.ITensorProto[]): string {
  const f = (name: string) => t[name].data as Float32Array;
  inits.push(
    floatInit("context_kernel1", [3 * W, H], f("context/kernel1")),
    floatInit("context_bias1", [H], f("context/bias1")),
    floatInit("context_kernel2", [H, W], f("context/kernel2")),
    floatInit("context_query", [H, 1], f("context/query")),
    floatInit("big", [], Float32Array.of(1e9)),
    int64Init("pads_tokens", [0, 1, 0, 0, 1, 0]),
    int64Init("prev_start", [0]),
    int64Init("prev_end", [-2]),
    int64Init("next_start", [2]),
    int64Init("next_end", [2 ** 31 - 1]),
  );
  const padded = node("Pad", [masked, "pads_tokens"], "context_padded"); // [B, T + 2, W]
  const prev = node("Slice", [padded, "prev_start", "prev_end", "axis_tokens"], "context_prev");
  const next = node("Slice", [padded, "next_start", "next_end", "axis_tokens"], "context_next");
  const window = node("Concat", [prev, masked, next], "context_window", [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 2 }]); // [B, T, 3W]
  const h = node("Relu", [node("Add", [node("MatMul", [window, "context_kernel1"], "context_matmul1"), "context_bias1"], "context_pre")], "context_hidden"); // [B, T, H]
  const z = node("Add", [masked, node("MatMul", [h, "context_kernel2"], "context_matmul2")], "context_rows"); // [B, T, W]
  const scores = node("Add", [node("MatMul", [h, "context_query"], "context_scores"), node("Mul", [node("Sub", [mask3, "one"], "mask_minus1"), "big"], "pad_penalty")], "context_scores_masked"); // [B, T, 1]
  const weights = node("Mul", [node("Softmax", [scores], "context_softmax", [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }]), mask3], "context_weights");
  return node("ReduceSum", [node("Mul", [z, weights], "context_weighted"), "axis_tokens"], "pooled", [{ name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: 0 }]); // [B, W]
}

/** Writes exportEmbeddingOnnx(model) to `path` atomically; returns the byte count. */
export function saveEmbeddingOnnx(model: BagOfEmbeddingsModel, path: string, opts: Parameters<typeof exportEmbeddingOnnx>[1] = {}): number {
  const bytes = exportEmbeddingOnnx(model, opts);
  writeFileAtomic(path, bytes);
  return bytes.length;
}

/** Texts → the graph's inputs: ids right-padded with 0 and the attention mask, int64 [n, longest]. */
export function embeddingOnnxFeeds(tokenizer: Tokenizer, texts: readonly string[]): { input_ids: ort.Tensor; attention_mask: ort.Tensor } {
  const rows = texts.map((t) => tokenizer.encode(t));
  const T = Math.max(1, ...rows.map((r) => r.length));
  const ids = new BigInt64Array(texts.length * T);
  const mask = new BigInt64Array(texts.length * T);
  rows.forEach((r, i) => r.forEach((id, j) => ((ids[i * T + j] = BigInt(id)), (mask[i * T + j] = 1n))));
  return { input_ids: new (ortModule().Tensor)("int64", ids, [texts.length, T]), attention_mask: new (ortModule().Tensor)("int64", mask, [texts.length, T]) };
}

/** Runs an exported graph in onnxruntime-node on texts → [n, dim]. */
export async function runEmbeddingOnnx(bytesOrPath: Uint8Array | string, tokenizer: Tokenizer, texts: readonly string[]): Promise<Float32Array> {
  const session = typeof bytesOrPath === "string" ? await ortModule().InferenceSession.create(bytesOrPath) : await ortModule().InferenceSession.create(bytesOrPath);
  try {
    const out = await session.run(embeddingOnnxFeeds(tokenizer, texts));
    return Float32Array.from(out.embeddings.data as Float32Array);
  } finally {
    await session.release();
  }
}

/** Texts the export check embeds when the caller gives none: short and long, with punctuation, digits and non-ASCII. */
export const CHECK_TEXTS = ["How old are you?", "The weather is lovely today, isn't it?", "", "42", "naïve café — 日本語", "A longer sentence about computers, law, food and love, repeated: computers, law, food and love."];

/** Largest |difference| between the graph in onnxruntime-node and the runtime's vectors on `texts`. */
export async function checkEmbeddingOnnx(bytes: Uint8Array, model: BagOfEmbeddingsModel, tokenizer: Tokenizer, texts: readonly string[] = CHECK_TEXTS): Promise<number> {
  const got = await runEmbeddingOnnx(bytes, tokenizer, texts);
  const want = bagEmbedder(model, tokenizer).embed(texts);
  let max = 0;
  for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i] - want[i]));
  return got.length === want.length ? max : Infinity;
}
