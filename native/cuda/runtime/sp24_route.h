// How a 2:4 weight runs on the GPU: through cuSPARSELt (plan-based, sparse tensor cores) or our
// own mma.sp kernel (spmm_sp24.cu). Everything here is plain host C++ with no CUDA dependency, so
// the choices are unit-tested without a GPU (native/test/cuda_route_test.cpp):
//  - the cuSPARSELt descriptor parameters for our nn.Linear orientation,
//  - the documented constraints that make a call ineligible for cuSPARSELt,
//  - the plan-cache key,
//  - the decision rule between the two implementations.
// cusparselt.cpp is the only user of the descriptor parameters; launcher.cu of the rest.
#pragma once
#include <cstdint>
#include <string>

namespace sk::cuda {

// cuSPARSELt / cuSPARSE / CUDA enum values, from cusparseLt.h (0.6 and newer: the compute-type enum
// was renumbered then; NVIDIA's nvmath-python bindings list COMPUTE_32I = 0, COMPUTE_16F = 1,
// COMPUTE_32F = 2), cusparse.h (cusparseOrder_t, cusparseOperation_t) and library_types.h.
namespace lt {
constexpr int kOrderCol = 1, kOrderRow = 2;      // CUSPARSE_ORDER_COL / _ROW
constexpr int kOpN = 0, kOpT = 1;                // CUSPARSE_OPERATION_NON_TRANSPOSE / _TRANSPOSE
constexpr int kCompute32F = 2;                   // CUSPARSE_COMPUTE_32F: fp16/bf16 in, fp32 accumulate
constexpr int kSparsity50 = 0;                   // CUSPARSELT_SPARSITY_50_PERCENT (2:4 for 16-bit)
constexpr int kAlgDefault = 0;                   // CUSPARSELT_MATMUL_ALG_DEFAULT
constexpr int kR32F = 0, kR16F = 2, kR16BF = 14; // cudaDataType
constexpr uint32_t kAlignment = 16;              // bytes; every pointer we pass is 16-byte aligned
// Documented size multiples for 16-bit values: structured matrices' rows, cols and ld by 16,
// dense ones' by 8; a 16-bit structured matrix holds fewer than 2^31 elements.
constexpr int64_t kStructuredMultiple = 16, kDenseMultiple = 8;
constexpr int64_t kMaxStructuredElements = (int64_t(1) << 31) - 1;
}  // namespace lt

// sk::DType values: f32 = 0, f16 = 1, bf16 = 2.
inline int lt_value_type(int dtype) { return dtype == 0 ? lt::kR32F : dtype == 1 ? lt::kR16F : lt::kR16BF; }

struct LtMatrixParams {
  int64_t rows = 0, cols = 0, ld = 0;
  int order = lt::kOrderRow;
  int value_type = lt::kR16F;
};

// D = op(A) * op(B) with A the structured (compressed) weight.
struct LtMatmulParams {
  LtMatrixParams a, b, c;  // c doubles as D
  int op_a = lt::kOpN, op_b = lt::kOpN;
  int compute_type = lt::kCompute32F;
};

// y[N, M] = x[N, K] * W[M, K]^T, all row-major (the kernels' orientation), as cuSPARSELt's
// D(M x N) = A(M x K) * op(B):
//   A = W, row-major M x K, ld K, not transposed: the 2:4 groups run along K in each row, which is
//       our nm format's (and NVIDIA's) meaning, and what the structured descriptor compresses;
//   B = x, row-major N x K, ld K, transposed: op(B) is the K x N activation matrix, no copy;
//   D = y seen column-major: M x N with ld M is exactly the row-major [N, M] output.
// The same descriptor for A serves compression (cusparseLtSpMMACompress2 with op N) and every plan.
inline LtMatmulParams lt_matmul_params(int64_t M, int64_t K, int64_t N, int dtype, int out_dtype) {
  LtMatmulParams p;
  p.a = {M, K, K, lt::kOrderRow, lt_value_type(dtype)};
  p.b = {N, K, K, lt::kOrderRow, lt_value_type(dtype)};
  p.c = {M, N, M, lt::kOrderCol, lt_value_type(out_dtype)};
  p.op_a = lt::kOpN;
  p.op_b = lt::kOpT;
  p.compute_type = lt::kCompute32F;
  return p;
}

// Why the weight itself cannot go through cuSPARSELt (checked once, at upload), or "".
inline std::string lt_weight_ineligible(int64_t M, int64_t K, int dtype) {
  if (dtype != 1 && dtype != 2) return "cuSPARSELt 2:4 needs float16 or bfloat16 weights";
  if (M % lt::kStructuredMultiple || K % lt::kStructuredMultiple)
    return "cuSPARSELt needs the weight's rows and columns to be multiples of 16 (got " + std::to_string(M) + " x " +
           std::to_string(K) + ")";
  if (M * K > lt::kMaxStructuredElements) return "the weight has more elements than cuSPARSELt's 2^31 - 1 limit";
  return "";
}

// Why this call cannot go through cuSPARSELt, or "". The fp16/bf16 matmuls take fp32 compute with
// C/D of the input type only (fp32 output is not a supported combination), and the fused bias we
// apply in our own epilogue (rounded once) has no equivalent there.
inline std::string lt_call_ineligible(int64_t N, int dtype, int out_dtype, bool bias, bool aligned) {
  if (out_dtype != dtype) return "cuSPARSELt writes the weight's dtype only (outDtype differs)";
  if (bias) return "bias is fused into our own epilogue, not cuSPARSELt's";
  if (N % lt::kDenseMultiple) return "cuSPARSELt needs N to be a multiple of 8 (got " + std::to_string(N) + ")";
  if (!aligned) return "cuSPARSELt needs 16-byte aligned activations and output";
  return "";
}

// One plan per (N, dtype, out dtype) per weight (the weight fixes M, K and the device).
struct LtPlanKey {
  int64_t n = 0;
  int dtype = 0, out_dtype = 0;
  bool operator<(const LtPlanKey& o) const {
    if (n != o.n) return n < o.n;
    if (dtype != o.dtype) return dtype < o.dtype;
    return out_dtype < o.out_dtype;
  }
  bool operator==(const LtPlanKey& o) const { return n == o.n && dtype == o.dtype && out_dtype == o.out_dtype; }
};
inline LtPlanKey lt_plan_key(int64_t n, int dtype, int out_dtype) { return LtPlanKey{n, dtype, out_dtype}; }

// What the caller asked for (the JS `backend` option): auto, our kernel, or the NVIDIA library.
enum class BackendRequest { automatic = 0, ours = 1, library = 2 };
enum class Sp24Backend { ours = 0, cusparselt = 1 };

// Before anything was measured for a shape: cuSPARSELt's tiles are built for large products, and
// at decode sizes (small N) it can be slower than dense (docs/cuda.md), so ours runs below this N.
constexpr int64_t kSp24LibraryMinN = 64;

struct Sp24Timing {  // milliseconds of one call, < 0 = not measured
  double ours_ms = -1, library_ms = -1;
  bool measured() const { return ours_ms >= 0 && library_ms >= 0; }
};

struct Sp24Decision {
  Sp24Backend backend = Sp24Backend::ours;
  bool measure = false;  // time both now and remember the faster (the first call of a shape)
  std::string why;       // why not cuSPARSELt, when it is not (for errors and reports)
};

// lib_why: "" when cuSPARSELt is loaded and this weight and call are eligible, else the reason.
// measured: timings for this plan key, or null. autotune: measure on first use (default on; the
// env SPARSEKIT_SP24_AUTOTUNE=0 turns it off and the N heuristic decides).
inline Sp24Decision choose_sp24_backend(BackendRequest req, const std::string& lib_why, int64_t n,
                                        const Sp24Timing* measured, bool autotune) {
  Sp24Decision d;
  d.why = lib_why;
  if (req == BackendRequest::ours || !lib_why.empty()) return d;
  if (req == BackendRequest::library) { d.backend = Sp24Backend::cusparselt; return d; }
  if (measured && measured->measured()) {
    // Ties go to ours: no workspace, no second copy of the weight in use.
    d.backend = measured->library_ms < measured->ours_ms ? Sp24Backend::cusparselt : Sp24Backend::ours;
    return d;
  }
  if (autotune) { d.measure = true; d.backend = Sp24Backend::ours; return d; }
  d.backend = n >= kSp24LibraryMinN ? Sp24Backend::cusparselt : Sp24Backend::ours;
  return d;
}

}  // namespace sk::cuda
