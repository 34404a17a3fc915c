// cuBLASLt (the dense baseline), loaded with dlopen (cuSPARSELt: cusparselt.h).
// Only the few C entry points used are declared, with the signatures and enum values of NVIDIA's
// cublasLt.h documentation; versions are checked before anything is called.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sk::cuda {

struct LibState {
  bool loaded = false;
  std::string version;  // "13.0.1"
  std::string path;
  std::string why;      // when not loaded
};

const LibState& cublaslt_state();

// Dense y[N,M] = x[N,K] * w[M,K]^T (row-major, w and x 16-bit of the same type, y of out_dtype,
// float32 compute) through cublasLtMatmul on `stream` (a cudaStream_t). `device` must be the
// current device: the handle is per device, and the heuristic's choice is cached per device and
// shape (asking it costs tens of microseconds of host time, as long as a decode-sized product).
// workspace: device memory only this stream uses. Returns "" or an error.
std::string cublaslt_linear(int device, int dtype, int out_dtype, const void* w, const void* x, void* y, int64_t M,
                            int64_t K, int64_t N, void* workspace, size_t workspace_bytes, void* stream);

// The workspace NVIDIA recommends for cuBLAS(Lt): 32 MiB on Hopper (sm_90) and newer, 4 MiB before.
inline size_t cublaslt_workspace_bytes(int cc_major) { return size_t(cc_major >= 9 ? 32 : 4) << 20; }

}  // namespace sk::cuda
