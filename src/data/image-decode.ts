import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { DataError } from "../util/errors.js";

/** A decoded image: 8-bit RGBA, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decodes PNG or JPEG bytes, told apart by their magic bytes (not the file name). */
export function decodeImage(bytes: Uint8Array, file: string): RgbaImage {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    if (isJpeg) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (err) {
    throw new DataError(file, `could not be decoded as ${isPng ? "PNG" : "JPEG"} (${(err as Error).message}); the file is probably damaged`);
  }
  throw new DataError(file, "is neither a PNG nor a JPEG (by its first bytes); expected .png, .jpg or .jpeg images");
}

/**
 * RGBA bytes → H×W×C floats in [0, 1], resized with bilinear interpolation on half-pixel centres (as
 * tf.image.resizeBilinear with halfPixelCenters). Grayscale is the ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B.
 * Alpha is ignored.
 */
export function toSample(img: RgbaImage, height: number, width: number, channels: 1 | 3): Float32Array {
  const { width: sw, height: sh, data } = img;
  const src = new Float32Array(sw * sh * channels);
  for (let p = 0; p < sw * sh; p++) {
    const r = data[4 * p] / 255;
    const g = data[4 * p + 1] / 255;
    const b = data[4 * p + 2] / 255;
    if (channels === 1) src[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      src[3 * p] = r;
      src[3 * p + 1] = g;
      src[3 * p + 2] = b;
    }
  }
  if (sw === width && sh === height) return src;
  return resizeBilinear(src, sh, sw, channels, height, width);
}

/** Bilinear resize of an H×W×C float image (half-pixel centres, edges clamped). */
export function resizeBilinear(src: Float32Array, sh: number, sw: number, c: number, dh: number, dw: number): Float32Array {
  const out = new Float32Array(dh * dw * c);
  const sy = sh / dh;
  const sx = sw / dw;
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * sw + x0) * c + k];
        const b = src[(y0 * sw + x1) * c + k];
        const d = src[(y1 * sw + x0) * c + k];
        const e = src[(y1 * sw + x1) * c + k];
        out[(y * dw + x) * c + k] = (1 - wy) * ((1 - wx) * a + wx * b) + wy * ((1 - wx) * d + wx * e);
      }
    }
  }
  return out;
}
