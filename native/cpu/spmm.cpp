// The spmm driver: stages activations as fp32 in the kernel's layout, then splits rows over the pool.
#include "spmm.h"

#include <algorithm>
#include <new>
#include <vector>

#include "../core/thread_pool.h"

namespace sk {

SpmmKernel select_spmm_kernel(const MatrixView& a, int64_t n, Isa isa) {
  (void)a; (void)n; (void)isa;
  return {spmm_portable_gather, XLayout::k_major, "spmm_gather_portable"};
}

namespace {

int64_t padded_k(int64_t cols) { return (cols + 63) / 64 * 64; }

void stage_activations(const SpmmArgs& args, int64_t cols, int64_t kp, XLayout layout, std::vector<float>& buf) {
  const int64_t n = args.n;
  buf.assign(size_t(kp * n), 0.f);
  // Source element (k, j) lives at b[k*n + j] (spmm) or x[j*cols + k] (linear).
  const int64_t sk = args.b_is_kn ? n : 1, sj = args.b_is_kn ? 1 : cols;
  if (layout == XLayout::k_major) {
    parallel_range(cols, 256, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k)
        for (int64_t j = 0; j < n; ++j) buf[size_t(k * n + j)] = load_as_f32(args.b, args.b_dtype, size_t(k * sk + j * sj));
    });
  } else {
    parallel_range(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j)
        for (int64_t k = 0; k < cols; ++k) buf[size_t(j * kp + k)] = load_as_f32(args.b, args.b_dtype, size_t(k * sk + j * sj));
    });
  }
}

}  // namespace

Status spmm_cpu(const MatrixView& a, const SpmmArgs& args) {
  if (a.rows == 0 || args.n == 0) return Status::Ok();
  const SpmmKernel k = select_spmm_kernel(a, args.n, active_isa());
  const int64_t kp = padded_k(a.format == Format::nm ? nm_padded_cols(a.cols, a.m) : a.cols);
  std::vector<float> xbuf, bias;
  try {
    stage_activations(args, a.cols, kp, k.layout, xbuf);
    if (args.bias) {
      bias.resize(size_t(a.rows));
      for (int64_t r = 0; r < a.rows; ++r) bias[r] = load_as_f32(args.bias, args.bias_dtype, size_t(r));
    }
  } catch (const std::bad_alloc&) {
    return Status::Error(ErrorCode::memory, "out of host memory staging activations");
  }
  OutputSpec out = args.out;
  out.bias = args.bias ? bias.data() : nullptr;
  const Activations x{xbuf.data(), args.n, kp};
  const int64_t align = a.format == Format::tiled_csl ? kTileRows : 1;
  const int64_t blocks = (a.rows + align - 1) / align;
  parallel_range(blocks, align == 1 ? 16 : 1, [&](int64_t b, int64_t e) {
    k.fn(a, x, b * align, std::min(a.rows, e * align), out);
  });
  return Status::Ok();
}

}  // namespace sk
