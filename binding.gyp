{
  # Lists the same files as native/sources.cmake (test/build-files.test.ts checks they agree).
  "targets": [
    {
      "target_name": "sparsekit",
      "sources": [
        "native/core/dtype.cpp",
        "native/core/convert.cpp",
        "native/core/thread_pool.cpp",
        "native/core/cpu_features.cpp",
        "native/formats/format.cpp",
        "native/formats/pack.cpp",
        "native/formats/validate.cpp",
        "native/cpu/spmm.cpp",
        "native/cpu/spmm_portable.cpp",
        "native/cpu/spmm_vec.cpp",
        "native/cpu/spmm_avx2.cpp",
        "native/cpu/spmm_avx512.cpp",
        "native/cpu/probes.cpp",
        "native/io/json.cpp",
        "native/io/mapped_file.cpp",
        "native/io/safetensors.cpp",
        "native/io/safetensors_writer.cpp",
        "native/solvers/calibration.cpp",
        "native/solvers/cholesky.cpp",
        "native/solvers/gemm.cpp",
        "native/solvers/host_buffer.cpp",
        "native/solvers/linalg_portable.cpp",
        "native/solvers/linalg_avx2.cpp",
        "native/solvers/linalg_avx512.cpp",
        "native/solvers/prune_common.cpp",
        "native/solvers/magnitude.cpp",
        "native/solvers/wanda.cpp",
        "native/solvers/sparsegpt.cpp",
        "native/cuda/warp_model.cpp",
        "native/cuda/gpu_layouts.cpp",
        "native/cuda/replay.cpp",
        "native/addon/addon.cpp",
        "native/addon/solvers_binding.cpp",
        "native/addon/probes_binding.cpp",
        "native/addon/io_binding.cpp",
        "native/addon/cuda_bridge.cpp",
        "native/addon/matrix_binding.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17" }
    }
  ]
}
