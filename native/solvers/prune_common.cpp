#include "prune_common.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "../core/convert.h"
#include "../core/thread_pool.h"

namespace sk {

Status check_pattern(const Pattern& p, int64_t cols) {
  if (p.nm()) {
    if (p.m < 1 || p.m > 16)
      return Status::Error(ErrorCode::argument, "m must be an integer in [1, 16], got " + std::to_string(p.m));
    if (p.n < 1 || p.n > p.m)
      return Status::Error(ErrorCode::argument, "n must be an integer in [1, m = " + std::to_string(p.m) + "], got " +
                                                    std::to_string(p.n));
    if (cols % p.m != 0)
      return Status::Error(ErrorCode::shape, "N:M pruning needs m = " + std::to_string(p.m) +
                                                 " to divide the weight's column count, got " + std::to_string(cols) + " columns");
    return Status::Ok();
  }
  if (!(p.sparsity >= 0 && p.sparsity < 1))
    return Status::Error(ErrorCode::argument, "sparsity must be in [0, 1), got " + std::to_string(p.sparsity));
  return Status::Ok();
}

Status load_weight_f32(const WeightView& w, std::vector<float>* out, const char* solver) {
  const size_t total = size_t(w.rows) * size_t(w.cols);
  out->resize(total);
  std::atomic<int64_t> bad{-1};
  parallel_range(w.rows, 16, [&](int64_t b, int64_t e) {
    const size_t off = size_t(b * w.cols), cnt = size_t((e - b) * w.cols);
    convert(static_cast<const uint8_t*>(w.data) + off * dtype_size(w.dtype), w.dtype, out->data() + off, DType::f32, cnt);
    for (size_t i = off; i < off + cnt; ++i)
      if (!std::isfinite((*out)[i])) {
        int64_t expected = -1;
        bad.compare_exchange_strong(expected, int64_t(i));
        return;
      }
  });
  if (bad.load() >= 0) {
    const int64_t i = bad.load();
    return Status::Error(ErrorCode::numeric, std::string(solver) + ": weight has a non-finite value at [" +
                                                 std::to_string(i / w.cols) + ", " + std::to_string(i % w.cols) + "]");
  }
  return Status::Ok();
}

void finish_masked(const WeightView& w, const std::vector<uint8_t>& pruned, PruneOutput* out) {
  const size_t total = size_t(w.rows) * size_t(w.cols), es = dtype_size(w.dtype);
  out->weight.resize(total * es);
  out->mask.resize(total);
  std::memcpy(out->weight.data(), w.data, total * es);
  std::atomic<int64_t> count{0};
  parallel_range(w.rows, 16, [&](int64_t b, int64_t e) {
    int64_t local = 0;
    for (size_t i = size_t(b * w.cols); i < size_t(e * w.cols); ++i) {
      out->mask[i] = !pruned[i];
      if (pruned[i]) {
        std::memset(&out->weight[i * es], 0, es);
        ++local;
      }
    }
    count += local;
  });
  out->pruned = count.load();
}

}  // namespace sk
