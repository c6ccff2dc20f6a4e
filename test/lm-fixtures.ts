// Shared fixtures of the LM-teacher tests (not a test file itself): a tiny byte-level LM that memorised one string.
import { windowDataset } from "../src/data/token-sequences.js";
import type { InMemoryDataset } from "../src/data/dataset.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { ByteTokenizer } from "../src/tokenizers/byte.js";
import { fit } from "../src/train/fit.js";

export const bytes = new ByteTokenizer();
export const EOS = bytes.special.eos!;
export const PAD = bytes.special.pad!;

/** One window as corpus packing makes it: EOS (the document separator), the text's bytes, EOS (so ctx = text length + 1). */
export function memorisedWindow(text: string): { window: Int32Array; ctx: number } {
  const window = Int32Array.from([EOS, ...bytes.encode(text), EOS]);
  return { window, ctx: window.length - 1 };
}

/** The window `copies` times (batches of several rows). */
export function windowData(text: string, copies = 1): InMemoryDataset {
  const { window, ctx } = memorisedWindow(text);
  const all = new Int32Array(window.length * copies);
  for (let c = 0; c < copies; c++) all.set(window, c * window.length);
  return windowDataset("memorise", all, ctx, bytes.vocabSize);
}

/**
 * A byte-level LM (pad id 256) trained until it has memorised the text; deterministic for a seed. `extraCtx` more
 * positions than the window (untrained) let it score the window with the token after it, as an API server does.
 */
export async function memorisedLm(text: string, { seed = 1, epochs = 120, dim = 32, extraCtx = 0 } = {}): Promise<TransformerModel> {
  const ctx = memorisedWindow(text).ctx + extraCtx;
  const data = windowData(text);
  const model = new TransformerModel(transformerConfigFromSpec(`transformer:layers=1,dim=${dim},heads=2,ff=${2 * dim},ctx=${ctx},causal,tie,padId=${PAD}`), seed);
  await fit(model, data, (logits, c) => nextTokenCrossEntropy(logits, c.x, c.y, PAD), { epochs, batchSize: 1, seed, optimizer: { kind: "adam", lr: 1e-2 } });
  return model;
}

/** An untrained student of the same shape family (byte vocabulary, pad 256). */
export function tinyStudent(ctx: number, seed: number, dim = 16): TransformerModel {
  return new TransformerModel(transformerConfigFromSpec(`transformer:layers=1,dim=${dim},heads=2,ff=${2 * dim},ctx=${ctx},causal,tie,padId=${PAD}`), seed);
}
