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

#define SK_CUDA_ABI_VERSION 4

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
  const void* parts[8];        // indexed by sk::Part (values .. tileOffsets, then scales, zeros of quantized matrices)
  size_t part_bytes[8];
  int quant_bits;              // 0 = float values; 4 = int4 codes (int4 dense and nm 2:4 run on the GPU)
  int quant_group;             // columns per scale (32, 64, 128, 256)
  int quant_asym;              // 1: a zero point per group (the zeros part)
  // SLoRB's term (docs/adapters.md): y += rowScale[r] · S[r]·(P·x), added to the fp32 partial
  // before the single rounding. slorb_group = k (dividing cols), 0 = no term.
  int64_t slorb_group;
  const void* slorb_scales;      // S [rows, cols / k]: f32, f16, bf16, or i8 codes with row scales
  size_t slorb_scales_bytes;
  int slorb_scales_dtype;        // sk::DType
  const void* slorb_row_scales;  // [rows] f32/f16/bf16, exactly when S is i8
  size_t slorb_row_scales_bytes;
  int slorb_row_scales_dtype;    // -1: no row scales
  const void* slorb_proj;        // a general P [cols / k, cols] (f32/f16/bf16)
  size_t slorb_proj_bytes;
  int slorb_proj_dtype;          // -1: no P (the group sums)
} SkMatrixDesc;

// Which implementation runs a device weight: ours, or NVIDIA's library where one applies
// (cuSPARSELt for 2:4; dense weights always run on cuBLASLt).
#define SK_BACKEND_AUTO 0
#define SK_BACKEND_OURS 1
#define SK_BACKEND_LIBRARY 2
// Activation layouts: x [N, K] (nn.Linear, the kernels' own) or b [K, N] (spmm: transposed on the
// device into a temporary, and the [N, M] result transposed back into y [M, N]).
#define SK_LAYOUT_NK 0
#define SK_LAYOUT_KN 1

typedef struct SkSpmmArgs {
  const void* x;      // device, the weight's dtype
  int64_t n;          // N >= 0
  int layout;         // SK_LAYOUT_*
  int out_dtype;      // sk::DType: f32 = 0, f16 = 1, bf16 = 2
  void* y;            // device, [N, M] (SK_LAYOUT_NK) or [M, N] (SK_LAYOUT_KN)
  const void* bias;   // device [M] or NULL; added in fp32 before the single rounding to out_dtype
  int bias_dtype;
  int split_k;        // 0 = automatic
  int backend;        // SK_BACKEND_*
  int x_dtype;        // sk::DType of x: f16 = 1, bf16 = 2 (int4 weights take either); 0 = the weight's dtype
} SkSpmmArgs;

typedef struct SkSpmmRun {
  char kernel[64];    // "tiled-csl", "bitmap", "sp24-mma.sp", "sp24-cusparselt", "dense-cublaslt", "q4-dense-mma", "q4-sp24-mma.sp"
  char note[256];     // why the library was not used, when it was not (2:4 weights)
} SkSpmmRun;

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
  // One product on the device (SkSpmmArgs); *ran names the implementation that ran.
  int (*spmm)(void* matrix, const SkSpmmArgs* args, SkSpmmRun* ran, SkCudaStatus* st);
  // Benchmark of spmm: `iters` timed runs after 3 warm-ups, each preceded by an L2 flush (a write
  // of twice the L2 size) outside the timed region; CUDA events around each run; *ms = median.
  int (*bench_spmm)(void* matrix, const SkSpmmArgs* args, int iters, double* ms, SkSpmmRun* ran, SkCudaStatus* st);
  // What spmm would run for these arguments now, without running anything.
  int (*selected_kernel)(void* matrix, const SkSpmmArgs* args, SkSpmmRun* out, SkCudaStatus* st);
  // Free and total device memory (cudaMemGetInfo).
  int (*memory)(int device, uint64_t* free_bytes, uint64_t* total_bytes, SkCudaStatus* st);
} SkCudaApi;

typedef const SkCudaApi* (*SkCudaApiFn)(void);
const SkCudaApi* sparsekit_cuda_api(void);

#ifdef __cplusplus
}
#endif
