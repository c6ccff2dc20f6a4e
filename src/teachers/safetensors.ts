// The safetensors codec lives in src/util/ (students save with it too, and students sit below teachers); this
// re-export keeps the teachers' and CLI's imports working.
export * from "../util/safetensors.js";
