// The result of a `kind: embedding` recipe run: one row per model (teacher, students, classifiers).

export interface EmbeddingRow {
  model: string;
  role: "teacher" | "static" | "trained" | "fine-tuned teacher" | "distilled classifier" | "classifier alone";
  params: number;
  mb: number;
  msPerSentence: number;
  sentencesPerSecond: number;
  /** Teacher's MB / this model's MB, and teacher's ms/sentence / this model's. */
  smaller: number;
  faster: number;
  /**
   * Cosine to the teacher on the held-out quotes (in a static table's PCA space): all labelled quotes, or the first
   * split's test quotes where the training quotes are refinement text. Null where the spaces differ or for classifiers.
   */
  cosine: number | null;
  nn10: number | null;
  /** Probe accuracy (embedding models) or the classifier's own test accuracy: the mean over the splits. */
  accuracy: number;
  /** The same on each split (data.splits), the first being the seed's. */
  accuracies: number[];
  /** accuracy / the teacher's probe accuracy (embedding models) or / the fine-tuned teacher's accuracy (classifiers). */
  retention: number;
  /** The recipe's other probe sets (e.g. spam): probe accuracy and retention of the teacher's; embedding models only. */
  probes?: Record<string, { accuracy: number; retention: number }>;
  dir: string | null;
}

export interface EmbeddingRecipeResult {
  name: string;
  quick: boolean;
  runDir: string;
  data: { categories: string[]; labelled: number; train: number; test: number; splits: number; heldOut: number; unlabeled: number; onTopic: number; augmented: number; /** Teacher-read variants of the refinement text (static.refine.augment). */ refineVariants: number; maxTokens: number };
  rows: EmbeddingRow[];
  training: Record<string, { seconds: number; losses: number[] }>;
  seconds: number;
}
