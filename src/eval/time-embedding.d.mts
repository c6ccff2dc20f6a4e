// Types of time-embedding.mjs (timing code shared by Node and browser pages).

export interface EmbedTiming {
  /** Median ms for one text per call (batch 1). */
  msPerSentence: number;
  /** Texts per second embedded in batches of `batchSize`. */
  sentencesPerSecond: number;
  batchSize: number;
  /** Batch-1 calls timed (the median's sample size). */
  samples: number;
}

export interface TimeEmbeddingOptions {
  /** Untimed batch-1 calls first (default 5). */
  warmup?: number;
  /** Batch size of the throughput passes (default 32). */
  batchSize?: number;
  /** Time budget: half for the batch-1 calls (once `minSamples` are timed), half for throughput (default 20). */
  maxSeconds?: number;
  /** Batch-1 calls timed whatever the budget, up to the number of texts (default 10). */
  minSamples?: number;
}

export declare function timeEmbedding(embed: (texts: string[]) => unknown, texts: readonly string[], options?: TimeEmbeddingOptions): Promise<EmbedTiming>;
