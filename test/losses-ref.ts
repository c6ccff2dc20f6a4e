// Float64 plain-JS building blocks shared by the losses-*.test.ts files (not a test file itself).
import * as tf from "@tensorflow/tfjs-core";

export type Rows = number[][];

/** mulberry32: a small deterministic PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi), rounded to float32 so the reference sees exactly what the tensors hold. */
export function randFlat(n: number, seed: number, lo = -1, hi = 1): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * r()));
}

export function randRows(B: number, C: number, seed: number, lo = -1, hi = 1): Rows {
  return chunk(randFlat(B * C, seed, lo, hi), C);
}

export const f32 = (a: number[]): number[] => a.map(Math.fround);
export const f32Rows = (rows: Rows): Rows => rows.map((r) => r.map(Math.fround));

export function chunk(flat: number[], width: number): Rows {
  const out: Rows = [];
  for (let i = 0; i < flat.length; i += width) out.push(flat.slice(i, i + width));
  return out;
}

export function logSoftmax(row: number[], T = 1): number[] {
  const z = row.map((v) => v / T);
  const max = Math.max(...z);
  const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
  return z.map((v) => v - lse);
}
export const softmax = (row: number[], T = 1): number[] => logSoftmax(row, T).map(Math.exp);

/** Σ p·log(p/q) with 0·log 0 = 0. */
export function kl(p: number[], q: number[]): number {
  let s = 0;
  p.forEach((pi, i) => {
    if (pi > 0) s += pi * Math.log(pi / q[i]);
  });
  return s;
}

export const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * b[i], 0);
export const norm = (a: number[]): number => Math.sqrt(dot(a, a));
export const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

/** Float64 central differences of f at x (a flat vector). */
export function fdGrad(f: (x: number[]) => number, x: number[], h = 1e-5): number[] {
  return x.map((_, i) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] += h;
    minus[i] -= h;
    return (f(plus) - f(minus)) / (2 * h);
  });
}

/** The value of a TF.js scalar computation, with every intermediate disposed. */
export function tfValue(f: () => tf.Tensor): number {
  return tf.tidy(() => f().dataSync()[0]);
}

/** tf.grad of `f` at x (flat values, given shape), as a plain array. */
export function tfGrad(f: (x: tf.Tensor) => tf.Tensor, x: number[], shape: number[]): number[] {
  return tf.tidy(() => Array.from(tf.grad(f)(tf.tensor(x, shape)).dataSync()));
}

export const flatten = (rows: Rows): number[] => rows.flat();
