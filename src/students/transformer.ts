import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../util/rng.js";
import type { ForwardOptions } from "./trainable.js";
import { assignParams, featureRecorder, snapshotParams, type TrainableModel } from "./trainable.js";
import { outputWidth, type TransformerConfig } from "./transformer-config.js";
import { Block } from "./transformer-block.js";
import { Embeddings, OutputHead } from "./transformer-heads.js";
import { Norm, type NamedParam } from "./transformer-params.js";
import { tokenBatch } from "./transformer-tokens.js";

/**
 * A pre-LayerNorm transformer over token ids (GPT-2 layout): embeddings + positions, `layers` blocks, a final
 * LayerNorm and an LM, classification or embedding head. Inputs are ids stored as floats [B, T ≤ ctx].
 * Capturable: "embeddings", "block_i" ([B, T, C]), "block_i/attention" ([B, H, T, T]), "final_norm", "pooled".
 */
export class TransformerModel implements TrainableModel {
  static readonly className = "Transformer";
  readonly embeddings: Embeddings;
  readonly blocks: Block[];
  readonly finalNorm: Norm;
  readonly head: OutputHead;

  constructor(
    readonly config: TransformerConfig,
    seed = 0,
  ) {
    const rng = new Rng(seed, "init");
    this.embeddings = new Embeddings(config, rng);
    this.blocks = Array.from({ length: config.layers }, (_, i) => new Block(`block_${i + 1}`, config, rng));
    this.finalNorm = new Norm("final_norm", config.dim);
    this.head = new OutputHead(config, rng);
  }

  get inputShape(): number[] {
    return [this.config.ctx];
  }
  get outputShape(): number[] {
    return this.config.head === "lm" ? [this.config.ctx, this.config.vocab] : [outputWidth(this.config)];
  }
  get numOutputs(): number {
    return outputWidth(this.config);
  }
  namedWeights(): NamedParam[] {
    return [...this.embeddings.params, ...this.blocks.flatMap((b) => b.params), ...this.finalNorm.params, ...this.head.params];
  }
  get params(): tf.Variable[] {
    return this.namedWeights().map((p) => p.tensor);
  }
  get paramCount(): number {
    return this.params.reduce((n, p) => n + p.size, 0);
  }
  layerNames(): string[] {
    const blocks = this.blocks.flatMap((b) => [b.name, `${b.name}/attention`]);
    return ["embeddings", ...blocks, "final_norm", ...(this.config.head === "lm" ? [] : ["pooled"])];
  }

  forward(x: tf.Tensor, opts: ForwardOptions = { training: false }): { logits: tf.Tensor2D; features: Map<string, tf.Tensor> } {
    const { features, record } = featureRecorder(opts.capture, this.layerNames());
    const tokens = tokenBatch(x, this.config);
    const [B, T, C] = [tokens.batch, tokens.length, this.config.dim];
    let h = this.embeddings.apply(tokens, opts); // [B·T, C]
    record("embeddings", tf.reshape(h, [B, T, C]));
    for (const block of this.blocks) {
      const { out, probs } = block.apply(h, tokens, opts);
      h = out;
      record(block.name, tf.reshape(h, [B, T, C]));
      record(`${block.name}/attention`, probs);
    }
    h = this.finalNorm.apply(h);
    record("final_norm", tf.reshape(h, [B, T, C]));
    return { logits: this.head.apply(h, tokens, this.embeddings.token.tensor, record), features };
  }

  /** Classify/embed: the head's output. LM: the logits after each sample's last real token [B, vocab]. */
  predict(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const logits = this.forward(x).logits;
      if (this.config.head !== "lm") return logits;
      const T = x.shape[1]!;
      const tokens = tokenBatch(x, this.config);
      return tf.gather(logits, Int32Array.from(tokens.last, (t, b) => b * T + t));
    });
  }

  snapshot(): tf.Tensor[] {
    return snapshotParams(this.params);
  }
  setWeights(weights: tf.Tensor[]): void {
    assignParams(this.params, weights, this.namedWeights().map((p) => p.name));
  }
  dispose(): void {
    for (const p of this.params) p.dispose();
  }
}
