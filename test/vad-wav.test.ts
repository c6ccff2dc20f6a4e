import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeWav16, frameSignal, parseWav, readWav } from "../src/data/wav.js";
import { DataError } from "../src/util/errors.js";

/** A WAV file built byte by byte, independently of the code under test. */
function wavBytes(opts: { format: number; channels: number; rate: number; bits: number; data: Uint8Array; extra?: { id: string; body: Uint8Array }[]; extensible?: boolean }): Uint8Array {
  const chunks: Uint8Array[] = [];
  const chunk = (id: string, body: Uint8Array) => {
    const head = new Uint8Array(8);
    [...id].forEach((c, i) => (head[i] = c.charCodeAt(0)));
    new DataView(head.buffer).setUint32(4, body.length, true);
    chunks.push(head, body);
    if (body.length % 2) chunks.push(new Uint8Array(1));
  };
  const blockAlign = (opts.bits / 8) * opts.channels;
  const fmt = new Uint8Array(opts.extensible ? 40 : 16);
  const v = new DataView(fmt.buffer);
  v.setUint16(0, opts.extensible ? 0xfffe : opts.format, true);
  v.setUint16(2, opts.channels, true);
  v.setUint32(4, opts.rate, true);
  v.setUint32(8, opts.rate * blockAlign, true);
  v.setUint16(12, blockAlign, true);
  v.setUint16(14, opts.bits, true);
  if (opts.extensible) {
    v.setUint16(16, 22, true);
    v.setUint16(24, opts.format, true);
  }
  for (const e of opts.extra ?? []) chunk(e.id, e.body);
  chunk("fmt ", fmt);
  chunk("data", opts.data);
  const body = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(12 + body);
  out.set([0x52, 0x49, 0x46, 0x46], 0);
  new DataView(out.buffer).setUint32(4, 4 + body, true);
  out.set([0x57, 0x41, 0x56, 0x45], 8);
  let at = 12;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const int16 = (values: number[]) => new Uint8Array(Int16Array.from(values).buffer);
const float32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

test("16-bit PCM stereo is averaged to mono, other chunks (odd-sized) are skipped", () => {
  const data = int16([16384, -16384, 32767, 32767, -32768, 0]);
  const wav = parseWav(wavBytes({ format: 1, channels: 2, rate: 16000, bits: 16, data, extra: [{ id: "LIST", body: new Uint8Array(5) }] }), "golden.wav");
  assert.equal(wav.sampleRate, 16000, "sample rate from the fmt chunk");
  assert.equal(wav.channels, 2, "channel count from the fmt chunk");
  assert.equal(wav.encoding, "pcm16", "encoding");
  assert.deepEqual(Array.from(wav.samples), [0, 32767 / 32768, -0.5], "frames averaged over the two channels, scaled by 1/32768");
});

test("32-bit float mono, plain and WAVE_FORMAT_EXTENSIBLE", () => {
  const values = [0.25, -1, 0.5, 0.125];
  for (const extensible of [false, true]) {
    const wav = parseWav(wavBytes({ format: 3, channels: 1, rate: 8000, bits: 32, data: float32(values), extensible }), "f.wav");
    assert.equal(wav.encoding, "float32", `float32 (extensible: ${extensible})`);
    assert.deepEqual(Array.from(wav.samples), values, `float samples as stored (extensible: ${extensible})`);
  }
});

test("a data chunk whose size runs past the end (streaming writers) is read to the last whole frame", () => {
  const bytes = wavBytes({ format: 1, channels: 1, rate: 16000, bits: 16, data: int16([100, 200, 300]) });
  new DataView(bytes.buffer).setUint32(bytes.length - 6 - 4, 0x7fffffff, true);
  const wav = parseWav(bytes.subarray(0, bytes.length - 1), "stream.wav");
  assert.deepEqual(Array.from(wav.samples), [100 / 32768, 200 / 32768], "the half frame at the end is dropped");
});

test("malformed files give one DataError naming the file", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["short.wav", new Uint8Array(4), /short\.wav: only 4 bytes/],
    ["text.wav", new TextEncoder().encode("hello, this is not a wav file"), /text\.wav: starts with "hell…/],
    ["pcm24.wav", wavBytes({ format: 1, channels: 1, rate: 16000, bits: 24, data: new Uint8Array(6) }), /pcm24\.wav: its samples are format 1 with 24 bits/],
    ["nodata.wav", wavBytes({ format: 1, channels: 1, rate: 16000, bits: 16, data: new Uint8Array(0) }).subarray(0, 36), /nodata\.wav: it has no "data" chunk/],
    ["nochan.wav", wavBytes({ format: 1, channels: 0, rate: 16000, bits: 16, data: new Uint8Array(2) }), /nochan\.wav: it declares 0 channels/],
  ];
  for (const [name, bytes, message] of cases) {
    assert.throws(() => parseWav(bytes, name), (err: Error) => err instanceof DataError && message.test(err.message) && !err.message.includes("\n"), `${name} is rejected with ${message}`);
  }
});

test("readWav checks the sample rate and names missing files; encodeWav16 round-trips", () => {
  const dir = mkdtempSync(join(tmpdir(), "vad-wav-"));
  try {
    const samples = Float32Array.from({ length: 100 }, (_, i) => Math.round(Math.sin(i / 5) * 1000) / 32768);
    const path = join(dir, "a.wav");
    writeFileSync(path, encodeWav16(samples, 22050));
    assert.deepEqual(Array.from(readWav(path).samples), Array.from(samples), "16-bit values survive encode → parse exactly");
    assert.throws(() => readWav(path, { sampleRate: 16000 }), /a\.wav: sample rate is 22050 Hz, expected 16000 Hz/, "rate mismatch");
    assert.throws(() => readWav(join(dir, "missing.wav")), /missing\.wav: not found; expected a WAV file/, "missing file");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("frameSignal cuts windows of a size every hop and drops the partial tail", () => {
  const x = Float32Array.from({ length: 10 }, (_, i) => i);
  const f = frameSignal(x, 4, 3);
  assert.equal(f.count, 3, "windows at 0, 3 and 6 (9 would need samples up to 12)");
  assert.deepEqual(Array.from(f.data), [0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9], "window contents");
  assert.equal(frameSignal(x, 16, 16).count, 0, "a signal shorter than one window has no frames");
  assert.throws(() => frameSignal(x, 0, 1), /frame size must be a positive integer/, "bad size");
});
