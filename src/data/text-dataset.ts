import { InMemoryDataset } from "./dataset.js";
import { ArrayRawView } from "./raw.js";

/** A dataset of featurised texts that keeps each sample's raw text (a teacher reads the text, the student the features). */
export function textDataset(name: string, x: Float32Array, y: Int32Array, sampleShape: number[], numClasses: number, texts: readonly string[]): InMemoryDataset {
  if (texts.length !== y.length) throw new Error(`dataset ${name}: ${texts.length} texts for ${y.length} samples`);
  return new InMemoryDataset(name, x, y, sampleShape, numClasses, new ArrayRawView("text", texts));
}

/** The raw texts of a dataset, when it keeps them. */
export function textsOf(data: InMemoryDataset): readonly string[] | null {
  const raw = data.raw;
  if (!raw || raw.kind !== "text") return null;
  return raw.rows(Int32Array.from({ length: raw.size }, (_, i) => i)) as string[];
}
