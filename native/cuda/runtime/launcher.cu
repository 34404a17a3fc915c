// Weights on the device and the SpMM launcher: upload into each kernel's GPU layout (plus the
// cuSPARSELt copy of a 2:4 weight), and one product routed to our kernel (tile width, split-K),
// cuSPARSELt (sp24_route.h decides) or cuBLASLt, with the bias and [K, N] activations handled
// around it.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "api_internal.h"
#include "../kernels/bitmap_index.h"
#include "blas_libs.h"
#include "cusparselt.h"
#include "gpu_layouts.h"
#include "gpu_quant_layouts.h"
#include "../kernels/kernels.h"
#include "../kernels/launch_grid.h"
#include "../kernels/mma_layout.h"
#include "../kernels/q4_index.h"
#include "../kernels/slorb_kernels.h"
#include "../kernels/sp24_index.h"
#include "sp24_route.h"

namespace sk::cuda {

static_assert(kBmpBlockRows == kSp24BlockRows && kBmpBlockRows == kQ4BlockRows,
              "run_nk sizes the grid of the bitmap, 2:4 and int4 kernels with kBmpBlockRows");

namespace {

struct DeviceMatrix {
  int device = 0;
  Format format = Format::dense;
  DType dtype = DType::f16;  // int4 weights: u8 (the activations are f16 or bf16, per product)
  // int4 (q4_index.h): group size, zero points; 0 bits = a float weight.
  int quant_bits = 0, quant_group = 0;
  bool quant_asym = false;
  int64_t q4_groups = 0;
  // row_blocks: 16-row blocks; k_tiles: the K tiles one row block walks (bitmap: 64-column
  // blocks, bitmap_index.h; 2:4: 16-column mma.sp steps, sp24_index.h).
  int64_t M = 0, K = 0, row_blocks = 0, k_tiles = 0;
  // The device buffers, named by the part they hold (null where the format has none).
  struct Parts {
    void* values = nullptr;        // dense: [M, K]; bitmap: the stored values; 2:4: A fragments
    void* masks = nullptr;         // bitmap: one 64-bit mask per row per k block
    void* offsets = nullptr;       // bitmap: each block's first value
    void* words = nullptr;         // tiled-csl: (value, position) words
    void* tile_offsets = nullptr;  // tiled-csl: each tile's first word
    void* meta = nullptr;          // 2:4: mma.sp metadata (int4 2:4 too)
    void* scales = nullptr;        // int4: scale pairs per 16-row block and group
    void* zeros = nullptr;         // int4, asymmetric: zero-point pairs
  } parts;
  // SLoRB's term (slorb.cu), uploaded as stored; group 0 = none.
  struct Slorb {
    int64_t group = 0, groups = 0;  // k, and G = K / k
    int scales_dtype = 0, row_scales_dtype = 0, proj_dtype = 0;
    void* scales = nullptr;
    void* row_scales = nullptr;  // int8 S only
    void* proj = nullptr;        // a general P, else the group sums
  } slorb;
  uint64_t bytes = 0;
  LtWeight* lt = nullptr;   // 2:4: the cuSPARSELt copy, or null with lt_why saying why
  std::string lt_why;
  std::mutex mu;            // guards timing
  std::map<LtPlanKey, Sp24Timing> timing;
  ~DeviceMatrix() {
    cudaSetDevice(device);
    if (lt) lt_release(lt);
    for (void* p : {parts.values, parts.masks, parts.offsets, parts.words, parts.tile_offsets, parts.meta, parts.scales, parts.zeros,
                    slorb.scales, slorb.row_scales, slorb.proj})
      if (p) cudaFree(p);
  }
};

// A weight's host-side description before its parts are uploaded.
DeviceMatrix* new_device_matrix(int device, const MatrixView& v) {
  auto dm = new DeviceMatrix();
  dm->device = device;
  dm->format = v.format;
  dm->dtype = v.dtype;
  dm->M = v.rows;
  dm->K = v.cols;
  return dm;
}

// Host -> device on the device's own stream, then waited for. Not cudaMemcpy: that runs on the
// legacy default stream, which does not order against our non-blocking stream, and for pageable
// memory it may return before the DMA has landed, so a kernel or cuSPARSELt's compression
// enqueued right after on our stream could read a partly written weight.
int copy_weights(void* dst, const void* host, size_t bytes, cudaStream_t s, const char* what, SkCudaStatus* st) {
  cudaError_t e = cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, s);
  if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  return e == cudaSuccess ? ok_status(st) : cuda_fail(st, e, what);
}

template <class T> int upload(DeviceMatrix* dm, void** part, const T* host, size_t count, SkCudaStatus* st) {
  void* p = nullptr;
  if (int rc = device_alloc(count * sizeof(T), &p, st)) return rc;
  *part = p;
  dm->bytes += count * sizeof(T);
  return copy_weights(p, host, count * sizeof(T), stream_for(dm->device), "cudaMemcpyAsync (weights)", st);
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
  v.quant.bits = d.quant_bits;
  v.quant.group = d.quant_group;
  v.quant.asym = d.quant_asym != 0;
  return v;
}

bool env_off(const char* name) {
  const char* v = std::getenv(name);
  return v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "false") == 0);
}

// The cuSPARSELt copy of a 2:4 weight: unpacked on the host, uploaded dense for the duration of
// the compression, then only the compressed form stays. Its absence is never an error.
void attach_cusparselt(DeviceMatrix* dm, const MatrixView& v) {
  if (env_off("SPARSEKIT_CUSPARSELT")) { dm->lt_why = "disabled by SPARSEKIT_CUSPARSELT=0"; return; }
  if (!cusparselt_state().loaded) { dm->lt_why = "cuSPARSELt is not available: " + cusparselt_state().why; return; }
  if (std::string why = lt_weight_ineligible(v.rows, v.cols, int(v.dtype)); !why.empty()) { dm->lt_why = why; return; }
  std::vector<uint16_t> dense(size_t(v.rows * v.cols));
  if (Status s = unpack(v, dense.data()); !s.ok()) { dm->lt_why = s.message; return; }
  void* d = nullptr;
  SkCudaStatus st{};
  if (device_alloc(dense.size() * 2, &d, &st)) { dm->lt_why = st.message; return; }
  cudaStream_t s = stream_for(dm->device);
  uint64_t bytes = 0;
  if (copy_weights(d, dense.data(), dense.size() * 2, s, "copy of the dense 2:4 weight for cuSPARSELt", &st)) {
    dm->lt_why = st.message;
  } else {
    dm->lt_why = lt_compress(dm->device, int(v.dtype), d, v.rows, v.cols, s, &dm->lt, &bytes);
  }
  cudaFree(d);
  dm->bytes += bytes;
}

// SPARSEKIT_SP24_K=32 runs our 2:4 kernel with mma.sp m16n8k32 (two K steps per instruction, as
// CUTLASS and cuSPARSELt do) instead of m16n8k16; bench:gpu times both. Read per product.
bool sp24_k32_requested() {
  const char* v = std::getenv("SPARSEKIT_SP24_K");
  return v && std::strcmp(v, "32") == 0;
}

// Enough blocks to fill the GPU `per_sm` times: split K when the M x N grid alone is too small.
// The int4 kernels ask for 4 blocks per SM (up to 16 splits): their warps stream few bytes each
// (0.4-0.5 B per weight, one stage ahead), so decode needs more of them resident to keep enough
// bytes in flight (Little's law: ~3 TB/s x ~0.7 us is ~16 KB per SM). Unmeasured until bench:gpu.
int auto_splits(int64_t blocks, int64_t stages, int device, int per_sm = 2, int max_splits = 8) {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  int64_t s = blocks > 0 ? (per_sm * int64_t(sms) + blocks - 1) / blocks : 1;
  if (s > max_splits) s = max_splits;
  if (s > stages) s = stages;
  return int(s < 1 ? 1 : s);
}

// cuBLASLt's workspace, one per device, allocated on first use and kept for the process like the
// stream: every call on a device is ordered on that device's one stream, so they can share it.
// Without one the heuristic only offers algorithms that need none, a weaker baseline than
// cuBLASLt really is; if it cannot be allocated the product still runs, without.
void cublaslt_workspace(int device, void** ws, size_t* bytes) {
  static void* bufs[64] = {};
  static size_t sizes[64] = {};
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!bufs[device]) {
    int major = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    const size_t want = cublaslt_workspace_bytes(major);
    if (cudaMalloc(&bufs[device], want) == cudaSuccess) {
      sizes[device] = want;
    } else {
      cudaGetLastError();
      bufs[device] = nullptr;
    }
  }
  *ws = bufs[device];
  *bytes = bufs[device] ? sizes[device] : 0;
}

enum class Impl { ours, cusparselt, cublaslt };

struct Route {
  Impl impl = Impl::ours;
  bool measure = false;
  std::string kernel, note;
};

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

int route(DeviceMatrix* dm, const SkSpmmArgs& a, Route* r, SkCudaStatus* st) {
  const auto req = BackendRequest(a.backend);
  if (dm->quant_bits) {  // int4: our kernels only (no NVIDIA library multiplies 4-bit weights)
    if (req == BackendRequest::library)
      return set_status(st, ErrorCode::argument, "backend 'library': no NVIDIA library runs int4 weights; use 'auto' or 'ours'");
    r->impl = Impl::ours;
    r->kernel = dm->format == Format::nm ? "q4-sp24-mma.sp" : "q4-dense-mma";
    return ok_status(st);
  }
  if (dm->format == Format::dense) {
    if (req == BackendRequest::ours)
      return set_status(st, ErrorCode::argument, "backend 'ours': dense weights run on cuBLASLt only");
    r->impl = Impl::cublaslt;
    r->kernel = "dense-cublaslt";
    return ok_status(st);
  }
  if (dm->format != Format::nm) {
    if (req == BackendRequest::library)
      return set_status(st, ErrorCode::argument, std::string("backend 'library': no NVIDIA library runs the ") +
                                                     format_name(dm->format) + " format (only 2:4 and dense)");
    r->impl = Impl::ours;
    r->kernel = format_name(dm->format);
    return ok_status(st);
  }
  std::string why = dm->lt ? lt_call_ineligible(a.n, int(dm->dtype), a.out_dtype, a.bias != nullptr,
                                                aligned16(a.x) && aligned16(a.y))
                           : dm->lt_why;  // (a weight with a SLoRB term has no cuSPARSELt copy: upload_weight)
  Sp24Timing t;
  bool have = false;
  {
    std::lock_guard<std::mutex> lock(dm->mu);
    auto it = dm->timing.find(lt_plan_key(a.n, int(dm->dtype), a.out_dtype));
    if (it != dm->timing.end()) { t = it->second; have = true; }
  }
  const Sp24Decision d = choose_sp24_backend(req, why, a.n, have ? &t : nullptr, !env_off("SPARSEKIT_SP24_AUTOTUNE"));
  if (req == BackendRequest::library && !why.empty())
    return set_status(st, ErrorCode::device, "backend 'library': cuSPARSELt cannot run this product: " + why);
  r->impl = d.backend == Sp24Backend::cusparselt ? Impl::cusparselt : Impl::ours;
  r->measure = d.measure;
  r->kernel = r->impl == Impl::cusparselt ? "sp24-cusparselt" : "sp24-mma.sp";
  r->note = d.why;
  if (r->impl == Impl::ours && sp24_k32_requested()) r->note = "m16n8k32 (SPARSEKIT_SP24_K=32); " + r->note;
  if (have && t.measured())
    r->note = "measured: mma.sp " + std::to_string(t.ours_ms) + " ms, cuSPARSELt " +
              (t.library_ms < 1e29 ? std::to_string(t.library_ms) + " ms" : std::string("failed"));
  return ok_status(st);
}

// Our kernel's launch for this product: tile width, split-K and the grid, checked against CUDA's
// limits. spmm_enqueue calls it (through check_launch_limits) before anything is allocated or
// launched, run_nk again to launch; pointers, alignment and stream are run_nk's to fill in.
int plan_ours(DeviceMatrix* dm, const SkSpmmArgs& a, LaunchArgs* la, SkCudaStatus* st) {
  const int64_t M = dm->M, K = dm->K, n = a.n;
  la->M = M;
  la->K = K;
  la->N = n;
  la->bf16 = (dm->quant_bits ? DType(a.x_dtype) : dm->dtype) == DType::bf16;
  la->bn = pick_bn(n);
  la->sp24_k32 = dm->format == Format::nm && !dm->quant_bits && sp24_k32_requested();
  const int64_t stages = (K + kStageK - 1) / kStageK;
  const int block_rows = dm->format == Format::tiled_csl ? kTileRows : kBmpBlockRows;  // 2:4 blocks are 64 rows too
  const int64_t row_blocks = spmm_row_blocks(M, block_rows);
  la->splits = a.split_k > 0 ? int(a.split_k < stages ? a.split_k : stages)
                             : auto_splits(row_blocks * ((n + la->bn - 1) / la->bn), stages, dm->device, dm->quant_bits ? 4 : 2,
                                           dm->quant_bits ? 16 : 8);
  SpmmGrid grid;
  if (!spmm_grid(n, la->bn, row_blocks, la->splits, &grid))
    return set_status(st, ErrorCode::shape, "spmm: the launch grid exceeds CUDA's limits (M = " + std::to_string(M) + ", N = " +
                                                std::to_string(n) + ", split-K " + std::to_string(la->splits) +
                                                "; at most 65535 blocks of " + std::to_string(block_rows) +
                                                " rows and 65535 K splits)");
  return ok_status(st);
}

// Every launch limit of the product, before any allocation or launch: our kernel's grid (when it
// may run) and the transposes of spmm(w, b [K, N]), so that an oversized shape fails cleanly
// instead of after the first half of the work.
int check_launch_limits(DeviceMatrix* dm, const SkSpmmArgs& a, const Route& r, bool transposed, SkCudaStatus* st) {
  if (transposed && (!transpose_grid_ok(dm->K, a.n) || !transpose_grid_ok(a.n, dm->M)))
    return set_status(st, ErrorCode::shape, "spmm(w, b [K, N]): the transposes of b and of the result run on a grid of "
                                            "ceil(rows / 32) <= 65535 tiles, so K and N must each be at most 2097120 (K = " +
                                                std::to_string(dm->K) + ", N = " + std::to_string(a.n) +
                                                "); pass x as [N, K] to linear() instead");
  if (dm->K > 0 && (r.impl == Impl::ours || r.measure)) {
    LaunchArgs la{};
    return plan_ours(dm, a, &la, st);
  }
  return ok_status(st);
}

// SLoRB's term into the fp32 partial `part` [N][M] once the product is there (split 0's slice
// under split-K, or y itself when y is f32 and nothing else needs the epilogue), so launch_reduce
// still rounds once: g = P·x (group sums, or the row-dot kernel for a general P) once per call,
// then part += rowScale · S·g. The group sums live in a stream-ordered temporary.
int add_slorb_term(const DeviceMatrix* dm, const SkSpmmArgs& a, float* part, cudaStream_t s, SkCudaStatus* st) {
  const DeviceMatrix::Slorb& t = dm->slorb;
  if (!t.group || a.n == 0 || t.groups == 0) return ok_status(st);
  void* g = nullptr;
  if (int rc = device_alloc_async(size_t(a.n * t.groups) * sizeof(float), &g, s, "the SLoRB group sums", st)) return rc;
  const int x_dtype = dm->quant_bits ? a.x_dtype : int(dm->dtype);  // float weights: x has the weight's dtype (check_args)
  float* gs = static_cast<float*>(g);
  cudaError_t e = t.proj ? launch_slorb_project(t.proj, t.proj_dtype, a.x, x_dtype, a.n, dm->K, t.groups, gs, s)
                         : launch_slorb_group_sums(a.x, x_dtype, a.n, dm->K, t.group, gs, s);
  if (e == cudaSuccess) e = launch_slorb_add(t.scales, t.scales_dtype, t.row_scales, t.row_scales_dtype, gs, dm->M, t.groups, a.n, part, s);
  cudaFreeAsync(g, s);
  return e == cudaSuccess ? ok_status(st) : cuda_fail(st, e, t.proj ? "SLoRB term (projection, slorb_add)" : "SLoRB term (slorb_group_sums, slorb_add)");
}

// y[N, M] = x[N, K] * W^T (+ bias) (+ SLoRB's term) on stream s, not synchronized. x, y in the [N, K] / [N, M] layout.
int run_nk(DeviceMatrix* dm, Impl impl, const SkSpmmArgs& a, cudaStream_t s, SkCudaStatus* st) {
  const int64_t M = dm->M, K = dm->K, n = a.n, count = M * n;
  void* part = nullptr;
  auto finish = [&](cudaError_t e, const std::string& what) {
    if (part) cudaFreeAsync(part, s);
    return e == cudaSuccess ? ok_status(st) : cuda_fail(st, e, what);
  };
  if (K == 0) {  // y = bias (or 0), whatever the implementation: the reduction of one zeroed partial
    if (device_alloc_async(size_t(count) * 4, &part, s, "the output of an empty product", st)) return st->code;
    cudaError_t e = cudaMemsetAsync(part, 0, size_t(count) * 4, s);
    if (e == cudaSuccess) e = launch_reduce(static_cast<float*>(part), 1, count, a.out_dtype, a.y, s, a.bias, a.bias_dtype, M);
    return finish(e, "empty product");
  }
  if (impl == Impl::cusparselt) {
    std::string err = lt_matmul(dm->lt, a.x, n, a.out_dtype, a.y, s);
    return err.empty() ? ok_status(st) : set_status(st, ErrorCode::device, err);
  }
  if (impl == Impl::cublaslt) {
    // With a bias, or an output type cuBLASLt cannot write for these inputs (f16 weights to bf16
    // and the reverse), cuBLASLt writes fp32 and our epilogue adds the bias and rounds once.
    // So does a SLoRB term unless the output is f32 (then the term is added into y itself).
    const bool fused = a.bias != nullptr || !cublaslt_writes(int(dm->dtype), a.out_dtype) || (dm->slorb.group && a.out_dtype != 0);
    if (fused && device_alloc_async(size_t(count) * 4, &part, s, "the fp32 output of cuBLASLt before the epilogue", st)) return st->code;
    void* ws = nullptr;
    size_t ws_bytes = 0;
    cublaslt_workspace(dm->device, &ws, &ws_bytes);
    std::string err = cublaslt_linear(dm->device, int(dm->dtype), fused ? 0 : a.out_dtype, dm->parts.values, a.x,
                                      fused ? part : a.y, M, K, n, ws, ws_bytes, s);
    if (!err.empty()) {
      if (part) cudaFreeAsync(part, s);
      return set_status(st, ErrorCode::device, err);
    }
    if (int rc = add_slorb_term(dm, a, static_cast<float*>(fused ? part : a.y), s, st)) {
      if (part) cudaFreeAsync(part, s);
      return rc;
    }
    return finish(fused ? launch_reduce(static_cast<float*>(part), 1, count, a.out_dtype, a.y, s, a.bias, a.bias_dtype, M)
                        : cudaSuccess, "epilogue after cuBLASLt (bias, output type)");
  }
  LaunchArgs la{};
  if (int rc = plan_ours(dm, a, &la, st)) return rc;
  la.x = static_cast<const uint16_t*>(a.x);
  la.aligned = K % 8 == 0 && aligned16(a.x);
  la.stream = s;
  const bool direct = la.splits == 1 && a.out_dtype == 0 && !a.bias;
  if (!direct && device_alloc_async(size_t(la.splits) * size_t(count) * 4, &part, s, "split-K partial sums", st)) return st->code;
  la.part = direct ? static_cast<float*>(a.y) : static_cast<float*>(part);
  cudaError_t e;
  if (dm->quant_bits)
    e = launch_q4(Q4Launch{static_cast<const uint32_t*>(dm->parts.values), static_cast<const uint32_t*>(dm->parts.meta),
                           static_cast<const uint32_t*>(dm->parts.scales), static_cast<const uint32_t*>(dm->parts.zeros),
                           dm->row_blocks, dm->q4_groups, dm->quant_group, dm->format == Format::nm},
                  la);
  else if (dm->format == Format::tiled_csl)
    e = launch_tiled_csl(static_cast<const uint32_t*>(dm->parts.words), static_cast<const int32_t*>(dm->parts.tile_offsets), la);
  else if (dm->format == Format::bitmap)
    e = launch_bitmap(static_cast<const uint64_t*>(dm->parts.masks), static_cast<const int32_t*>(dm->parts.offsets),
                      static_cast<const uint16_t*>(dm->parts.values), dm->row_blocks, dm->k_tiles, la);
  else
    e = launch_sp24(static_cast<const uint32_t*>(dm->parts.values), static_cast<const uint32_t*>(dm->parts.meta),
                    dm->row_blocks, dm->k_tiles, la);
  if (e == cudaSuccess) {
    if (int rc = add_slorb_term(dm, a, la.part, s, st)) {
      if (part) cudaFreeAsync(part, s);
      return rc;
    }
  }
  if (e == cudaSuccess && !direct) e = launch_reduce(la.part, la.splits, count, a.out_dtype, a.y, s, a.bias, a.bias_dtype, M);
  return finish(e, std::string("spmm (") + (dm->quant_bits ? "int4 " : "") + format_name(dm->format) + " kernel)");
}

// Milliseconds of one run_nk (CUDA events), or -1 with *st set.
double time_once(DeviceMatrix* dm, Impl impl, const SkSpmmArgs& a, cudaStream_t s, SkCudaStatus* st) {
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  cudaEventRecord(t0, s);
  int rc = run_nk(dm, impl, a, s, st);
  cudaEventRecord(t1, s);
  cudaEventSynchronize(t1);
  float ms = 0;
  cudaEventElapsedTime(&ms, t0, t1);
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  return rc ? -1 : double(ms);
}

// First call of a 2:4 shape: one warm-up (which also builds the plan) and the best of two timed
// runs of each implementation; the faster is remembered for this (N, dtype, out dtype).
int measure_sp24(DeviceMatrix* dm, const SkSpmmArgs& a, cudaStream_t s, Route* r, SkCudaStatus* st) {
  Sp24Timing t;
  SkCudaStatus lib_st{};
  double best_lib = 1e30;  // stays "never faster" when the library fails
  for (int i = 0; i < 3 && !lib_st.code; ++i) {
    const double ms = time_once(dm, Impl::cusparselt, a, s, &lib_st);
    if (i > 0 && ms >= 0) best_lib = std::min(best_lib, ms);
  }
  double best_ours = 1e30;
  for (int i = 0; i < 3; ++i) {  // ours last: its result is what the caller gets if it wins or the library failed
    const double ms = time_once(dm, Impl::ours, a, s, st);
    if (ms < 0) return st->code;
    if (i > 0) best_ours = std::min(best_ours, ms);
  }
  t.ours_ms = best_ours;
  t.library_ms = lib_st.code ? 1e30 : best_lib;
  {
    std::lock_guard<std::mutex> lock(dm->mu);
    dm->timing[lt_plan_key(a.n, int(dm->dtype), a.out_dtype)] = t;
  }
  r->kernel = "sp24-mma.sp";  // ours ran last, so y holds its result
  r->note = lib_st.code ? std::string("cuSPARSELt failed: ") + lib_st.message
                        : "measured: mma.sp " + std::to_string(t.ours_ms) + " ms, cuSPARSELt " + std::to_string(t.library_ms) +
                              " ms";
  if (!lib_st.code && t.library_ms < t.ours_ms) {  // rerun on the winner so the reported kernel produced y
    r->kernel = "sp24-cusparselt";
    return run_nk(dm, Impl::cusparselt, a, s, st);
  }
  return ok_status(st);
}

int check_args(DeviceMatrix* dm, const SkSpmmArgs& a, SkCudaStatus* st) {
  if (a.n < 0) return set_status(st, ErrorCode::shape, "n must be >= 0");
  if (a.layout != SK_LAYOUT_NK && a.layout != SK_LAYOUT_KN) return set_status(st, ErrorCode::argument, "unknown activation layout");
  if (a.out_dtype < 0 || a.out_dtype > 2 || (a.bias && (a.bias_dtype < 0 || a.bias_dtype > 2)))
    return set_status(st, ErrorCode::dtype, "output and bias dtypes must be float32, float16 or bfloat16");
  if (a.backend < SK_BACKEND_AUTO || a.backend > SK_BACKEND_LIBRARY) return set_status(st, ErrorCode::argument, "unknown backend");
  if (dm->quant_bits && a.x_dtype != int(DType::f16) && a.x_dtype != int(DType::bf16))
    return set_status(st, ErrorCode::dtype, "int4 weights take float16 or bfloat16 activations (x_dtype)");
  if (!dm->quant_bits && a.x_dtype != 0 && a.x_dtype != int(dm->dtype))
    return set_status(st, ErrorCode::dtype, "x must have the weight's dtype");
  return use_device(dm->device, st);
}

// A weight with an SLoRB term says so in every note (the term's kernels run after the product's).
void note_slorb(const DeviceMatrix* dm, Route* r) {
  if (!dm->slorb.group) return;
  const std::string term = dm->slorb.proj ? "+ SLoRB term (projection, slorb_add)" : "+ SLoRB term (slorb_group_sums, slorb_add)";
  r->note = r->note.empty() ? term : term + "; " + r->note;
}

void report(const Route& r, SkSpmmRun* ran) {
  if (!ran) return;
  std::snprintf(ran->kernel, sizeof ran->kernel, "%s", r.kernel.c_str());
  std::snprintf(ran->note, sizeof ran->note, "%s", r.note.c_str());
}

}  // namespace

namespace {

// An int4 weight (dense or 2:4) in the layouts of q4_index.h; no cuSPARSELt / cuBLASLt copy.
int upload_q4(int device, const MatrixView& v, void** handle, uint64_t* bytes, SkCudaStatus* st) {
  Q4Gpu g;
  if (Status s = q4_to_gpu(v, &g); !s.ok()) return set_status(st, s.code, s.message);
  if (int rc = use_device(device, st)) return rc;
  DeviceMatrix* dm = new_device_matrix(device, v);
  dm->quant_bits = v.quant.bits;
  dm->quant_group = v.quant.group;
  dm->quant_asym = v.quant.asym;
  dm->q4_groups = g.groups;
  dm->row_blocks = g.row_blocks;
  dm->k_tiles = g.stages;
  int rc = upload(dm, &dm->parts.values, g.codes.data(), g.codes.size(), st);
  if (!rc && g.sp24) rc = upload(dm, &dm->parts.meta, g.meta.data(), g.meta.size(), st);
  if (!rc) rc = upload(dm, &dm->parts.scales, g.scales.data(), g.scales.size(), st);
  if (!rc && g.asym) rc = upload(dm, &dm->parts.zeros, g.zeros.data(), g.zeros.size(), st);
  if (rc) { delete dm; return rc; }
  *handle = dm;
  *bytes = dm->bytes;
  return ok_status(st);
}

// The SLoRB fields of a weight's description: k dividing K, dtypes, and every buffer exactly the
// size its shape needs (checked arithmetic), before anything is allocated.
int check_slorb(const SkMatrixDesc& d, SkCudaStatus* st) {
  if (d.slorb_group == 0) return ok_status(st);
  const auto bad = [&](ErrorCode c, const std::string& m) { return set_status(st, c, "options.slorb." + m); };
  if (d.slorb_group < 0 || d.cols % d.slorb_group != 0)
    return bad(ErrorCode::argument, "groupSize: " + std::to_string(d.slorb_group) + " does not divide the weight's " + std::to_string(d.cols) + " columns");
  const int64_t G = d.cols / d.slorb_group;
  const auto float_dtype = [](int t) { return t >= 0 && t <= 2; };  // sk::DType f32, f16, bf16
  if (!float_dtype(d.slorb_scales_dtype) && d.slorb_scales_dtype != int(DType::i8))
    return bad(ErrorCode::dtype, "scales: float32, float16, bfloat16 or int8 on the GPU");
  const auto sized = [&](const void* p, size_t bytes, int dtype, int64_t a, int64_t b, const char* what) {
    size_t want = 0;
    if (__builtin_mul_overflow(size_t(a), size_t(b), &want) || __builtin_mul_overflow(want, dtype_size(DType(dtype)), &want) ||
        bytes != want || (!p && want != 0))
      return bad(ErrorCode::shape, std::string(what) + ": expected " + std::to_string(a) + " x " + std::to_string(b) + " " +
                                       dtype_name(DType(dtype)) + " values (" + std::to_string(want) + " bytes), got " + std::to_string(bytes) + " bytes");
    return ok_status(st);
  };
  if (int rc = sized(d.slorb_scales, d.slorb_scales_bytes, d.slorb_scales_dtype, d.rows, G, "scales")) return rc;
  if ((d.slorb_scales_dtype == int(DType::i8)) != (d.slorb_row_scales_dtype >= 0))
    return bad(ErrorCode::argument, "rowScales: given exactly when the scales are int8");
  if (d.slorb_row_scales_dtype >= 0) {
    if (!float_dtype(d.slorb_row_scales_dtype)) return bad(ErrorCode::dtype, "rowScales: float32, float16 or bfloat16");
    if (int rc = sized(d.slorb_row_scales, d.slorb_row_scales_bytes, d.slorb_row_scales_dtype, d.rows, 1, "rowScales")) return rc;
  }
  if (d.slorb_proj_dtype >= 0) {
    if (!float_dtype(d.slorb_proj_dtype)) return bad(ErrorCode::dtype, "projection: float32, float16 or bfloat16");
    if (int rc = sized(d.slorb_proj, d.slorb_proj_bytes, d.slorb_proj_dtype, G, d.cols, "projection")) return rc;
  }
  return ok_status(st);
}

// S, its row scales and P next to the weight, counted in its device bytes and freed with it.
int upload_slorb(DeviceMatrix* dm, const SkMatrixDesc& d, SkCudaStatus* st) {
  if (d.slorb_group == 0) return ok_status(st);
  DeviceMatrix::Slorb& t = dm->slorb;
  t.group = d.slorb_group;
  t.groups = d.cols / d.slorb_group;
  t.scales_dtype = d.slorb_scales_dtype;
  t.row_scales_dtype = d.slorb_row_scales_dtype;
  t.proj_dtype = d.slorb_proj_dtype;
  if (d.rows == 0 || t.groups == 0) return ok_status(st);  // an empty term: nothing to upload, nothing to add
  int rc = upload(dm, &t.scales, static_cast<const uint8_t*>(d.slorb_scales), d.slorb_scales_bytes, st);
  if (!rc && d.slorb_row_scales_dtype >= 0)
    rc = upload(dm, &t.row_scales, static_cast<const uint8_t*>(d.slorb_row_scales), d.slorb_row_scales_bytes, st);
  if (!rc && d.slorb_proj_dtype >= 0) rc = upload(dm, &t.proj, static_cast<const uint8_t*>(d.slorb_proj), d.slorb_proj_bytes, st);
  return rc;
}

// The weight's parts in its kernel's layout (not its SLoRB term).
int upload_weight(int device, const SkMatrixDesc* desc, void** handle, uint64_t* bytes, SkCudaStatus* st) {
  *handle = nullptr;
  // The kernels trust what validate() checks (tile word counts a multiple of 4, positions < 8192,
  // ordered offsets, column bounds, mask/rowPtr agreement): check it on a private host copy and
  // upload from that copy, so no byte the caller changes after the check can reach the device.
  PackedMatrix staged;
  Status s;
  try {
    s = copy_validated(view_of(*desc), &staged);
  } catch (const std::bad_alloc&) {
    s = Status::Error(ErrorCode::memory, "out of host memory staging the weight for upload");
  }
  if (!s.ok()) return set_status(st, s.code, s.message);
  const MatrixView v = staged.view();
  if (v.quant.on()) return upload_q4(device, v, handle, bytes, st);
  if (v.dtype != DType::f16 && v.dtype != DType::bf16)
    return set_status(st, ErrorCode::dtype, std::string("GPU weights must be float16 or bfloat16, got ") + dtype_name(v.dtype));
  if (int rc = use_device(device, st)) return rc;
  DeviceMatrix* dm = new_device_matrix(device, v);
  int rc = 0;
  switch (v.format) {
    case Format::dense:
      rc = upload(dm, &dm->parts.values, v.as<uint16_t>(Part::values), size_t(v.rows * v.cols), st);
      break;
    case Format::tiled_csl:
      rc = upload(dm, &dm->parts.words, v.as<uint32_t>(Part::words), v.part(Part::words).bytes / 4, st);
      if (!rc) rc = upload(dm, &dm->parts.tile_offsets, v.as<int32_t>(Part::tile_offsets), v.part(Part::tile_offsets).bytes / 4, st);
      break;
    case Format::bitmap: {
      BitmapGpu g;
      s = bitmap_to_gpu(v, &g);
      if (!s.ok()) { rc = set_status(st, s.code, s.message); break; }
      dm->row_blocks = g.row_blocks;
      dm->k_tiles = g.kblocks;
      rc = upload(dm, &dm->parts.masks, g.masks.data(), g.masks.size(), st);
      if (!rc) rc = upload(dm, &dm->parts.offsets, g.offsets.data(), g.offsets.size(), st);
      if (!rc) rc = upload(dm, &dm->parts.values, g.values.data(), g.values.size(), st);
      break;
    }
    case Format::nm: {
      Sp24Gpu g;
      const char* pairing = std::getenv("SPARSEKIT_SP24_META_PAIRING");  // gpu:first-run's probe only
      s = nm24_to_gpu(v, &g, pairing ? std::atoi(pairing) : 0);
      if (!s.ok()) { rc = set_status(st, s.code, s.message); break; }
      dm->row_blocks = g.row_blocks;
      dm->k_tiles = g.ksteps;
      rc = upload(dm, &dm->parts.values, g.values.data(), g.values.size(), st);
      if (!rc) rc = upload(dm, &dm->parts.meta, g.meta.data(), g.meta.size(), st);
      // cuSPARSELt has no epilogue for SLoRB's term, so a weight with one never runs on it: no copy.
      if (!rc && desc->slorb_group) dm->lt_why = "the SLoRB term is added in our own epilogue (fp32, before the one rounding), not cuSPARSELt's";
      else if (!rc) attach_cusparselt(dm, v);
      break;
    }
    default:
      rc = set_status(st, ErrorCode::format, std::string("no GPU kernel reads the ") + format_name(v.format) +
                                                 " format; use bitmap, tiled-csl, nm (2:4) or dense");
  }
  if (rc) { delete dm; return rc; }
  *handle = dm;
  *bytes = dm->bytes;
  return ok_status(st);
}

}  // namespace

int upload_matrix(int device, const SkMatrixDesc* desc, void** handle, uint64_t* bytes, SkCudaStatus* st) {
  *handle = nullptr;
  if (int rc = check_slorb(*desc, st)) return rc;
  void* h = nullptr;
  if (int rc = upload_weight(device, desc, &h, bytes, st)) return rc;
  auto* dm = static_cast<DeviceMatrix*>(h);
  if (int rc = upload_slorb(dm, *desc, st)) {
    delete dm;
    return rc;
  }
  *handle = dm;
  *bytes = dm->bytes;
  return ok_status(st);
}

void release_matrix(void* handle) { delete static_cast<DeviceMatrix*>(handle); }

int selected_kernel(void* handle, const SkSpmmArgs* args, SkSpmmRun* out, SkCudaStatus* st) {
  auto* dm = static_cast<DeviceMatrix*>(handle);
  Route r;
  if (int rc = check_args(dm, *args, st)) return rc;
  if (int rc = route(dm, *args, &r, st)) return rc;
  if (r.measure) {
    r.kernel = args->n >= kSp24LibraryMinN ? "sp24-cusparselt" : "sp24-mma.sp";
    r.note = "not measured yet: the first call of this N times cuSPARSELt against mma.sp and keeps the faster";
  }
  note_slorb(dm, &r);
  report(r, out);
  return ok_status(st);
}

namespace {

// One product enqueued on the device's stream s, not waited for (spmm waits; bench_spmm records
// its end event first, so the time does not include the host's wake-up from a synchronize).
// Temporaries are freed in stream order. Only the first call of a 2:4 shape under 'auto'
// synchronizes inside, to time both implementations.
int spmm_enqueue(DeviceMatrix* dm, const SkSpmmArgs* args, cudaStream_t s, SkSpmmRun* ran, Route* rr, SkCudaStatus* st) {
  Route& r = *rr;
  if (int rc = check_args(dm, *args, st)) return rc;
  if (int rc = route(dm, *args, &r, st)) return rc;
  note_slorb(dm, &r);
  report(r, ran);
  if (dm->M * args->n == 0) return ok_status(st);
  SkSpmmArgs a = *args;
  void *xt = nullptr, *yt = nullptr;
  const int out_bytes = a.out_dtype == 0 ? 4 : 2;
  const bool transposed = a.layout == SK_LAYOUT_KN && a.n > 1;  // N = 1: [K] and [M] need no transpose
  if (int rc = check_launch_limits(dm, a, r, transposed, st)) return rc;
  int rc = 0;
  if (transposed) {  // b [K, N] -> x [N, K]; y [N, M] -> [M, N] afterwards
    rc = device_alloc_async(size_t(dm->K * a.n) * 2, &xt, s, "the transposed activations", st);
    if (!rc) rc = device_alloc_async(size_t(dm->M * a.n) * out_bytes, &yt, s, "the transposed output", st);
    cudaError_t e = rc ? cudaSuccess : launch_transpose(a.x, dm->K, a.n, 2, xt, s);
    if (e != cudaSuccess) rc = cuda_fail(st, e, "transpose of b");
    a.x = xt;
    a.y = yt;
  }
  if (!rc && r.measure) {
    rc = measure_sp24(dm, a, s, &r, st);
    report(r, ran);
  } else if (!rc) {
    rc = run_nk(dm, r.impl, a, s, st);
    if (rc && r.impl == Impl::cusparselt && args->backend == SK_BACKEND_AUTO) {  // degrade to our kernel, and remember
      r.note = std::string("cuSPARSELt failed, mma.sp ran instead: ") + st->message;
      {
        std::lock_guard<std::mutex> lock(dm->mu);
        dm->timing[lt_plan_key(a.n, int(dm->dtype), a.out_dtype)] = Sp24Timing{0, 1e30};
      }
      r.kernel = "sp24-mma.sp";
      report(r, ran);
      rc = run_nk(dm, Impl::ours, a, s, st);
    }
  }
  if (!rc && transposed) {
    cudaError_t e = launch_transpose(yt, a.n, dm->M, out_bytes, args->y, s);
    if (e != cudaSuccess) rc = cuda_fail(st, e, "transpose of the output");
  }
  if (xt) cudaFreeAsync(xt, s);
  if (yt) cudaFreeAsync(yt, s);
  return rc;
}

}  // namespace

int spmm(void* handle, const SkSpmmArgs* args, SkSpmmRun* ran, SkCudaStatus* st) {
  auto* dm = static_cast<DeviceMatrix*>(handle);
  Route r;
  if (int rc = use_device(dm->device, st)) return rc;
  cudaStream_t s = stream_for(dm->device);
  const int rc = spmm_enqueue(dm, args, s, ran, &r, st);
  cudaError_t e = cudaStreamSynchronize(s);  // also on failure: temporaries are freed in stream order
  if (rc) return rc;
  return e == cudaSuccess ? ok_status(st) : cuda_fail(st, e, std::string("spmm (") + r.kernel + ")");
}

int bench_spmm(void* handle, const SkSpmmArgs* args, int iters, double* ms, SkSpmmRun* ran, SkCudaStatus* st) {
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
  for (int i = 0; i < 3 + iters && !rc; ++i) {  // the warm-ups include a first call's measurement
    cudaMemsetAsync(flush, i & 0xff, flush_bytes, s);
    Route r;
    cudaEventRecord(a, s);
    rc = spmm_enqueue(dm, args, s, ran, &r, st);
    cudaEventRecord(b, s);  // before any host synchronization, so that only device time is measured
    cudaError_t e = cudaEventSynchronize(b);
    if (!rc && e != cudaSuccess) rc = cuda_fail(st, e, "spmm (" + r.kernel + ")");
    float t = 0;
    if (!rc) cudaEventElapsedTime(&t, a, b);
    if (i >= 3) times.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(flush);
  if (rc) return rc;
  std::sort(times.begin(), times.end());
  *ms = times.empty() ? 0 : times[times.size() / 2];
  return ok_status(st);
}

}  // namespace sk::cuda
