import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { float32View, updateVariable } from "../engine/memory.js";
import { nativeAddon, type NativeAddon } from "../engine/native-addon.js";

export const OptimizerConfig = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("adam"),
    lr: z.number().positive().default(1e-3),
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.999),
    epsilon: z.number().positive().default(1e-7),
    weightDecay: z.number().min(0).default(0),
  }),
  z.object({
    kind: z.literal("sgd"),
    lr: z.number().positive().default(0.05),
    momentum: z.number().min(0).max(1).default(0.9),
    nesterov: z.boolean().default(false),
    weightDecay: z.number().min(0).default(0),
  }),
]);
export type OptimizerConfig = z.infer<typeof OptimizerConfig>;

/** Updates parameters in place from their gradients, at a learning rate given per step by the schedule. */
export interface Optimizer {
  readonly config: OptimizerConfig;
  step(params: tf.Variable[], grads: tf.Tensor[], lr: number): void;
  dispose(): void;
}

/** The fused path is chosen once per optimiser: its state (plain arrays) cannot move to the tensor path. */
function canUpdateInPlace(params: tf.Variable[], grads: tf.Tensor[]): boolean {
  return params.every((p, i) => float32View(p) !== null && float32View(grads[i]) !== null);
}

/** On the native backend the fused updates run in the addon (same arithmetic as the JS loops below). */
function nativeUpdater(): NativeAddon | null {
  return tf.getBackend() === "native" ? nativeAddon : null;
}

function updateOrThrow(v: tf.Variable, grad: tf.Tensor, update: Parameters<typeof updateVariable>[2]): void {
  if (!updateVariable(v, grad, update)) throw new Error(`optimiser: cannot update ${v.name} in place (backend changed during training?)`);
}

/** Adam (Kingma & Ba) with bias correction; decoupled weight decay (AdamW) when weightDecay > 0. */
class Adam implements Optimizer {
  private m: tf.Variable[] = [];
  private v: tf.Variable[] = [];
  private t = 0;
  constructor(readonly config: Extract<OptimizerConfig, { kind: "adam" }>) {}

  private fm: Float32Array[] = [];
  private fv: Float32Array[] = [];

  private fused: boolean | null = null;

  step(params: tf.Variable[], grads: tf.Tensor[], lr: number): void {
    this.fused ??= canUpdateInPlace(params, grads);
    if (this.fused) this.stepInPlace(params, grads, lr);
    else this.stepWithOps(params, grads, lr);
  }

  /** One fused loop per parameter over the backend's memory: no temporaries, no extra passes. */
  private stepInPlace(params: tf.Variable[], grads: tf.Tensor[], lr: number): void {
    const { beta1, beta2, epsilon, weightDecay } = this.config;
    if (this.fm.length === 0) {
      this.fm = params.map((p) => new Float32Array(p.size));
      this.fv = params.map((p) => new Float32Array(p.size));
    }
    this.t++;
    const stepSize = (lr * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    const keep = 1 - lr * weightDecay;
    const b1 = 1 - beta1;
    const b2 = 1 - beta2;
    const native = nativeUpdater();
    params.forEach((param, i) => {
      const m = this.fm[i];
      const v = this.fv[i];
      updateOrThrow(param, grads[i], (next, p, g) => {
        if (native) return native.adam(next, p, g, m, v, stepSize, beta1, beta2, epsilon, keep);
        for (let j = 0; j < p.length; j++) {
          const gj = g[j];
          const mj = beta1 * m[j] + b1 * gj;
          const vj = beta2 * v[j] + b2 * gj * gj;
          m[j] = mj;
          v[j] = vj;
          next[j] = keep * p[j] - (stepSize * mj) / (Math.sqrt(vj) + epsilon);
        }
      });
    });
  }

  private stepWithOps(params: tf.Variable[], grads: tf.Tensor[], lr: number): void {
    const { beta1, beta2, epsilon, weightDecay } = this.config;
    if (this.m.length === 0) {
      this.m = params.map((p) => tf.variable(tf.zerosLike(p), false));
      this.v = params.map((p) => tf.variable(tf.zerosLike(p), false));
    }
    this.t++;
    const stepSize = (lr * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    tf.tidy(() => {
      params.forEach((p, i) => {
        const g = grads[i];
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        let update = tf.div(tf.mul(m, stepSize), tf.add(tf.sqrt(v), epsilon));
        if (weightDecay > 0) update = tf.add(update, tf.mul(p, lr * weightDecay));
        p.assign(tf.sub(p, update));
      });
    });
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

/** SGD with (optionally Nesterov) momentum, PyTorch's convention: v = μ·v + g; p −= lr·v. */
class SgdMomentum implements Optimizer {
  private velocity: tf.Variable[] = [];
  constructor(readonly config: Extract<OptimizerConfig, { kind: "sgd" }>) {}

  private fvel: Float32Array[] = [];

  private fused: boolean | null = null;

  step(params: tf.Variable[], grads: tf.Tensor[], lr: number): void {
    this.fused ??= canUpdateInPlace(params, grads);
    if (this.fused) this.stepInPlace(params, grads, lr);
    else this.stepWithOps(params, grads, lr);
  }

  private stepInPlace(params: tf.Variable[], grads: tf.Tensor[], lr: number): void {
    const { momentum, nesterov, weightDecay } = this.config;
    if (this.fvel.length === 0) this.fvel = params.map((p) => new Float32Array(p.size));
    const native = nativeUpdater();
    params.forEach((param, i) => {
      const vel = this.fvel[i];
      updateOrThrow(param, grads[i], (next, p, g) => {
        if (native) return native.sgd(next, p, g, vel, lr, momentum, nesterov, weightDecay);
        for (let j = 0; j < p.length; j++) {
          const gj = g[j] + weightDecay * p[j];
          const vj = momentum * vel[j] + gj;
          vel[j] = vj;
          next[j] = p[j] - lr * (nesterov ? gj + momentum * vj : vj);
        }
      });
    });
  }

  private stepWithOps(params: tf.Variable[], grads: tf.Tensor[], lr: number): void {
    const { momentum, nesterov, weightDecay } = this.config;
    if (this.velocity.length === 0) this.velocity = params.map((p) => tf.variable(tf.zerosLike(p), false));
    tf.tidy(() => {
      params.forEach((p, i) => {
        let g = grads[i];
        if (weightDecay > 0) g = tf.add(g, tf.mul(p, weightDecay));
        if (momentum === 0) {
          p.assign(tf.sub(p, tf.mul(g, lr)));
          return;
        }
        const v = tf.add(tf.mul(this.velocity[i], momentum), g);
        this.velocity[i].assign(v);
        const dir = nesterov ? tf.add(g, tf.mul(v, momentum)) : v;
        p.assign(tf.sub(p, tf.mul(dir, lr)));
      });
    });
  }

  dispose(): void {
    for (const t of this.velocity) t.dispose();
  }
}

export function createOptimizer(config: OptimizerConfig): Optimizer {
  return config.kind === "adam" ? new Adam(config) : new SgdMomentum(config);
}
