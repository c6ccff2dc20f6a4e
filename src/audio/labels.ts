import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readWav } from "../data/wav.js";
import { writeFileAtomic } from "../util/files.js";
import { DataError } from "../util/errors.js";
import { SileroVadTeacher } from "../teachers/silero-vad.js";
import { SAMPLE_RATE, type VadManifest } from "./synth.js";

export interface LabelledClips {
  /** 16 kHz mono audio of every clip, in manifest order. */
  audio: Float32Array[];
  /** The teacher's speech probability per 512-sample chunk of each clip. */
  probs: Float32Array[];
  teacherSeconds: number;
  cached: boolean;
}

interface LabelHeader {
  teacher: string;
  teacherHash: string;
  dataHash: string;
  frames: number[];
}

/** sha256 of the manifest: it names every clip and the options that made it. */
export function manifestHash(m: VadManifest): string {
  return createHash("sha256").update(JSON.stringify(m)).digest("hex");
}

/**
 * Reads the clips and the teacher's per-chunk probabilities. The labels are cached next to the audio
 * (labels-<teacher hash>.json + .f32) and reused when the teacher and data hashes match; otherwise the
 * teacher runs over every clip and the cache is (re)written atomically.
 */
export async function labelClips(dir: string, manifest: VadManifest, teacherPath: string | undefined, batch: number, info: (line: string) => void): Promise<LabelledClips> {
  const audio = manifest.clips.map((c) => readWav(join(dir, c.file), { sampleRate: SAMPLE_RATE }).samples);
  const teacher = await SileroVadTeacher.open(teacherPath);
  const dataHash = manifestHash(manifest);
  const base = join(dir, `labels-${teacher.hash.slice(0, 12)}`);
  try {
    if (existsSync(`${base}.json`) && existsSync(`${base}.f32`)) {
      const header = JSON.parse(readFileSync(`${base}.json`, "utf8")) as LabelHeader;
      if (header.teacherHash !== teacher.hash || header.dataHash !== dataHash) {
        info(`labels: ${base}.json is for other audio or another teacher; relabelling`);
      } else {
        const raw = readFileSync(`${base}.f32`);
        const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
        const total = header.frames.reduce((a, b) => a + b, 0);
        if (all.length !== total) throw new DataError(`${base}.f32`, `holds ${all.length} values, its header says ${total}; delete it to relabel`);
        let at = 0;
        const probs = header.frames.map((n) => all.slice(at, (at += n)));
        info(`labels: reusing the teacher's labels for ${total} frames from ${base}.f32`);
        return { audio, probs, teacherSeconds: 0, cached: true };
      }
    }
    const t0 = performance.now();
    const probs = await teacher.label(audio, { batch, onProgress: (done) => info(`labels: ${done}/${audio.length} clips`) });
    const teacherSeconds = (performance.now() - t0) / 1000;
    const frames = probs.map((p) => p.length);
    const all = new Float32Array(frames.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const p of probs) {
      all.set(p, at);
      at += p.length;
    }
    writeFileAtomic(`${base}.f32`, new Uint8Array(all.buffer));
    const header: LabelHeader = { teacher: teacher.path, teacherHash: teacher.hash, dataHash, frames };
    writeFileAtomic(`${base}.json`, JSON.stringify(header) + "\n");
    info(`labels: teacher labelled ${all.length} frames in ${teacherSeconds.toFixed(1)} s (${batch} streams side by side)`);
    return { audio, probs, teacherSeconds, cached: false };
  } finally {
    await teacher.close();
  }
}

/** Ground truth from the synthesis: a chunk is speech when at least half of its samples lie in an utterance. */
export function truthFrames(speech: [number, number][], frames: number, chunk: number): Int32Array {
  const cover = new Float64Array(frames);
  for (const [s, e] of speech) {
    for (let t = Math.floor(s / chunk); t < frames && t * chunk < e; t++) {
      cover[t] += Math.max(0, Math.min(e, (t + 1) * chunk) - Math.max(s, t * chunk));
    }
  }
  return Int32Array.from(cover, (c) => (c >= chunk / 2 ? 1 : 0));
}
