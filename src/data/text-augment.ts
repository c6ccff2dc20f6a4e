// Text augmentation for a distillation transfer set (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT
// into Simple Neural Networks", §3.3): each word is masked with probability `mask` (here: dropped, as the students'
// tokenizers have no mask token), then with probability `ngram` the text is cut to a random n-gram of its words
// (n uniform in 1…5; minN…maxN here). The teacher labels each augmented text; their labels are never used. Seeded.
import { Rng } from "../util/rng.js";

export interface TextAugmentOptions {
  /** Augmented copies per text (each drawn independently). */
  copies: number;
  /** Probability of masking (dropping) each word. */
  mask: number;
  /** Probability of cutting the text to one n-gram. */
  ngram: number;
  /** Longest n-gram (Tang et al.: 5). */
  maxN?: number;
  /** Shortest n-gram (default 1). */
  minN?: number;
}

/** `copies` augmented versions of each text, in order (text 0's copies, then text 1's, …); empty results are skipped. */
export function augmentTexts(texts: readonly string[], opts: TextAugmentOptions, seed: number): string[] {
  const maxN = opts.maxN ?? 5;
  const minN = Math.min(opts.minN ?? 1, maxN);
  const out: string[] = [];
  texts.forEach((text, i) => {
    const rng = new Rng(seed, "text-augment", i);
    const words = text.split(/\s+/).filter(Boolean);
    for (let c = 0; c < opts.copies; c++) {
      let kept = words.filter(() => rng.next() >= opts.mask);
      if (rng.next() < opts.ngram && kept.length > 1) {
        const n = Math.min(kept.length, minN + rng.int(maxN - minN + 1));
        const start = rng.int(kept.length - n + 1);
        kept = kept.slice(start, start + n);
      }
      const t = kept.join(" ");
      if (t.length > 0 && t !== text) out.push(t);
    }
  });
  return out;
}
