// Streaming calibration statistics for one linear layer's input: per-channel sums of squares
// (Wanda's ‖X_j‖₂²) and optionally S = Σ x xᵀ, from which SparseGPT's H = (2/n)·S is formed.
//
// Precision: each batch's products are formed in float32 over at most kGemmKc (256) tokens and
// then added into float64 accumulators, so the rounding error does not grow with the number of
// tokens (millions of tokens lose no more than one 256-term float32 sum does, relative to the
// float64 total), while the O(n·K²) work runs at float32 speed.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include "../core/dtype.h"
#include "../core/status.h"
#include "host_buffer.h"

namespace sk {

class CalibrationStats {
 public:
  CalibrationStats(int64_t k, bool hessian) : k_(k), hessian_(hessian) {}

  // Allocates the accumulators (separate from the constructor so the failure is a Status).
  Status init();

  // x: rows x k, row-major, any float dtype. Rejects NaN/Inf (nothing is accumulated then).
  Status add(const void* x, DType dtype, int64_t rows);
  // Adds other's sums into this one (same k; other must carry a Hessian if this one does).
  Status merge(CalibrationStats& other);
  // Frees the accumulators; later calls fail.
  void release();

  int64_t k() const { return k_; }
  bool has_hessian() const { return hessian_; }
  bool released() const { return released_; }
  double tokens() const { return tokens_; }
  int64_t batches() const { return batches_; }
  size_t bytes() const { return (sumsq_.capacity() + sum_.capacity()) * sizeof(double) + xtx_.size(); }

  // Readers for the solvers (call while holding lock()).
  const double* sumsq() const { return sumsq_.data(); }
  const double* sum() const { return sum_.data(); }
  // S(i, j) for j <= i lives at xtx()[i*k + j]; the strict upper triangle is unspecified.
  const double* xtx() const { return xtx_.as<double>(); }
  std::mutex& mutex() { return mu_; }

 private:
  int64_t k_;
  bool hessian_;
  bool released_ = false;
  double tokens_ = 0;
  int64_t batches_ = 0;
  std::vector<double> sumsq_;
  std::vector<double> sum_;
  HostBuffer xtx_;  // k x k float64
  std::mutex mu_;
};

}  // namespace sk
