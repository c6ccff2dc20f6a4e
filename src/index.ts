// Public library API: the CLI is a thin layer over these.
export { useBackend, onBackend, currentBackend, resolveAuto, BACKENDS, DEFAULT_BACKEND, type BackendName, type ResolvedBackend } from "./engine/backend.js";
export { dense, conv2d, conv2dFilterGrad, conv2dInputGrad, convPads, type Activation, type Padding } from "./engine/ops.js";
export { Rng } from "./util/rng.js";
export { TsdistillError, UsageError, DataError } from "./util/errors.js";
export { parseIdx, readIdxFile, encodeIdx, type IdxArray } from "./data/idx.js";
export { InMemoryDataset, type Batch, type BatchOptions, type DataSource, type Task, type RegressionTarget } from "./data/dataset.js";
export { loadMnist, loadIdxImageSplit, mnistDataDir } from "./data/mnist.js";
export { loadImageData } from "./data/sources.js";
export { SequentialModel, type ModelConfig } from "./students/model.js";
export type { LayerConfig } from "./students/layers.js";
export { modelConfigFromSpec, type SpecOptions } from "./students/spec.js";
export { saveModel, loadModel, loadLayersModel, toLayersModel, fromLayersModel, type ModelMetadata } from "./students/io.js";
export { type TrainableModel, type ForwardOptions } from "./students/trainable.js";
export { TransformerModel } from "./students/transformer.js";
export { TransformerSpec, resolveTransformerConfig, type TransformerConfig, type TransformerContext, type TransformerSpecInput, type TransformerHead } from "./students/transformer-config.js";
export { parseTransformerSpec, transformerConfigFromSpec, isTransformerSpec } from "./students/spec.js";
export { saveTransformer, loadTransformer, isTransformerFolder } from "./students/transformer-io.js";
export { initFromTeacher } from "./students/transformer-init.js";
export { buildModel, saveAnyModel, loadAnyModel, isModelFolder, type AnyModel, type BuildModelOptions } from "./students/any-model.js";
export { loadJsonlTokens, encodeTokenRows, tokenizerOf, type TokenPreprocess, type JsonlTokenOptions } from "./data/jsonl-tokens.js";
export { openSavedModelTeacher, preprocessedTeacher } from "./teachers/saved-model-teacher.js";
export { type Tokenizer, type SpecialIds } from "./tokenizers/tokenizer.js";
export { ByteTokenizer } from "./tokenizers/byte.js";
export { HfTokenizer } from "./tokenizers/huggingface.js";
export { trainBpe, type BpeTrainOptions } from "./tokenizers/bpe-train.js";
export { loadTokenizer, openTokenizer, tokenizerFromJson } from "./tokenizers/io.js";
export { corpusDatasets, readCorpusDocuments, packWindows, windowDataset, encodeSequences, sequenceDataset, tokenizeTextDataset } from "./data/token-sequences.js";
export { nextTokenTargets, nextTokenCrossEntropy } from "./losses/next-token.js";
export { nextTokenMetrics } from "./eval/next-token.js";
export { type Teacher, modelTeacher, layersModelTeacher, TeacherLogitCache } from "./teachers/teacher.js";
export { crossEntropy } from "./losses/cross-entropy.js";
export { kdLoss, softKl, type KdOptions } from "./losses/kd.js";
export { fit, FitConfig, type FitOptions, type FitResult, type LossFn, type StepContext } from "./train/fit.js";
export { train, distill, type DistillOptions, type DistillResult } from "./train/distill.js";
export { autoDistill, searchGrid, formatAutoDistillReport, functionMatchingPlan, FM_EPOCH_FACTOR, FM_LR, type AutoDistillOptions, type AutoDistillReport, type AutoDistillResult, type FunctionMatchingMode } from "./train/auto-distill.js";
export { mixupBatches, randomShift, type Augment } from "./data/augment.js";
export { defaultBudget } from "./train/budget.js";
export { createOptimizer, OptimizerConfig, type Optimizer, type OptimizerState } from "./train/optimizers.js";
export { CheckpointStore, FileCheckpoint, type FitCheckpoint, type FitState } from "./train/checkpoint.js";
export { lrFactor, ScheduleConfig } from "./util/schedules.js";
export type { TrainingReporter, EpochMetrics } from "./train/reporter.js";
export { evaluate, predictLogits, classificationMetrics, agreement, argmaxRows, type ClassificationMetrics, type Predictor } from "./eval/classification.js";
export { measureLatency, type LatencyStats } from "./eval/latency.js";
export { bytesOnDisk } from "./eval/size.js";
export { RunFolder, type RunFolderOptions } from "./run/run-folder.js";
export { runMnistDemo, demoConfig, formatDemoTable, DemoConfig, type DemoResult, type ModelReport } from "./demo/mnist-demo.js";
export { registerLoss, getLoss, listLosses, lossNames, type LossDefinition, type LossFamily, type TermInputs } from "./losses/registry.js";
export { logitMse, dkdLoss, distLoss, generalizedJsd, topKKd } from "./losses/response.js";
export { fitnetsHint, attentionTransfer, pktLoss, cosineHidden } from "./losses/feature.js";
export { rkdDistance, rkdAngle, spLoss, ccLoss } from "./losses/relation.js";
export { ScheduledValue, valueAt } from "./util/schedules.js";
export { WeightedSumLoss, TermSpec } from "./distill/terms.js";
export { Distiller, type DistillerOptions, type DistillerFitOptions, type DistillerResult } from "./distill/distiller.js";
// Term builders: every one in `terms` (terms.kd, terms.rkdDistance, …); those whose names no loss function takes also directly.
export * as terms from "./distill/term-builders.js";
export { term, ce, kd, dkd, dist, jsd, fitnets, attention, pkt, cosine, sp, cc, type TermCommon, type LayerTermCommon } from "./distill/term-builders.js";
export { LOSS_OPTIONS, type BuiltinLossName, type LossOptionsInput } from "./losses/loss-options.js";
export { allReporters, type ProgressEvent, type EpochEvent, type ProgressCallbacks } from "./train/reporter.js";
export { Projector } from "./distill/projector.js";
export { Recipe, parseRecipe, loadRecipe, recipeStages, type RecipeInput } from "./distill/recipe.js";
export { runRecipe, type RecipeResult } from "./distill/run-recipe.js";
export { type LogitLookup } from "./teachers/teacher.js";
export { encodeSafetensors, decodeSafetensors } from "./teachers/safetensors.js";
export { labelDataset, openLabelCache, cacheLogitLookup, hashDataset, hashFiles, type LabelCache, type LabelCacheManifest } from "./teachers/label-cache.js";
export { hashModelFolder } from "./teachers/model-hash.js";
export { ApiTeacher, ApiTeacherConfig, toSoftLabels, toTopK } from "./teachers/api.js";
export { exportOnnx, saveOnnx, type OnnxExportOptions } from "./export/onnx.js";
export { quantizeWeightsInt8, dequantizeInt8 } from "./export/quantize.js";
export { OnnxRunner } from "./export/onnx-runtime.js";
export { exportTransformerOnnx, transformerOnnxNames } from "./export/onnx-transformer.js";
export { checkTransformerOnnx, OnnxTokenRunner, type TransformerOnnxCheck, type TransformerOnnxCheckOptions } from "./export/onnx-transformer-check.js";
export { topKAccuracy, expectedCalibrationError, perClassAccuracy, confusionMatrix, klDivergence, regressionMetrics, softmaxRows } from "./eval/metrics.js";
export { evaluateModels } from "./eval/model-eval.js";
export { measureInterleaved } from "./eval/timing.js";
export { buildRunReport, writeRunReport } from "./report/run-report.js";
export { renderReportHtml } from "./report/html.js";
export { FunctionTeacher, EnsembleTeacher, type TeacherFunction } from "./teachers/function-teacher.js";
export { OnnxTeacher, type OnnxInputBuilder, type OnnxInputContext, type OnnxTeacherOptions } from "./teachers/onnx-teacher.js";
export { openTeacher, openTeachers, type OpenedTeacher } from "./teachers/open-teacher.js";
export { TfjsTeacher } from "./teachers/tfjs-teacher.js";
export { ApiTextTeacher } from "./teachers/api-text-teacher.js";
export { TeacherConfig, loadTeacherConfig, parseTeacherConfig, openTeacherConfig } from "./teachers/teacher-config.js";
export { type TeacherMetadata, type TeacherKind, type FeatureTensor, type TeacherInput } from "./teachers/teacher.js";
export { runTeacher, runTeacherBatch, teacherInput } from "./teachers/teacher-run.js";
export { checkTeacherOnData } from "./teachers/teacher-checks.js";
export { validateTeacherOutputs } from "./teachers/teacher-validate.js";
export { InputSpec } from "./teachers/input-spec.js";
export { saveTfjsInt8 } from "./export/tfjs-int8.js";
export { loadSplits, splitLoaded, describeData, withDataOptions, DATA_HELP } from "./data/sources.js";
export { summarizeData, formatDataSummary, planValidation, type DataSummary } from "./data/summary.js";
export { evaluateRegression, toUnits, modelOutputScale } from "./eval/regression.js";
export { evaluateRegressionModels } from "./eval/regression-eval.js";
export { savePreprocess, loadPreprocess, applyPreprocess } from "./data/preprocess.js";
export { loadStudent, type Student, type LoadStudentOptions } from "./students/student.js";
export { preprocess, graphInput, decodeOutput, rawInputKind, PreprocessError, RUNTIME_FILES, type Prediction, type RawInputKind } from "./runtime/runtime.js";
export { graphPreprocessFor, describeGraphInput } from "./export/graph-preprocess.js";
export { modelTestData, type ModelTestData } from "./eval/model-data.js";
export { buildTransferSet } from "./data/transfer.js";
export { parseExperiment, loadExperiment, type Experiment } from "./experiments/experiment.js";
export { runExperiment, type ExperimentResult, type ResultRow } from "./experiments/run-experiment.js";
export { fitClassBias, withClassBias } from "./experiments/bias.js";
export { experimentTable, experimentSection } from "./experiments/table.js";
export { rocAuc, binaryAuc } from "./eval/roc.js";
export { generalizedJsdRows, topKKdRows } from "./losses/response.js";
export {
  tokenForwardKl,
  tokenReverseKl,
  tokenJsd,
  tokenSkewKl,
  tokenSkewReverseKl,
  tokenTopKKd,
  tokenCrossEntropy,
  sampledTokenReverseKl,
  sampledReverseKlEstimate,
  maskedTokenMean,
  nextTokenMask,
  tokenLogprobs,
  stopGradient,
  type TokenLossOptions,
  type TokenJsdOptions,
  type SkewKlOptions,
  type TokenTopKOptions,
  type TokenMaskOptions,
} from "./losses/sequence.js";
export type { TokenInputs, TokenTeacherInput } from "./losses/registry.js";
export { generate, type GenerateOptions, type Generation } from "./generate/generate.js";
export { KvCache, kvCacheProblem } from "./generate/kv-cache.js";
export { sampleToken, type SamplingOptions } from "./generate/sample.js";
export {
  bitsPerByte,
  targetTextBytes,
  heldOutLmMetrics,
  nextTokenAgreement,
  modelSequenceLogprobs,
  teacherScoredNll,
  generateSamples,
  generationSpeed,
  lmLogitsOf,
  type LmLogits,
  type HeldOutLmMetrics,
  type AgreementMetrics,
  type SequenceLogprobs,
  type GeneratedSample,
  type TeacherNllMetrics,
  type GenerationSpeed,
} from "./eval/lm.js";
export { writeLmTopKCache, openLmTopKCache, describeLmTopKCache, lmTopKBytesPerToken, type LmTopKCache, type LmTopKManifest, type LmTopKRows, type LmTopKSource, type WriteLmTopKOptions } from "./teachers/lm-topk-cache.js";
export { distillLm, lmDistillLoss, checkSameVocabulary, tokenizerFingerprint, type DistillLmOptions, type LmTeacher, type LmLogitsTeacher, type LmTermSpec } from "./distill/lm-distill.js";
export { sameTokenizer, describeTokenizer } from "./tokenizers/compare.js";
export { compileLmTerms, lmTermsValue, type CompiledLmTerm, type LmDistillLossOptions } from "./distill/lm-distill.js";
export {
  describeLmTeacher,
  generationSeed,
  lmTopKSource,
  type CausalLmTeacher,
  type LmTeacherKind,
  type LmTeacherCapabilities,
  type LmGenerateOptions,
  type LmTeacherGeneration,
  type TokenWindows,
} from "./teachers/lm-teacher.js";
export { TransformerLmTeacher, transformerLmTeacher, openTransformerLmTeacher } from "./teachers/lm-teacher-model.js";
export { OnnxLmTeacher, openOnnxLmTeacher, type OnnxLmTeacherOptions } from "./teachers/lm-teacher-onnx.js";
export { ApiLmTeacher, ApiLmTeacherConfig, type ApiLmTeacherConfigInput, type ApiLmTeacherOptions, type ApiLmTeacherStats } from "./teachers/api-lm-teacher.js";
export { ServerTokenMap } from "./teachers/api-lm-tokens.js";
export { ApiHttpClient, ApiBatchError, ApiRequestError, apiHttpFields, type ApiHttpSettings, type ApiHttpStats, type BatchProgress, type RetryInfo } from "./teachers/api-http.js";
export {
  writeLmGenerationCache,
  readLmGenerationCache,
  hashPrompts,
  type LmGenerationManifest,
  type LmGenerationRecord,
  type LmGenerationSampling,
  type WriteLmGenerationOptions,
} from "./teachers/lm-generation-cache.js";
export { distillLmGkd, GKD_DEFAULTS, type DistillLmGkdOptions, type DistillLmGkdResult, type GkdBatchInfo } from "./distill/lm-gkd.js";
export { distillLmSequenceKd, sequenceKdWindows, windowPrompts, type DistillLmSequenceKdOptions, type DistillLmSequenceKdResult, type SequenceKdWindows } from "./distill/lm-seqkd.js";
export { openLmTeacher, type OpenLmTeacherOptions } from "./teachers/open-lm-teacher.js";
// Causal LMs end to end (corpora, methods, caches, evaluation, the kind: lm recipe).
export { loadLmCorpus, isLmDataSpec, LM_DATA_HELP, type LmCorpus, type LmCorpusOptions } from "./data/lm-corpus.js";
export { runLmMethod, lmMethodTerms, LM_METHODS, type LmMethod, type LmMethodSettings, type RunLmMethodOptions, type LmMethodResult } from "./distill/lm-method.js";
export { cacheLmTopK, cacheLmGenerations, type TopKCacheOptions, type GenerationCacheOptions } from "./distill/lm-caches.js";
export { evaluateLmSuite, formatLmSuite, samplePrompts, type LmSuiteOptions, type LmSuiteResult } from "./eval/lm-suite.js";
export { parseLmRecipe, readLmRecipe, type LmRecipe } from "./experiments/lm-recipe.js";
export { runLmRecipe, lmRunTable, type LmRunResult, type LmRowResult } from "./experiments/lm-run.js";
export { teacherAgreement, teacherNllOfSamples, type CrossTeacherNll } from "./eval/lm-teacher-eval.js";
export { type EmbeddingTeacher, type EmbeddingTeacherKind, embedAll } from "./teachers/embedding/embedding-teacher.js";
export { EmbeddingTeacherConfig, parseEmbeddingTeacherConfig, loadEmbeddingTeacherConfig, openEmbeddingTeacher } from "./teachers/embedding/embedding-teacher-config.js";
export { TfjsEmbeddingTeacher, openUseLite, useLiteDir, type TfjsEmbeddingOptions } from "./teachers/embedding/tfjs-embedding-teacher.js";
export { OnnxEmbeddingTeacher, type OnnxEmbeddingOptions } from "./teachers/embedding/onnx-embedding-teacher.js";
export { FunctionEmbeddingTeacher, openFunctionEmbedding, type EmbeddingFunction } from "./teachers/embedding/function-embedding-teacher.js";
export { ApiEmbeddingTeacher, ApiEmbeddingSettings } from "./teachers/embedding/api-embedding-teacher.js";
export { SentencePieceTokenizer } from "./tokenizers/sentencepiece.js";
export { distillStatic, distillStaticFromTeacher, type StaticDistillOptions, type StaticDistillResult } from "./embeddings/distill-static.js";
export { frequentWords, type FrequentWordsOptions } from "./embeddings/words.js";
export { BagOfEmbeddingsModel, bagEmbedder, saveEmbeddingModel, loadEmbeddingModel, isEmbeddingModelFolder, projectTeacher, withContext, type Embedder, type EmbeddingModelConfig, type Projection } from "./embeddings/embedding-model.js";
export { trainEmbeddingStudent, type EmbeddingTrainOptions, type EmbeddingTrainResult } from "./distill/train-embedding.js";
export { transformerEmbedder, openEmbedder, isEmbedderFolder } from "./embeddings/transformer-embedder.js";
export { symmetricEigen } from "./embeddings/eigen.js";
export { fitPca, projectPca, explainedVariance, type Pca } from "./embeddings/pca.js";
export { sifWeights } from "./embeddings/sif.js";
export { meanCosine, neighbourOverlap, nearestNeighbours, linearProbe, timeEmbedding, type ProbeResult } from "./eval/embedding-metrics.js";
export { fitLinearClassifier, chooseProbeL2, type LinearClassifier } from "./eval/embedding-metrics.js";
export { distillClassifier, classifierFromStatic, type ClassifierDistillOptions } from "./distill/embedding-classifier.js";
export { EmbeddingRecipe, loadEmbeddingRecipe, parseEmbeddingRecipe } from "./experiments/embedding-recipe.js";
export { runEmbeddingRecipe, embeddingRecipeTable, type EmbeddingRecipeResult } from "./experiments/embedding-run.js";
export { saveEmbeddingTfjs, runEmbeddingTfjs, checkEmbeddingTfjs } from "./export/tfjs-embeddings.js";
export { loadEmbeddingTexts } from "./data/embedding-texts.js";
export { loadFortunes, parseFortunes, fortuneCategories, DEFAULT_FORTUNE_CATEGORIES } from "./data/fortunes.js";
export { exportEmbeddingOnnx, saveEmbeddingOnnx, runEmbeddingOnnx, embeddingOnnxFeeds } from "./export/onnx-embeddings.js";
