import * as tf from "@tensorflow/tfjs-core";
import { dropoutMask } from "../engine/init.js";
import { dense } from "../engine/ops.js";
import { layerNorm } from "../engine/sequence-ops.js";
import type { Rng } from "../util/rng.js";
import type { ForwardContext } from "./layers.js";

/** GPT-2's initialisation: N(0, 0.02) for embeddings and kernels. */
export const INIT_STD = 0.02;

/** A trainable tensor with the name it is saved under (e.g. "block_1/attention/qkv/kernel"). */
export interface NamedParam {
  readonly name: string;
  readonly tensor: tf.Variable;
}

let counter = 0;

function variable(t: tf.Tensor, name: string): NamedParam {
  const tensor = tf.variable(t, true, `tsdistill#t${counter++}/${name}`);
  t.dispose();
  return { name, tensor };
}

export function normalParam(name: string, shape: number[], std: number, rng: Rng): NamedParam {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal() * std;
  return variable(tf.tensor(values, shape, "float32"), name);
}

export const constParam = (name: string, shape: number[], value: number): NamedParam => variable(tf.fill(shape, value), name);

/** A linear map x·W + b: kernel [in, out] ~ N(0, std), bias zeros. */
export class Linear {
  static readonly className = "Linear";
  readonly kernel: NamedParam;
  readonly bias: NamedParam | null;
  constructor(name: string, inDim: number, outDim: number, rng: Rng, { std = INIT_STD, bias = true } = {}) {
    this.kernel = normalParam(`${name}/kernel`, [inDim, outDim], std, rng);
    this.bias = bias ? constParam(`${name}/bias`, [outDim], 0) : null;
  }
  get params(): NamedParam[] {
    return this.bias ? [this.kernel, this.bias] : [this.kernel];
  }
  /** [N, in] → [N, out] */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return dense(x, this.kernel.tensor as tf.Tensor2D, (this.bias?.tensor as tf.Tensor1D | undefined) ?? null, "linear");
  }
}

/** LayerNorm's scale (ones) and shift (zeros) over the last axis. */
export class Norm {
  static readonly className = "LayerNorm";
  readonly gamma: NamedParam;
  readonly beta: NamedParam;
  constructor(name: string, dim: number) {
    this.gamma = constParam(`${name}/gamma`, [dim], 1);
    this.beta = constParam(`${name}/beta`, [dim], 0);
  }
  get params(): NamedParam[] {
    return [this.gamma, this.beta];
  }
  apply<T extends tf.Tensor>(x: T): T {
    return layerNorm(x, this.gamma.tensor as tf.Tensor1D, this.beta.tensor as tf.Tensor1D);
  }
}

/** Inverted dropout from the seeded stream, like the dropout layers of sequential models. */
export function dropout<T extends tf.Tensor>(x: T, rate: number, ctx: ForwardContext, where: string): T {
  if (!ctx.training || rate <= 0) return x;
  if (!ctx.rng) throw new Error(`${where}: training with dropout needs a seeded rng`);
  return tf.mul(x, dropoutMask(x.shape, rate, ctx.rng)) as T;
}
