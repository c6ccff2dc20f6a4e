// Batch-1 latency and batched throughput of an embed function: plain JavaScript without imports, so that the same
// code times a model in Node (src/eval/embedding-metrics.ts re-exports it) and in a browser page
// (bench/embeddings-browser.ts serves this file to Chromium).

/**
 * Batch-1 latency (median over the texts, after `warmup` calls; at most half of `maxSeconds` once `minSamples`
 * are timed) and batched throughput (whole passes over the texts, repeated for the other half) of an embed function
 * (sync or not). `samples`: how many batch-1 calls were timed.
 */
export async function timeEmbedding(embed, texts, { warmup = 5, batchSize = 32, maxSeconds = 20, minSamples = 10 } = {}) {
  for (let i = 0; i < warmup; i++) await embed([texts[i % texts.length]]);
  const times = [];
  const deadline = performance.now() + (maxSeconds * 1000) / 2;
  for (let i = 0; i < texts.length && (i < minSamples || performance.now() < deadline); i++) {
    const t0 = performance.now();
    await embed([texts[i]]);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  // Throughput: whole passes over the texts in batches, repeated until half the time budget is spent.
  let done = 0;
  const t0 = performance.now();
  const stop = t0 + (maxSeconds * 1000) / 2;
  do {
    for (let start = 0; start < texts.length; start += batchSize) {
      const part = texts.slice(start, start + batchSize);
      await embed(part);
      done += part.length;
    }
  } while (performance.now() < stop);
  const seconds = (performance.now() - t0) / 1000;
  return { msPerSentence: times[Math.floor((times.length - 1) / 2)], sentencesPerSecond: done / seconds, batchSize, samples: times.length };
}
