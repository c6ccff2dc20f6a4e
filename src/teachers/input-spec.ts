// The `input:` section of an ONNX or TF.js teacher's teacher.yaml: how tsdistill turns each raw sample into what the
// model was trained on, instead of feeding it the student's features.
//
//   images  the raw RGBA image (an image file, or idx/MNIST pixels rendered back to 8 bits) → 1 channel (luma
//           0.299 R + 0.587 G + 0.114 B) or 3 (RGB) → bilinear resize to size [H, W] (half-pixel centres) →
//           per channel c, with pixel p in [0, 255]:
//             mean/std:      value = (p/255 − mean[c]) / std[c]
//             scale/offset:  value = p·scale[c] + offset[c]
//           default: p/255 for float32 (values in [0, 1]), p itself for uint8/int32; uint8/int32 values are rounded
//           (uint8 clamped to 0..255) → layout nhwc [N, H, W, C] or nchw [N, C, H, W].
//           E.g. a model trained on [−1, 1]: `mean: 0.5, std: 0.5`, or `scale: 2/255, offset: -1`.
//   vectors the student's features x, per feature i: (x − mean[i]) / std[i], or x·scale[i] + offset[i].
//   text    the raw text through a Hugging Face tokenizer.json: ids (+ attention mask, token type ids), truncated to
//           maxLength keeping the special tokens, right-padded; int64 for ONNX (the model's own type), int32 for TF.js.
//
// Size, layout, channels and dtype default to what the model's input declares; a value given that contradicts a
// fixed model dimension is an error naming the field.
import { z } from "zod";
import { resizeBilinear, type RgbaImage } from "../data/image-decode.js";
import { DataError, TsdistillError } from "../util/errors.js";
import type { TeacherInput } from "./teacher.js";
import { TextTokenizer } from "./text-tokenizer.js";

/** A number, or a fraction written "2/255". */
const numberLike = z.union([
  z.number(),
  z
    .string()
    .regex(/^\s*-?\d+(\.\d+)?\s*\/\s*\d+(\.\d+)?\s*$/, 'expected a number or a fraction such as "2/255"')
    .transform((s) => {
      const [a, b] = s.split("/").map(Number);
      return a / b;
    }),
]);
const perChannel = z.union([numberLike, z.array(numberLike).min(1)]);
const positiveInt = z.number().int().positive();

const normalisation = {
  /** value = (pixel/255 − mean) / std for images; (x − mean) / std for vectors. */
  mean: perChannel.optional(),
  std: perChannel.optional(),
  /** value = pixel·scale + offset for images; x·scale + offset for vectors. */
  scale: perChannel.optional(),
  offset: perChannel.optional(),
};

function oneNormalisation(s: { mean?: unknown; std?: unknown; scale?: unknown; offset?: unknown }, ctx: z.RefinementCtx): void {
  if ((s.mean !== undefined || s.std !== undefined) && (s.scale !== undefined || s.offset !== undefined)) {
    ctx.addIssue({ code: "custom", message: "give mean/std or scale/offset, not both", path: [s.mean !== undefined ? "mean" : "std"] });
  }
  const std = s.std === undefined ? [] : ([] as number[]).concat(s.std as number | number[]);
  if (std.some((v) => v === 0)) ctx.addIssue({ code: "custom", message: "expected non-zero values", path: ["std"] });
}

export const ImageInputSpec = z
  .object({
    kind: z.literal("image"),
    /** The model input this feeds (default its first). */
    name: z.string().min(1).optional(),
    /** [height, width] the image is resized to (default the model's fixed H and W). */
    size: z.tuple([positiveInt, positiveInt]).optional(),
    layout: z.enum(["nhwc", "nchw"]).optional(),
    channels: z.union([z.literal(1), z.literal(3)]).optional(),
    dtype: z.enum(["float32", "uint8", "int32"]).optional(),
    ...normalisation,
  })
  .strict()
  .superRefine(oneNormalisation);

export const VectorInputSpec = z
  .object({
    kind: z.literal("vector"),
    name: z.string().min(1).optional(),
    dtype: z.enum(["float32", "int32"]).optional(),
    ...normalisation,
  })
  .strict()
  .superRefine(oneNormalisation);

export const TextInputSpec = z
  .object({
    kind: z.literal("text"),
    /** A Hugging Face tokenizer.json (relative to the teacher.yaml). */
    tokenizer: z.string().min(1),
    /** Its tokenizer_config.json, when the pad token or tokenizer class is only there. */
    tokenizerConfig: z.string().min(1).optional(),
    maxLength: positiveInt.default(128),
    padding: z.enum(["max_length", "longest"]).default("max_length"),
    addSpecialTokens: z.boolean().default(true),
    padId: z.number().int().min(0).optional(),
    /** The model's input names: token ids, attention mask, token type ids (null: the model has no such input). */
    ids: z.string().min(1).default("input_ids"),
    attentionMask: z.string().min(1).nullable().optional(),
    tokenTypeIds: z.string().min(1).nullable().optional(),
    dtype: z.enum(["int64", "int32"]).optional(),
  })
  .strict();

export const InputSpec = z.discriminatedUnion("kind", [ImageInputSpec, VectorInputSpec, TextInputSpec]);
export type InputSpec = z.infer<typeof InputSpec>;

/** A model input as the runtime reports it: shape with the batch first (null for open dims), dtype by name. */
export interface ModelInput {
  name: string;
  shape: (number | null)[];
  dtype: string;
}

export type FeedDtype = "float32" | "uint8" | "int32" | "int64";
export type FeedData = Float32Array | Uint8Array | Int32Array | BigInt64Array;

/** One model input's values for a batch. */
export interface Feed {
  name: string;
  dtype: FeedDtype;
  data: FeedData;
  shape: number[];
}

interface ResolvedImage {
  kind: "image";
  name: string;
  /** Model input rank 2 takes the image flattened (in `layout` order). */
  flat: boolean;
  height: number;
  width: number;
  channels: 1 | 3;
  layout: "nhwc" | "nchw";
  dtype: "float32" | "uint8" | "int32";
  scale: number[];
  offset: number[];
}

interface ResolvedVector {
  kind: "vector";
  name: string;
  dims: (number | null)[];
  dtype: "float32" | "int32";
  scale: number[];
  offset: number[];
}

interface ResolvedText {
  kind: "text";
  tokenizer: TextTokenizer;
  ids: string;
  attentionMask: string | null;
  tokenTypeIds: string | null;
  dtype: "int64" | "int32";
}

export type ResolvedInputSpec = ResolvedImage | ResolvedVector | ResolvedText;

export interface SpecTarget {
  /** ONNX takes int64 and uint8 inputs; TF.js only float32 and int32, and one input. */
  runtime: "onnx" | "tfjs";
  inputs: ModelInput[];
  /** The teacher.yaml (or model file) named in errors. */
  where: string;
}

const list = (v: number | number[] | undefined, fallback: number): number[] => (v === undefined ? [fallback] : ([] as number[]).concat(v));

/** mean/std folded into scale/offset: (x·k − m)/s = x·k/s − m/s, where k = 1/255 for pixels, 1 for features. */
function affine(spec: { mean?: number | number[]; std?: number | number[]; scale?: number | number[]; offset?: number | number[] }, unit: number, defaultScale: number) {
  if (spec.mean !== undefined || spec.std !== undefined) {
    const mean = list(spec.mean, 0);
    const std = list(spec.std, 1);
    const n = Math.max(mean.length, std.length);
    const at = (a: number[], i: number) => (a.length === 1 ? a[0] : a[i]);
    if (mean.length !== std.length && mean.length !== 1 && std.length !== 1) return { scale: [], offset: [], bad: `mean has ${mean.length} values and std ${std.length}` };
    return { scale: Array.from({ length: n }, (_, i) => unit / at(std, i)), offset: Array.from({ length: n }, (_, i) => -at(mean, i) / at(std, i)) };
  }
  return { scale: list(spec.scale, defaultScale), offset: list(spec.offset, 0) };
}

function pick(target: SpecTarget, name: string | undefined, field: string): ModelInput {
  if (name === undefined) return target.inputs[0];
  const m = target.inputs.find((i) => i.name === name);
  if (!m) throw new DataError(target.where, `input.${field}: the model has no input "${name}" (inputs: ${target.inputs.map((i) => i.name).join(", ")})`);
  return m;
}

function resolveImage(spec: z.infer<typeof ImageInputSpec>, target: SpecTarget): ResolvedImage {
  const bad = (field: string, why: string): never => {
    throw new DataError(target.where, `input.${field}: ${why}`);
  };
  const input = pick(target, spec.name, "name");
  const d = input.shape;
  const about = `the model's input ${input.name} has shape [${d.map((v) => v ?? "?").join(", ")}]`;
  let layout: "nhwc" | "nchw" = spec.layout ?? "nhwc";
  let channels = spec.channels;
  let size = spec.size;
  const flat = d.length === 2;
  if (d.length === 4) {
    const isCh = (v: number | null) => v === 1 || v === 3;
    if (!spec.layout) layout = isCh(d[1]) && !isCh(d[3]) ? "nchw" : "nhwc";
    const [hDim, wDim, cDim] = layout === "nchw" ? [d[2], d[3], d[1]] : [d[1], d[2], d[3]];
    if (cDim !== null) {
      if (cDim !== 1 && cDim !== 3) bad("layout", `${about}: with layout ${layout} that is ${cDim} channels; expected 1 or 3 (set layout: ${layout === "nhwc" ? "nchw" : "nhwc"}?)`);
      if (channels !== undefined && channels !== cDim) bad("channels", `${channels}, but ${about} (${cDim} channels in ${layout})`);
      channels = cDim as 1 | 3;
    }
    if (hDim !== null && wDim !== null) {
      if (size && (size[0] !== hDim || size[1] !== wDim)) bad("size", `[${size.join(", ")}], but ${about} (${hDim}×${wDim} in ${layout})`);
      size = [hDim, wDim];
    }
    if (!size) bad("size", `${about} with an open height or width; give size: [H, W]`);
  } else if (flat) {
    if (!size) bad("size", `${about} (a flat vector); give size: [H, W] (and channels) of the image it takes`);
    const f = d[1];
    channels ??= f !== null && f === 3 * size![0] * size![1] ? 3 : 1;
    if (f !== null && f !== size![0] * size![1] * channels) bad("size", `[${size!.join(", ")}] × ${channels} channels is ${size![0] * size![1] * channels} values, but ${about}`);
  } else bad("kind", `image, but ${about}; expected [N, H, W, C], [N, C, H, W] or a flat [N, H·W·C]`);
  const allowed = target.runtime === "onnx" ? ["float32", "uint8", "int32"] : ["float32", "int32"];
  const modelType = allowed.includes(input.dtype) ? (input.dtype as ResolvedImage["dtype"]) : null;
  if (spec.dtype && !allowed.includes(spec.dtype)) bad("dtype", `${spec.dtype} is not an input type of ${target.runtime === "onnx" ? "ONNX" : "TF.js"} images here; expected ${allowed.join(" or ")}`);
  if (spec.dtype && modelType && spec.dtype !== modelType) bad("dtype", `${spec.dtype}, but the model's input ${input.name} is ${input.dtype}`);
  const dtype = spec.dtype ?? modelType ?? bad("dtype", `the model's input ${input.name} is ${input.dtype}; images can be fed as ${allowed.join(", ")}`);
  const c = channels ?? 3;
  const { scale, offset, bad: mismatch } = { bad: undefined, ...affine(spec, 1 / 255, dtype === "float32" ? 1 / 255 : 1) };
  if (mismatch) bad("mean", mismatch);
  for (const [field, v] of [["scale", scale], ["offset", offset]] as const) {
    if (v.length !== 1 && v.length !== c) bad(spec.mean !== undefined || spec.std !== undefined ? "mean" : field, `${v.length} values for ${c} channels; expected 1 or ${c}`);
  }
  const per = (v: number[]) => Array.from({ length: c }, (_, i) => (v.length === 1 ? v[0] : v[i]));
  return { kind: "image", name: input.name, flat, height: size![0], width: size![1], channels: c, layout, dtype, scale: per(scale), offset: per(offset) };
}

function resolveVector(spec: z.infer<typeof VectorInputSpec>, target: SpecTarget): ResolvedVector {
  const input = pick(target, spec.name, "name");
  const modelType = input.dtype === "float32" || input.dtype === "int32" ? input.dtype : null;
  if (spec.dtype && modelType && spec.dtype !== modelType) throw new DataError(target.where, `input.dtype: ${spec.dtype}, but the model's input ${input.name} is ${input.dtype}`);
  const dtype = spec.dtype ?? modelType;
  if (!dtype) throw new DataError(target.where, `input.kind: vector, but the model's input ${input.name} is ${input.dtype}; vectors are fed as float32 or int32`);
  const { scale, offset, bad } = { bad: undefined, ...affine(spec, 1, 1) };
  if (bad) throw new DataError(target.where, `input.mean: ${bad}`);
  return { kind: "vector", name: input.name, dims: input.shape.slice(1), dtype, scale, offset };
}

function resolveText(spec: z.infer<typeof TextInputSpec>, target: SpecTarget): ResolvedText {
  const names = target.inputs.map((i) => i.name);
  const has = (n: string) => names.includes(n);
  const bad = (field: string, why: string): never => {
    throw new DataError(target.where, `input.${field}: ${why}`);
  };
  if (!has(spec.ids)) bad("ids", `the model has no input "${spec.ids}" (inputs: ${names.join(", ")})`);
  const optional = (field: "attentionMask" | "tokenTypeIds", usual: string): string | null => {
    const v = spec[field];
    if (v === null) return null;
    if (v === undefined) return has(usual) ? usual : null;
    if (!has(v)) bad(field, `the model has no input "${v}" (inputs: ${names.join(", ")})`);
    return v;
  };
  const attentionMask = optional("attentionMask", "attention_mask");
  const tokenTypeIds = optional("tokenTypeIds", "token_type_ids");
  const fed = [spec.ids, attentionMask, tokenTypeIds].filter((n): n is string => n !== null);
  const unfed = names.filter((n) => !fed.includes(n));
  if (unfed.length) bad("ids", `the model also takes ${unfed.map((n) => `"${n}"`).join(", ")}; name it as attentionMask or tokenTypeIds`);
  if (target.runtime === "tfjs" && fed.length > 1) bad("attentionMask", "TF.js teachers take one input (the ids); set attentionMask: null");
  const idsType = target.inputs.find((i) => i.name === spec.ids)!.dtype;
  const dtype = target.runtime === "tfjs" ? "int32" : (spec.dtype ?? (idsType === "int32" ? "int32" : "int64"));
  if (target.runtime === "onnx" && spec.dtype && (idsType === "int32" || idsType === "int64") && spec.dtype !== idsType) bad("dtype", `${spec.dtype}, but the model's input ${spec.ids} is ${idsType}`);
  const tokenizer = TextTokenizer.load(spec.tokenizer, spec.tokenizerConfig, { maxLength: spec.maxLength, padding: spec.padding, addSpecialTokens: spec.addSpecialTokens, padId: spec.padId });
  return { kind: "text", tokenizer, ids: spec.ids, attentionMask, tokenTypeIds, dtype };
}

/** Checks an input spec against the model's inputs and fills in what the model declares (size, layout, channels, dtype). */
export function resolveInputSpec(spec: InputSpec, target: SpecTarget): ResolvedInputSpec {
  if (target.inputs.length === 0) throw new DataError(target.where, "the model declares no inputs");
  if (spec.kind === "image") return resolveImage(spec, target);
  if (spec.kind === "vector") return resolveVector(spec, target);
  return resolveText(spec, target);
}

/** The raw sample kind an input spec reads (vectors read the student's features). */
export function rawKindOf(spec: ResolvedInputSpec): "image" | "text" | null {
  return spec.kind === "vector" ? null : spec.kind;
}

function typed(dtype: "float32" | "uint8" | "int32", n: number): Float32Array | Uint8Array | Int32Array {
  return dtype === "float32" ? new Float32Array(n) : dtype === "uint8" ? new Uint8Array(n) : new Int32Array(n);
}

function isImage(v: unknown): v is RgbaImage {
  const i = v as RgbaImage;
  return !!i && Number.isInteger(i.width) && Number.isInteger(i.height) && i.data instanceof Uint8Array && i.data.length === i.width * i.height * 4;
}

function prepareImages(s: ResolvedImage, input: TeacherInput, teacher: string): Feed[] {
  const { height: H, width: W, channels: c, layout } = s;
  const out = typed(s.dtype, input.n * H * W * c);
  const round = s.dtype !== "float32";
  for (let i = 0; i < input.n; i++) {
    const img = input.raw?.[i];
    if (!isImage(img)) throw new TsdistillError(`teacher ${teacher}: sample ${i} (data set row ${input.rows[i]}) is not an RGBA image; an image input spec reads raw images`);
    const src = new Float32Array(img.width * img.height * c);
    for (let p = 0; p < img.width * img.height; p++) {
      const [r, g, b] = [img.data[4 * p], img.data[4 * p + 1], img.data[4 * p + 2]];
      if (c === 1) src[p] = 0.299 * r + 0.587 * g + 0.114 * b;
      else src.set([r, g, b], 3 * p);
    }
    const px = img.width === W && img.height === H ? src : resizeBilinear(src, img.height, img.width, c, H, W);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let ch = 0; ch < c; ch++) {
          let v = px[(y * W + x) * c + ch] * s.scale[ch] + s.offset[ch];
          if (round) v = s.dtype === "uint8" ? Math.min(255, Math.max(0, Math.round(v))) : Math.round(v);
          out[layout === "nhwc" ? ((i * H + y) * W + x) * c + ch : ((i * c + ch) * H + y) * W + x] = v;
        }
      }
    }
  }
  const shape = s.flat ? [input.n, H * W * c] : layout === "nhwc" ? [input.n, H, W, c] : [input.n, c, H, W];
  return [{ name: s.name, dtype: s.dtype, data: out, shape }];
}

function prepareVectors(s: ResolvedVector, input: TeacherInput, teacher: string): Feed[] {
  const f = input.x.length / Math.max(input.n, 1);
  for (const [field, v] of [["scale", s.scale], ["offset", s.offset]] as const) {
    if (v.length !== 1 && v.length !== f) throw new TsdistillError(`teacher ${teacher}: input.${field} (or mean/std) has ${v.length} values but the samples have ${f} features; expected 1 or ${f}`);
  }
  const out = typed(s.dtype, input.x.length);
  for (let k = 0; k < input.x.length; k++) {
    const i = k % f;
    const v = input.x[k] * (s.scale.length === 1 ? s.scale[0] : s.scale[i]) + (s.offset.length === 1 ? s.offset[0] : s.offset[i]);
    out[k] = s.dtype === "int32" ? Math.round(v) : v;
  }
  const fixed = s.dims.every((d) => d !== null) && s.dims.reduce<number>((a, d) => a * (d as number), 1) === f;
  return [{ name: s.name, dtype: s.dtype, data: out, shape: [input.n, ...(fixed ? (s.dims as number[]) : input.sampleShape)] }];
}

function prepareText(s: ResolvedText, input: TeacherInput, teacher: string): Feed[] {
  const texts = (input.raw ?? []).map((t, i) => {
    if (typeof t !== "string") throw new TsdistillError(`teacher ${teacher}: sample ${i} (data set row ${input.rows[i]}) is not a text; a text input spec reads raw texts`);
    return t;
  });
  if (texts.length !== input.n) throw new TsdistillError(`teacher ${teacher}: a text input spec reads raw texts, but the batch has none`);
  const { ids, mask, length } = s.tokenizer.encodeBatch(texts);
  const make = (name: string, values: number[]): Feed => ({
    name,
    dtype: s.dtype,
    data: s.dtype === "int64" ? BigInt64Array.from(values, (v) => BigInt(v)) : Int32Array.from(values),
    shape: [input.n, length],
  });
  const feeds = [make(s.ids, ids)];
  if (s.attentionMask) feeds.push(make(s.attentionMask, mask));
  if (s.tokenTypeIds) feeds.push(make(s.tokenTypeIds, new Array(ids.length).fill(0)));
  return feeds;
}

/** The model's feeds for one batch under a resolved spec. */
export function prepareInput(spec: ResolvedInputSpec, input: TeacherInput, teacher: string): Feed[] {
  if (spec.kind === "image") return prepareImages(spec, input, teacher);
  if (spec.kind === "vector") return prepareVectors(spec, input, teacher);
  return prepareText(spec, input, teacher);
}

/** A batch of two synthetic samples of the spec's kind, to probe a model's outputs at open (gray images, short texts). */
export function syntheticInput(spec: ResolvedInputSpec, sampleShape: number[]): TeacherInput {
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const base: TeacherInput = { x: new Float32Array(2 * per).fill(0.5), n: 2, sampleShape, rows: Int32Array.of(0, 1) };
  if (spec.kind === "image") {
    const img = (v: number): RgbaImage => ({ width: spec.width, height: spec.height, data: new Uint8Array(spec.width * spec.height * 4).fill(v) });
    return { ...base, raw: [img(128), img(64)], rawKind: "image" };
  }
  if (spec.kind === "text") return { ...base, raw: ["a", "b c"], rawKind: "text" };
  return base;
}
