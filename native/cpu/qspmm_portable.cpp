// Portable kernel for quantized weights: per row and per group, Σ (code - zero)·x[k, j] in fp32,
// times the group's scale, into the row's fp32 accumulators. Reference for the ISA variants.
#include <algorithm>
#include <vector>

#include "../formats/quant.h"
#include "qspmm.h"

namespace sk {

void qspmm_portable(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  constexpr int64_t kJ = 64;  // output columns per pass
  const QuantSpec q = a.quant;
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = q.asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  const int64_t gpr = quant_groups_per_row(a.cols, q.group), wpg = q.group / 32;
  const bool dense = a.format == Format::dense;
  const uint32_t* masks = dense ? nullptr : a.as<uint32_t>(Part::masks);
  const int64_t wpr = dense ? 0 : mask_words_per_row(a.format == Format::nm ? nm_padded_cols(a.cols, a.m) : a.cols);
  const int32_t* rp = a.format == Format::bitmap ? a.as<int32_t>(Part::row_ptr) : nullptr;
  const int64_t per_row = a.format == Format::nm ? nm_values_per_row(a.cols, a.n, a.m) : a.cols;
  const int64_t ld = x.ld;
  float acc[kJ], gacc[kJ];
  for (int64_t j0 = 0; j0 < x.n; j0 += kJ) {
    const int64_t nj = std::min(kJ, x.n - j0);
    const float* xb = x.data + j0;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t vi = rp ? int64_t(rp[r]) : r * per_row;
      std::fill(acc, acc + nj, 0.f);
      for (int64_t g = 0; g < gpr; ++g) {
        const int64_t gi = r * gpr + g;
        const float z = float(zeros ? zeros[gi] : quant_sym_zero(q.bits));
        std::fill(gacc, gacc + nj, 0.f);
        auto add = [&](int64_t c) {
          const float w = float(quant_code(codes, q.bits, vi++)) - z;
          const float* xc = xb + c * ld;
          for (int64_t j = 0; j < nj; ++j) gacc[j] += w * xc[j];
        };
        if (dense) {
          for (int64_t c = g * q.group; c < (g + 1) * q.group; ++c) add(c);
        } else {
          for (int64_t w = g * wpg; w < (g + 1) * wpg; ++w)
            for (uint32_t bits = masks[r * wpr + w]; bits; bits &= bits - 1) add(w * 32 + __builtin_ctz(bits));
        }
        const float s = f16_to_f32(scales[gi]);
        for (int64_t j = 0; j < nj; ++j) acc[j] += s * gacc[j];
      }
      for (int64_t j = 0; j < nj; ++j) out.store(r, j0 + j, acc[j]);
    }
  }
}

SpmmKernel select_qspmm_kernel(const MatrixView& a, int64_t n, Isa isa, DType x_dtype, ActivationRounding rounding) {
  SpmmKernel k;
  // int8 activations are allowed, not required: where no kernel uses them x stays fp32.
  if (isa == Isa::avx512 && rounding == ActivationRounding::int8) {
    k = select_qspmm_pick_x8(a, n);  // N > 1, 2:4
    if (!k.fn) k = select_qspmm_gemm_x8(a, n);  // N > 1, dense and bitmap
    if (!k.fn) k = select_qspmm_vnni(a, n);
  }
  if (isa == Isa::avx2 && rounding == ActivationRounding::int8) {
    k = select_qspmm_avx2_gemm_x8(a, n);  // N > 1 4-bit; N = 1 sparse 4-bit other than 2:4, and 8-bit
    if (!k.fn) k = select_qspmm_avx2_x8(a, n);
  }
  if (!k.fn && isa == Isa::avx512) k = select_qspmm_bf16(a, n, x_dtype);
  if (!k.fn && isa == Isa::avx512) k = select_qspmm_lut(a, n);
  if (!k.fn && isa == Isa::avx512) k = select_qspmm_avx512(a, n);
  if (!k.fn && isa == Isa::avx2) k = select_qspmm_avx2(a, n);
  if (!k.fn) k = {qspmm_portable, XLayout::k_major, "qspmm_portable"};
  return k;
}

}  // namespace sk
