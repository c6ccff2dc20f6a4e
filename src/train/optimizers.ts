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
  /** A copy of everything the next steps depend on besides the parameters (for checkpoints). */
  state(): OptimizerState;
  /** Continues from a saved state (before the first step), for parameters of these sizes. */
  restore(state: OptimizerState, paramSizes: number[]): void;
  dispose(): void;
}

/**
 * An optimiser's state: its step count and, per slot (Adam: "m" and "v"; SGD: "velocity"), one array per
 * parameter. Slots are empty until the first step.
 */
export interface OptimizerState {
  step: number;
  slots: Record<string, Float32Array[]>;
}

/** Copies of a slot, from the in-place arrays or the tensor path's variables, whichever holds it. */
function slotCopy(arrays: Float32Array[], vars: tf.Variable[]): Float32Array[] {
  if (arrays.length) return arrays.map((a) => a.slice());
  return vars.map((v) => Float32Array.from(v.dataSync() as Float32Array));
}

function restoredSlot(state: OptimizerState, name: string, sizes: number[]): Float32Array[] {
  const slot = state.slots[name];
  if (!slot) return [];
  if (slot.length !== sizes.length || slot.some((a, i) => a.length !== sizes[i])) {
    throw new Error(`optimiser state: slot "${name}" holds [${slot.map((a) => a.length)}] values, the parameters have [${sizes}]`);
  }
  return slot.map((a) => a.slice());
}

/** The tensor path's variables for a slot: the restored values when there are any, else zeros. */
function slotVariables(params: tf.Variable[], restored: Float32Array[]): tf.Variable[] {
  return params.map((p, i) => tf.tidy(() => tf.variable(restored.length ? tf.tensor(restored[i], p.shape) : tf.zerosLike(p), false)));
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

  state(): OptimizerState {
    const m = slotCopy(this.fm, this.m);
    return { step: this.t, slots: m.length ? { m, v: slotCopy(this.fv, this.v) } : {} };
  }

  /** The restored moments go to the in-place arrays; the tensor path starts its variables from them. */
  restore(state: OptimizerState, paramSizes: number[]): void {
    if (this.t !== 0) throw new Error("optimiser: restore before the first step");
    this.t = state.step;
    this.fm = restoredSlot(state, "m", paramSizes);
    this.fv = restoredSlot(state, "v", paramSizes);
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
      this.m = slotVariables(params, this.fm);
      this.v = slotVariables(params, this.fv);
      this.fm = [];
      this.fv = [];
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
    this.steps++;
  }

  private steps = 0;

  state(): OptimizerState {
    const velocity = slotCopy(this.fvel, this.velocity);
    return { step: this.steps, slots: velocity.length ? { velocity } : {} };
  }

  restore(state: OptimizerState, paramSizes: number[]): void {
    if (this.steps !== 0) throw new Error("optimiser: restore before the first step");
    this.steps = state.step;
    this.fvel = restoredSlot(state, "velocity", paramSizes);
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
    if (this.velocity.length === 0) {
      this.velocity = slotVariables(params, this.fvel);
      this.fvel = [];
    }
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
