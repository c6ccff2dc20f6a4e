/**
 * Short-time features for the VAD student: one log-mel vector per 512-sample chunk (the teacher's chunk), and
 * a window of neighbouring chunks stacked as the student's input [past + 1 + future, bands, 1].
 */

export interface FeatureConfig {
  sampleRate: number;
  /** Samples per chunk (and FFT size; a power of two). */
  chunk: number;
  melBands: number;
  /** Chunks of context before / after the labelled one. */
  past: number;
  future: number;
}

const hz2mel = (f: number) => 2595 * Math.log10(1 + f / 700);
const mel2hz = (m: number) => 700 * (10 ** (m / 2595) - 1);

/** Computes log-mel energies of single chunks; holds the window, filterbank and FFT scratch buffers. */
export class LogMel {
  private readonly window: Float32Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly filters: { start: number; weights: Float32Array }[];
  private readonly bitrev: Uint32Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;

  constructor(readonly cfg: Pick<FeatureConfig, "sampleRate" | "chunk" | "melBands">) {
    const n = cfg.chunk;
    if (n < 2 || (n & (n - 1)) !== 0) throw new RangeError(`chunk size must be a power of two, got ${n}`);
    this.window = Float32Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
    this.re = new Float64Array(n);
    this.im = new Float64Array(n);
    const bits = Math.log2(n);
    this.bitrev = Uint32Array.from({ length: n }, (_, i) => {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      return r;
    });
    this.cos = Float64Array.from({ length: n / 2 }, (_, k) => Math.cos((-2 * Math.PI * k) / n));
    this.sin = Float64Array.from({ length: n / 2 }, (_, k) => Math.sin((-2 * Math.PI * k) / n));
    const bins = n / 2 + 1;
    const lo = hz2mel(60);
    const hi = hz2mel(Math.min(7600, cfg.sampleRate / 2));
    const edges = Array.from({ length: cfg.melBands + 2 }, (_, i) => (mel2hz(lo + ((hi - lo) * i) / (cfg.melBands + 1)) * n) / cfg.sampleRate);
    this.filters = Array.from({ length: cfg.melBands }, (_, m) => {
      const [a, c, b] = [edges[m], edges[m + 1], edges[m + 2]];
      const start = Math.max(0, Math.floor(a));
      const end = Math.min(bins - 1, Math.ceil(b));
      const weights = new Float32Array(end - start + 1);
      for (let k = start; k <= end; k++) weights[k - start] = Math.max(0, Math.min((k - a) / (c - a), (b - k) / (b - c)));
      return { start, weights };
    });
  }

  /** log(mel energy + ε) of one chunk into `out` at `offset`. */
  compute(chunk: Float32Array, out: Float32Array, offset = 0): void {
    const { re, im, window, bitrev } = this;
    const n = re.length;
    for (let i = 0; i < n; i++) {
      re[bitrev[i]] = chunk[i] * window[i];
      im[bitrev[i]] = 0;
    }
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1;
      const stride = n / size;
      for (let k = 0; k < half; k++) {
        const wr = this.cos[k * stride];
        const wi = this.sin[k * stride];
        for (let s = k; s < n; s += size) {
          const t = s + half;
          const xr = re[t] * wr - im[t] * wi;
          const xi = re[t] * wi + im[t] * wr;
          re[t] = re[s] - xr;
          im[t] = im[s] - xi;
          re[s] += xr;
          im[s] += xi;
        }
      }
    }
    this.filters.forEach(({ start, weights }, m) => {
      let e = 0;
      for (let j = 0; j < weights.length; j++) e += weights[j] * (re[start + j] ** 2 + im[start + j] ** 2);
      out[offset + m] = Math.log(e + 1e-8);
    });
  }

  /** Features of every whole chunk of a signal: [chunks, bands] row-major. */
  signal(samples: Float32Array): Float32Array {
    const n = this.cfg.chunk;
    const count = Math.floor(samples.length / n);
    const out = new Float32Array(count * this.cfg.melBands);
    for (let t = 0; t < count; t++) this.compute(samples.subarray(t * n, (t + 1) * n), out, t * this.cfg.melBands);
    return out;
  }
}

/** Per-band mean and standard deviation, fitted on training features and saved with the student. */
export interface Standardizer {
  mean: number[];
  std: number[];
}

export function fitStandardizer(features: Float32Array[], bands: number): Standardizer {
  const sum = new Float64Array(bands);
  const sq = new Float64Array(bands);
  let rows = 0;
  for (const f of features) {
    for (let i = 0; i < f.length; i++) {
      sum[i % bands] += f[i];
      sq[i % bands] += f[i] * f[i];
    }
    rows += f.length / bands;
  }
  const mean = Array.from(sum, (s) => s / Math.max(rows, 1));
  const std = Array.from(sq, (s, b) => Math.sqrt(Math.max(s / Math.max(rows, 1) - mean[b] ** 2, 1e-8)));
  return { mean, std };
}

export function standardize(f: Float32Array, s: Standardizer): void {
  const bands = s.mean.length;
  for (let i = 0; i < f.length; i++) f[i] = (f[i] - s.mean[i % bands]) / s.std[i % bands];
}

/**
 * Stacks each chunk with its neighbours: rows [past + 1 + future, bands] per chunk, edges repeated at the
 * start and end of the stream.
 */
export function stackContext(f: Float32Array, bands: number, past: number, future: number): Float32Array {
  const count = f.length / bands;
  const width = past + 1 + future;
  const out = new Float32Array(count * width * bands);
  for (let t = 0; t < count; t++) {
    for (let k = 0; k < width; k++) {
      const src = Math.min(count - 1, Math.max(0, t - past + k));
      out.set(f.subarray(src * bands, (src + 1) * bands), (t * width + k) * bands);
    }
  }
  return out;
}
