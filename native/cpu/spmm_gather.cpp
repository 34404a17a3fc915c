// Format-generic fallback: visits each stored element once and accumulates v * x[k, :].
// Correct for every format, dtype and shape; the ISA kernels beat it on the common cases.
#include <vector>

#include "spmm.h"

namespace sk {

void spmm_gather(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int64_t n = x.n;
  // Rows are processed a few at a time so the accumulators stay small for tiled-csl's 128-row bands.
  constexpr int64_t kBand = 8;
  std::vector<float> acc(size_t(kBand * n));
  const int64_t step = a.format == Format::tiled_csl ? (r1 - r0) : kBand;
  if (step > kBand) acc.resize(size_t(step * n));
  for (int64_t b = r0; b < r1; b += step) {
    const int64_t e = std::min(r1, b + step);
    std::fill(acc.begin(), acc.begin() + (e - b) * n, 0.f);
    for_each_stored(a, b, e, [&](int64_t r, int64_t c, const void* elem) {
      float v = load_as_f32(elem, a.dtype, 0);
      float* dst = &acc[size_t((r - b) * n)];
      const float* src = x.data + c * n;
      for (int64_t j = 0; j < n; ++j) dst[j] += v * src[j];
    });
    for (int64_t r = b; r < e; ++r)
      for (int64_t j = 0; j < n; ++j) out.store(r, j, acc[size_t((r - b) * n + j)]);
  }
}

}  // namespace sk
