import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../util/rng.js";
import { deepCopy } from "../engine/memory.js";
import { buildLayer, type Layer, type LayerConfig } from "./layers.js";
import type { ForwardOptions, TrainableModel } from "./trainable.js";

export interface ModelConfig {
  /** Shape of one sample, without the batch dimension (e.g. [28, 28, 1]). */
  inputShape: number[];
  layers: LayerConfig[];
}

/**
 * A sequential network trained by tsdistill's engine. Outputs logits. Its layers use the gradient-friendly
 * ops of src/engine, and it converts to and from the TF.js layers format (see io.ts) so it loads anywhere
 * TF.js runs.
 */
export class SequentialModel implements TrainableModel {
  readonly layers: Layer[];
  readonly outputShape: number[];

  constructor(
    readonly config: ModelConfig,
    seed = 0,
  ) {
    const rng = new Rng(seed, "init");
    const names = new Set<string>();
    let shape = config.inputShape;
    this.layers = config.layers.map((lc) => {
      if (names.has(lc.name)) throw new Error(`duplicate layer name "${lc.name}"`);
      names.add(lc.name);
      const layer = buildLayer(lc, shape, rng);
      shape = layer.outputShape;
      return layer;
    });
    this.outputShape = shape;
  }

  get inputShape(): number[] {
    return this.config.inputShape;
  }

  get params(): tf.Variable[] {
    return this.layers.flatMap((l) => l.params);
  }

  get paramCount(): number {
    return this.params.reduce((n, p) => n + p.size, 0);
  }

  get numOutputs(): number {
    return this.outputShape[this.outputShape.length - 1];
  }

  layerNames(): string[] {
    return this.layers.map((l) => l.config.name);
  }

  /** Runs the network; `x` has a leading batch dimension. */
  forward(x: tf.Tensor, opts: ForwardOptions = { training: false }): { logits: tf.Tensor2D; features: Map<string, tf.Tensor> } {
    const wanted = new Set(opts.capture ?? []);
    for (const name of wanted) {
      if (!this.layers.some((l) => l.config.name === name)) {
        throw new Error(`no layer named "${name}"; layers are ${this.layerNames().join(", ")}`);
      }
    }
    const features = new Map<string, tf.Tensor>();
    let h = x;
    // Only the first weighted layer may skip ∂L/∂x; every later one feeds a weight's gradient.
    let skipInputGradient = opts.inputGradient === false;
    for (const layer of this.layers) {
      const weighted = layer.params.length > 0;
      h = layer.apply(h, weighted && !skipInputGradient ? { ...opts, inputGradient: true } : opts);
      if (weighted) skipInputGradient = false;
      if (wanted.has(layer.config.name)) features.set(layer.config.name, h);
    }
    return { logits: h as tf.Tensor2D, features };
  }

  /** Inference logits. */
  predict(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.forward(x).logits);
  }

  /** Named weight tensors in save order, e.g. "dense_1/kernel". */
  namedWeights(): { name: string; tensor: tf.Variable }[] {
    return this.layers.flatMap((l) => l.params.map((p, i) => ({ name: `${l.config.name}/${i === 0 ? "kernel" : "bias"}`, tensor: p })));
  }

  /** Copies of the current weights (for keep-best checkpoints). */
  snapshot(): tf.Tensor[] {
    // Deep copies: optimisers update parameters in place, which would show through tf.clone's shared storage.
    return this.params.map((p) => deepCopy(p));
  }

  setWeights(weights: tf.Tensor[]): void {
    const params = this.params;
    if (weights.length !== params.length) throw new Error(`expected ${params.length} weight tensors, got ${weights.length}`);
    params.forEach((p, i) => {
      if (!tf.util.arraysEqual(p.shape, weights[i].shape)) {
        throw new Error(`weight ${i} has shape [${weights[i].shape}], expected [${p.shape}]`);
      }
      const copy = deepCopy(weights[i]);
      p.assign(copy);
      copy.dispose();
    });
  }

  dispose(): void {
    for (const p of this.params) p.dispose();
  }
}
