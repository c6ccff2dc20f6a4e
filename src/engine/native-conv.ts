import { backend_util, type TensorInfo } from "@tensorflow/tfjs-core";
import { NATIVE_ACTIVATIONS } from "./native-addon.js";
import { addon, fallback, product, values, type KernelArgs, type NativeKernel } from "./native-util.js";

type Info = backend_util.Conv2DInfo;

/** The addon's geometry vector: [n, h, w, ci, kh, kw, co, sh, sw, dh, dw, top, left, oh, ow]. */
function geometry(c: Info): Int32Array {
  return Int32Array.from([c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outChannels, c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth, c.padInfo.top, c.padInfo.left, c.outHeight, c.outWidth]);
}

function channelsLast(args: KernelArgs): boolean {
  const f = args.attrs?.dataFormat as string | undefined;
  return f === undefined || f === "NHWC" || f === "channelsLast";
}

type Pad = backend_util.ExplicitPadding | "same" | "valid" | number;
function convInfo(xShape: number[], filterShape: number[], args: KernelArgs, dilations: number | [number, number] = 1): Info {
  const a = args.attrs ?? {};
  return backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], a.strides as [number, number], dilations, a.pad as Pad, a.dimRoundingMode as "floor" | undefined, false, "channelsLast");
}

function forward(args: KernelArgs, name: "Conv2D" | "FusedConv2D"): TensorInfo {
  const { x, filter, bias } = args.inputs;
  const xv = values(args.backend, x);
  const fv = values(args.backend, filter);
  const activation = (args.attrs?.activation as string | undefined) ?? "linear";
  const act = NATIVE_ACTIVATIONS[activation];
  if (!x || !filter || !xv || !fv || !channelsLast(args) || act === undefined || x.shape.length !== 4 || filter.shape[2] !== x.shape[3]) {
    return fallback(name, args) as TensorInfo;
  }
  const info = convInfo(x.shape, filter.shape, args, args.attrs?.dilations as [number, number] | number | undefined);
  const bv = bias ? values(args.backend, bias) : null;
  if (bias && (!bv || product(bias.shape) !== info.outChannels || bias.shape[bias.shape.length - 1] !== info.outChannels || bias.shape.length > 4)) return fallback(name, args) as TensorInfo;
  const out = new Float32Array(info.batchSize * info.outHeight * info.outWidth * info.outChannels);
  if (out.length === 0) return fallback(name, args) as TensorInfo;
  addon().conv2d(xv, fv, out, geometry(info));
  if (bv || act !== 0) addon().biasAct(out, out.length / info.outChannels, info.outChannels, bv, act, (args.attrs?.leakyreluAlpha as number | undefined) ?? 0.2);
  return args.backend.makeTensorInfo(info.outShape, "float32", out);
}

export const conv2d: NativeKernel = (args) => forward(args, "Conv2D");
export const fusedConv2d: NativeKernel = (args) => forward(args, "FusedConv2D");

export const conv2dBackpropInput: NativeKernel = (args) => {
  const { dy, filter } = args.inputs;
  const dyv = values(args.backend, dy);
  const fv = values(args.backend, filter);
  const inputShape = args.attrs?.inputShape as number[];
  if (!dy || !filter || !dyv || !fv || !channelsLast(args) || inputShape?.length !== 4) return fallback("Conv2DBackpropInput", args);
  const info = convInfo(inputShape, filter.shape, args);
  const out = new Float32Array(inputShape.reduce((p, q) => p * q, 1));
  if (out.length === 0 || product(dy.shape) !== info.batchSize * info.outHeight * info.outWidth * info.outChannels) return fallback("Conv2DBackpropInput", args);
  addon().conv2dBackpropInput(dyv, fv, out, geometry(info));
  return args.backend.makeTensorInfo(inputShape, "float32", out);
};

export const conv2dBackpropFilter: NativeKernel = (args) => {
  const { x, dy } = args.inputs;
  const xv = values(args.backend, x);
  const dyv = values(args.backend, dy);
  const filterShape = args.attrs?.filterShape as number[];
  if (!x || !dy || !xv || !dyv || !channelsLast(args) || filterShape?.length !== 4 || x.shape.length !== 4) return fallback("Conv2DBackpropFilter", args);
  const info = convInfo(x.shape, filterShape, args);
  const out = new Float32Array(filterShape.reduce((p, q) => p * q, 1));
  if (out.length === 0 || product(dy.shape) !== info.batchSize * info.outHeight * info.outWidth * info.outChannels) return fallback("Conv2DBackpropFilter", args);
  addon().conv2dBackpropFilter(xv, dyv, out, geometry(info));
  return args.backend.makeTensorInfo(filterShape, "float32", out);
};

function poolInfo(xShape: number[], args: KernelArgs): Info {
  const a = args.attrs ?? {};
  return backend_util.computePool2DInfo(xShape as [number, number, number, number], a.filterSize as [number, number] | number, a.strides as [number, number] | number, 1, a.pad as Pad, a.dimRoundingMode as "floor" | undefined);
}

function pool(kind: "MaxPool" | "AvgPool"): NativeKernel {
  return (args) => {
    const { x } = args.inputs;
    const xv = values(args.backend, x);
    if (!x || !xv || x.shape.length !== 4) return fallback(kind, args);
    const info = poolInfo(x.shape, args);
    const out = new Float32Array(info.batchSize * info.outHeight * info.outWidth * info.inChannels);
    if (out.length === 0) return fallback(kind, args);
    (kind === "MaxPool" ? addon().maxPool : addon().avgPool)(xv, out, geometry(info));
    return args.backend.makeTensorInfo(info.outShape, "float32", out);
  };
}
export const maxPool = pool("MaxPool");
export const avgPool = pool("AvgPool");

export const maxPoolGrad: NativeKernel = (args) => {
  const { dy, input } = args.inputs;
  const dyv = values(args.backend, dy);
  const xv = values(args.backend, input);
  if (!dy || !input || !dyv || !xv || input.shape.length !== 4) return fallback("MaxPoolGrad", args);
  const info = poolInfo(input.shape, args);
  const out = new Float32Array(product(input.shape));
  if (out.length === 0 || product(dy.shape) !== info.batchSize * info.outHeight * info.outWidth * info.inChannels) return fallback("MaxPoolGrad", args);
  addon().maxPoolGrad(dyv, xv, out, geometry(info));
  return args.backend.makeTensorInfo(input.shape, "float32", out);
};

export const avgPoolGrad: NativeKernel = (args) => {
  const { dy, input } = args.inputs;
  const dyv = values(args.backend, dy);
  if (!dy || !input || !dyv || input.shape.length !== 4) return fallback("AvgPoolGrad", args);
  const info = poolInfo(input.shape, args);
  const out = new Float32Array(product(input.shape));
  if (out.length === 0 || product(dy.shape) !== info.batchSize * info.outHeight * info.outWidth * info.inChannels) return fallback("AvgPoolGrad", args);
  addon().avgPoolGrad(dyv, out, geometry(info));
  return args.backend.makeTensorInfo(input.shape, "float32", out);
};
