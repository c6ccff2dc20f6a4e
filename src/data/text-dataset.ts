import { InMemoryDataset } from "./dataset.js";

/**
 * A dataset of featurised texts that keeps each sample's raw text (an API teacher reads the text, the student
 * the features). Subsets, splits and `take` keep the texts aligned with the samples.
 */
export class TextDataset extends InMemoryDataset {
  constructor(
    name: string,
    x: Float32Array,
    y: Int32Array,
    sampleShape: number[],
    numClasses: number,
    readonly texts: readonly string[],
  ) {
    super(name, x, y, sampleShape, numClasses);
    if (texts.length !== y.length) throw new Error(`dataset ${name}: ${texts.length} texts for ${y.length} samples`);
  }

  override subset(indices: ArrayLike<number>, name = this.name): TextDataset {
    const base = super.subset(indices, name);
    return new TextDataset(name, base.x, base.y, this.sampleShape, this.numClasses, Array.from(indices, (i) => this.texts[i]));
  }

  override take(n: number): TextDataset {
    const base = super.take(n);
    return new TextDataset(this.name, base.x, base.y, this.sampleShape, this.numClasses, this.texts.slice(0, base.size));
  }
}

/** The raw texts of a dataset, when it keeps them. */
export function textsOf(data: InMemoryDataset): readonly string[] | null {
  return data instanceof TextDataset ? data.texts : null;
}
