import * as tf from "@tensorflow/tfjs-core";
import { conv2d, dense } from "../engine/ops.js";
import { glorotUniform } from "../engine/init.js";
import { Rng } from "../util/rng.js";

export type ProjectorKind = "linear" | "conv1x1";

/**
 * A learned map from a student feature to the teacher's width (FitNets' regressor): linear for vectors
 * [B, d_s] → [B, d_t], a 1×1 convolution for maps [B, H, W, c_s] → [B, H, W, c_t]. Its weights train with the
 * student and are never saved with it.
 */
export class Projector {
  readonly params: tf.Variable[];

  constructor(
    readonly kind: ProjectorKind,
    readonly fromShape: number[],
    readonly toShape: number[],
    seed: number,
    name: string,
  ) {
    const rng = new Rng(seed, "projector", name);
    const cin = fromShape[fromShape.length - 1];
    const cout = toShape[toShape.length - 1];
    const kernelShape = kind === "linear" ? [cin, cout] : [1, 1, cin, cout];
    this.params = [
      tf.variable(glorotUniform(kernelShape, cin, cout, rng), true, `tsdistill#projector/${name}/kernel/${Math.random().toString(36).slice(2)}`),
      tf.variable(tf.zeros([cout]), true, `tsdistill#projector/${name}/bias/${Math.random().toString(36).slice(2)}`),
    ];
  }

  /** Chooses a projector for a student feature of shape `from` (no batch) and a teacher feature `to`, or null. */
  static kindFor(from: number[], to: number[]): ProjectorKind | null | "mismatch" {
    if (from.length === to.length && from.every((d, i) => d === to[i])) return null;
    if (from.length === 1 && to.length === 1) return "linear";
    if (from.length === 3 && to.length === 3 && from[0] === to[0] && from[1] === to[1]) return "conv1x1";
    return "mismatch";
  }

  apply(x: tf.Tensor): tf.Tensor {
    const [w, b] = this.params;
    return this.kind === "linear"
      ? dense(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D, "linear")
      : conv2d(x as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D, { stride: 1, padding: "valid" }, "linear");
  }

  dispose(): void {
    for (const p of this.params) p.dispose();
  }
}
