// libsparsekit_cuda's C ABI (cuda_api.h): devices, device memory and copies, and the table.
// Weights and SpMM (upload, routing between our kernels and NVIDIA's libraries) are in launcher.cu.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "api_internal.h"
#include "blas_libs.h"
#include "cuda_api.h"
#include "cusparselt.h"

namespace sk::cuda {

int set_status(SkCudaStatus* st, ErrorCode code, const std::string& msg) {
  if (st) {
    st->code = int(code);
    std::snprintf(st->message, sizeof st->message, "%s", msg.c_str());
  }
  return int(code);
}
int ok_status(SkCudaStatus* st) {
  if (st) { st->code = 0; st->message[0] = 0; }
  return 0;
}
int cuda_fail(SkCudaStatus* st, cudaError_t e, const std::string& what) {
  return set_status(st, ErrorCode::device, what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

// One stream per device, created on first use.
constexpr int kMaxDevices = 64;
cudaStream_t stream_for(int device) {
  static cudaStream_t streams[kMaxDevices] = {};
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!streams[device]) cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking);
  return streams[device];
}

int use_device(int device, SkCudaStatus* st) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return cuda_fail(st, e, "cudaGetDeviceCount");
  if (device < 0 || device >= count || device >= kMaxDevices)
    return set_status(st, ErrorCode::device, "device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " devices)");
  e = cudaSetDevice(device);
  return e == cudaSuccess ? ok_status(st) : cuda_fail(st, e, "cudaSetDevice");
}

namespace {
int out_of_memory(const char* what, size_t bytes, SkCudaStatus* st) {
  cudaGetLastError();
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  return set_status(st, ErrorCode::device, std::string("out of device memory: allocating ") + std::to_string(bytes) +
                                               " bytes for " + what + " with " + std::to_string(free_b) + " of " +
                                               std::to_string(total_b) + " bytes free");
}
// Only cudaErrorMemoryAllocation is "out of memory": any other error (a sticky one left by an
// earlier faulting kernel, an invalid device) is reported as itself, not as a full device.
int alloc_failed(cudaError_t e, const char* what, size_t bytes, SkCudaStatus* st) {
  if (e == cudaErrorMemoryAllocation) return out_of_memory(what, bytes, st);
  return cuda_fail(st, e, std::string("allocating ") + std::to_string(bytes) + " bytes for " + what);
}
}  // namespace

int device_alloc(size_t bytes, void** p, SkCudaStatus* st) {
  cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
  return e == cudaSuccess ? ok_status(st) : alloc_failed(e, "a device buffer", bytes, st);
}

int device_alloc_async(size_t bytes, void** p, cudaStream_t s, const char* what, SkCudaStatus* st) {
  cudaError_t e = cudaMallocAsync(p, bytes ? bytes : 1, s);
  return e == cudaSuccess ? ok_status(st) : alloc_failed(e, what, bytes, st);
}

namespace {

// ---- the table ---------------------------------------------------------------------------------

int device_count(int* count, SkCudaStatus* st) {
  *count = 0;
  cudaError_t e = cudaGetDeviceCount(count);
  if (e != cudaSuccess) {
    *count = 0;
    // The runtime says "insufficient driver" both for an old driver and for none at all.
    if (void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
      dlclose(h);
    } else {
      const char* why = dlerror();
      return set_status(st, ErrorCode::device, std::string("no NVIDIA driver: libcuda.so.1 cannot be loaded (") + (why ? why : "?") +
                                            "); this build needs a driver for CUDA " SK_CUDA_VERSION_STRING " or newer");
    }
    return cuda_fail(st, e, "no usable CUDA device (cudaGetDeviceCount)");
  }
  if (*count == 0) return set_status(st, ErrorCode::device, "the CUDA driver reports no devices");
  return ok_status(st);
}

int device_info(int id, SkCudaDevice* out, SkCudaStatus* st) {
  if (int rc = use_device(id, st)) return rc;
  cudaDeviceProp p{};
  cudaError_t e = cudaGetDeviceProperties(&p, id);
  if (e != cudaSuccess) return cuda_fail(st, e, "cudaGetDeviceProperties");
  out->id = id;
  std::snprintf(out->name, sizeof out->name, "%s", p.name);
  out->major = p.major;
  out->minor = p.minor;
  out->memory_bytes = p.totalGlobalMem;
  out->sm_count = p.multiProcessorCount;
  if (p.major < 8)
    return set_status(st, ErrorCode::device, std::string(p.name) + " is sm_" + std::to_string(p.major) + std::to_string(p.minor) +
                                          "; sparsekit's kernels need sm_80 or newer");
  return ok_status(st);
}

void libraries(SkCudaLibraries* out) {
  std::memset(out, 0, sizeof *out);
  const LibState& a = cublaslt_state();
  const LibState& b = cusparselt_state();
  std::snprintf(out->cublaslt, sizeof out->cublaslt, "%s", a.loaded ? a.version.c_str() : "");
  std::snprintf(out->cublaslt_why, sizeof out->cublaslt_why, "%s", a.why.c_str());
  std::snprintf(out->cusparselt, sizeof out->cusparselt, "%s", b.loaded ? b.version.c_str() : "");
  std::snprintf(out->cusparselt_why, sizeof out->cusparselt_why, "%s", b.why.c_str());
}

int alloc(int device, size_t bytes, void** ptr, SkCudaStatus* st) {
  if (int rc = use_device(device, st)) return rc;
  return device_alloc(bytes, ptr, st);
}

void release(int device, void* ptr) {
  if (cudaSetDevice(device) == cudaSuccess) cudaFree(ptr);
}

int copy(int device, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, SkCudaStatus* st) {
  if (int rc = use_device(device, st)) return rc;
  cudaStream_t s = stream_for(device);
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, s);
  if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  return e == cudaSuccess ? ok_status(st) : cuda_fail(st, e, "cudaMemcpyAsync");
}
int copy_to_device(int device, void* dst, const void* src, size_t bytes, SkCudaStatus* st) {
  return copy(device, dst, src, bytes, cudaMemcpyHostToDevice, st);
}
int copy_to_host(int device, void* dst, const void* src, size_t bytes, SkCudaStatus* st) {
  return copy(device, dst, src, bytes, cudaMemcpyDeviceToHost, st);
}

int memory(int device, uint64_t* free_bytes, uint64_t* total_bytes, SkCudaStatus* st) {
  if (int rc = use_device(device, st)) return rc;
  size_t f = 0, t = 0;
  cudaError_t e = cudaMemGetInfo(&f, &t);
  if (e != cudaSuccess) return cuda_fail(st, e, "cudaMemGetInfo");
  *free_bytes = f;
  *total_bytes = t;
  return ok_status(st);
}

const SkCudaApi kApi = {
    SK_CUDA_ABI_VERSION,
    "cuda " SK_CUDA_VERSION_STRING ", sm_80 sm_86 sm_89 sm_90",
    device_count, device_info, libraries, alloc, release, copy_to_device, copy_to_host, upload_matrix, release_matrix, spmm,
    bench_spmm, selected_kernel, memory,
};

}  // namespace

}  // namespace sk::cuda

extern "C" __attribute__((visibility("default"))) const SkCudaApi* sparsekit_cuda_api(void) { return &sk::cuda::kApi; }
