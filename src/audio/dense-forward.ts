import type { Activation } from "../engine/ops.js";
import type { SequentialModel } from "../students/model.js";

interface DenseWeights {
  kernel: Float32Array;
  bias: Float32Array | null;
  inputs: number;
  units: number;
  activation: Activation;
}

/**
 * A trained MLP student's inference as plain loops over its weights, for batch-1 streaming: at ~30k
 * multiply-adds per frame, TF.js's per-op dispatch costs more than the arithmetic. Only flatten, dropout
 * (identity at inference) and dense layers; `from` returns null for any other model.
 */
export class DenseForward {
  private readonly buffers: Float32Array[];

  private constructor(private readonly layers: DenseWeights[]) {
    this.buffers = layers.map((l) => new Float32Array(l.units));
  }

  static from(model: SequentialModel): DenseForward | null {
    const layers: DenseWeights[] = [];
    for (const layer of model.layers) {
      const c = layer.config;
      if (c.type === "flatten" || c.type === "dropout") continue;
      if (c.type !== "dense") return null;
      const [k, b] = layer.params;
      const [inputs, units] = k.shape;
      const w = k.dataSync() as Float32Array;
      const kernel = new Float32Array(w.length);
      for (let j = 0; j < inputs; j++) for (let u = 0; u < units; u++) kernel[u * inputs + j] = w[j * units + u];
      layers.push({ kernel, bias: b ? (b.dataSync() as Float32Array) : null, inputs, units, activation: c.activation });
    }
    return new DenseForward(layers);
  }

  /** The logits for one flattened input; the returned array is reused by the next call. */
  run(x: Float32Array): Float32Array {
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      const { kernel, bias, inputs, units, activation } = this.layers[i];
      const out = this.buffers[i];
      for (let u = 0; u < units; u++) {
        // kernel is stored transposed, [units, inputs]: each output is one contiguous dot product.
        let acc = bias ? bias[u] : 0;
        const row = u * inputs;
        for (let j = 0; j < inputs; j++) acc += h[j] * kernel[row + j];
        out[u] = activate(acc, activation);
      }
      h = out;
    }
    return h;
  }
}

function activate(z: number, a: Activation): number {
  switch (a) {
    case "relu":
      return z > 0 ? z : 0;
    case "sigmoid":
      return 1 / (1 + Math.exp(-z));
    case "tanh":
      return Math.tanh(z);
    default:
      return z;
  }
}
