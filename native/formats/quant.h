// Quantized values for dense, bitmap and nm matrices: 4- or 8-bit unsigned codes with one fp16
// scale (and, asymmetric, one uint8 zero point) per `group` consecutive columns of a row.
// docs/formats.md "Quantized values" is the spec; this header is its arithmetic.
//   w = (code - zero) * scale, zero = 2^(bits-1) when symmetric (no zeros part).
// Groups count logical columns (not kept values), so a group's scale index is r * cols/group +
// c / group in every format, and `cols % group == 0` (and, for nm, `group % m == 0`).
#pragma once
#include <cstdint>

#include "sparse_matrix.h"

namespace sk {

inline int64_t quant_groups_per_row(int64_t cols, int group) { return group > 0 ? cols / group : 0; }
// Bytes holding `count` codes: 8-bit one each; 4-bit two per byte, low nibble first.
inline int64_t quant_code_bytes(int64_t count, int bits) { return bits == 4 ? (count + 1) / 2 : count; }
inline uint32_t quant_code(const uint8_t* codes, int bits, int64_t i) {
  return bits == 4 ? (codes[i >> 1] >> ((i & 1) * 4)) & 15u : codes[i];
}
inline int quant_max_code(int bits) { return (1 << bits) - 1; }
inline int quant_sym_zero(int bits) { return 1 << (bits - 1); }

// The parts a (possibly quantized) matrix has: the format's, plus scales (and zeros if asymmetric).
inline bool matrix_has_part(Format f, const QuantSpec& q, Part p) {
  if (p == Part::scales) return q.on();
  if (p == Part::zeros) return q.on() && q.asym;
  return format_has_part(f, p);
}

// Bits, group size, format and shape of a quantized matrix; errors name the option at fault.
Status check_quant_spec(Format f, int64_t rows, int64_t cols, int n, int m, const QuantSpec& q);
// Shape/type/spec check of a view (quantized or not): what check_shape_and_type is for floats.
Status check_matrix_header(const MatrixView& a);
// Number of codes stored (dense rows*cols, nm rows*cols*n/m, bitmap rowPtr[rows]); -1 on overflow.
int64_t quant_stored_count(const MatrixView& a);

// The grid of one group from its value range (lo <= 0 <= hi, absmax = max(-lo, hi)): fp16 scale
// bits and zero point. Zero is always exactly representable. ERR_NUMERIC when the scale
// overflows fp16.
Status quant_fit_group(float lo, float hi, int bits, bool asym, uint16_t* scale_bits, uint8_t* zero);
// Round-to-nearest (ties to even) code of w on the grid (scale, zero), clamped to [0, 2^bits).
inline uint32_t quant_round(float w, float scale, int zero, int bits) {
  float q = __builtin_nearbyintf(w / scale) + float(zero);
  const float maxq = float(quant_max_code(bits));
  q = q < 0.f ? 0.f : (q > maxq ? maxq : q);
  return uint32_t(q);
}

// Checks an fp16 scale array (finite, > 0) and zero points (< 2^bits); `what` names the argument.
Status check_quant_grid(const uint16_t* scales, const uint8_t* zeros, int64_t count, int bits, const char* what);

Status pack_quantized(const void* dense, DType dtype, int64_t rows, int64_t cols, const PackOptions& opt, PackedMatrix* out);
// Dequantizes into rows*cols float32 (exact: an 8-bit code times an fp16 scale fits in fp32).
Status unpack_quantized(const MatrixView& a, float* out);
// The quantized parts' sizes (values, scales, zeros) given the structure's stored count.
Status check_quant_part_sizes(const MatrixView& a, int64_t stored);
// Every scale and zero point, and the unused high nibble of an odd 4-bit count.
Status validate_quant_parts(const MatrixView& a, int64_t stored);

// The kernel data a quantized matrix carries beside its parts (PackedMatrix::aux). For 2:4, and
// symmetric bitmap, with 4-bit codes and groups of at least 128 columns: int16 [rows][groups],
// the sum of (code − zero point) over each group's kept codes. With it the int8-activation GEMVs
// (qspmm_avx512_vnni.cpp) multiply x + 128 (unsigned) by code − zero (signed) in one vpdpbusd and
// take 128 · scale · sum off each row once: 2:4 without a second vpdpbusd per 64 kept weights for
// the zero point, bitmap on its kept columns only (no copy of the zero point per step and row to
// fill the pruned ones, no −zero · Σ x start per group). Asymmetric bitmap would need the zero
// point subtracted per step (measured no faster), so it has none.
// Range: at most 256 kept codes per group, each within ±15, so int16 holds every sum.
inline bool quant_has_code_sums(const MatrixView& a) {
  const bool shape = a.format == Format::nm ? a.n == 2 && a.m == 4 : a.format == Format::bitmap && !a.quant.asym;
  return shape && a.quant.bits == 4 && a.quant.group >= 128;
}
inline int64_t quant_code_sums_count(const MatrixView& a) {  // rows · groups where the matrix has them, else 0
  return quant_has_code_sums(a) ? a.rows * quant_groups_per_row(a.cols, a.quant.group) : 0;
}
// The view's code sums, or null where it has none (no such format, or a view not made from a
// PackedMatrix): what a kernel reads aux as, checked in one place.
inline const int16_t* quant_code_sums(const MatrixView& a) {
  const int64_t n = quant_code_sums_count(a);
  return n > 0 && a.aux.bytes == size_t(n) * sizeof(int16_t) ? static_cast<const int16_t*>(a.aux.data) : nullptr;
}
// Fills pm->aux from the parts (which must be valid: pack's output, or copy_validated's after the
// check); clears it where the format has none.
void derive_quant_aux(PackedMatrix* pm);

// Calls f(row, col, code_index) for every stored code of rows [r0, r1), in storage order.
template <class F> void for_each_code(const MatrixView& a, int64_t r0, int64_t r1, F&& f) {
  if (a.format == Format::dense) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < a.cols; ++c) f(r, c, r * a.cols + c);
    return;
  }
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const bool is_nm = a.format == Format::nm;
  const int64_t wpr = mask_words_per_row(is_nm ? nm_padded_cols(a.cols, a.m) : a.cols);
  const int32_t* rp = is_nm ? nullptr : a.as<int32_t>(Part::row_ptr);
  const int64_t per_row = is_nm ? nm_values_per_row(a.cols, a.n, a.m) : 0;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t vi = is_nm ? r * per_row : int64_t(rp[r]);
    for (int64_t w = 0; w < wpr; ++w)
      for (uint32_t bits = masks[r * wpr + w]; bits; bits &= bits - 1) f(r, w * 32 + __builtin_ctz(bits), vi++);
  }
}

}  // namespace sk
