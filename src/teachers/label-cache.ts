/**
 * An offline teacher cache: a teacher's outputs over a transfer set, computed once and stored on disk as sharded
 * safetensors files plus a JSON manifest, so training can run from the cache without loading the teacher.
 *
 *   DIR/shard-00000-of-00006.safetensors   "logits" F32 [n, C]  (or "topk_indices" I32 [n, k] + "topk_logprobs" F32 [n, k])
 *   …                                      "indices" I32 [n]: the dataset rows the shard holds (start … start+n−1)
 *   DIR/manifest.json                      written last; its presence means the cache is complete
 *   DIR/manifest.partial.json              while labelling: the shards finished so far (removed at the end)
 *
 * Every file is written atomically (temp file + rename). Labelling is resumable: a rerun keeps the finished
 * shards whose sha256 still matches and computes only the rest, in the same batches, so the result is
 * byte-identical to an uninterrupted run. One labelling process per folder at a time.
 */
export {
  LABEL_CACHE_FORMAT,
  LABEL_CACHE_VERSION,
  MANIFEST_FILE,
  PARTIAL_MANIFEST_FILE,
  DEFAULT_SHARD_SIZE,
  shardFileName,
  shardOnDisk,
  describeCacheMismatch,
  type LabelCacheShard,
  type LabelCacheManifest,
  type LabelCacheSettings,
} from "./label-cache-format.js";
export { labelDataset, encodeShard, type LabelDatasetOptions, type ShardPlan, type EncodeShardOptions } from "./label-cache-write.js";
export { openLabelCache, cacheLogitLookup, type LabelCacheExpect, type TopKRows, type LabelCache } from "./label-cache-read.js";
// Hashing helpers live in util/ and data/ now; re-exported here for callers that still import them from the cache.
export { sha256File, hashFiles } from "../util/hashing.js";
export { hashDataset } from "../data/dataset-hash.js";
