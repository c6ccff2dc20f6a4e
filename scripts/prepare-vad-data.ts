// Synthesises the Silero VAD recipe's audio with Debian's espeak-ng and sox only (apt-get install espeak-ng sox):
//   node --import tsx scripts/prepare-vad-data.ts [recipes/silero-vad.yaml] [--quick]
// writes <data.dir>/<options hash>/clips/*.wav (16 kHz mono, 16-bit) and manifest.json; the recipe run reuses them.
import { join } from "node:path";
import { applyQuick, loadVadRecipe } from "../src/audio/recipe.js";
import { prepareVadData, synthKey, type SynthOptions } from "../src/audio/synth.js";
import { TsdistillError } from "../src/util/errors.js";

const args = process.argv.slice(2);
const path = args.find((a) => !a.startsWith("--")) ?? "recipes/silero-vad.yaml";
try {
  let recipe = loadVadRecipe(path);
  if (args.includes("--quick")) recipe = applyQuick(recipe);
  const { dir, clips, clipSeconds, gapSeconds, snrDb, cleanShare, noises } = recipe.data;
  const opts: SynthOptions = { seed: recipe.seed, clips, clipSeconds, gapSeconds, snrDb, cleanShare, noises };
  const out = join(dir, synthKey(opts));
  const manifest = await prepareVadData(opts, out, (line) => console.error(line));
  console.log(join(out, "manifest.json"), `(${manifest.clips.length} clips)`);
} catch (err) {
  if (!(err instanceof TsdistillError)) throw err;
  console.error(`prepare-vad-data: ${err.message}`);
  process.exit(err.exitCode);
}
