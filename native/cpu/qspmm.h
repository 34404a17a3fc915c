// CPU kernels for quantized weights (formats/quant.h): dense, bitmap and nm with 4- or 8-bit codes
// and per-group fp16 scales. They plug into spmm_cpu's dispatch through select_qspmm_kernel.
// Numerics: each group's sum Σ (code - zero)·x is accumulated in fp32 and multiplied by the
// group's scale, then added to the fp32 row accumulator; activations stay fp32 (never rounded).
#pragma once
#include "spmm.h"

namespace sk {

// The quantized kernel for this matrix, N and ISA (portable always exists).
SpmmKernel select_qspmm_kernel(const MatrixView& a, int64_t n, Isa isa, DType x_dtype, ActivationRounding rounding);
SpmmKernel select_qspmm_avx512(const MatrixView& a, int64_t n);  // fn == nullptr: none for this case
// N > 1, AVX-512: 32-column chunks dequantized exactly into spmm_kernels.inl's decode panel, then
// its fp32 GEMM (qspmm_avx512_gemm.inl, instantiated in spmm_avx512.cpp).
SpmmKernel select_qspmm_avx512_gemm(const MatrixView& a, int64_t n);
// Rounding int8 allowed (ActivationRounding::int8), AVX-512 VNNI + VBMI: qspmm_avx512_vnni.cpp.
SpmmKernel select_qspmm_vnni(const MatrixView& a, int64_t n);
// The int8 GEMMs below run for 2 <= N <= kX8GemmMaxN; above it x stays fp32 (docs/kernels.md, numerics).
constexpr int64_t kX8GemmMaxN = 64;
// The same rounding at N > 1, dense and bitmap 4-bit: weights expanded to bytes once per K block,
// the octs GEMM with vpdpbusd (qspmm_avx512_gemm_x8.cpp); fn == nullptr where it does not apply.
SpmmKernel select_qspmm_gemm_x8(const MatrixView& a, int64_t n);
// The same rounding at N > 1 for 2:4 4-bit: rows in the lanes, x picked per lane by vpermb
// (qspmm_avx512_pick_x8.cpp); fn == nullptr where it does not apply.
SpmmKernel select_qspmm_pick_x8(const MatrixView& a, int64_t n);
// N = 1, 4-bit codes, fp32 activations, AVX-512: dequantization by table (qspmm_avx512_lut.cpp).
SpmmKernel select_qspmm_lut(const MatrixView& a, int64_t n);
// N > 8, 2:4 with 4-bit codes, bf16 activations, AVX512-BF16: weight pairs by vdpbf16ps (qspmm_avx512_bf16.cpp).
SpmmKernel select_qspmm_bf16(const MatrixView& a, int64_t n, DType x_dtype);

// AVX2: N = 1 row dot products (qspmm_avx2.cpp); N > 1 the panel GEMM below.
SpmmKernel select_qspmm_avx2(const MatrixView& a, int64_t n);
// N > 1, AVX2: chunks dequantized exactly into spmm_kernels.inl's decode panel, then its fp32
// GEMM (qspmm_avx2_gemm.inl, instantiated in spmm_avx2.cpp).
SpmmKernel select_qspmm_avx2_gemm(const MatrixView& a, int64_t n);
// Rounding int8 allowed, AVX2, N = 1, dense and 2:4 4-bit: vpmaddubsw on the codes
// (qspmm_avx2_x8.cpp); fn == nullptr where it does not apply.
SpmmKernel select_qspmm_avx2_x8(const MatrixView& a, int64_t n);
// The same at 1 < N <= kX8GemmMaxN, every 4-bit format: rows expanded to code bytes, vpmaddubsw
// against x in quads of k; and at N = 1 for bitmap and n:m other than 2:4, and for every 8-bit
// format, the same rows against x in column order (qspmm_avx2_gemm_x8.cpp); fn == nullptr where it
// does not apply.
SpmmKernel select_qspmm_avx2_gemm_x8(const MatrixView& a, int64_t n);

// x for the AVX-512 N = 1 kernels that read 64 columns as 16 dwords of 4 adjacent columns (lane i,
// code k = column 4i + k): per 64 columns, plane k holds x[c + 4i + k], i = 0..15, in ws. Reads
// and writes cols rounded up to 64 floats (activations are zero-padded that far).
inline const float* stage_x_planes4(const float* x, int64_t cols, float* ws) {
  for (int64_t c = 0; c < cols; c += 64)
    for (int k = 0; k < 4; ++k)
      for (int i = 0; i < 16; ++i) ws[c + 16 * k + i] = x[c + 4 * i + k];
  return ws;
}

// p rounded up to a 64-byte boundary (the kernels carve their workspaces into aligned pieces).
inline uint8_t* align64(const void* p) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

// Portable: any quantized format, any N; x k-major with ld = N.
void qspmm_portable(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out);

}  // namespace sk
