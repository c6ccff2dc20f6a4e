import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { encodeWav16, parseWav } from "../data/wav.js";
import { Rng } from "../util/rng.js";
import { TsdistillError } from "../util/errors.js";
import { writeDirAtomic } from "../util/files.js";
import { sentence, VARIANTS, VOICES } from "./sentences.js";

export const NOISE_COLORS = ["white", "pink", "brown"] as const;
export type NoiseColor = (typeof NOISE_COLORS)[number];

/** What to synthesise; the same options and seed give the same audio, byte for byte. */
export interface SynthOptions {
  seed: number;
  clips: number;
  /** Duration of each clip, uniform in [min, max] seconds. */
  clipSeconds: [number, number];
  /** Silence between utterances, uniform in [min, max] seconds. */
  gapSeconds: [number, number];
  /** Speech-to-noise ratios drawn per clip, in dB. */
  snrDb: number[];
  /** Share of clips without added noise. */
  cleanShare: number;
  noises: NoiseColor[];
}

export const SAMPLE_RATE = 16000;

export interface ClipInfo {
  file: string;
  samples: number;
  noise: NoiseColor | "none";
  snrDb: number | null;
  /** Where espeak-ng's output is louder than its own silence: [start, end) in samples. */
  speech: [number, number][];
  utterances: { voice: string; speed: number; pitch: number; text: string }[];
}

export interface VadManifest {
  version: 1;
  sampleRate: number;
  options: SynthOptions;
  clips: ClipInfo[];
}

function tool(cmd: string, args: string[], input?: Uint8Array): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === "ENOENT";
    throw new TsdistillError(missing ? `${cmd} is not installed; install the Debian packages: apt-get install -y espeak-ng sox` : `${cmd} failed: ${r.error.message}`);
  }
  if (r.status !== 0) throw new TsdistillError(`${cmd} ${args.slice(0, 4).join(" ")} … exited with ${r.status}: ${r.stderr.toString().trim().split("\n")[0]}`);
  return r.stdout;
}

/** espeak-ng speech resampled by sox to 16 kHz mono (-R: sox's repeatable mode, no dither). */
export function speak(text: string, voice: string, speed: number, pitch: number): Float32Array {
  const wav = tool("espeak-ng", ["-v", voice, "-s", String(speed), "-p", String(pitch), "--stdout", text]);
  const out = tool("sox", ["-R", "-D", "-t", "wav", "-", "-t", "wav", "-r", String(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer", "-"], wav);
  return parseWav(out, `sox output for espeak-ng -v ${voice}`).samples;
}

/** A long sox-generated noise recording of one colour, from which clips take random stretches. */
function noiseBank(color: NoiseColor, seconds: number): Float32Array {
  const out = tool("sox", ["-R", "-D", "-n", "-t", "wav", "-r", String(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer", "-", "synth", String(seconds), `${color}noise`]);
  return parseWav(out, `sox ${color}noise`).samples;
}

/** [start, end) of the part of an utterance above espeak-ng's silence floor. */
function activeSpan(x: Float32Array): [number, number] {
  const floor = 1e-3;
  let a = 0;
  let b = x.length;
  while (a < b && Math.abs(x[a]) < floor) a++;
  while (b > a && Math.abs(x[b - 1]) < floor) b--;
  return [a, b];
}

const uniform = (rng: Rng, [lo, hi]: [number, number]) => lo + rng.next() * (hi - lo);

function synthClip(index: number, opts: SynthOptions, banks: Map<NoiseColor, Float32Array>): { audio: Float32Array; info: ClipInfo } {
  const rng = new Rng(opts.seed, "vad-clip", index);
  const n = Math.round(uniform(rng, opts.clipSeconds) * SAMPLE_RATE);
  const audio = new Float32Array(n);
  const info: ClipInfo = { file: `clips/clip-${String(index).padStart(5, "0")}.wav`, samples: n, noise: "none", snrDb: null, speech: [], utterances: [] };
  let at = Math.round(uniform(rng, opts.gapSeconds) * SAMPLE_RATE);
  const gain = 0.25 + 0.7 * rng.next();
  for (let tries = 0; at < n && tries < 50; tries++) {
    const voice = `${VOICES[rng.int(VOICES.length)]}${rng.next() < 0.7 ? `+${VARIANTS[rng.int(VARIANTS.length)]}` : ""}`;
    const speed = 110 + rng.int(130);
    const pitch = 10 + rng.int(80);
    const text = sentence(rng);
    const gap = Math.round(uniform(rng, opts.gapSeconds) * SAMPLE_RATE);
    const x = speak(text, voice, speed, pitch);
    const span = activeSpan(x);
    if (span[1] <= span[0]) continue;
    const [a, b] = [span[0], Math.min(span[1], span[0] + n - at)];
    let peak = 1e-9;
    for (let i = a; i < b; i++) peak = Math.max(peak, Math.abs(x[i]));
    for (let i = a; i < b; i++) audio[at + i - a] = (x[i] / peak) * gain;
    info.speech.push([at, at + b - a]);
    info.utterances.push({ voice, speed, pitch, text });
    at += b - a + gap;
  }
  if (rng.next() >= opts.cleanShare && opts.noises.length > 0) {
    const color = opts.noises[rng.int(opts.noises.length)];
    const snr = opts.snrDb[rng.int(opts.snrDb.length)];
    const bank = banks.get(color)!;
    const offset = rng.int(bank.length - n);
    let ps = 0;
    let count = 0;
    for (const [s, e] of info.speech) for (let i = s; i < e; i++, count++) ps += audio[i] ** 2;
    let pn = 0;
    for (let i = 0; i < n; i++) pn += bank[offset + i] ** 2;
    // Noise power set relative to the speech's mean power over its active samples; a clip without speech gets
    // noise at the level speech of this gain would have.
    const speechPower = count > 0 ? ps / count : (gain * gain) / 10;
    const scale = Math.sqrt(speechPower / 10 ** (snr / 10) / Math.max(pn / n, 1e-20));
    for (let i = 0; i < n; i++) audio[i] += bank[offset + i] * scale;
    info.noise = color;
    info.snrDb = snr;
  }
  let peak = 0;
  for (let i = 0; i < n; i++) peak = Math.max(peak, Math.abs(audio[i]));
  if (peak > 0.99) for (let i = 0; i < n; i++) audio[i] *= 0.99 / peak;
  return { audio, info };
}

/** A short hash of the synthesis options: the name of the folder that holds their audio. */
export function synthKey(opts: SynthOptions): string {
  return createHash("sha256").update(JSON.stringify(opts)).digest("hex").slice(0, 12);
}

/**
 * Synthesises the clips into `dir` (clips/*.wav + manifest.json), written as a whole or not at all. When `dir`
 * already holds a manifest for exactly these options it is reused.
 */
export async function prepareVadData(opts: SynthOptions, dir: string, info: (line: string) => void = () => {}): Promise<VadManifest> {
  const manifestPath = join(dir, "manifest.json");
  if (existsSync(manifestPath)) {
    const old = JSON.parse(readFileSync(manifestPath, "utf8")) as VadManifest;
    if (JSON.stringify(old.options) === JSON.stringify(opts)) {
      info(`audio: reusing ${old.clips.length} clips in ${dir}`);
      return old;
    }
    throw new TsdistillError(`${manifestPath}: was made with other synthesis options; remove ${dir} or choose another data.dir`);
  }
  const t0 = performance.now();
  const longest = Math.ceil(opts.clipSeconds[1]) + 1;
  const banks = new Map(opts.noises.map((c) => [c, noiseBank(c, Math.max(60, 4 * longest))] as const));
  const manifest: VadManifest = { version: 1, sampleRate: SAMPLE_RATE, options: opts, clips: [] };
  await writeDirAtomic(dir, (tmp) => {
    for (let i = 0; i < opts.clips; i++) {
      const { audio, info: clip } = synthClip(i, opts, banks);
      writeDirFile(join(tmp, clip.file), encodeWav16(audio, SAMPLE_RATE));
      manifest.clips.push(clip);
      if ((i + 1) % 20 === 0 || i + 1 === opts.clips) info(`audio: ${i + 1}/${opts.clips} clips synthesised`);
    }
    writeFileSync(join(tmp, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
  });
  const seconds = manifest.clips.reduce((s, c) => s + c.samples, 0) / SAMPLE_RATE;
  info(`audio: ${opts.clips} clips, ${seconds.toFixed(0)} s of audio in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${dir}`);
  return manifest;
}

function writeDirFile(path: string, data: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}
