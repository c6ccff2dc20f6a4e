import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";

export interface WavAudio {
  sampleRate: number;
  /** Channels in the file (the samples below are already mixed down to mono). */
  channels: number;
  encoding: "pcm16" | "float32";
  /** Mono samples in [-1, 1] (channels averaged). */
  samples: Float32Array;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Parses a RIFF/WAVE file: 16-bit PCM or 32-bit float, any channel count (averaged to mono). `file` names the
 * source in error messages. A data chunk whose declared size runs past the end of the file (as streaming
 * writers leave it) is read up to the last whole frame.
 */
export function parseWav(buf: Uint8Array, file: string): WavAudio {
  const bad = (why: string): never => {
    throw new DataError(file, `${why}; expected a RIFF/WAVE file with 16-bit PCM or 32-bit float samples`);
  };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (at: number) => String.fromCharCode(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
  if (buf.length < 12) bad(`only ${buf.length} bytes`);
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") bad(`starts with "${tag(0)}…${tag(8)}", not "RIFF…WAVE"`);
  let fmt: { format: number; channels: number; sampleRate: number; blockAlign: number; bits: number } | null = null;
  let data: Uint8Array | null = null;
  let at = 12;
  while (at + 8 <= buf.length && !data) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > buf.length) bad(`its "fmt " chunk is ${size} bytes, shorter than 16`);
      let format = view.getUint16(body, true);
      if (format === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40 || body + 26 > buf.length) bad("its extensible \"fmt \" chunk is truncated");
        format = view.getUint16(body + 24, true);
      }
      fmt = { format, channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), blockAlign: view.getUint16(body + 12, true), bits: view.getUint16(body + 14, true) };
    } else if (id === "data") {
      if (!fmt) bad('its "data" chunk comes before the "fmt " chunk');
      const end = Math.min(body + size, buf.length);
      data = buf.subarray(body, end);
    }
    at = body + size + (size & 1);
  }
  if (!fmt) bad('it has no "fmt " chunk');
  if (!data) bad('it has no "data" chunk');
  const { format, channels, sampleRate, bits } = fmt!;
  if (channels < 1) bad("it declares 0 channels");
  if (!(sampleRate > 0)) bad("it declares a sample rate of 0");
  let encoding: WavAudio["encoding"];
  if (format === WAVE_FORMAT_PCM && bits === 16) encoding = "pcm16";
  else if (format === WAVE_FORMAT_IEEE_FLOAT && bits === 32) encoding = "float32";
  else return bad(`its samples are format ${format} with ${bits} bits`);
  const bytes = encoding === "pcm16" ? 2 : 4;
  if (fmt!.blockAlign !== bytes * channels) bad(`its block align is ${fmt!.blockAlign}, expected ${bytes * channels} for ${channels} channel(s)`);
  const frames = Math.floor(data!.length / (bytes * channels));
  const dv = new DataView(data!.buffer, data!.byteOffset, data!.byteLength);
  const samples = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) {
      const off = (i * channels + c) * bytes;
      sum += encoding === "pcm16" ? dv.getInt16(off, true) / 32768 : dv.getFloat32(off, true);
    }
    if (!Number.isFinite(sum)) bad(`sample ${i} is not a finite number`);
    samples[i] = sum / channels;
  }
  return { sampleRate, channels, encoding, samples };
}

/** Reads a WAV file; with `sampleRate`, a file at another rate is a DataError. */
export function readWav(path: string, opts: { sampleRate?: number } = {}): WavAudio {
  const wav = parseWav(readDataFile(path, "a WAV file"), path);
  if (opts.sampleRate !== undefined && wav.sampleRate !== opts.sampleRate) {
    throw new DataError(path, `sample rate is ${wav.sampleRate} Hz, expected ${opts.sampleRate} Hz (resample it, e.g. sox in.wav -r ${opts.sampleRate} out.wav)`);
  }
  return wav;
}

/** Mono samples as a 16-bit PCM WAV file (values clipped to [-1, 1]). */
export function encodeWav16(samples: Float32Array, sampleRate: number): Uint8Array {
  const out = new Uint8Array(44 + samples.length * 2);
  const v = new DataView(out.buffer);
  const put = (at: number, s: string) => [...s].forEach((ch, i) => (out[at + i] = ch.charCodeAt(0)));
  put(0, "RIFF");
  v.setUint32(4, 36 + samples.length * 2, true);
  put(8, "WAVE");
  put(12, "fmt ");
  v.setUint32(16, 16, true);
  v.setUint16(20, WAVE_FORMAT_PCM, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  put(36, "data");
  v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, Math.round(s < 0 ? s * 32768 : s * 32767), true);
  }
  return out;
}

export interface Frames {
  /** `count` windows of `size` samples, row-major. */
  data: Float32Array;
  count: number;
  size: number;
}

/** Cuts a signal into windows of `size` samples every `hop` samples; a trailing partial window is dropped. */
export function frameSignal(samples: Float32Array, size: number, hop: number): Frames {
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`frame size must be a positive integer, got ${size}`);
  if (!(Number.isInteger(hop) && hop > 0)) throw new RangeError(`frame hop must be a positive integer, got ${hop}`);
  const count = samples.length < size ? 0 : Math.floor((samples.length - size) / hop) + 1;
  const data = new Float32Array(count * size);
  for (let i = 0; i < count; i++) data.set(samples.subarray(i * hop, i * hop + size), i * size);
  return { data, count, size };
}
