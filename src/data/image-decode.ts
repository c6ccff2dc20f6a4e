import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { DataError } from "../util/errors.js";
import { imageToSample, resizeBilinear } from "../runtime/runtime.js";

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
 * Alpha is ignored. The code is the preprocessing runtime's (src/runtime/preprocess.mjs), which exports ship.
 */
export function toSample(img: RgbaImage, height: number, width: number, channels: 1 | 3): Float32Array {
  return imageToSample(img, height, width, channels);
}

/** Bilinear resize of an H×W×C float image (half-pixel centres, edges clamped). */
export { resizeBilinear };
