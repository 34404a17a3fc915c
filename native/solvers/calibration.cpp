#include "calibration.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

#include "../core/convert.h"
#include "../core/thread_pool.h"
#include "linalg.h"

namespace sk {

Status CalibrationStats::init() {
  try {
    sumsq_.assign(size_t(k_), 0.0);
    sum_.assign(size_t(k_), 0.0);
    if (hessian_) {
      xtx_.allocate(size_t(k_) * size_t(k_) * sizeof(double));
      std::memset(xtx_.data(), 0, xtx_.size());
    }
  } catch (const std::bad_alloc&) {
    return Status::Error(ErrorCode::memory, "CalibrationStats: cannot allocate " + std::to_string(k_) + "x" +
                                                std::to_string(k_) + " float64 Hessian accumulator");
  }
  return Status::Ok();
}

Status CalibrationStats::add(const void* x, DType dtype, int64_t rows) {
  std::lock_guard<std::mutex> lk(mu_);
  if (released_) return Status::Error(ErrorCode::argument, "CalibrationStats was disposed");
  if (rows == 0) return Status::Ok();
  const int64_t k = k_;
  const size_t total = size_t(rows) * size_t(k);
  // float32 view of the batch (a copy only for 16-bit inputs), checked for NaN/Inf before any
  // accumulator changes so a rejected batch leaves the statistics as they were.
  std::vector<float> conv;
  const float* xf = static_cast<const float*>(x);
  if (dtype != DType::f32) {
    try {
      conv.resize(total);
    } catch (const std::bad_alloc&) {
      return Status::Error(ErrorCode::memory, "CalibrationStats.add: out of host memory");
    }
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      convert(static_cast<const uint8_t*>(x) + size_t(b * k) * dtype_size(dtype), dtype, conv.data() + b * k, DType::f32,
              size_t((e - b) * k));
    });
    xf = conv.data();
  }
  std::atomic<int64_t> bad{-1};
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b * k; i < e * k; ++i)
      if (!std::isfinite(xf[i])) {
        int64_t expected = -1;
        bad.compare_exchange_strong(expected, i);
        return;
      }
  });
  if (bad.load() >= 0) {
    const int64_t i = bad.load();
    return Status::Error(ErrorCode::numeric, "CalibrationStats.add: batch " + std::to_string(batches_) + " (0-based) has a " +
                                                 (std::isnan(xf[i]) ? "NaN" : "non-finite") + " value at [" +
                                                 std::to_string(i / k) + ", " + std::to_string(i % k) +
                                                 "]; nothing from this batch was accumulated");
  }
  // Sums of squares in float64, one channel range per task.
  parallel_range(k, 64, [&](int64_t b, int64_t e) {
    for (int64_t t = 0; t < rows; ++t) {
      const float* row = xf + t * k;
      for (int64_t j = b; j < e; ++j) sumsq_[j] += double(row[j]) * double(row[j]);
      for (int64_t j = b; j < e; ++j) sum_[j] += double(row[j]);
    }
  });
  if (hessian_) {
    GemmArgs g;
    g.m = g.n = k;
    g.k = rows;
    g.a = xf;
    g.lda = k;
    g.a_trans = true;
    g.b = xf;
    g.ldb = k;
    g.cd = xtx_.as<double>();
    g.ldc = k;
    g.shape = GemmShape::lower_c;
    gemm(g);
  }
  tokens_ += double(rows);
  ++batches_;
  return Status::Ok();
}

Status CalibrationStats::merge(CalibrationStats& other) {
  if (&other == this) return Status::Error(ErrorCode::argument, "CalibrationStats.merge: cannot merge an object into itself");
  std::scoped_lock lk(mu_, other.mu_);
  if (released_ || other.released_) return Status::Error(ErrorCode::argument, "CalibrationStats was disposed");
  if (other.k_ != k_)
    return Status::Error(ErrorCode::shape, "CalibrationStats.merge: other has " + std::to_string(other.k_) +
                                               " channels, expected " + std::to_string(k_));
  if (hessian_ && !other.hessian_)
    return Status::Error(ErrorCode::argument, "CalibrationStats.merge: this object keeps a Hessian but other does not");
  for (int64_t j = 0; j < k_; ++j) {
    sumsq_[j] += other.sumsq_[j];
    sum_[j] += other.sum_[j];
  }
  if (hessian_) {
    const int64_t k = k_;
    parallel_range(k, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        for (int64_t j = 0; j <= i; ++j) xtx_.as<double>()[i * k + j] += other.xtx_.as<double>()[i * k + j];
    });
  }
  tokens_ += other.tokens_;
  batches_ += other.batches_;
  return Status::Ok();
}

void CalibrationStats::release() {
  std::lock_guard<std::mutex> lk(mu_);
  released_ = true;
  std::vector<double>().swap(sumsq_);
  std::vector<double>().swap(sum_);
  xtx_.reset();
}

}  // namespace sk
