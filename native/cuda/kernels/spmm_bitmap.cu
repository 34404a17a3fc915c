// Bitmap SpMM on tensor cores (the SpInfer idea, written from the paper): each warp owns 16 rows,
// stages its warp tile's packed values and 16 masks in shared memory, and builds every mma A
// register straight from a mask with two bit tests and a popcount (bmp_lane_pair), no dense
// detour. One activation tile per 64-wide K stage is shared by the block's 4 warps.
// Double-buffered: stage k+1 (activations, values, masks) is in flight while stage k is computed.
// replay.cpp (replay_bitmap) is this kernel's CPU twin.
#include "bitmap_index.h"
#include "kernel_common.cuh"
#include "kernels.h"
#include "launch_grid.h"

namespace sk::cuda {

namespace {

template <bool BF16, int BN>
__global__ void __launch_bounds__(kBlockThreads) spmm_bitmap_kernel(const uint64_t* __restrict__ masks,
                                                                   const int32_t* __restrict__ offs,
                                                                   const uint16_t* __restrict__ vals,
                                                                   const uint16_t* __restrict__ x, float* __restrict__ part,
                                                                   int64_t M, int64_t K, int64_t N, int64_t row_blocks,
                                                                   int64_t kblocks, int splits, bool aligned) {
  __shared__ __align__(16) uint16_t b_s[2][BN * kStageK];
  __shared__ __align__(16) uint16_t v_s[2][4][kBmpMaxValues];
  __shared__ __align__(16) uint64_t m_s[2][4][kBmpSubtiles];
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t n0 = int64_t(blockIdx.x) * BN, rb = int64_t(blockIdx.y) * 4 + warp, z = blockIdx.z;
  const bool active = rb < row_blocks;  // warp-uniform, so the .aligned instructions stay legal
  const int64_t first = split_first(kblocks, splits, int(z)), last = split_last(kblocks, splits, int(z));
  // One K stage into buffer `buf`, all through cp.async: the activation tile (whole block), this
  // warp's packed values (uint4 chunks, lane-strided) and its 16 masks (8 bytes each).
  auto stage = [&](int64_t kb, int buf) {
    load_b_tile<BN>(x, N, K, n0, kb * kStageK, b_s[buf], aligned);
    if (active) {
      const int64_t t = rb * kblocks + kb;
      const int base = offs[t], chunks = (offs[t + 1] - base) / kBmpValueAlign;
      for (int c = lane; c < chunks; c += kWarp)
        cp_async16(smem_u32(&v_s[buf][warp][c * kBmpValueAlign]), vals + base + c * kBmpValueAlign, 16);
      if (lane < kBmpSubtiles) cp_async8(smem_u32(&m_s[buf][warp][lane]), masks + t * kBmpSubtiles + lane);
    }
    cp_async_commit();
  };
  float acc[1][BN / 8][4] = {};
  stage(first, 0);
  cp_async_wait_all();
  __syncthreads();
  for (int64_t kb = first; kb < last; ++kb) {
    const int cur = int((kb - first) & 1);
    if (kb + 1 < last) stage(kb + 1, cur ^ 1);  // overlaps the math below
    if (active) {
      int run = 0;
#pragma unroll
      for (int ks = 0; ks < kStageK / 16; ++ks) {
        uint32_t a[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const uint64_t mask = m_s[cur][warp][ks * 4 + q];
          a[q] = bmp_lane_pair(mask, lane, v_s[cur][warp] + run);
          run += popc64(mask);
        }
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt) {
          uint32_t b[2];
          load_b_frag(b, b_s[cur], ks, nt, lane);
          mma_16816<BF16>(acc[0][nt], a, b);
        }
      }
    }
    cp_async_wait_all();
    __syncthreads();
  }
  if (active) store_acc<1, BN>(acc, rb * kBmpWarpRows, n0, lane, M, N, part + z * N * M);
}

template <int BN>
cudaError_t launch(const uint64_t* masks, const int32_t* offsets, const uint16_t* values, int64_t row_blocks, int64_t kblocks,
                   const LaunchArgs& a) {
  auto kernel = a.bf16 ? spmm_bitmap_kernel<true, BN> : spmm_bitmap_kernel<false, BN>;
  SpmmGrid g;
  if (!spmm_grid(a.N, BN, spmm_row_blocks(a.M, kBmpBlockRows), a.splits, &g)) return cudaErrorInvalidConfiguration;  // launcher.cu checks first
  const dim3 grid(g.x, g.y, g.z);
  kernel<<<grid, kBlockThreads, 0, a.stream>>>(masks, offsets, values, a.x, a.part, a.M, a.K, a.N, row_blocks, kblocks,
                                               a.splits, a.aligned);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_bitmap(const uint64_t* masks, const int32_t* offsets, const uint16_t* values, int64_t row_blocks,
                          int64_t kblocks, const LaunchArgs& a) {
  SK_CUDA_DISPATCH_BN(a.bn, launch, masks, offsets, values, row_blocks, kblocks, a)
}

}  // namespace sk::cuda
