// Tiled-CSL SpMM (Flash-LLM's design, written from the paper): per 64-wide K stage, the next
// tile's words are fetched into registers and the next activation tile is cp.async'ed while the
// tensor cores work on the current buffers; then the words are scattered into the zeroed, swizzled
// shared tile. Tiles over 50% dense take a second register round (tiled_csl_index.h) instead of
// being silently corrupted. replay.cpp (replay_tiled_csl) is this kernel's CPU twin.
#include "kernel_common.cuh"
#include "kernels.h"
#include "launch_grid.h"
#include "tiled_csl_index.h"

namespace sk::cuda {

namespace {

constexpr int kATileElems = kTileRows * kTileCols;

__device__ __forceinline__ void zero_a_tile(uint16_t* a) {
  for (int c = threadIdx.x; c < kTcslZeroChunks; c += kBlockThreads) reinterpret_cast<uint4*>(a)[c] = make_uint4(0, 0, 0, 0);
}

__device__ __forceinline__ void scatter4(uint16_t* a, const uint4& w) {
  a[tcsl_word_pos(w.x)] = tcsl_word_bits(w.x);
  a[tcsl_word_pos(w.y)] = tcsl_word_bits(w.y);
  a[tcsl_word_pos(w.z)] = tcsl_word_bits(w.z);
  a[tcsl_word_pos(w.w)] = tcsl_word_bits(w.w);
}

// Rounds [first_round, rounds) of a tile without overlap: load, then scatter.
__device__ __forceinline__ void load_rounds(const uint32_t* __restrict__ words, int count, int first_round, uint16_t* a) {
  for (int round = first_round; round < tcsl_rounds(count); ++round) {
#pragma unroll
    for (int j = 0; j < kTcslVecsPerThread; ++j) {
      const int idx = tcsl_word_index(threadIdx.x, round, j);
      if (idx < count) scatter4(a, __ldg(reinterpret_cast<const uint4*>(words + idx)));
    }
  }
}

template <bool BF16, int BN>
__global__ void __launch_bounds__(kBlockThreads) spmm_tiled_csl_kernel(const uint32_t* __restrict__ words,
                                                                      const int32_t* __restrict__ offs,
                                                                      const uint16_t* __restrict__ x, float* __restrict__ part,
                                                                      int64_t M, int64_t K, int64_t N, int64_t stages,
                                                                      int splits, bool aligned) {
  extern __shared__ uint4 smem_raw[];
  uint16_t* a_s = reinterpret_cast<uint16_t*>(smem_raw);  // [2][128*64]
  uint16_t* b_s = a_s + 2 * kATileElems;                  // [2][BN*64]
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t n0 = int64_t(blockIdx.x) * BN, by = blockIdx.y, z = blockIdx.z;
  const int64_t first = split_first(stages, splits, int(z)), last = split_last(stages, splits, int(z));
  const int64_t tile0 = by * stages;

  float acc[2][BN / 8][4] = {};
  zero_a_tile(a_s);
  __syncthreads();
  load_rounds(words + offs[tile0 + first], offs[tile0 + first + 1] - offs[tile0 + first], 0, a_s);
  load_b_tile<BN>(x, N, K, n0, first * kStageK, b_s, aligned);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();

  for (int64_t kt = first; kt < last; ++kt) {
    const int cur = int((kt - first) & 1), nxt = cur ^ 1;
    uint16_t* a_cur = a_s + cur * kATileElems;
    uint16_t* a_nxt = a_s + nxt * kATileElems;
    const bool more = kt + 1 < last;
    uint4 staged[kTcslVecsPerThread];
    int next_count = 0;
    const uint32_t* next_words = words;
    if (more) {
      next_words = words + offs[tile0 + kt + 1];
      next_count = offs[tile0 + kt + 2] - offs[tile0 + kt + 1];
#pragma unroll
      for (int j = 0; j < kTcslVecsPerThread; ++j) {
        const int idx = tcsl_word_index(threadIdx.x, 0, j);
        if (idx < next_count) staged[j] = __ldg(reinterpret_cast<const uint4*>(next_words + idx));
      }
      load_b_tile<BN>(x, N, K, n0, (kt + 1) * kStageK, b_s + nxt * BN * kStageK, aligned);
      cp_async_commit();
      zero_a_tile(a_nxt);
    }
    const uint16_t* b_cur = b_s + cur * BN * kStageK;
#pragma unroll
    for (int ks = 0; ks < kStageK / 16; ++ks) {
      uint32_t a[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
        ldsm_x4(a[mt], smem_u32(a_cur + smem_pos(tcsl_warp_row0(warp, mt) + ldsm_a_row(lane), ks * 16 + ldsm_a_col(lane))));
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt) {
        uint32_t b[2];
        load_b_frag(b, b_cur, ks, nt, lane);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) mma_16816<BF16>(acc[mt][nt], a[mt], b);
      }
    }
    if (more) {
      cp_async_wait_all();
      __syncthreads();  // every thread's zeroing of a_nxt is done before anyone scatters into it
#pragma unroll
      for (int j = 0; j < kTcslVecsPerThread; ++j)
        if (tcsl_word_index(threadIdx.x, 0, j) < next_count) scatter4(a_nxt, staged[j]);
      load_rounds(next_words, next_count, 1, a_nxt);
    }
    __syncthreads();
  }
  store_acc<2, BN>(acc, by * kTileRows + warp * kTcslWarpRows, n0, lane, M, N, part + z * N * M);
}

template <int BN> cudaError_t launch(const uint32_t* words, const int32_t* tile_offsets, const LaunchArgs& a) {
  const int64_t stages = tiles_across(a.K);
  const size_t smem = (2 * kATileElems + 2 * BN * kStageK) * sizeof(uint16_t);
  auto kernel = a.bf16 ? spmm_tiled_csl_kernel<true, BN> : spmm_tiled_csl_kernel<false, BN>;
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (e != cudaSuccess) return e;
  SpmmGrid g;
  if (!spmm_grid(a.N, BN, spmm_row_blocks(a.M, kTileRows), a.splits, &g)) return cudaErrorInvalidConfiguration;  // launcher.cu checks first
  const dim3 grid(g.x, g.y, g.z);
  kernel<<<grid, kBlockThreads, smem, a.stream>>>(words, tile_offsets, a.x, a.part, a.M, a.K, a.N, stages, a.splits, a.aligned);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_tiled_csl(const uint32_t* words, const int32_t* tile_offsets, const LaunchArgs& a) {
  SK_CUDA_DISPATCH_BN(a.bn, launch, words, tile_offsets, a)
}

}  // namespace sk::cuda
