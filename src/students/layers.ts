import * as tf from "@tensorflow/tfjs-core";
import { conv2d, convPads, dense, type Activation, type Padding } from "../engine/ops.js";
import { dropoutMask, glorotUniform } from "../engine/init.js";
import type { Rng } from "../util/rng.js";

/** Plain-data description of one layer; what model specs, saved models and configs are made of. */
export type LayerConfig =
  | { type: "dense"; name: string; units: number; activation: Activation; useBias: boolean }
  | { type: "conv2d"; name: string; filters: number; kernelSize: number; strides: number; padding: Padding; activation: Activation; useBias: boolean }
  | { type: "maxPool2d"; name: string; poolSize: number; strides: number; padding: Padding }
  | { type: "avgPool2d"; name: string; poolSize: number; strides: number; padding: Padding }
  | { type: "flatten"; name: string }
  | { type: "dropout"; name: string; rate: number };

export interface ForwardContext {
  training: boolean;
  /** Stream for dropout masks; required when training a model with dropout. */
  rng?: Rng;
  /**
   * false: nobody differentiates with respect to this layer's input (the model's first weighted layer in a
   * training step), so its backward returns zeros instead of computing ∂L/∂x. Default true.
   */
  inputGradient?: boolean;
}

export interface Layer {
  readonly config: LayerConfig;
  readonly outputShape: number[];
  /** Trainable parameters in save order (kernel, bias). */
  readonly params: tf.Variable[];
  apply(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;
}

function variable(t: tf.Tensor, name: string): tf.Variable {
  const v = tf.variable(t, true, `tsdistill#${variableCounter++}/${name}`);
  t.dispose();
  return v;
}
let variableCounter = 0;

class DenseLayer implements Layer {
  readonly params: tf.Variable[];
  readonly outputShape: number[];
  constructor(
    readonly config: Extract<LayerConfig, { type: "dense" }>,
    inputShape: number[],
    rng: Rng,
  ) {
    if (inputShape.length !== 1) throw new Error(`layer ${config.name}: dense expects a flat input, got shape [${inputShape}]`);
    const fanIn = inputShape[0];
    this.params = [variable(glorotUniform([fanIn, config.units], fanIn, config.units, rng), `${config.name}/kernel`)];
    if (config.useBias) this.params.push(variable(tf.zeros([config.units]), `${config.name}/bias`));
    this.outputShape = [config.units];
  }
  apply(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor {
    const [kernel, bias] = this.params;
    return dense(x as tf.Tensor2D, kernel as tf.Tensor2D, (bias as tf.Tensor1D | undefined) ?? null, this.config.activation, ctx?.inputGradient ?? true);
  }
}

class Conv2DLayer implements Layer {
  readonly params: tf.Variable[];
  readonly outputShape: number[];
  constructor(
    readonly config: Extract<LayerConfig, { type: "conv2d" }>,
    inputShape: number[],
    rng: Rng,
  ) {
    if (inputShape.length !== 3) throw new Error(`layer ${config.name}: conv2d expects an [height, width, channels] input, got [${inputShape}]`);
    const [h, w, ci] = inputShape;
    const k = config.kernelSize;
    const oh = convPads(h, k, config.strides, config.padding).out;
    const ow = convPads(w, k, config.strides, config.padding).out;
    if (oh < 1 || ow < 1) throw new Error(`layer ${config.name}: a ${k}×${k} kernel does not fit a ${h}×${w} input`);
    this.params = [variable(glorotUniform([k, k, ci, config.filters], k * k * ci, k * k * config.filters, rng), `${config.name}/kernel`)];
    if (config.useBias) this.params.push(variable(tf.zeros([config.filters]), `${config.name}/bias`));
    this.outputShape = [oh, ow, config.filters];
  }
  apply(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor {
    const [kernel, bias] = this.params;
    const c = this.config;
    return conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, (bias as tf.Tensor1D | undefined) ?? null, { stride: c.strides, padding: c.padding }, c.activation, ctx?.inputGradient ?? true);
  }
}

class PoolLayer implements Layer {
  readonly params: tf.Variable[] = [];
  readonly outputShape: number[];
  constructor(
    readonly config: Extract<LayerConfig, { type: "maxPool2d" | "avgPool2d" }>,
    inputShape: number[],
  ) {
    if (inputShape.length !== 3) throw new Error(`layer ${config.name}: pooling expects an [height, width, channels] input, got [${inputShape}]`);
    const [h, w, c] = inputShape;
    const oh = convPads(h, config.poolSize, config.strides, config.padding).out;
    const ow = convPads(w, config.poolSize, config.strides, config.padding).out;
    if (oh < 1 || ow < 1) throw new Error(`layer ${config.name}: a ${config.poolSize}×${config.poolSize} pool does not fit a ${h}×${w} input`);
    this.outputShape = [oh, ow, c];
  }
  apply(x: tf.Tensor): tf.Tensor {
    const c = this.config;
    return c.type === "maxPool2d"
      ? tf.maxPool(x as tf.Tensor4D, c.poolSize, c.strides, c.padding)
      : tf.avgPool(x as tf.Tensor4D, c.poolSize, c.strides, c.padding);
  }
}

class FlattenLayer implements Layer {
  readonly params: tf.Variable[] = [];
  readonly outputShape: number[];
  constructor(
    readonly config: Extract<LayerConfig, { type: "flatten" }>,
    inputShape: number[],
  ) {
    this.outputShape = [inputShape.reduce((a, b) => a * b, 1)];
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.reshape(x, [x.shape[0], this.outputShape[0]]);
  }
}

class DropoutLayer implements Layer {
  readonly params: tf.Variable[] = [];
  readonly outputShape: number[];
  constructor(
    readonly config: Extract<LayerConfig, { type: "dropout" }>,
    inputShape: number[],
  ) {
    this.outputShape = inputShape;
  }
  apply(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (!ctx.training || this.config.rate <= 0) return x;
    if (!ctx.rng) throw new Error(`layer ${this.config.name}: training with dropout needs a seeded rng`);
    return tf.mul(x, dropoutMask(x.shape, this.config.rate, ctx.rng));
  }
}

export function buildLayer(config: LayerConfig, inputShape: number[], rng: Rng): Layer {
  switch (config.type) {
    case "dense":
      return new DenseLayer(config, inputShape, rng);
    case "conv2d":
      return new Conv2DLayer(config, inputShape, rng);
    case "maxPool2d":
    case "avgPool2d":
      return new PoolLayer(config, inputShape);
    case "flatten":
      return new FlattenLayer(config, inputShape);
    case "dropout":
      return new DropoutLayer(config, inputShape);
  }
}
