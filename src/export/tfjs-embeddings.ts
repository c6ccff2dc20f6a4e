// TF.js export of a bag-of-embeddings / static embedding model: a graph model (tf.loadGraphModel in Node and
// browsers) with the same graph as the ONNX export:
//
//   input_ids int32 [batch, tokens], attention_mask float32 [batch, tokens] (1 = real token, 0 = padding)
//   → GatherV2(table) [B, T, W] → × mask → Sum over T / max(Σ mask, 1) → MatMul + BiasAdd (head) → L2 normalise
//   → embeddings float32 [batch, dim]
//
// model.json (format "graph-model", a GraphDef topology) + one weights file; tokenise with the folder's
// tokenizer.json (embed-runtime.mjs's tokenizers do it in a page).
import * as tf from "@tensorflow/tfjs-core";
import { loadGraphModel } from "@tensorflow/tfjs-converter";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bagEmbedder, EMBED_RUNTIME_FILES, type BagOfEmbeddingsModel } from "../embeddings/embedding-model.js";
import { writeTokenizerFiles } from "../tokenizers/io.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { writeDirAtomic } from "../util/files.js";
import { TsdistillError } from "../util/errors.js";
import { CHECK_TEXTS } from "./onnx-embeddings.js";

export const TFJS_EMBEDDINGS_WEIGHTS = "group1-shard1of1.bin";

type Attr = Record<string, unknown>;
interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Attr;
}

const FLOAT = { type: "DT_FLOAT" };
const dims = (shape: number[]) => ({ dim: shape.map((s) => ({ size: String(s) })) });

/** model.json's content and the weights' bytes of the graph model. */
export function tfjsEmbeddingArtifacts(model: BagOfEmbeddingsModel): { modelJson: Record<string, unknown>; weights: Uint8Array } {
  const t = model.tensors();
  const c = model.config;
  if (c.context > 0) throw new TsdistillError(`TF.js export: this embedding model has a context layer (config.json context ${c.context}), which the TF.js graph export does not write; export it to ONNX, or serve the folder with embed-runtime.mjs`);
  const nodes: GraphNode[] = [];
  const specs: { name: string; shape: number[]; dtype: "float32" | "int32" }[] = [];
  const chunks: Uint8Array[] = [];
  const constant = (name: string, shape: number[], data: Float32Array | Int32Array) => {
    const dtype = data instanceof Float32Array ? "float32" : "int32";
    const type = dtype === "float32" ? "DT_FLOAT" : "DT_INT32";
    nodes.push({ name, op: "Const", attr: { dtype: { type }, value: { tensor: { dtype: type, tensorShape: dims(shape) } } } });
    specs.push({ name, shape, dtype });
    chunks.push(new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
    return name;
  };
  const node = (name: string, op: string, input: string[], attr: Attr = {}) => (nodes.push({ name, op, input, attr }), name);
  nodes.push({ name: "input_ids", op: "Placeholder", attr: { dtype: { type: "DT_INT32" }, shape: { shape: dims([-1, -1]) } } });
  nodes.push({ name: "attention_mask", op: "Placeholder", attr: { dtype: FLOAT, shape: { shape: dims([-1, -1]) } } });
  const table = constant("table", [c.vocab, c.width], t.embeddings.data as Float32Array);
  const axis0 = constant("axis_0", [], Int32Array.of(0));
  const axis1 = constant("axis_1", [], Int32Array.of(1));
  const axisLast = constant("axis_last", [], Int32Array.of(-1));
  const one = constant("one", [], Float32Array.of(1));
  const rows = node("rows", "GatherV2", [table, "input_ids", axis0], { Tparams: FLOAT, batch_dims: { i: "0" } }); // [B, T, W]
  const mask3 = node("mask_3d", "ExpandDims", ["attention_mask", axisLast], { T: FLOAT }); // [B, T, 1]
  const masked = node("masked_rows", "Mul", [rows, mask3], { T: FLOAT });
  const sum = node("row_sum", "Sum", [masked, axis1], { T: FLOAT, keep_dims: { b: false } }); // [B, W]
  const count = node("token_count", "Sum", [mask3, axis1], { T: FLOAT, keep_dims: { b: false } }); // [B, 1]
  let cur = node("pooled", "RealDiv", [sum, node("token_count_min1", "Maximum", [count, one], { T: FLOAT })], { T: FLOAT });
  if (c.head) {
    const kernel = constant("head_kernel", [c.width, c.dim], t["head/kernel"].data as Float32Array);
    const bias = constant("head_bias", [c.dim], t["head/bias"].data as Float32Array);
    cur = node("head_out", "BiasAdd", [node("head_matmul", "MatMul", [cur, kernel], { T: FLOAT, transpose_a: { b: false }, transpose_b: { b: false } }), bias], { T: FLOAT });
  }
  if (c.normalize) {
    const sq = node("norm_sq", "Sum", [node("square", "Square", [cur], { T: FLOAT }), axisLast], { T: FLOAT, keep_dims: { b: true } });
    const eps = constant("eps_sq", [], Float32Array.of(1e-24)); // ÷ max(‖v‖, 1e-12), as the runtime and ONNX export
    cur = node("embeddings", "Mul", [cur, node("inv_norm", "Rsqrt", [node("norm_sq_min", "Maximum", [sq, eps], { T: FLOAT })], { T: FLOAT })], { T: FLOAT });
  } else cur = node("embeddings", "Identity", [cur], { T: FLOAT });
  const total = chunks.reduce((n, b) => n + b.length, 0);
  const weights = new Uint8Array(total);
  let off = 0;
  for (const b of chunks) weights.set(b, off), (off += b.length);
  const modelJson = {
    format: "graph-model",
    generatedBy: "tsdistill",
    convertedBy: "tsdistill tfjs-embeddings",
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: [TFJS_EMBEDDINGS_WEIGHTS], weights: specs }],
    signature: {
      inputs: { input_ids: { name: "input_ids:0", dtype: "DT_INT32", tensorShape: dims([-1, -1]) }, attention_mask: { name: "attention_mask:0", dtype: "DT_FLOAT", tensorShape: dims([-1, -1]) } },
      outputs: { embeddings: { name: "embeddings:0", dtype: "DT_FLOAT", tensorShape: dims([-1, c.dim]) } },
    },
    userDefinedMetadata: { tsdistill: { kind: c.kind, dim: c.dim, normalize: c.normalize, inputs: "input_ids int32 [B, T], attention_mask float32 [B, T] (tokenizer.json)" } },
  };
  return { modelJson, weights };
}

/** Writes the graph model folder: model.json, the weights, tokenizer.json and embed-runtime.mjs (its tokenizers). */
export async function saveEmbeddingTfjs(model: BagOfEmbeddingsModel, tokenizer: Tokenizer, dir: string): Promise<void> {
  const { modelJson, weights } = tfjsEmbeddingArtifacts(model);
  await writeDirAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, "model.json"), JSON.stringify(modelJson));
    writeFileSync(join(tmp, TFJS_EMBEDDINGS_WEIGHTS), weights);
    writeTokenizerFiles(tokenizer, tmp);
    copyFileSync(EMBED_RUNTIME_FILES.module, join(tmp, "embed-runtime.mjs"));
    copyFileSync(EMBED_RUNTIME_FILES.types, join(tmp, "embed-runtime.d.mts"));
  });
}

/** Runs a saved graph model folder in TF.js on texts (tokenised by `tokenizer`) → [n, dim]. */
export async function runEmbeddingTfjs(dir: string, tokenizer: Tokenizer, texts: readonly string[]): Promise<Float32Array> {
  const modelJson = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const bytes = readFileSync(join(dir, modelJson.weightsManifest[0].paths[0]));
  const artifacts: tf.io.ModelArtifacts = { modelTopology: modelJson.modelTopology, format: "graph-model", weightSpecs: modelJson.weightsManifest[0].weights, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
  const graph = await loadGraphModel({ load: async () => artifacts });
  const rows = texts.map((t) => tokenizer.encode(t));
  const T = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(texts.length * T);
  const mask = new Float32Array(texts.length * T);
  rows.forEach((r, i) => r.forEach((id, j) => ((ids[i * T + j] = id), (mask[i * T + j] = 1))));
  const feeds = { input_ids: tf.tensor2d(ids, [texts.length, T], "int32"), attention_mask: tf.tensor2d(mask, [texts.length, T]) };
  try {
    const out = graph.execute(feeds, "embeddings") as tf.Tensor;
    const v = Float32Array.from(out.dataSync() as Float32Array);
    out.dispose();
    return v;
  } finally {
    tf.dispose(Object.values(feeds));
    graph.dispose();
  }
}

/** Largest |difference| between the exported graph in TF.js and the runtime's vectors on `texts`. */
export async function checkEmbeddingTfjs(dir: string, model: BagOfEmbeddingsModel, tokenizer: Tokenizer, texts: readonly string[] = CHECK_TEXTS): Promise<number> {
  const got = await runEmbeddingTfjs(dir, tokenizer, texts);
  const want = bagEmbedder(model, tokenizer).embed(texts);
  if (got.length !== want.length) return Infinity;
  let max = 0;
  for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - want[i]));
  return max;
}
