import * as tf from "@tensorflow/tfjs-core";
import { attentionSoftmax } from "../engine/sequence-ops.js";
import type { TransformerModel } from "../students/transformer.js";
import { TsdistillError } from "../util/errors.js";

/** Why a model cannot decode incrementally, or null when it can (a causal transformer with an LM head). */
export function kvCacheProblem(model: TransformerModel): string | null {
  const c = model.config;
  if (c.head !== "lm") return `the model has a ${c.head} head; generation needs head=lm`;
  if (!c.causal) return "the model's attention is not causal (causal: false); generation needs a causal LM";
  return null;
}

/**
 * Incremental decoding of one sequence with a key/value cache: `append(ids)` runs only the new tokens through the
 * model, attending to the cached keys and values of the earlier ones, and returns their logits. Up to float
 * rounding these are the rows a full forward pass over the whole sequence gives (same embeddings, pre-LN blocks,
 * causal mask and padding mask over keys). Holds at most ctx tokens; `reset` empties it.
 */
export class KvCache {
  private keys: tf.Tensor3D[] = []; // per block [H, L, hs]
  private values: tf.Tensor3D[] = [];
  private tokens: number[] = [];

  constructor(readonly model: TransformerModel) {
    const problem = kvCacheProblem(model);
    if (problem) throw new TsdistillError(`KV cache: ${problem}`);
  }

  /** Tokens in the cache. */
  get length(): number {
    return this.tokens.length;
  }
  get ids(): readonly number[] {
    return this.tokens;
  }

  /** Runs `ids` at positions length … length+n−1; returns their logits [n, vocab] (the caller disposes them). */
  append(ids: readonly number[]): tf.Tensor2D {
    const { vocab, ctx, dim: C, heads: H, padId } = this.model.config;
    const n = ids.length;
    const p = this.tokens.length;
    if (n === 0) throw new TsdistillError("KV cache: append needs at least one token");
    if (p + n > ctx) throw new TsdistillError(`KV cache: ${p} cached + ${n} new tokens exceed the context of ${ctx}`);
    for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < vocab)) throw new TsdistillError(`KV cache: token ${id} is not an id in [0, ${vocab})`);
    const all = [...this.tokens, ...ids];
    const L = p + n;
    const hs = C / H;
    // Query i (position p+i) sees keys j ≤ p+i (attentionSoftmax's causal mask with q = n, k = L) that are not padding.
    const keys = padId !== null && all.includes(padId) ? Float32Array.from(all, (id) => (id === padId ? 0 : 1)) : null;
    const m = this.model;
    const ctxOpts = { training: false };
    const out = tf.tidy(() => {
      const tok = tf.gather(m.embeddings.token.tensor, tf.tensor1d(Int32Array.from(ids), "int32"));
      let h = tf.add(tok, tf.slice(m.embeddings.position.tensor, [p, 0], [n, C])) as tf.Tensor2D; // [n, C]
      const keyMask = keys ? tf.tensor2d(keys, [1, L]) : undefined;
      const newKeys: tf.Tensor3D[] = [];
      const newValues: tf.Tensor3D[] = [];
      m.blocks.forEach((block, b) => {
        const att = block.attention;
        const [q, k, v] = tf.split(att.qkv.apply(block.ln1.apply(h)), 3, 1).map((t) => tf.transpose(tf.reshape(t, [n, H, hs]), [1, 0, 2]) as tf.Tensor3D); // 3 × [H, n, hs]
        const K = p > 0 ? (tf.concat([this.keys[b], k], 1) as tf.Tensor3D) : k; // [H, L, hs]
        const Vv = p > 0 ? (tf.concat([this.values[b], v], 1) as tf.Tensor3D) : v;
        newKeys.push(tf.keep(K));
        newValues.push(tf.keep(Vv));
        const scores = tf.reshape(tf.matMul(q, K, false, true), [1, H, n, L]);
        const probs = attentionSoftmax(scores, { scale: 1 / Math.sqrt(hs), causal: true, mask: keyMask }); // [1, H, n, L]
        const mixed = tf.matMul(tf.reshape(probs, [H, n, L]), Vv); // [H, n, hs]
        const y = att.proj.apply(tf.reshape(tf.transpose(mixed, [1, 0, 2]), [n, C]) as tf.Tensor2D); // [n, C]
        h = tf.add(h, y) as tf.Tensor2D;
        h = tf.add(h, block.mlp.apply(block.ln2.apply(h), ctxOpts)) as tf.Tensor2D;
      });
      h = m.finalNorm.apply(h);
      const logits = m.head.proj ? m.head.proj.apply(h) : (tf.matMul(h, m.embeddings.token.tensor, false, true) as tf.Tensor2D); // [n, V]
      return { logits, keys: newKeys, values: newValues };
    });
    this.disposeCache();
    this.keys = out.keys;
    this.values = out.values;
    this.tokens = all;
    return out.logits;
  }

  reset(): void {
    this.disposeCache();
    this.tokens = [];
  }

  dispose(): void {
    this.reset();
  }

  private disposeCache(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
    this.keys = [];
    this.values = [];
  }
}
