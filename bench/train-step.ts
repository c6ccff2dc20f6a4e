// The training step both bench/vs-pytorch.ts and bench/profile-step.ts time: a Hinton KD step of the 784-800-800-10
// student with the 784-1200-1200-10 teacher's forward pass every step (outside the tape, as PyTorch's no_grad), or
// cross-entropy training of conv5×5×32-pool-conv5×5×64-pool-dense128-10; Adam; no input gradient (as src/train/fit.ts).
import * as tf from "@tensorflow/tfjs-core";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { createOptimizer, OptimizerConfig } from "../src/train/optimizers.js";
import { kdLoss } from "../src/losses/kd.js";
import { crossEntropy } from "../src/losses/cross-entropy.js";

export type TrainWorkload = "kd-mlp" | "cnn";
export const SHAPE = { inputShape: [28, 28, 1], numClasses: 10 };

/** A step function over (x, y) that returns the loss. */
export function trainStep(workload: TrainWorkload): (x: tf.Tensor, y: tf.Tensor1D) => number {
  const student = new SequentialModel(modelConfigFromSpec(workload === "cnn" ? "cnn:conv32k5-pool-conv64k5-pool-dense128" : "mlp:800-800", SHAPE), 2);
  const teacher = workload === "kd-mlp" ? new SequentialModel(modelConfigFromSpec("mlp:1200-1200", SHAPE), 1) : null;
  const opt = createOptimizer(OptimizerConfig.parse({ kind: "adam", lr: 1e-3 }));
  return (x, y) => {
    const t = teacher ? tf.tidy(() => teacher.forward(x).logits) : null;
    const { value, grads } = tf.variableGrads(() => {
      const s = student.forward(x, { training: true, inputGradient: false }).logits;
      return t ? kdLoss(s, t, y, { temperature: 4, alpha: 0.1 }) : crossEntropy(s, y);
    }, student.params);
    opt.step(student.params, student.params.map((p) => grads[p.name]), 1e-3);
    const loss = value.dataSync()[0];
    tf.dispose([t, value, ...Object.values(grads)].filter((v): v is tf.Tensor => v !== null));
    return loss;
  };
}
