// Device helpers shared by the SpMM kernels: the warp instructions (inline PTX), the activation
// tile loader and the epilogue. Index math comes from mma_layout.h so the CPU replay uses the same.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "mma_layout.h"

namespace sk::cuda {

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x2(uint32_t (&r)[2], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(addr));
}

template <bool BF16>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (BF16)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Sparsity selector 0 (sp24_index.h: kSp24Selector); the ordered-metadata form ptxas recommends.
template <bool BF16>
__device__ __forceinline__ void mma_sp_16816(float (&d)[4], const uint32_t (&a)[2], const uint32_t (&b)[2], uint32_t e) {
  if constexpr (BF16)
    asm volatile("mma.sp::ordered_metadata.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6, %7}, {%0, %1, %2, %3}, %8, 0x0;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(b[0]), "r"(b[1]), "r"(e));
  else
    asm volatile("mma.sp::ordered_metadata.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6, %7}, {%0, %1, %2, %3}, %8, 0x0;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(b[0]), "r"(b[1]), "r"(e));
}

// m16n8k32: four A registers (two K steps of the sp24 layout), four B registers (two k16 B
// fragments), metadata from the thread pair of selector SEL (0: lanes 4g, 4g+1; 1: 4g+2, 4g+3).
// The float 2:4 kernel uses 0 (sp24_index.h: kSp24K32Selector); the int4 2:4 kernel both.
template <bool BF16, int SEL = 0>
__device__ __forceinline__ void mma_sp_16832(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[4], uint32_t e) {
  if constexpr (BF16)
    asm volatile("mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9, %10, %11}, {%0, %1, %2, %3}, %12, %13;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(e), "n"(SEL));
  else
    asm volatile("mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9, %10, %11}, {%0, %1, %2, %3}, %12, %13;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(e), "n"(SEL));
}

// 16-byte cp.async; bytes < 16 zero-fills the rest (0 reads nothing).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async8(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

// Stages X[n0.., k0..) into the swizzled [BN][64] tile (stage_b in replay.cpp). `aligned`: every
// row of X starts on 16 bytes (K % 8 == 0), so whole chunks go through cp.async.
template <int BN>
__device__ __forceinline__ void load_b_tile(const uint16_t* __restrict__ x, int64_t N, int64_t K, int64_t n0, int64_t k0,
                                            uint16_t* smem, bool aligned) {
  for (int c = threadIdx.x; c < b_tile_chunks(BN); c += kBlockThreads) {
    const int64_t n = n0 + b_chunk_row(c), k = k0 + b_chunk_col(c);
    const int valid = b_chunk_valid(n, k, N, K);
    uint16_t* dst = smem + smem_pos(b_chunk_row(c), b_chunk_col(c));
    if (aligned) {
      cp_async16(smem_u32(dst), valid ? x + n * K + k : x, valid * 2);
    } else {
      uint32_t v[4];
      for (int e = 0; e < 4; ++e) {
        const uint32_t lo = 2 * e < valid ? x[n * K + k + 2 * e] : 0u;
        const uint32_t hi = 2 * e + 1 < valid ? x[n * K + k + 2 * e + 1] : 0u;
        v[e] = lo | (hi << 16);
      }
      *reinterpret_cast<uint4*>(dst) = make_uint4(v[0], v[1], v[2], v[3]);
    }
  }
}

// One k16 step of B for n8 block nt from the staged tile.
__device__ __forceinline__ void load_b_frag(uint32_t (&b)[2], const uint16_t* b_tile, int ks, int nt, int lane) {
  ldsm_x2(b, smem_u32(b_tile + smem_pos(nt * 8 + ldsm_b_row(lane), ks * 16 + ldsm_b_col(lane))));
}

// B for one mma m16n8k32 (k32 step q of the stage, n8 block nt): the k16 fragments 2q and 2q + 1.
__device__ __forceinline__ void load_b_frag_k32(uint32_t (&b)[4], const uint16_t* b_tile, int q, int nt, int lane) {
  uint32_t lo[2], hi[2];
  load_b_frag(lo, b_tile, 2 * q, nt, lane);
  load_b_frag(hi, b_tile, 2 * q + 1, nt, lane);
  b[0] = lo[0];
  b[1] = lo[1];
  b[2] = hi[0];
  b[3] = hi[1];
}

// Accumulators of one warp ([MT][BN/8] m16n8 tiles, rows from m0) -> part[n * M + m].
template <int MT, int BN>
__device__ __forceinline__ void store_acc(const float (&acc)[MT][BN / 8][4], int64_t m0, int64_t n0, int lane, int64_t M,
                                          int64_t N, float* __restrict__ part) {
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int64_t m = m0 + mt * 16 + acc_row(lane, i), n = n0 + nt * 8 + acc_col(lane, i);
        if (m < M && n < N) part[n * M + m] = acc[mt][nt][i];
      }
}

}  // namespace sk::cuda
