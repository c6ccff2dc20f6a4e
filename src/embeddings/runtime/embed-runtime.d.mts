// Types of embed-runtime.mjs, the dependency-free embedding runtime (shipped next to exported embedding models).

export declare const EMBED_RUNTIME_VERSION: number;
export declare const EMBEDDINGS_FORMAT: "tsdistill-embeddings";
export declare const USE_RESERVED_SYMBOLS: number;

export declare class EmbedRuntimeError extends Error {
  constructor(where: string, problem: string);
  readonly where: string;
  readonly problem: string;
}

/** A SentencePiece unigram vocabulary, segmented as the Universal Sentence Encoder's tokenizer does. */
export declare class SentencePieceTokenizer {
  /** `words`: whole words (no "▁") with ids vocab.length + k, taken whole where a text has them. */
  constructor(vocab: [string, number | null][], reserved?: number, words?: string[]);
  readonly vocab: [string, number | null][];
  readonly reserved: number;
  readonly words: string[];
  readonly size: number;
  encode(text: string): number[];
  decode(ids: Iterable<number>): string;
}

/** The whole words of a text, as the tokenizer's word lookup sees them. */
export declare function leadingWords(text: string): string[];

export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface StoredTensor {
  dtype: "F32" | "F16" | "I8";
  shape: number[];
  /** F32: the values; F16: their fp16 bits; I8: the quantised values (times "<name>/scale", one per row). */
  data: Float32Array | Uint16Array | Int8Array;
}

export declare function dequantizeTensors(tensors: Record<string, StoredTensor>, source?: string): Record<string, F32Tensor>;

export declare function readSafetensorsF32(bytes: ArrayBuffer | Uint8Array, source?: string): Record<string, F32Tensor>;

export interface TextEncoderLike {
  encode(text: string): number[];
}

/** config.json of a saved embedding model (see src/embeddings/embedding-model.ts for every field). */
export interface EmbeddingConfigJson {
  format: "tsdistill-embeddings";
  padId?: number | null;
  /** Hidden width of the context layer; 0 or absent: none (the plain mean of the rows). */
  context?: number;
  normalize?: boolean;
  [key: string]: unknown;
}

export declare function tokenizerFromJson(json: unknown, encode?: (text: string) => number[]): TextEncoderLike;

export declare class EmbeddingModel {
  constructor(config: EmbeddingConfigJson, tensors: Record<string, F32Tensor>, tokenizer: TextEncoderLike);
  readonly config: EmbeddingConfigJson;
  readonly vocab: number;
  readonly width: number;
  readonly dim: number;
  readonly normalize: boolean;
  embedIds(ids: Iterable<number>): Float32Array;
  embed(texts: string[]): Float32Array[];
}

export declare function loadEmbeddingModel(
  baseUrl: string | URL,
  options?: { fetch?: (url: string) => Promise<Response>; encode?: (text: string) => number[] },
): Promise<EmbeddingModel>;
