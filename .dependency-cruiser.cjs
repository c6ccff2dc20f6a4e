// Layer rules for src/ (`npm run lint:deps`, also run by .ci/run). A module may import its own layer or any layer
// below it, never one above, and no import cycles anywhere (type-only ones included). Layers, bottom up:
const LAYERS = [
  ["util", "runtime", "embeddings/runtime"],
  ["engine"],
  ["losses", "data", "students", "tokenizers", "features", "run"],
  ["teachers", "eval", "export", "generate", "embeddings"],
  ["train", "distill"],
  ["auto", "report", "experiments", "queue", "serve", "dashboard", "runs", "demo", "audio"],
  ["cli"],
];

// embeddings/runtime/ is the standalone browser runtime shipped with exported models: it belongs to the bottom
// layer, not to embeddings/, so its folder is matched before the folder around it.
const folderPattern = (folder) => (folder === "embeddings" ? "^src/embeddings/(?!runtime/)" : `^src/${folder}/`);
const anyOf = (folders) => `(${folders.map(folderPattern).join("|")})`;

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${i}-imports-upward`,
  comment: `${layer.join(", ")} must not import ${LAYERS.slice(i + 1).flat().join(", ")}`,
  severity: "error",
  from: { path: anyOf(layer) },
  to: { path: anyOf(LAYERS.slice(i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: "no-circular",
      comment: "import cycles make the layers meaningless and the load order fragile; a cycle closed only by `import type` is forbidden too (the shared type belongs to the lower module)",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "folder-not-in-a-layer",
      comment: "every folder of src/ has a layer in .dependency-cruiser.cjs",
      severity: "error",
      from: { path: "^src/[^/]+/", pathNot: anyOf(LAYERS.flat()) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^src/.*\\.d\\.mts$" },
  },
};
