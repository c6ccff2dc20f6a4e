{
  "targets": [
    {
      "target_name": "tsdistill_native",
      "sources": ["native/addon.c", "native/addon-seq.c", "native/gemm.c", "native/conv.c", "native/pool.c", "native/parallel.c", "native/seq.c", "native/gather.c", "native/elementwise.c"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wno-unused-parameter", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"],
      "conditions": [
        ["OS=='mac'", {
          "defines": ["ACCELERATE_NEW_LAPACK"],
          "libraries": ["-framework Accelerate"],
          "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"] }
        }, {
          "libraries": ["-lopenblas", "-lm", "-lpthread"]
        }]
      ]
    }
  ]
}
