/**
 * MurmurHash3 x86 32-bit (Austin Appleby) over the UTF-8 bytes of a string: the hash scikit-learn's
 * HashingVectorizer uses, so bucket indices are the same on every run, platform and JS engine. The code lives in
 * the preprocessing runtime (src/runtime/preprocess.mjs), which exported text models ship.
 */
export { murmur3, murmur3Bytes } from "../runtime/runtime.js";
