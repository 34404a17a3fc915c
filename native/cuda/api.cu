// libsparsekit_cuda's C ABI (cuda_api.h): devices, device memory, weight upload into the kernels'
// GPU layouts, and the SpMM launcher that picks kernel, tile width and split-K.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "blas_libs.h"
#include "cuda_api.h"
#include "gpu_layouts.h"
#include "kernels.h"
#include "mma_layout.h"

namespace sk::cuda {

namespace {

int set(SkCudaStatus* st, ErrorCode code, const std::string& msg) {
  if (st) {
    st->code = int(code);
    std::snprintf(st->message, sizeof st->message, "%s", msg.c_str());
  }
  return int(code);
}
int ok(SkCudaStatus* st) {
  if (st) { st->code = 0; st->message[0] = 0; }
  return 0;
}
int cuda_fail(SkCudaStatus* st, cudaError_t e, const std::string& what) {
  return set(st, ErrorCode::device, what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
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
    return set(st, ErrorCode::device, "device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " devices)");
  e = cudaSetDevice(device);
  return e == cudaSuccess ? ok(st) : cuda_fail(st, e, "cudaSetDevice");
}

int device_alloc(size_t bytes, void** p, SkCudaStatus* st) {
  cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
  if (e == cudaSuccess) return ok(st);
  cudaGetLastError();
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  return set(st, ErrorCode::device, "out of device memory: allocating " + std::to_string(bytes) + " bytes with " +
                                        std::to_string(free_b) + " of " + std::to_string(total_b) + " bytes free");
}

struct DeviceMatrix {
  int device = 0;
  Format format = Format::dense;
  DType dtype = DType::f16;
  int64_t M = 0, K = 0, row_blocks = 0, steps = 0;
  std::vector<void*> bufs;  // in the order the launcher reads them
  uint64_t bytes = 0;
  ~DeviceMatrix() {
    cudaSetDevice(device);
    for (void* p : bufs) cudaFree(p);
  }
};

template <class T> int upload(DeviceMatrix* dm, const T* host, size_t count, SkCudaStatus* st) {
  void* p = nullptr;
  if (int rc = device_alloc(count * sizeof(T), &p, st)) return rc;
  dm->bufs.push_back(p);
  dm->bytes += count * sizeof(T);
  cudaError_t e = cudaMemcpy(p, host, count * sizeof(T), cudaMemcpyHostToDevice);
  return e == cudaSuccess ? ok(st) : cuda_fail(st, e, "cudaMemcpy (weights)");
}

MatrixView view_of(const SkMatrixDesc& d) {
  MatrixView v;
  v.format = Format(d.format);
  v.dtype = DType(d.dtype);
  v.rows = d.rows;
  v.cols = d.cols;
  v.n = d.n;
  v.m = d.m;
  for (int p = 0; p < int(Part::kNumParts); ++p) v.parts[p] = {d.parts[p], d.part_bytes[p]};
  return v;
}

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
      return set(st, ErrorCode::device, std::string("no NVIDIA driver: libcuda.so.1 cannot be loaded (") + (why ? why : "?") +
                                            "); this build needs a driver for CUDA " SK_CUDA_VERSION_STRING " or newer");
    }
    return cuda_fail(st, e, "no usable CUDA device (cudaGetDeviceCount)");
  }
  if (*count == 0) return set(st, ErrorCode::device, "the CUDA driver reports no devices");
  return ok(st);
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
    return set(st, ErrorCode::device, std::string(p.name) + " is sm_" + std::to_string(p.major) + std::to_string(p.minor) +
                                          "; sparsekit's kernels need sm_80 or newer");
  return ok(st);
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
  return e == cudaSuccess ? ok(st) : cuda_fail(st, e, "cudaMemcpyAsync");
}
int copy_to_device(int device, void* dst, const void* src, size_t bytes, SkCudaStatus* st) {
  return copy(device, dst, src, bytes, cudaMemcpyHostToDevice, st);
}
int copy_to_host(int device, void* dst, const void* src, size_t bytes, SkCudaStatus* st) {
  return copy(device, dst, src, bytes, cudaMemcpyDeviceToHost, st);
}

int upload_matrix(int device, const SkMatrixDesc* desc, void** handle, uint64_t* bytes, SkCudaStatus* st) {
  *handle = nullptr;
  const MatrixView v = view_of(*desc);
  Status s = check_part_sizes(v);
  if (!s.ok()) return set(st, s.code, s.message);
  if (v.dtype != DType::f16 && v.dtype != DType::bf16)
    return set(st, ErrorCode::dtype, std::string("GPU weights must be float16 or bfloat16, got ") + dtype_name(v.dtype));
  if (int rc = use_device(device, st)) return rc;
  auto dm = new DeviceMatrix();
  dm->device = device;
  dm->format = v.format;
  dm->dtype = v.dtype;
  dm->M = v.rows;
  dm->K = v.cols;
  int rc = 0;
  switch (v.format) {
    case Format::dense:
      rc = upload(dm, v.as<uint16_t>(Part::values), size_t(v.rows * v.cols), st);
      break;
    case Format::tiled_csl:
      rc = upload(dm, v.as<uint32_t>(Part::words), v.part(Part::words).bytes / 4, st);
      if (!rc) rc = upload(dm, v.as<int32_t>(Part::tile_offsets), v.part(Part::tile_offsets).bytes / 4, st);
      break;
    case Format::bitmap: {
      BitmapGpu g;
      s = bitmap_to_gpu(v, &g);
      if (!s.ok()) { rc = set(st, s.code, s.message); break; }
      dm->row_blocks = g.row_blocks;
      dm->steps = g.kblocks;
      rc = upload(dm, g.masks.data(), g.masks.size(), st);
      if (!rc) rc = upload(dm, g.offsets.data(), g.offsets.size(), st);
      if (!rc) rc = upload(dm, g.values.data(), g.values.size(), st);
      break;
    }
    case Format::nm: {
      Sp24Gpu g;
      s = nm24_to_gpu(v, &g);
      if (!s.ok()) { rc = set(st, s.code, s.message); break; }
      dm->row_blocks = g.row_blocks;
      dm->steps = g.ksteps;
      rc = upload(dm, g.values.data(), g.values.size(), st);
      if (!rc) rc = upload(dm, g.meta.data(), g.meta.size(), st);
      break;
    }
    default:
      rc = set(st, ErrorCode::format, std::string("no GPU kernel reads the ") + format_name(v.format) +
                                          " format; use bitmap, tiled-csl, nm (2:4) or dense");
  }
  if (rc) { delete dm; return rc; }
  *handle = dm;
  *bytes = dm->bytes;
  return ok(st);
}

void release_matrix(void* handle) { delete static_cast<DeviceMatrix*>(handle); }

// Enough blocks to fill the GPU twice: split K when the M x N grid alone is too small.
int auto_splits(int64_t blocks, int64_t stages, int device) {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  int64_t s = blocks > 0 ? (2 * int64_t(sms) + blocks - 1) / blocks : 1;
  if (s > 8) s = 8;
  if (s > stages) s = stages;
  return int(s < 1 ? 1 : s);
}

int spmm(void* handle, const void* x, int64_t n, int out_dtype, void* y, int split_k, SkCudaStatus* st) {
  auto* dm = static_cast<DeviceMatrix*>(handle);
  if (int rc = use_device(dm->device, st)) return rc;
  cudaStream_t s = stream_for(dm->device);
  const int64_t M = dm->M, K = dm->K, count = M * n;
  if (count == 0) return ok(st);
  if (dm->format == Format::dense) {
    std::string err = cublaslt_linear(int(dm->dtype), out_dtype, dm->bufs[0], x, y, M, K, n, nullptr, 0, s);
    if (!err.empty()) return set(st, ErrorCode::device, err);
    cudaError_t e = cudaStreamSynchronize(s);
    return e == cudaSuccess ? ok(st) : cuda_fail(st, e, "cuBLASLt matmul");
  }
  if (K == 0) {
    cudaError_t e = cudaMemsetAsync(y, 0, size_t(count) * (out_dtype == 0 ? 4 : 2), s);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
    return e == cudaSuccess ? ok(st) : cuda_fail(st, e, "cudaMemsetAsync");
  }
  LaunchArgs a{static_cast<const uint16_t*>(x), M, K, n, nullptr, 1, dm->dtype == DType::bf16,
               K % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0, pick_bn(n), s};
  const int64_t stages = (K + kStageK - 1) / kStageK;
  const int64_t row_blocks = dm->format == Format::tiled_csl ? tiles_down(M) : (dm->row_blocks + 3) / 4;
  a.splits = split_k > 0 ? int(split_k < stages ? split_k : stages) : auto_splits(row_blocks * ((n + a.bn - 1) / a.bn), stages, dm->device);
  void* part = nullptr;
  const bool direct = a.splits == 1 && out_dtype == 0;
  if (!direct) {
    cudaError_t e = cudaMallocAsync(&part, size_t(a.splits) * size_t(count) * sizeof(float), s);
    if (e != cudaSuccess) return cuda_fail(st, e, "split-K workspace (" + std::to_string(size_t(a.splits) * count * 4) + " bytes)");
  }
  a.part = direct ? static_cast<float*>(y) : static_cast<float*>(part);
  cudaError_t e = cudaSuccess;
  if (dm->format == Format::tiled_csl)
    e = launch_tiled_csl(static_cast<const uint32_t*>(dm->bufs[0]), static_cast<const int32_t*>(dm->bufs[1]), a);
  else if (dm->format == Format::bitmap)
    e = launch_bitmap(static_cast<const uint64_t*>(dm->bufs[0]), static_cast<const int32_t*>(dm->bufs[1]),
                      static_cast<const uint16_t*>(dm->bufs[2]), dm->row_blocks, dm->steps, a);
  else
    e = launch_sp24(static_cast<const uint32_t*>(dm->bufs[0]), static_cast<const uint32_t*>(dm->bufs[1]), dm->row_blocks,
                    dm->steps, a);
  if (e == cudaSuccess && !direct) e = launch_reduce(a.part, a.splits, count, out_dtype, y, s);
  if (part) cudaFreeAsync(part, s);
  if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  return e == cudaSuccess ? ok(st) : cuda_fail(st, e, std::string("spmm (") + format_name(dm->format) + " kernel)");
}

int bench_spmm(void* handle, const void* x, int64_t n, int out_dtype, void* y, int split_k, int iters, double* ms,
               SkCudaStatus* st) {
  auto* dm = static_cast<DeviceMatrix*>(handle);
  if (int rc = use_device(dm->device, st)) return rc;
  int l2 = 0;
  cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dm->device);
  void* flush = nullptr;
  const size_t flush_bytes = size_t(l2 > 0 ? l2 : 64 << 20) * 2;
  if (int rc = device_alloc(flush_bytes, &flush, st)) return rc;
  cudaStream_t s = stream_for(dm->device);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> times;
  int rc = 0;
  for (int i = 0; i < 3 + iters && !rc; ++i) {
    cudaMemsetAsync(flush, i & 0xff, flush_bytes, s);
    cudaEventRecord(a, s);
    rc = spmm(handle, x, n, out_dtype, y, split_k, st);  // synchronizes its stream
    cudaEventRecord(b, s);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    if (i >= 3) times.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(flush);
  if (rc) return rc;
  std::sort(times.begin(), times.end());
  *ms = times.empty() ? 0 : times[times.size() / 2];
  return ok(st);
}

const SkCudaApi kApi = {
    SK_CUDA_ABI_VERSION,
    "cuda " SK_CUDA_VERSION_STRING ", sm_80 sm_86 sm_89 sm_90",
    device_count, device_info, libraries, alloc, release, copy_to_device, copy_to_host, upload_matrix, release_matrix, spmm, bench_spmm,
};

}  // namespace

}  // namespace sk::cuda

extern "C" __attribute__((visibility("default"))) const SkCudaApi* sparsekit_cuda_api(void) { return &sk::cuda::kApi; }
