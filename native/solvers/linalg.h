// Dense linear algebra the pruning solvers need: a blocked, multi-threaded GEMM (with the
// triangular shortcuts SYRK / TRMM use), a blocked Cholesky and a triangular inverse. float32 data,
// float32 micro-kernels chosen per ISA; small diagonal blocks are factored in float64.
#pragma once
#include <cstdint>

#include "../core/cpu_features.h"
#include "../core/status.h"

namespace sk {

// C += alpha * A * B, with A (M x K) and B (K x N) read through strides:
//   A(i, k) = a_trans ? a[k*lda + i] : a[i*lda + k];  B(k, j) = b_trans ? b[j*ldb + k] : b[k*ldb + j].
// When cd is set, C is float64 (cd[i*ldc + j]) and each float32 partial sum covers at most
// kGemmKc terms of K before it is added in float64: the Hessian's accumulator uses that.
enum class GemmShape : uint8_t {
  full,
  lower_c,  // only C(i, j) with j <= i is needed (tiles wholly above the diagonal are skipped)
  upper_a,  // A(i, k) == 0 for k < i: the K loop starts at the row tile
  lower_a,  // A(i, k) == 0 for k > i: the K loop stops after the row tile
};

struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t lda = 0;
  bool a_trans = false;
  const float* b = nullptr;
  int64_t ldb = 0;
  bool b_trans = false;
  float* c = nullptr;
  double* cd = nullptr;
  int64_t ldc = 0;
  float alpha = 1.f;
  GemmShape shape = GemmShape::full;
};

constexpr int64_t kGemmKc = 256;

// The per-ISA kernels (linalg_{portable,avx2,avx512}.cpp, one template source: gemm_kernel.inl).
constexpr int kRowGroup = 16;  // rows SparseGPT sweeps together through a column block
struct LinalgKernels {
  const char* name;  // of the GEMM micro-kernel
  int mr, nr;
  // C[MR x NR] += alpha * Ap * Bp on packed panels, Ap (kc x MR, k-major) and Bp (kc x NR,
  // k-major), into float c (leading dimension ldc) or, when cd is set, into float64 cd.
  void (*gemm)(int64_t kc, const float* ap, const float* bp, float* c, double* cd, int64_t ldc, float alpha);
  // wt[c][l] -= e[l] * u[c] for c < n, l < kRowGroup (wt holds kRowGroup floats per c).
  void (*rank1_rows)(int64_t n, const float* u, const float* e, float* wt);
  // Givens rotations, in order, on a block of kRotRows rows stored column by column
  // (y[j * kRotRows + r]): rotation i maps columns (k, k+1) to (c y_k - s y_k+1, s y_k + c y_k+1). float64.
  void (*rotate_columns)(int64_t count, const int32_t* k, const double* c, const double* s, double* y);
};
constexpr int kRotRows = 64;  // rows per rotate_columns block (symmetric_eigen's row blocks)

const LinalgKernels& linalg_kernels(Isa isa);
const LinalgKernels* linalg_kernels_avx2();    // linalg_avx2.cpp (nullptr off x86)
const LinalgKernels* linalg_kernels_avx512();  // linalg_avx512.cpp (nullptr off x86)
const LinalgKernels* linalg_kernels_portable();

// Multi-threaded over the shared pool (serial when called from inside a pool task).
void gemm(const GemmArgs& args);

// Where a Cholesky factorization stopped, for error messages.
struct CholeskyFailure {
  int64_t index = -1;  // the column whose pivot was not positive
  double pivot = 0;
};

// In place: the lower triangle of `a` (n x n, leading dimension lda) becomes L with a = L Lᵀ.
// The strict upper triangle is used as scratch and left unspecified. Fails (ErrorCode::numeric,
// *fail set) on a pivot that is not positive and finite; `should_stop` is polled between blocks.
Status cholesky_lower(float* a, int64_t n, int64_t lda, CholeskyFailure* fail, const volatile int32_t* abort_flag = nullptr);

// In place: the lower-triangular L (strict upper triangle ignored) becomes L⁻¹; the strict upper
// triangle is set to zero.
Status invert_lower(float* a, int64_t n, int64_t lda, const volatile int32_t* abort_flag = nullptr);

}  // namespace sk
