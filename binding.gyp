{
  # Lists the same files as native/sources.cmake (test/build-files.test.ts checks they agree).
  # sparsekit.node is what ships; sparsekit_test.node (the binding plus the CPU replay of the CUDA
  # kernels, for vitest) is built only where its test sources exist, i.e. in a git checkout and not
  # from the npm tarball, and never when SPARSEKIT_TEST_ADDON=0 (scripts/prebuild.mjs sets it).
  "variables": {
    "sparsekit_test_addon%": "<!(node -p \"process.env.SPARSEKIT_TEST_ADDON !== '0' && require('fs').existsSync('native/test/replay_binding.cpp') ? 1 : 0\")"
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
    "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_DISABLE_CPP_EXCEPTIONS"],
    "cflags": ["-fPIC"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17" }
  },
  "targets": [
    {
      "target_name": "sparsekit_core",
      "type": "static_library",
      "sources": [
        "native/core/dtype.cpp",
        "native/core/convert.cpp",
        "native/core/thread_pool.cpp",
        "native/core/cpu_features.cpp",
        "native/formats/format.cpp",
        "native/formats/pack.cpp",
        "native/formats/tiled_csl_order.cpp",
        "native/formats/validate.cpp",
        "native/formats/quant.cpp",
        "native/cpu/spmm.cpp",
        "native/cpu/spmm_gather.cpp",
        "native/cpu/spmm_portable.cpp",
        "native/cpu/spmm_avx2.cpp",
        "native/cpu/spmm_avx512.cpp",
        "native/cpu/spmm_avx512_bf16.cpp",
        "native/cpu/qspmm_portable.cpp",
        "native/cpu/qspmm_avx2.cpp",
        "native/cpu/qspmm_avx2_x8.cpp",
        "native/cpu/qspmm_avx2_gemm_x8.cpp",
        "native/cpu/qspmm_avx512.cpp",
        "native/cpu/qspmm_avx512_vnni.cpp",
        "native/cpu/qspmm_avx512_gemm_x8.cpp",
        "native/cpu/qspmm_avx512_pick_x8.cpp",
        "native/cpu/qspmm_avx512_lut.cpp",
        "native/cpu/qspmm_avx512_bf16.cpp",
        "native/cpu/probes.cpp",
        "native/io/json.cpp",
        "native/io/mapped_file.cpp",
        "native/io/safetensors.cpp",
        "native/io/safetensors_writer.cpp",
        "native/solvers/calibration.cpp",
        "native/solvers/cholesky.cpp",
        "native/solvers/eigen.cpp",
        "native/solvers/gemm.cpp",
        "native/solvers/host_buffer.cpp",
        "native/solvers/linalg_portable.cpp",
        "native/solvers/linalg_avx2.cpp",
        "native/solvers/linalg_avx512.cpp",
        "native/solvers/prune_common.cpp",
        "native/solvers/magnitude.cpp",
        "native/solvers/wanda.cpp",
        "native/solvers/sparsegpt.cpp",
        "native/solvers/ria.cpp",
        "native/solvers/dsnot.cpp",
        "native/solvers/alps.cpp",
        "native/solvers/slorb.cpp",
        "native/solvers/slorb_avx2.cpp",
        "native/solvers/slorb_avx512.cpp",
        "native/solvers/slorb_avx512_bf16.cpp",
        "native/model/transformer.cpp"
      ]
    },
    {
      "target_name": "sparsekit",
      "dependencies": ["sparsekit_core"],
      "sources": [
        "native/addon/addon.cpp",
        "native/addon/io_binding.cpp",
        "native/addon/solvers_binding.cpp",
        "native/addon/model_binding.cpp",
        "native/addon/probes_binding.cpp",
        "native/addon/cuda_bridge.cpp",
        "native/addon/slorb_binding.cpp",
        "native/addon/matrix_binding.cpp"
      ]
    }
  ],
  "conditions": [
    ["sparsekit_test_addon==1", {
      "targets": [
        {
          "target_name": "sparsekit_test",
          "dependencies": ["sparsekit_core"],
          "defines": ["SPARSEKIT_TEST_ADDON"],
          "sources": [
            "native/addon/addon.cpp",
            "native/addon/io_binding.cpp",
            "native/addon/solvers_binding.cpp",
            "native/addon/model_binding.cpp",
            "native/addon/probes_binding.cpp",
            "native/addon/cuda_bridge.cpp",
            "native/addon/slorb_binding.cpp",
            "native/addon/matrix_binding.cpp",
            "native/cuda/replay/warp_model.cpp",
            "native/cuda/replay/replay.cpp",
            "native/cuda/replay/replay_slorb.cpp",
            "native/cuda/runtime/gpu_layouts.cpp",
            "native/cuda/runtime/gpu_quant_layouts.cpp",
            "native/test/replay_binding.cpp"
          ]
        }
      ]
    }]
  ]
}
