// 4-bit weights on tensor cores: the GPU layouts of int4 `dense` (mma.sync m16n8k16) and int4 2:4
// `nm` (mma.sp m16n8k32), the per-lane index math and the in-register dequantization, shared by the
// kernels (spmm_q4.cu), the host layout builder (gpu_quant_layouts.cpp) and the CPU replay.
//
// Both kernels run one warp per 16 weight rows and walk K in 64-column stages (two k32 steps). K
// is a multiple of 32 (quantized groups G = 32..256 divide it), so a k32 step never straddles a
// group. Layouts (rows padded to 16, K to 64; padding codes and metadata are valid and unused):
//  - "q4-dense-gpu" codes: per (row block rb, stage s) one uint4 per lane (32 lanes x 16 bytes,
//    one coalesced load); word j of lane l is the A fragment of k16 step 4s + j for mma.sync
//    m16n8k16: register r (0..3) of lane 4g + t is row g + 8(r & 1), columns 2t + 8(r >> 1) + h
//    for its halves h = 0, 1 (PTX ISA 9.7.14.5.8).
//  - "q4-sp24-gpu" codes: per (rb, s) one uint2 per lane; word u is the compressed A fragment of
//    k32 step 2s + u for mma.sp m16n8k32: register r of lane 4g + t holds the two kept values
//    (lower column in half 0) of row g + 8(r & 1) in the 4-column chunk t + 4(r >> 1).
//    Metadata: per (rb, s) one uint32 per lane; lane 4g + t holds the e operand that sparsity
//    selector u = t >> 1 reads from it for k32 step 2s + u: pair lane h = t & 1 describes chunks
//    4h .. 4h+3 (sp24_index.h's word layout: row g in bits 0-15, row g + 8 in bits 16-31). So
//    every lane loads exactly one metadata word per stage and k32 step u runs with selector u.
//  - In a code word, the nibble of register r, half h sits at bits 16h + 4r .. +3: one shift and
//    one AND/OR (lop3) turn register r's two nibbles into two 16-bit values at once.
//  - scales: per (rb, group gi) 8 uint32, word g = fp16 scale of row g | row g + 8 << 16; zeros
//    (asymmetric only) the same with the zero points (symmetric: 8).
// Dequantization ("magic number"): a nibble q OR-ed into the low mantissa bits of 1024.0 (f16
// 0x6400, whose ulp is 1) or 128.0 (bf16 0x4300, ulp 1) is exactly 1024 + q / 128 + q; subtracting
// (1024 + z) / (128 + z), built the same way, gives q - z exactly. The tensor cores multiply these
// exact integers (|q - z| <= 15) with the activations; each k32 step's fp32 partial sum is then
// scaled by its group's fp32 scale and added to the accumulator (one FMA per output), so the
// dequantized weight (q - z) * s is never rounded to 16 bits, for f16 and bf16 activations alike.
#pragma once
#include <cstdint>

#include "mma_layout.h"
#include "sp24_index.h"
#if !defined(__CUDA_ARCH__)
#include "../../core/dtype.h"
#endif

namespace sk::cuda {

constexpr int kQ4WarpRows = 16;
constexpr int kQ4BlockRows = 4 * kQ4WarpRows;
constexpr int kQ4StepK = 32;
constexpr uint32_t kQ4SymZeroWord = 8u | (8u << 16);  // symmetric int4: zero point 8 for both rows

SK_HD inline int64_t q4_row_blocks(int64_t rows) { return (rows + kQ4WarpRows - 1) / kQ4WarpRows; }
SK_HD inline int64_t q4_stages(int64_t cols) { return (cols + kStageK - 1) / kStageK; }
SK_HD inline int64_t q4_steps(int64_t cols) { return cols / kQ4StepK; }
// log2(G / 32): the group of k32 step q is q >> shift (G is a power of two from 32 to 256).
SK_HD inline int q4_group_shift(int group) { return group >= 256 ? 3 : group >= 128 ? 2 : group >= 64 ? 1 : 0; }

// ---- fragment positions (which weight each register half holds) ---------------------------------
// The row of register r of lane l, for both kernels.
SK_HD inline int q4_reg_row(int lane, int r) { return (lane >> 2) + 8 * (r & 1); }
// Dense, mma.sync m16n8k16: the column (0..15 within the k16 step) of register r, half h.
SK_HD inline int q4d_reg_col(int lane, int r, int h) { return 2 * (lane & 3) + 8 * (r >> 1) + h; }
// 2:4, mma.sp m16n8k32: the 4-column chunk (0..7 within the k32 step) of register r.
SK_HD inline int q4s_reg_chunk(int lane, int r) { return (lane & 3) + 4 * (r >> 1); }
// Bit offset of register r's half h in a code word.
SK_HD inline int q4_nibble_shift(int r, int h) { return 16 * h + 4 * r; }

// ---- word offsets --------------------------------------------------------------------------------
// Dense: uint32 offset of word j (k16 step 4s + j) of lane l; the 4 words of a lane are one uint4.
SK_HD inline int64_t q4d_code_word(int64_t rb, int64_t s, int64_t stages, int lane, int j) {
  return ((rb * stages + s) * kWarp + lane) * 4 + j;
}
// 2:4: uint32 offset of word u (k32 step 2s + u) of lane l; the 2 words of a lane are one uint2.
SK_HD inline int64_t q4s_code_word(int64_t rb, int64_t s, int64_t stages, int lane, int u) {
  return ((rb * stages + s) * kWarp + lane) * 2 + u;
}
SK_HD inline int64_t q4s_meta_word(int64_t rb, int64_t s, int64_t stages, int lane) { return (rb * stages + s) * kWarp + lane; }
// The metadata a lane holds: k32 step u = t >> 1 (its sparsity selector), pair lane h = t & 1.
SK_HD inline int q4s_meta_step(int lane) { return (lane & 3) >> 1; }
SK_HD inline int q4s_meta_half(int lane) { return lane & 1; }
// scales / zeros word of (rb, group gi) for the quad g = lane >> 2.
SK_HD inline int64_t q4_param_word(int64_t rb, int64_t gi, int64_t groups, int g) { return (rb * groups + gi) * 8 + g; }

// ---- dequantization ------------------------------------------------------------------------------
SK_HD inline uint32_t q4_magic(bool bf16) { return bf16 ? 0x43004300u : 0x64006400u; }
// Register r's two codes as (magic + q_lo, magic + q_hi), exact 16-bit values.
SK_HD inline uint32_t q4_biased_pair(uint32_t word, int r, bool bf16) {
  return ((word >> (4 * r)) & 0x000f000fu) | q4_magic(bf16);
}
// (magic + z, magic + z) for the zero point of register r's row (rows g | g + 8 in the zeros word).
SK_HD inline uint32_t q4_zero_pair(uint32_t zero_word, int r, bool bf16) {
  return q4_magic(bf16) | (((zero_word >> (16 * (r & 1))) & 0xfu) * 0x00010001u);
}
// (magic + q) - (magic + z) = q - z for both halves: exact, so any rounding mode gives it.
SK_HD inline uint32_t q4_sub_pair(uint32_t a, uint32_t b, bool bf16) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  if (bf16)  // sub.bf16x2 needs sm_90: a * 1 + (-b) with fma.rn.bf16x2 (sm_80)
    asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(0x3f803f80u), "r"(b ^ 0x80008000u));
  else
    asm("sub.rn.f16x2 %0, %1, %2;\n" : "=r"(d) : "r"(a), "r"(b));
  return d;
#else
  uint32_t d = 0;
  for (int h = 0; h < 2; ++h) {
    const uint16_t x = uint16_t(a >> (16 * h)), y = uint16_t(b >> (16 * h));
    const uint16_t r = bf16 ? f32_to_bf16(bf16_to_f32(x) - bf16_to_f32(y)) : f32_to_f16(f16_to_f32(x) - f16_to_f32(y));
    d |= uint32_t(r) << (16 * h);
  }
  return d;
#endif
}
// Register r of the A fragment from a code word: the two values q - z of its row.
SK_HD inline uint32_t q4_dequant_reg(uint32_t word, int r, uint32_t zero_word, bool bf16) {
  return q4_sub_pair(q4_biased_pair(word, r, bf16), q4_zero_pair(zero_word, r, bf16), bf16);
}
// The fp32 scale of accumulator row half (0: row g, 1: row g + 8) from a scales word.
SK_HD inline float q4_scale(uint32_t scale_word, int row_hi) {
  const uint16_t bits = uint16_t(scale_word >> (16 * row_hi));
#if defined(__CUDA_ARCH__)
  float f;
  asm("cvt.f32.f16 %0, %1;\n" : "=f"(f) : "h"(bits));
  return f;
#else
  return f16_to_f32(bits);
#endif
}

}  // namespace sk::cuda
