import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { loadGraphModel, type GraphModel } from "@tensorflow/tfjs-converter";
import { join } from "node:path";
import { DataError, TsdistillError } from "../util/errors.js";
import { readModelArtifacts, readModelJson } from "../students/tfjs-folder.js";
import type { Teacher, TeacherMetadata } from "./teacher.js";

export interface TfjsTeacherOptions {
  /** "auto": probabilities when the model ends in a softmax (layers: the last layer's activation; graph: a Softmax node). */
  output?: "auto" | "logits" | "probabilities";
  /** Graph models: the node whose output holds the scores (default the model's first output). */
  outputNode?: string;
  classNames?: string[];
  /** Content hash for the metadata (open-teacher.ts passes the folder's). */
  hash?: string | null;
}

const log = (y: tf.Tensor): tf.Tensor2D => tf.log(tf.maximum(y, 1e-30)) as tf.Tensor2D;

function shapeOf(s: readonly (number | null)[] | undefined): (number | null)[] {
  return (s ?? []).map((d) => (d === null || d < 0 ? null : d));
}

function layoutOf(shape: (number | null)[]): TeacherMetadata["input"]["layout"] {
  return shape.length === 4 ? "nhwc" : shape.length === 2 ? "flat" : "sequence";
}

/**
 * A teacher from any TF.js model folder (model.json + weight shards): a layers model (Sequential or functional,
 * e.g. saved by tfjs `model.save`) or a graph model (`"format": "graph-model"`, e.g. from tensorflowjs_converter).
 * Logits run synchronously; `forward` also returns intermediate outputs, by layer name (layers models: a second
 * tf.model with those layers' outputs added) or by node name (graph models: `execute` with those nodes as outputs).
 * Probability outputs become log-probabilities (logits up to a per-row constant).
 */
export class TfjsTeacher implements Teacher {
  readonly numClasses: number;
  readonly metadata: TeacherMetadata;
  /** Values in the weight files (what the folder stores; for layers models the same as countParams()). */
  readonly paramCount: number;
  private readonly probes = new Map<string, tfl.LayersModel>();

  private constructor(
    readonly name: string,
    private readonly layersModel: tfl.LayersModel | null,
    private readonly graphModel: GraphModel | null,
    private readonly outputNode: string,
    private readonly probabilities: boolean,
    private readonly nodes: string[],
    metadata: TeacherMetadata,
    paramCount: number,
  ) {
    this.paramCount = paramCount;
    this.numClasses = metadata.output.numClasses;
    this.metadata = metadata;
  }

  /** True when DIR/model.json declares a graph model. */
  static isGraphModel(dir: string): boolean {
    return readModelJson(dir).format === "graph-model";
  }

  static async open(dir: string, opts: TfjsTeacherOptions = {}): Promise<TfjsTeacher> {
    const json = readModelJson(dir);
    const artifacts = readModelArtifacts(dir, json);
    const jsonPath = join(dir, "model.json");
    const hash = opts.hash ?? null;
    const params = (artifacts.weightSpecs ?? []).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
    if (json.format === "graph-model") {
      let model: GraphModel;
      try {
        model = await loadGraphModel({ load: async () => artifacts });
      } catch (err) {
        throw new DataError(jsonPath, `could not be loaded as a TF.js graph model (${(err as Error).message.split("\n")[0]})`);
      }
      if (model.inputs.length !== 1) throw new DataError(jsonPath, `graph model has ${model.inputs.length} inputs (${model.inputNodes.join(", ")}); a teacher takes one`);
      const nodes = ((json.modelTopology as { node?: { name: string; op: string }[] }).node ?? []).filter((n) => n.op !== "Const" && n.op !== "Placeholder");
      const outputNode = opts.outputNode ?? model.outputNodes[0];
      const op = nodes.find((n) => n.name === outputNode.split(":")[0])?.op;
      if (opts.outputNode && !op) throw new DataError(jsonPath, `outputNode: no node "${opts.outputNode}" (nodes: ${nodes.map((n) => n.name).join(", ")})`);
      const probabilities = opts.output === "probabilities" || ((opts.output ?? "auto") === "auto" && op === "Softmax");
      const input = shapeOf(model.inputs[0].shape);
      const probe = tf.tidy(() => {
        const x = tf.zeros([1, ...input.slice(1).map((d) => d ?? 1)], model.inputs[0].dtype as tf.DataType);
        return (model.execute(x, outputNode) as tf.Tensor).shape;
      });
      if (probe.length !== 2) throw new DataError(jsonPath, `output ${outputNode} has shape [${probe}] for one sample; expected [1, classes]`);
      const metadata: TeacherMetadata = {
        kind: "tfjs-graph",
        input: { name: model.inputNodes[0], shape: input, dtype: model.inputs[0].dtype === "int32" ? "int32" : "float32", layout: layoutOf(input) },
        output: { numClasses: probe[1], classNames: opts.classNames, kind: probabilities ? "probabilities" : "logits" },
        hash,
      };
      return new TfjsTeacher(dir, null, model, outputNode, probabilities, nodes.map((n) => n.name), metadata, params);
    }
    let model: tfl.LayersModel;
    try {
      model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    } catch (err) {
      throw new DataError(jsonPath, `could not be loaded as a TF.js layers model (${(err as Error).message.split("\n")[0]})`);
    }
    if (model.inputs.length !== 1 || model.outputs.length < 1) throw new DataError(jsonPath, `layers model has ${model.inputs.length} inputs; a teacher takes one`);
    const last = model.outputs[0].sourceLayer;
    const cfg = last.getConfig() as { activation?: string };
    const softmaxOut = cfg.activation === "softmax" || last.getClassName() === "Softmax";
    const probabilities = opts.output === "probabilities" || ((opts.output ?? "auto") === "auto" && softmaxOut);
    const outShape = model.outputs[0].shape;
    if (outShape.length !== 2 || !outShape[1]) throw new DataError(jsonPath, `output has shape [${outShape}]; expected [batch, classes]`);
    const input = shapeOf(model.inputs[0].shape);
    const metadata: TeacherMetadata = {
      kind: "tfjs-layers",
      input: { name: model.inputs[0].name, shape: input, dtype: model.inputs[0].dtype === "int32" ? "int32" : "float32", layout: layoutOf(input) },
      output: { numClasses: outShape[1], classNames: opts.classNames, kind: probabilities ? "probabilities" : "logits" },
      hash,
    };
    return new TfjsTeacher(dir, model, null, last.name, probabilities, model.layers.map((l) => l.name), metadata, params);
  }

  logits(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const y = this.layersModel ? (this.layersModel.predict(x) as tf.Tensor | tf.Tensor[]) : (this.graphModel!.execute(x, this.outputNode) as tf.Tensor);
      const first = (Array.isArray(y) ? y[0] : y) as tf.Tensor2D;
      return this.probabilities ? log(first) : first;
    });
  }

  forward(x: tf.Tensor, capture: string[]): { logits: tf.Tensor2D; features: Map<string, tf.Tensor> } {
    const unknown = capture.filter((c) => !this.nodes.includes(c.split(":")[0]));
    if (unknown.length) {
      throw new TsdistillError(`teacher ${this.name}: no ${this.graphModel ? "node" : "layer"} named "${unknown[0]}" (${this.graphModel ? "nodes" : "layers"}: ${this.nodes.join(", ")})`);
    }
    const outs = tf.tidy(() => {
      const ys = this.layersModel ? this.probeModel(capture).predict(x) : this.graphModel!.execute(x, [this.outputNode, ...capture]);
      const list = (Array.isArray(ys) ? ys : [ys]) as tf.Tensor[];
      return [this.probabilities ? log(list[0]) : list[0], ...list.slice(1)];
    });
    return { logits: outs[0] as tf.Tensor2D, features: new Map(capture.map((c, i) => [c, outs[i + 1]])) };
  }

  /** Names the teacher can capture and their output shapes without the batch (graph models: measured on one zero sample). */
  layers(): { name: string; shape: number[] }[] {
    if (this.layersModel) {
      return this.layersModel.layers.map((l) => {
        const s = l.outputShape;
        return { name: l.name, shape: (Array.isArray(s[0]) ? (s[0] as number[]) : (s as number[])).slice(1) };
      });
    }
    const g = this.graphModel!;
    const x = tf.zeros([1, ...shapeOf(g.inputs[0].shape).slice(1).map((d) => d ?? 1)]);
    try {
      const ys = g.execute(x, this.nodes) as tf.Tensor[];
      const out = this.nodes.map((name, i) => ({ name, shape: ys[i].shape.slice(1) }));
      tf.dispose(ys);
      return out;
    } finally {
      x.dispose();
    }
  }

  /** The layers model with the captured layers' outputs added (built once per capture list). */
  private probeModel(capture: string[]): tfl.LayersModel {
    const key = capture.join("\u0000");
    let m = this.probes.get(key);
    if (!m) {
      const lm = this.layersModel!;
      const outputs = [lm.outputs[0], ...capture.map((c) => lm.getLayer(c).output as tfl.SymbolicTensor)];
      m = tfl.model({ inputs: lm.inputs, outputs });
      this.probes.set(key, m);
    }
    return m;
  }

  dispose(): void {
    this.probes.clear(); // they share the teacher's weights
    this.layersModel?.dispose();
    this.graphModel?.dispose();
  }
}
