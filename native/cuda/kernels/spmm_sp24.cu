// 2:4 SpMM on sparse tensor cores (mma.sp m16n8k16 or m16n8k32, ordered metadata). Values and
// metadata were put in fragment order at upload (sp24_index.h), so each lane reads its A operand
// with one coalesced 8-byte load and its metadata word with one 4-byte load per k16 step (k32: two
// value loads and one metadata load per instruction); the activation tile is staged in shared
// memory as in the other kernels. replay.cpp (replay_sp24) is its twin.
#include "kernel_common.cuh"
#include "kernels.h"
#include "launch_grid.h"
#include "sp24_index.h"

namespace sk::cuda {

namespace {

template <bool BF16, int BN, bool K32>
__global__ void __launch_bounds__(kBlockThreads) spmm_sp24_kernel(const uint32_t* __restrict__ vals,
                                                                 const uint32_t* __restrict__ meta,
                                                                 const uint16_t* __restrict__ x, float* __restrict__ part,
                                                                 int64_t M, int64_t K, int64_t N, int64_t row_blocks,
                                                                 int64_t ksteps, int64_t stages, int splits, bool aligned) {
  __shared__ __align__(16) uint16_t b_s[BN * kStageK];
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t n0 = int64_t(blockIdx.x) * BN, rb = int64_t(blockIdx.y) * 4 + warp, z = blockIdx.z;
  const bool active = rb < row_blocks;
  const int64_t first = split_first(stages, splits, int(z)), last = split_last(stages, splits, int(z));
  float acc[1][BN / 8][4] = {};
  for (int64_t kb = first; kb < last; ++kb) {
    load_b_tile<BN>(x, N, K, n0, kb * kStageK, b_s, aligned);
    cp_async_commit();
    cp_async_wait_all();
    __syncthreads();
    if (active && K32) {
#pragma unroll
      for (int q = 0; q < kStageK / 32; ++q) {
        const int64_t kg = kb * (kStageK / 16) + 2 * q;
        if (kg >= ksteps) break;
        const uint2 v0 = __ldg(reinterpret_cast<const uint2*>(vals + sp24_value_word(rb, kg, ksteps, lane, 0)));
        const uint2 v1 = kg + 1 < ksteps ? __ldg(reinterpret_cast<const uint2*>(vals + sp24_value_word(rb, kg + 1, ksteps, lane, 0)))
                                         : make_uint2(0u, 0u);
        const uint32_t a[4] = {v0.x, v0.y, v1.x, v1.y};
        const int64_t km = kg + sp24_k32_meta_half(lane);
        const uint32_t e = km < ksteps ? __ldg(meta + sp24_meta_word(rb, km, ksteps, lane >> 2)) : kSp24PadMeta;
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt) {
          uint32_t b[4];
          load_b_frag_k32(b, b_s, q, nt, lane);
          mma_sp_16832<BF16>(acc[0][nt], a, b, e);
        }
      }
    } else if (active) {
#pragma unroll
      for (int ks = 0; ks < kStageK / 16; ++ks) {
        const int64_t kg = kb * (kStageK / 16) + ks;
        if (kg >= ksteps) break;
        const uint2 v = __ldg(reinterpret_cast<const uint2*>(vals + sp24_value_word(rb, kg, ksteps, lane, 0)));
        const uint32_t a[2] = {v.x, v.y};
        const uint32_t e = __ldg(meta + sp24_meta_word(rb, kg, ksteps, lane >> 2));
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt) {
          uint32_t b[2];
          load_b_frag(b, b_s, ks, nt, lane);
          mma_sp_16816<BF16>(acc[0][nt], a, b, e);
        }
      }
    }
    __syncthreads();
  }
  if (active) store_acc<1, BN>(acc, rb * kSp24WarpRows, n0, lane, M, N, part + z * N * M);
}

template <int BN>
cudaError_t launch(const uint32_t* values, const uint32_t* meta, int64_t row_blocks, int64_t ksteps, const LaunchArgs& a) {
  const int64_t stages = (a.K + kStageK - 1) / kStageK;
  auto kernel = a.sp24_k32 ? (a.bf16 ? spmm_sp24_kernel<true, BN, true> : spmm_sp24_kernel<false, BN, true>)
                           : (a.bf16 ? spmm_sp24_kernel<true, BN, false> : spmm_sp24_kernel<false, BN, false>);
  SpmmGrid g;
  if (!spmm_grid(a.N, BN, spmm_row_blocks(a.M, kSp24BlockRows), a.splits, &g)) return cudaErrorInvalidConfiguration;  // launcher.cu checks first
  const dim3 grid(g.x, g.y, g.z);
  kernel<<<grid, kBlockThreads, 0, a.stream>>>(values, meta, a.x, a.part, a.M, a.K, a.N, row_blocks, ksteps, stages,
                                               a.splits, a.aligned);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_sp24(const uint32_t* values, const uint32_t* meta, int64_t row_blocks, int64_t ksteps, const LaunchArgs& a) {
  SK_CUDA_DISPATCH_BN(a.bn, launch, values, meta, row_blocks, ksteps, a)
}

}  // namespace sk::cuda
