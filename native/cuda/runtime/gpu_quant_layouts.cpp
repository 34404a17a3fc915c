#include "gpu_quant_layouts.h"

#include <string>

#include "../../formats/quant.h"
#include "../kernels/q4_index.h"

namespace sk::cuda {

Status q4_gpu_supported(const MatrixView& a) {
  if (!a.quant.on()) return Status::Error(ErrorCode::dtype, "q4_to_gpu: the matrix is not quantized");
  if (a.quant.bits != 4)
    return Status::Error(ErrorCode::dtype, "int" + std::to_string(a.quant.bits) +
                                               " weights have no GPU kernel (int4 dense and int4 2:4 do); dequantize "
                                               "with toDense() or quantize to 4 bits");
  if (a.format == Format::nm && (a.n != 2 || a.m != 4))
    return Status::Error(ErrorCode::format, "int4 nm weights run on the GPU as 2:4 only, got " + std::to_string(a.n) + ":" +
                                                std::to_string(a.m));
  if (a.format != Format::dense && a.format != Format::nm)
    return Status::Error(ErrorCode::format, std::string("int4 ") + format_name(a.format) +
                                                " weights have no GPU kernel (int4 dense and int4 nm 2:4 do)");
  if (a.quant.group != 32 && a.quant.group != 64 && a.quant.group != 128 && a.quant.group != 256)
    return Status::Error(ErrorCode::argument, "the GPU int4 kernels take group sizes 32, 64, 128 or 256, got " +
                                                  std::to_string(a.quant.group));
  if (a.cols % a.quant.group != 0) return Status::Error(ErrorCode::shape, "q4_to_gpu: the group size does not divide K");
  return Status::Ok();
}

Status q4_to_gpu(const MatrixView& a, Q4Gpu* out, Q4Mutation mutation) {
  SK_RETURN_IF_ERROR(q4_gpu_supported(a));
  SK_RETURN_IF_ERROR(check_part_sizes(a));
  Q4Gpu& g = *out;
  g = Q4Gpu();
  g.sp24 = a.format == Format::nm;
  g.rows = a.rows;
  g.cols = a.cols;
  g.group = a.quant.group;
  g.asym = a.quant.asym;
  g.row_blocks = q4_row_blocks(a.rows);
  g.stages = q4_stages(a.cols);
  g.steps = q4_steps(a.cols);
  g.groups = quant_groups_per_row(a.cols, a.quant.group);
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = a.quant.asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  const int sym_zero = quant_sym_zero(4);

  // Scales and zero points: word g of (rb, gi) = row g | row g + 8 << 16; padding rows scale 0.
  g.scales.assign(size_t(g.row_blocks * g.groups * 8), 0);
  if (g.asym) g.zeros.assign(g.scales.size(), 0);
  for (int64_t rb = 0; rb < g.row_blocks; ++rb)
    for (int64_t gi = 0; gi < g.groups; ++gi)
      for (int row16 = 0; row16 < 16; ++row16) {
        const int64_t r = rb * 16 + row16;
        if (r >= a.rows) continue;
        const size_t w = size_t(q4_param_word(rb, gi, g.groups, row16 % 8));
        g.scales[w] |= uint32_t(scales[r * g.groups + gi]) << (16 * (row16 / 8));
        if (g.asym) g.zeros[w] |= uint32_t(zeros[r * g.groups + gi]) << (16 * (row16 / 8));
      }
  auto flip = [&](int h) { return mutation == Q4Mutation::nibble_order ? 1 - h : h; };

  if (!g.sp24) {
    // The code of (r, c), or the zero point beyond the matrix (so padding dequantizes to 0).
    auto code = [&](int64_t r, int64_t c) -> uint32_t {
      if (r >= a.rows || c >= a.cols) return g.asym ? 0u : uint32_t(sym_zero);
      return quant_code(codes, 4, r * a.cols + c);
    };
    g.codes.assign(size_t(g.row_blocks * g.stages * kWarp * 4), 0);
    for (int64_t rb = 0; rb < g.row_blocks; ++rb)
      for (int64_t s = 0; s < g.stages; ++s)
        for (int lane = 0; lane < kWarp; ++lane)
          for (int j = 0; j < 4; ++j) {
            uint32_t word = 0;
            for (int r = 0; r < 4; ++r)
              for (int h = 0; h < 2; ++h)
                word |= code(rb * 16 + q4_reg_row(lane, r), s * kStageK + 16 * j + q4d_reg_col(lane, r, h)) << q4_nibble_shift(r, flip(h));
            g.codes[size_t(q4d_code_word(rb, s, g.stages, lane, j))] = word;
          }
    return Status::Ok();
  }

  // 2:4: the kept columns (i0 < i1) and codes of each 4-column chunk, from the masks.
  const int64_t per_row = nm_values_per_row(a.cols, 2, 4);
  const int64_t wpr = mask_words_per_row(nm_padded_cols(a.cols, 4));
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  struct Pair {
    int i0 = 0, i1 = 1;
    uint32_t q0 = 0, q1 = 0;
  };
  auto chunk = [&](int64_t r, int64_t c4, Pair* p) -> bool {  // c4: the chunk's index along the row
    *p = Pair();
    if (r >= a.rows || c4 * 4 >= a.cols) {
      p->q0 = p->q1 = g.asym ? 0u : uint32_t(sym_zero);
      return true;
    }
    int found = 0;
    for (int j = 0; j < 4 && found < 2; ++j) {
      const int64_t col = c4 * 4 + j;
      if (!(masks[r * wpr + col / 32] >> (col % 32) & 1u)) continue;
      if (found++ == 0) p->i0 = j;
      else p->i1 = j;
    }
    if (found != 2) return false;
    p->q0 = quant_code(codes, 4, r * per_row + c4 * 2);
    p->q1 = quant_code(codes, 4, r * per_row + c4 * 2 + 1);
    return true;
  };
  g.codes.assign(size_t(g.row_blocks * g.stages * kWarp * 2), 0);
  g.meta.assign(size_t(g.row_blocks * g.stages * kWarp), 0);
  for (int64_t rb = 0; rb < g.row_blocks; ++rb)
    for (int64_t s = 0; s < g.stages; ++s)
      for (int lane = 0; lane < kWarp; ++lane) {
        for (int u = 0; u < 2; ++u) {
          uint32_t word = 0;
          for (int r = 0; r < 4; ++r) {
            Pair p;
            if (!chunk(rb * 16 + q4_reg_row(lane, r), (s * kStageK + u * kQ4StepK) / 4 + q4s_reg_chunk(lane, r), &p))
              return Status::Error(ErrorCode::format, "q4_to_gpu: a group does not keep exactly 2 values");
            word |= p.q0 << q4_nibble_shift(r, flip(0)) | p.q1 << q4_nibble_shift(r, flip(1));
          }
          g.codes[size_t(q4s_code_word(rb, s, g.stages, lane, u))] = word;
        }
        // The e operand this lane supplies: k32 step u of the stage, chunks 4h .. 4h + 3.
        const int u = q4s_meta_step(lane), h = q4s_meta_half(lane);
        uint32_t e = 0;
        for (int row16 = lane >> 2; row16 < 16; row16 += 8)
          for (int c = 0; c < 4; ++c) {
            Pair p;
            if (!chunk(rb * 16 + row16, (s * kStageK + u * kQ4StepK) / 4 + 4 * h + c, &p))
              return Status::Error(ErrorCode::format, "q4_to_gpu: a group does not keep exactly 2 values");
            const int row_for_bits = mutation == Q4Mutation::meta_rows ? row16 ^ 8 : row16;
            e |= sp24_group_bits(p.i0, p.i1) << sp24_meta_shift(row_for_bits, c);
          }
        g.meta[size_t(q4s_meta_word(rb, s, g.stages, lane))] = e;
      }
  return Status::Ok();
}

}  // namespace sk::cuda
