// The C ABI between the CPU addon and libsparsekit_cuda.so. The addon dlopens the library at run
// time (so `npm install` needs neither nvcc nor a driver) and calls sparsekit_cuda_api() for this
// table. Plain C types only: the two sides may be built by different compilers. Bump
// SK_CUDA_ABI_VERSION on any change; the addon refuses a library with another version.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SK_CUDA_ABI_VERSION 1

typedef struct SkCudaStatus {
  int code;           // 0 = ok, else a sk::ErrorCode value
  char message[512];
} SkCudaStatus;

typedef struct SkCudaDevice {
  int id;
  char name[256];
  int major, minor;   // compute capability
  uint64_t memory_bytes;
  int sm_count;
} SkCudaDevice;

typedef struct SkCudaLibraries {
  char cublaslt[64];        // version "13.0.1", or "" when not loaded
  char cublaslt_why[512];   // why not, when not loaded
  char cusparselt[64];
  char cusparselt_why[512];
} SkCudaLibraries;

typedef struct SkMatrixDesc {  // a host MatrixView, as C
  int format, dtype;           // sk::Format, sk::DType values
  int64_t rows, cols;
  int n, m;
  const void* parts[6];        // indexed by sk::Part
  size_t part_bytes[6];
} SkMatrixDesc;

typedef struct SkCudaApi {
  int abi_version;
  const char* build;  // e.g. "cuda 13.0, sm_80 sm_86 sm_89 sm_90"
  // Devices: count 0 with code != 0 and a message saying why (no driver, no GPU, ...).
  int (*device_count)(int* count, SkCudaStatus* st);
  int (*device_info)(int id, SkCudaDevice* out, SkCudaStatus* st);
  void (*libraries)(SkCudaLibraries* out);
  // Device memory and copies (synchronous on the device's stream).
  int (*alloc)(int device, size_t bytes, void** ptr, SkCudaStatus* st);
  void (*release)(int device, void* ptr);
  int (*copy_to_device)(int device, void* dst, const void* src, size_t bytes, SkCudaStatus* st);
  int (*copy_to_host)(int device, void* dst, const void* src, size_t bytes, SkCudaStatus* st);
  // Weights: converted to the kernel's GPU layout and uploaded; *bytes = device memory held.
  int (*upload_matrix)(int device, const SkMatrixDesc* m, void** handle, uint64_t* bytes, SkCudaStatus* st);
  void (*release_matrix)(void* handle);
  // y[N,M] = x[N,K] * W^T on the device (x in W's dtype; y float32, float16 or bfloat16).
  int (*spmm)(void* matrix, const void* x, int64_t n, int out_dtype, void* y, int split_k, SkCudaStatus* st);
  // Benchmark of spmm: `iters` timed runs after 3 warm-ups, each preceded by an L2 flush (a write
  // of twice the L2 size) outside the timed region; CUDA events around each run; *ms = median.
  int (*bench_spmm)(void* matrix, const void* x, int64_t n, int out_dtype, void* y, int split_k, int iters, double* ms,
                    SkCudaStatus* st);
} SkCudaApi;

typedef const SkCudaApi* (*SkCudaApiFn)(void);
const SkCudaApi* sparsekit_cuda_api(void);

#ifdef __cplusplus
}
#endif
