import * as tf from "@tensorflow/tfjs-core";
import { deepCopy } from "../engine/memory.js";
import type { ForwardContext } from "./layers.js";

export interface ForwardOptions extends ForwardContext {
  /** Layer names whose outputs to return alongside the logits (for feature-based distillation). */
  capture?: string[];
}

/**
 * What training, distillation and evaluation need from a model; SequentialModel (MLP/CNN) and TransformerModel
 * implement it.
 */
export interface TrainableModel {
  /** Shape of one sample without the batch dimension ([ctx] token ids for a transformer). */
  readonly inputShape: number[];
  /** Shape of one sample's output ([classes]; [ctx, vocab] for a language model). */
  readonly outputShape: number[];
  /** Width of each logits row. */
  readonly numOutputs: number;
  readonly params: tf.Variable[];
  readonly paramCount: number;
  /**
   * The training pass: logits with one row per sample, or for a language model one row per token ([B·T, vocab],
   * rows in (sample, position) order), plus the features named in `opts.capture`.
   */
  forward(x: tf.Tensor, opts?: ForwardOptions): { logits: tf.Tensor2D; features: Map<string, tf.Tensor> };
  /** Inference logits, one row per sample (a language model's: the next-token logits after each sample). */
  predict(x: tf.Tensor): tf.Tensor2D;
  /** Names `forward` can capture. */
  layerNames(): string[];
  /** Weights in save order with their saved names. */
  namedWeights(): { name: string; tensor: tf.Variable }[];
  /** Copies of the current weights (for keep-best checkpoints). */
  snapshot(): tf.Tensor[];
  setWeights(weights: tf.Tensor[]): void;
  dispose(): void;
}

/** Deep copies: optimisers update parameters in place, which would show through tf.clone's shared storage. */
export function snapshotParams(params: tf.Variable[]): tf.Tensor[] {
  return params.map((p) => deepCopy(p));
}

export function assignParams(params: tf.Variable[], weights: tf.Tensor[], names?: string[]): void {
  if (weights.length !== params.length) throw new Error(`expected ${params.length} weight tensors, got ${weights.length}`);
  params.forEach((p, i) => {
    if (!tf.util.arraysEqual(p.shape, weights[i].shape)) {
      throw new Error(`weight ${names?.[i] ?? i} has shape [${weights[i].shape}], expected [${p.shape}]`);
    }
    const copy = deepCopy(weights[i]);
    p.assign(copy);
    copy.dispose();
  });
}

/** Collects the captured features, refusing names the model does not have. */
export function featureRecorder(wanted: readonly string[] | undefined, known: string[]) {
  const want = new Set(wanted ?? []);
  for (const name of want) if (!known.includes(name)) throw new Error(`no layer named "${name}"; layers are ${known.join(", ")}`);
  const features = new Map<string, tf.Tensor>();
  return { features, record: (name: string, t: tf.Tensor) => void (want.has(name) && features.set(name, t)) };
}
