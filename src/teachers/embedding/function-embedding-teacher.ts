import { resolve } from "node:path";
import { DataError } from "../../util/errors.js";
import { hashFiles } from "../../util/hashing.js";
import { importFunction } from "../teacher-openers.js";
import type { EmbeddingTeacher } from "./embedding-teacher.js";

/** What a function embedding teacher is: texts → one vector per text (arrays or Float32Arrays), sync or async. */
export type EmbeddingFunction = (texts: string[]) => ArrayLike<number>[] | Float32Array | Promise<ArrayLike<number>[] | Float32Array>;

/** Any JavaScript function as an embedding teacher (its width read from one probe call). */
export class FunctionEmbeddingTeacher implements EmbeddingTeacher {
  readonly kind = "function" as const;
  private dimValue = 0;

  constructor(
    private readonly fn: EmbeddingFunction,
    readonly name = "function",
    readonly hash: string | null = null,
  ) {}

  get dim(): number {
    return this.dimValue;
  }

  /** Probes the width with one text; call before use (openFunctionEmbedding does). */
  async init(): Promise<this> {
    const v = await this.call(["a"], true);
    this.dimValue = v.length;
    if (this.dimValue < 1) throw new DataError(this.name, "returned an empty vector for the text \"a\"; expected one vector per text");
    return this;
  }

  private async call(texts: string[], probing = false): Promise<Float32Array> {
    const out = await this.fn(texts);
    if (out instanceof Float32Array) return out;
    if (!Array.isArray(out) || out.length !== texts.length) throw new DataError(this.name, `returned ${Array.isArray(out) ? `${out.length} vectors` : typeof out} for ${texts.length} texts; expected one vector (array of numbers) per text`);
    const d = probing ? (out[0]?.length ?? 0) : this.dimValue;
    const flat = new Float32Array(texts.length * d);
    out.forEach((v, i) => {
      if (!v || v.length !== d) throw new DataError(this.name, `vector ${i} has ${v?.length ?? 0} values; expected ${d}`);
      flat.set(Array.from(v), i * d);
    });
    return flat;
  }

  embed(texts: readonly string[]): Promise<Float32Array> {
    return texts.length ? this.call([...texts]) : Promise.resolve(new Float32Array(0));
  }

  async close(): Promise<void> {}
}

/** `module#export` (default export without "#") as an embedding teacher; hash: the module file and export name. */
export async function openFunctionEmbedding(spec: string): Promise<FunctionEmbeddingTeacher> {
  const fn = (await importFunction(spec, "an embedding function (texts: string[]) => number[][]")) as unknown as EmbeddingFunction;
  const file = resolve(spec.split("#")[0]);
  return new FunctionEmbeddingTeacher(fn, spec, `${hashFiles([file])}#${spec.split("#")[1] ?? "default"}`).init();
}
