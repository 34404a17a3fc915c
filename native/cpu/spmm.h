// CPU sparse x dense products. One entry point for every format; kernels are picked per call from
// a dispatch table keyed by format, weight dtype, N and the active ISA.
#pragma once
#include <cstdint>
#include <type_traits>

#include "../core/cpu_features.h"
#include "../formats/sparse_matrix.h"

namespace sk {

// Where results go: out[r * row_stride + j * col_stride] = acc(r, j) + bias[r], in `dtype`.
struct OutputSpec {
  void* data = nullptr;
  DType dtype = DType::f32;
  int64_t row_stride = 0, col_stride = 0;
  const float* bias = nullptr;  // fp32 [rows] or null

  void store(int64_t r, int64_t j, float v) const {
    if (bias) v += bias[r];
    size_t i = size_t(r * row_stride + j * col_stride);
    // The float outputs inline: a call per element cost ~9% of a bf16 N=16 product.
    if (dtype == DType::f32) static_cast<float*>(data)[i] = v;
    else if (dtype == DType::bf16) static_cast<uint16_t*>(data)[i] = f32_to_bf16(v);
    else if (dtype == DType::f16) static_cast<uint16_t*>(data)[i] = f32_to_f16(v);
    else store_from_f32(data, dtype, i, v);
  }
};

// Activations as fp32, zero-padded to k_padded columns, in the layout the kernel asked for.
// k_major: x[k * ld + j]; n_major: x[j * k_padded + k]. The AVX512-BF16 kernels take bf16
// activations as they are (Activations::bf16): n_major_bf16 x[j * k_padded + k];
// k_pairs_bf16 x[(k / 2) * 2 ld + 2 j + (k & 1)] (a pair of k for 16 columns of N per 64 bytes);
// k_octs_bf16 x[(k / 8) * 8 ld + 8 j + (k & 7)] (eight k for 4 columns of N per 64 bytes);
// k_major_bf16 x[k * ld + j] (each column's N values: 32 bytes per column at ld = 16, 16 at ld = 8).
enum class XLayout { k_major, n_major, n_major_bf16, k_pairs_bf16, k_octs_bf16, k_major_bf16 };
inline bool is_bf16_layout(XLayout l) {
  return l == XLayout::n_major_bf16 || l == XLayout::k_pairs_bf16 || l == XLayout::k_octs_bf16 || l == XLayout::k_major_bf16;
}

struct Activations {
  const float* data;
  int64_t n;         // number of activation vectors (N)
  int64_t k_padded;  // >= cols rounded up to 64 (n_major: the row stride)
  int64_t ld;        // k_major: the row stride, N rounded up to the kernel's n_align
  void* workspace = nullptr;  // spmm_workspace_bytes(r1 - r0, n) bytes, 64-aligned, for kernels that ask
  const uint16_t* bf16 = nullptr;  // the bf16 layouts: the staged activations (data is null then)
  const void* prepared = nullptr;  // SpmmKernel::prepare's output, shared by every task
};

// Software prefetch distance of a dense weight row's stream in the N <= 4 kernels that turn it on
// (the bf16 GEMVs, the fused kernels, the int4 x8 dense GEMV's codes), and of the read-bandwidth
// probe (probes.cpp), which must read at least what they read: cold, the hardware prefetcher alone
// fell behind four dense streams per core (docs/kernels.md, tenth session: 384 to 1024 elements of
// a bf16 row measured alike, 256 less).
constexpr int64_t kStreamAheadBytes = 1024;

// Per-task workspace of the blocked kernels: an fp32 [rows, ld] output tile, a decode buffer for
// kRb rows of a K block (6 x 4096 columns on AVX2 and AVX-512), and one row cursor (<= 16 bytes)
// per row.
constexpr int64_t kWorkspaceDecodeFloats = 6 * (4096 + 32);
constexpr int64_t kWorkspaceCursorBytes = 16;
// The outer-product kernels use it for one row's column indices and fp32 values instead.
inline size_t spmm_workspace_bytes(int64_t rows, int64_t n, int64_t cols) {
  const int64_t row_cols = 2 * ((cols + 31) / 32 * 32 + 32);
  const int64_t tile = rows * n + kWorkspaceDecodeFloats;
  return size_t(tile > row_cols ? tile : row_cols) * sizeof(float) + size_t(rows * kWorkspaceCursorBytes) + 64;
}

using SpmmKernelFn = void (*)(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out);

struct SpmmKernel {
  SpmmKernelFn fn = nullptr;
  XLayout layout = XLayout::k_major;
  const char* name = "";
  bool needs_workspace = false;
  int n_align = 1;  // k_major layouts: pad each row of N to a multiple of this (whole vectors)
  // Per-task workspace size when the kernel's need is not spmm_workspace_bytes' (needs_workspace).
  size_t (*workspace)(int64_t rows, int64_t ld, int64_t kp) = nullptr;
  // Work on the staged activations done once per call instead of by every task (e.g. rounding them
  // to int8 in the kernel's own layout): prepare_bytes(a, n, kp) bytes, 64-aligned, written by
  // prepare(a, x, out) before the tasks run (it may use the pool); tasks read Activations::prepared.
  size_t (*prepare_bytes)(const MatrixView& a, int64_t n, int64_t kp) = nullptr;
  void (*prepare)(const MatrixView& a, const Activations& x, void* out) = nullptr;
};

// The kernels of each ISA's table, by id (spmm_kernel_list.inc is the one list).
enum class SpmmKernelId {
#define SK_SPMM_KERNEL(id, what) id,
#include "spmm_kernel_list.inc"
#undef SK_SPMM_KERNEL
  count
};
// "<id>" of each table entry, in SpmmKernelId order (the full name adds "_<dtype>_<isa>").
extern const char* const kSpmmKernelIds[int(SpmmKernelId::count)];

// Per-ISA tables (spmm_avx512.cpp, spmm_avx2.cpp, spmm_portable.cpp): a kernel, or fn == nullptr when
// that ISA has none for this format/dtype (the driver then uses spmm_gather).
SpmmKernel select_spmm_avx512(const MatrixView& a, int64_t n);
SpmmKernel select_spmm_avx2(const MatrixView& a, int64_t n);
SpmmKernel select_spmm_portable(const MatrixView& a, int64_t n);
// bf16 weights (dense, bitmap, N:M) times bf16 activations with vdpbf16ps (spmm_avx512_bf16.cpp).
SpmmKernel select_spmm_avx512_bf16(const MatrixView& a, int64_t n);

// What the caller lets the kernels do to float activations (MatmulOptions.activations): `none`
// multiplies them as given; `bf16` allows rounding fp32 / f16 activations to bf16 (nearest-even)
// where a vdpbf16ps kernel then runs; `int8` allows quantized weights' kernels to round them to
// int8 per weight group (VNNI kernels, qspmm_avx512_vnni.cpp). Where no kernel uses the rounding
// allowed, activations stay as given (docs/kernels.md, numerics).
enum class ActivationRounding : uint8_t { none, bf16, int8 };

struct SpmmArgs;
// The bf16 layouts' staging for linear's x [N, K] in bf16 or fp32 (rounded to nearest even) with
// AVX-512 (spmm_avx512_bf16.cpp); false where it has no fast path (the driver's scalar copy then).
bool stage_bf16_avx512(const SpmmArgs& args, int64_t cols, int64_t kp, int64_t ld, XLayout layout, uint16_t* buf);

// The table lookup: the fastest kernel for this matrix and N on `isa` with activations of dtype
// `x_dtype` (falls back to portable). bf16 activations (or any float activations with rounding
// `bf16`) with bf16 weights use the vdpbf16ps kernels where the CPU has AVX512-BF16; every other
// case stages fp32.
SpmmKernel select_spmm_kernel(const MatrixView& a, int64_t n, Isa isa, DType x_dtype = DType::f32,
                              ActivationRounding rounding = ActivationRounding::none);

// Product of a [rows, cols] with activations given either as b [cols, n] (b_is_kn, spmm) or as
// x [n, cols] (linear); all float dtypes; accumulation in fp32.
struct SpmmArgs {
  const void* b = nullptr;
  DType b_dtype = DType::f32;
  bool b_is_kn = true;
  int64_t n = 0;
  ActivationRounding activations = ActivationRounding::none;
  const void* bias = nullptr;  // [rows] or null
  DType bias_dtype = DType::f32;
  OutputSpec out;
};

// Work run by the same pool task right after the kernel wrote output rows [r0, r1): SLoRB's term
// reads its own rows there instead of in a second pass over the pool (solvers/slorb.h). At N = 1
// the kernel runs the task's whole range in one call (the GEMVs' four row streams unbroken) and
// the work follows once, reading S in one sequential stream; at N > 1 they alternate in slices of
// a few rows, so the work finds the rows the kernel just wrote still in L1.
struct RowEpilogue {
  void (*fn)(const void* ctx, int64_t r0, int64_t r1) = nullptr;
  const void* ctx = nullptr;
};

Status spmm_cpu(const MatrixView& a, const SpmmArgs& args, const RowEpilogue* epilogue = nullptr);

// The N <= 4 GEMVs' row order (spmm_kernels.inl's spmv_kernel for bitmap / N:M, spmm_avx512_bf16's
// gemv_kernel): passes of R rows a quarter of [r0, e) apart (rows r, r + q, ...: R sequential
// streams per core, as the read-bandwidth probe reads), over the rows [r0, e) that `safe(r)` allows
// whole-vector loads in (all but the last few of a bitmap / N:M matrix); the rest one row at a
// time, safe or not. pass(RB, Safe, r, rs, passes) runs `passes` passes, the p-th over rows
// r + p, r + p + rs, ... (RB and Safe as std::integral_constant): all the full passes come in one
// call, so a kernel can keep its state between them (docs/kernels.md, fourteenth session).
template <int R, class SafeRow, class Pass>
inline void apart_row_passes(int64_t r0, int64_t r1, const SafeRow& safe, const Pass& pass) {
  int64_t e = r1;
  while (e > r0 && !safe(e - 1)) --e;
  const int64_t q = (e - r0) / R;
  if (q > 0) pass(std::integral_constant<int, R>{}, std::true_type{}, r0, q, q);
  for (int64_t r = r0 + R * q; r < r1; ++r) {
    if (safe(r)) pass(std::integral_constant<int, 1>{}, std::true_type{}, r, 1, 1);
    else pass(std::integral_constant<int, 1>{}, std::false_type{}, r, 1, 1);
  }
}

// The generic kernel every format has: walks stored elements, accumulates into k-major x.
void spmm_gather(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out);

}  // namespace sk
