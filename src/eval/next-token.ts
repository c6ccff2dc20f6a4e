import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { nextTokenTargets } from "../losses/next-token.js";
import type { TrainableModel } from "../students/trainable.js";

export interface NextTokenMetrics {
  /** Positions scored (every token of every window, padding targets left out). */
  tokens: number;
  /** Share of positions whose top-1 logit is the next token. */
  accuracy: number;
  /** Mean cross-entropy in nats per token (perplexity = e^loss). */
  loss: number;
}

/** Top-1 next-token accuracy and cross-entropy of a language model over every position of a token-window dataset. */
export function nextTokenMetrics(model: TrainableModel, data: InMemoryDataset, { batchSize = 64, ignoreId = null as number | null } = {}): NextTokenMetrics {
  let tokens = 0;
  let correct = 0;
  let lossSum = 0;
  for (const batch of data.batchesSync({ batchSize })) {
    const [n, c, l] = tf.tidy(() => {
      const x = tf.tensor(batch.x, [batch.size, ...data.sampleShape]);
      const logits = model.forward(x).logits;
      const targets = nextTokenTargets(x, tf.tensor1d(batch.y, "int32"), ignoreId);
      const scored = tf.cast(tf.greaterEqual(targets, 0), "float32");
      const hits = tf.sum(tf.mul(tf.cast(tf.equal(tf.argMax(logits, 1), targets), "float32"), scored));
      const nll = tf.neg(tf.sum(tf.mul(tf.mul(tf.oneHot(targets, logits.shape[1]), tf.logSoftmax(logits)), tf.expandDims(scored, 1))));
      return [tf.sum(scored).dataSync()[0], hits.dataSync()[0], nll.dataSync()[0]];
    });
    tokens += n;
    correct += c;
    lossSum += l;
  }
  return { tokens, accuracy: tokens ? correct / tokens : 0, loss: tokens ? lossSum / tokens : 0 };
}
