import type * as ort from "onnxruntime-node";
import { ortModule } from "../../util/ort.js";
import { loadTokenizer } from "../../tokenizers/io.js";
import type { Tokenizer } from "../../tokenizers/tokenizer.js";
import { DataError } from "../../util/errors.js";
import { readDataFile } from "../../util/files.js";
import { hashFiles } from "../../util/hashing.js";
import { hashWithSettings, inputSpecIdentity } from "../teacher-openers.js";
import { resolveInputSpec, type InputSpec, type ModelInput, type ResolvedInputSpec } from "../input-spec.js";
import { normalizeRows, poolTokens, type EmbeddingTeacher } from "./embedding-teacher.js";

export interface OnnxEmbeddingOptions {
  /** How texts become the model's inputs: a text input spec (tokenizer.json, ids / attention mask / token type ids). */
  input: InputSpec & { kind: "text" };
  /** The output holding the vectors or token states (default the first). */
  outputName?: string;
  /** Token states [B, T, H] become one vector by the mean over unmasked tokens or the first token (default mean). */
  pooling?: "mean" | "first";
  normalize?: boolean;
  threads?: number;
}

type TextSpec = ResolvedInputSpec & { kind: "text" };

/** An ONNX sentence encoder (e.g. a sentence-transformers export) read through its Hugging Face tokenizer. */
export class OnnxEmbeddingTeacher implements EmbeddingTeacher {
  readonly kind = "onnx" as const;
  private dimValue = 0;

  private constructor(
    readonly name: string,
    private readonly session: ort.InferenceSession,
    private readonly spec: TextSpec,
    private readonly outputName: string,
    private readonly pooling: "mean" | "first",
    private readonly normalize: boolean,
    readonly hash: string,
    readonly tokenizer: Tokenizer,
  ) {}

  get dim(): number {
    return this.dimValue;
  }

  static async open(path: string, opts: OnnxEmbeddingOptions): Promise<OnnxEmbeddingTeacher> {
    const bytes = readDataFile(path, "an ONNX model file");
    let session: ort.InferenceSession;
    try {
      session = await ortModule().InferenceSession.create(bytes, { intraOpNumThreads: opts.threads ?? 1 });
    } catch (err) {
      throw new DataError(path, `could not be loaded by onnxruntime (${(err as Error).message.split("\n")[0]})`);
    }
    try {
      const inputs: ModelInput[] = session.inputMetadata.map((m) => {
        const meta = m as { name: string; type?: string; shape?: readonly (number | string)[] };
        return { name: meta.name, shape: (meta.shape ?? []).map((d) => (typeof d === "number" && d >= 0 ? d : null)), dtype: meta.type ?? "float32" };
      });
      const spec = resolveInputSpec(opts.input, { runtime: "onnx", inputs, where: path }) as TextSpec;
      const outputName = opts.outputName ?? session.outputNames[0];
      if (!session.outputNames.includes(outputName)) throw new DataError(path, `outputName: the model has no output "${outputName}" (outputs: ${session.outputNames.join(", ")})`);
      const hash = hashWithSettings(hashFiles([path]), { input: inputSpecIdentity(opts.input), outputName: opts.outputName, pooling: opts.pooling === "first" ? "first" : undefined, normalize: opts.normalize ? true : undefined });
      const t = new OnnxEmbeddingTeacher(path, session, spec, outputName, opts.pooling ?? "mean", opts.normalize ?? false, hash, loadTokenizer(opts.input.tokenizer));
      t.dimValue = (await t.embed(["a"])).length;
      return t;
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  async embed(texts: readonly string[]): Promise<Float32Array> {
    if (texts.length === 0) return new Float32Array(0);
    const n = texts.length;
    const { ids, mask, length: T } = this.spec.tokenizer.encodeBatch(texts);
    const tensor = (values: number[]) =>
      this.spec.dtype === "int64" ? new (ortModule().Tensor)("int64", BigInt64Array.from(values, (v) => BigInt(v)), [n, T]) : new (ortModule().Tensor)("int32", Int32Array.from(values), [n, T]);
    const feeds: Record<string, ort.Tensor> = { [this.spec.ids]: tensor(ids) };
    if (this.spec.attentionMask) feeds[this.spec.attentionMask] = tensor(mask);
    if (this.spec.tokenTypeIds) feeds[this.spec.tokenTypeIds] = tensor(new Array(ids.length).fill(0));
    const out = (await this.session.run(feeds))[this.outputName];
    const dims = out.dims.map(Number);
    if (dims[0] !== n || (dims.length !== 2 && dims.length !== 3)) throw new DataError(this.name, `output ${this.outputName} has shape [${dims}] for ${n} texts; expected [${n}, dim] or token states [${n}, tokens, dim]`);
    const data = out.data as Float32Array;
    const d = dims[dims.length - 1];
    const v = dims.length === 2 ? Float32Array.from(data) : poolTokens(data, n, dims[1], d, dims[1] === T ? mask : null, this.pooling);
    return this.normalize ? normalizeRows(v, n, d) : v;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
