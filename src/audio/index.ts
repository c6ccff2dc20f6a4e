// The Silero VAD distillation recipe (issue 4, item 5): what the CLI's `tsdistill run <recipe>` calls.
export { runVadRecipe, type VadResult, type VadRunOptions, type StudentScores } from "./run-vad.js";
export { VadRecipe, type VadRecipeInput, loadVadRecipe, parseVadRecipe } from "./recipe.js";
export { prepareVadData, type SynthOptions, type VadManifest } from "./synth.js";
