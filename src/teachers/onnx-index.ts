// `tsdistill/teachers/onnx`: teachers that run ONNX models through onnxruntime-node (loaded on first use).
export { OnnxTeacher, type OnnxInputBuilder, type OnnxInputContext, type OnnxTeacherOptions } from "./onnx-teacher.js";
export { OnnxLmTeacher, openOnnxLmTeacher, type OnnxLmTeacherOptions } from "./lm-teacher-onnx.js";
export { OnnxEmbeddingTeacher, type OnnxEmbeddingOptions } from "./embedding/onnx-embedding-teacher.js";
export { OnnxRunner } from "../export/onnx-runtime.js";
export { checkTransformerOnnx, OnnxTokenRunner, type TransformerOnnxCheck, type TransformerOnnxCheckOptions } from "../export/onnx-transformer-check.js";
