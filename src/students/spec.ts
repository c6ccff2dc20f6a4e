import { TsdistillError } from "../util/errors.js";
import type { Activation } from "../engine/ops.js";
import type { LayerConfig } from "./layers.js";
import type { ModelConfig } from "./model.js";
import { describeZodError } from "../util/zod-errors.js";
import { resolveTransformerConfig, TransformerSpec, TRANSFORMER_HEADS, type TransformerConfig, type TransformerContext, type TransformerSpecInput } from "./transformer-config.js";

export interface SpecOptions {
  inputShape: number[];
  numClasses: number;
  /** Dropout rate after each hidden dense layer (0 = none). */
  dropout?: number;
  /** Dropout rate on the input (Hinton et al. used 0.2 for the MNIST teacher). */
  inputDropout?: number;
  /** Hidden activation (default relu). */
  activation?: Activation;
}

export const SPEC_HELP =
  'expected "mlp:<units>-<units>…" (e.g. mlp:800-800) or "cnn:<tokens>" with tokens conv<filters>[k<size>][s<stride>], ' +
  "pool[<size>], avgpool[<size>], dense<units> (e.g. cnn:conv32-pool-conv64-pool-dense128)";

/**
 * Builds a model config from a compact spec string. The last layer is always a linear dense layer with
 * `numClasses` units (the logits).
 */
export function modelConfigFromSpec(spec: string, opts: SpecOptions): ModelConfig {
  const bad = (why: string): never => {
    throw new TsdistillError(`model spec "${spec}": ${why}; ${SPEC_HELP}`);
  };
  const m = /^(mlp|cnn)(?::(.*))?$/.exec(spec.trim());
  if (!m) bad("unknown model family");
  const family = m![1];
  const body = (m![2] ?? "").trim();
  const dropout = opts.dropout ?? 0;
  const inputDropout = opts.inputDropout ?? 0;
  for (const [name, rate] of [["dropout", dropout], ["inputDropout", inputDropout]] as const) {
    if (!(rate >= 0 && rate < 1)) throw new TsdistillError(`${name}: expected a rate in [0, 1), got ${rate}`);
  }
  const activation = opts.activation ?? "relu";
  const counters = new Map<string, number>();
  const name = (base: string) => {
    const n = (counters.get(base) ?? 0) + 1;
    counters.set(base, n);
    return `${base}_${n}`;
  };
  const layers: LayerConfig[] = [];
  const flatten = () => layers.push({ type: "flatten", name: name("flatten") });
  const hiddenDense = (units: number) => {
    layers.push({ type: "dense", name: name("dense"), units, activation, useBias: true });
    if (dropout > 0) layers.push({ type: "dropout", name: name("dropout"), rate: dropout });
  };
  let flat = opts.inputShape.length === 1;

  if (family === "mlp") {
    const hidden = body === "" ? [] : body.split("-").map((t) => (/^\d+$/.test(t) && Number(t) > 0 ? Number(t) : bad(`"${t}" is not a positive layer width`)));
    if (!flat) flatten();
    flat = true;
    if (inputDropout > 0) layers.push({ type: "dropout", name: name("dropout"), rate: inputDropout });
    hidden.forEach(hiddenDense);
  } else {
    if (opts.inputShape.length !== 3) bad(`cnn needs image input [height, width, channels], the data has samples of shape [${opts.inputShape}]`);
    if (body === "") bad("cnn needs at least one layer token");
    if (inputDropout > 0) layers.push({ type: "dropout", name: name("dropout"), rate: inputDropout });
    for (const token of body.split("-")) {
      let t: RegExpExecArray | null;
      if ((t = /^conv(\d+)(?:k(\d+))?(?:s(\d+))?$/.exec(token))) {
        if (flat) bad(`"${token}" comes after a dense layer`);
        const filters = Number(t[1]);
        const kernelSize = t[2] ? Number(t[2]) : 3;
        const strides = t[3] ? Number(t[3]) : 1;
        if (filters < 1 || kernelSize < 1 || strides < 1) bad(`"${token}" needs positive sizes`);
        layers.push({ type: "conv2d", name: name("conv2d"), filters, kernelSize, strides, padding: "same", activation, useBias: true });
      } else if ((t = /^(avg)?pool(\d+)?$/.exec(token))) {
        if (flat) bad(`"${token}" comes after a dense layer`);
        const size = t[2] ? Number(t[2]) : 2;
        if (size < 1) bad(`"${token}" needs a positive pool size`);
        layers.push(
          t[1]
            ? { type: "avgPool2d", name: name("average_pooling2d"), poolSize: size, strides: size, padding: "valid" }
            : { type: "maxPool2d", name: name("max_pooling2d"), poolSize: size, strides: size, padding: "valid" },
        );
      } else if ((t = /^dense(\d+)$/.exec(token))) {
        if (!flat) flatten();
        flat = true;
        if (Number(t[1]) < 1) bad(`"${token}" needs a positive width`);
        hiddenDense(Number(t[1]));
      } else {
        bad(`unknown token "${token}"`);
      }
    }
    if (!flat) flatten();
  }
  layers.push({ type: "dense", name: name("dense"), units: opts.numClasses, activation: "linear", useBias: true });
  return { inputShape: [...opts.inputShape], layers };
}

export const TRANSFORMER_SPEC_HELP =
  'expected "transformer:layers=N,dim=N,heads=N[,ff=N,ctx=N,vocab=N,causal,tie,dropout=R,head=lm|classify|embed,pool=mean|first,numClasses=N,embedDim=N,padId=N|none]" ' +
  "(e.g. transformer:layers=4,dim=256,heads=4,ff=1024,ctx=128,causal)";

const TRANSFORMER_KEYS: Record<string, "int" | "rate" | "flag" | "head" | "pool" | "pad"> = {
  layers: "int", dim: "int", heads: "int", ff: "int", ctx: "int", vocab: "int", numClasses: "int", embedDim: "int",
  dropout: "rate", causal: "flag", tie: "flag", head: "head", pool: "pool", padId: "pad",
};

export const isTransformerSpec = (spec: string): boolean => /^transformer(:|$)/.test(spec.trim());

/** `transformer:key=value,flag,…` → the same object a YAML `model:` gives (checked by resolveTransformerConfig). */
export function parseTransformerSpec(spec: string): TransformerSpecInput {
  const bad = (why: string): never => {
    throw new TsdistillError(`model spec "${spec}": ${why}; ${TRANSFORMER_SPEC_HELP}`);
  };
  if (!isTransformerSpec(spec)) bad('expected it to start with "transformer:"');
  const out: Record<string, unknown> = { kind: "transformer" };
  for (const part of spec.trim().slice("transformer:".length).split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? null : part.slice(eq + 1);
    const type = TRANSFORMER_KEYS[key] ?? bad(`unknown key "${key}"`);
    if (key in out) bad(`key "${key}" is given twice`);
    const expected = (what: string): never => bad(`key "${key}": expected ${what}, got ${value === null ? "no value" : `"${value}"`}`);
    if (type === "flag") out[key] = value === null || value === "true" ? true : value === "false" ? false : expected("no value, true or false");
    else if (value === null) expected("a value");
    else if (type === "int") out[key] = /^\d+$/.test(value!) && Number(value) > 0 ? Number(value) : expected("a positive integer");
    else if (type === "pad") out[key] = value === "none" ? null : /^\d+$/.test(value!) ? Number(value) : expected('a token id or "none"');
    else if (type === "rate") out[key] = /^\d*\.?\d+$/.test(value!) && Number(value) < 1 ? Number(value) : expected("a rate in [0, 1)");
    else if (type === "head") out[key] = (TRANSFORMER_HEADS as readonly string[]).includes(value!) ? value : expected(TRANSFORMER_HEADS.join(" | "));
    else out[key] = value === "mean" || value === "first" ? value : expected("mean | first");
  }
  for (const required of ["layers", "dim", "heads"]) if (!(required in out)) bad(`key "${required}" is missing`);
  return out as TransformerSpecInput;
}

/**
 * A YAML/JSON transformer object as the equivalent `transformer:…` string (defaults left out), so recipes,
 * results and tables name a transformer student the way the command line does.
 */
export function transformerSpecString(input: TransformerSpecInput): string {
  const parsed = TransformerSpec.safeParse(input);
  if (!parsed.success) throw new TsdistillError(describeZodError(parsed.error, { file: "student.spec" }));
  const s = parsed.data;
  const parts = [`layers=${s.layers}`, `dim=${s.dim}`, `heads=${s.heads}`];
  for (const key of ["ff", "ctx", "vocab", "numClasses", "embedDim", "head"] as const) if (s[key] !== undefined) parts.push(`${key}=${s[key]}`);
  if (s.causal) parts.push("causal");
  if (s.tie) parts.push("tie");
  if (s.dropout > 0) parts.push(`dropout=${s.dropout}`);
  if (s.pool !== "mean") parts.push(`pool=${s.pool}`);
  if (s.padId !== undefined) parts.push(`padId=${s.padId === null ? "none" : s.padId}`);
  return `transformer:${parts.join(",")}`;
}

/** A transformer config from a spec string or a YAML/JSON object; the data and tokenizer fill what it leaves out. */
export function transformerConfigFromSpec(spec: string | TransformerSpecInput, context: TransformerContext = {}): TransformerConfig {
  if (typeof spec === "string") return resolveTransformerConfig(parseTransformerSpec(spec), context, `model spec "${spec}"`);
  return resolveTransformerConfig(spec, context, "model");
}
