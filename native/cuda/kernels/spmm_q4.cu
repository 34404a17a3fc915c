// 4-bit weights on tensor cores with in-register dequantization (Sparse-Marlin's idea: the codes
// stay 4-bit in global memory and registers, and become 16-bit values only as A operands).
//  - q4-dense: mma.sync m16n8k16, one uint4 of codes per lane per 64-column stage;
//  - q4-sp24: mma.sp m16n8k32 (2:4), one uint2 of codes and one metadata word per lane per stage;
//    k32 step u of a stage runs with sparsity selector u (q4_index.h).
// Each k32 step multiplies the exact integers q - z with the activations into a zeroed fp32 tile
// and adds it, times its group's fp32 scale, to the accumulator. Activations are f16 or bf16 (the
// A operand is built in their type); the weight serves both. replay.cpp (replay_q4) is the twin.
#include "kernel_common.cuh"
#include "kernels.h"
#include "launch_grid.h"
#include "q4_index.h"

namespace sk::cuda {

namespace {

// acc += scale(row) * t for one k32 step's partial tile t (rows g: c0, c1; g + 8: c2, c3).
template <int BN>
__device__ __forceinline__ void add_scaled(float (&acc)[1][BN / 8][4], const float (&t)[BN / 8][4], uint32_t scale_word) {
  const float s0 = q4_scale(scale_word, 0), s1 = q4_scale(scale_word, 1);
#pragma unroll
  for (int nt = 0; nt < BN / 8; ++nt) {
    acc[0][nt][0] = fmaf(s0, t[nt][0], acc[0][nt][0]);
    acc[0][nt][1] = fmaf(s0, t[nt][1], acc[0][nt][1]);
    acc[0][nt][2] = fmaf(s1, t[nt][2], acc[0][nt][2]);
    acc[0][nt][3] = fmaf(s1, t[nt][3], acc[0][nt][3]);
  }
}

// What a lane holds of one stage: its code words (dense: 4, 2:4: 2), its metadata word (2:4), and
// the scale / zero words of the stage's two k32 steps.
struct StageRegs {
  uint32_t words[4] = {0, 0, 0, 0};
  uint32_t e = 0;
  uint32_t sw[2] = {0, 0}, zw[2] = {0, 0};
};

struct Q4Args {
  const uint32_t* codes;
  const uint32_t* meta;    // 2:4 only
  const uint32_t* scales;
  const uint32_t* zeros;   // null: symmetric (zero point 8)
  const uint16_t* x;
  float* part;
  int64_t M, K, N, row_blocks, stages, steps, groups;
  int group_shift, splits;
  bool aligned;
};

template <bool SP24>
__device__ __forceinline__ StageRegs load_stage(const Q4Args& p, int64_t rb, int64_t kb, int lane) {
  StageRegs s;
  if constexpr (SP24) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p.codes + q4s_code_word(rb, kb, p.stages, lane, 0)));
    s.words[0] = v.x;
    s.words[1] = v.y;
    s.e = __ldg(p.meta + q4s_meta_word(rb, kb, p.stages, lane));
  } else {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(p.codes + q4d_code_word(rb, kb, p.stages, lane, 0)));
    s.words[0] = v.x;
    s.words[1] = v.y;
    s.words[2] = v.z;
    s.words[3] = v.w;
  }
#pragma unroll
  for (int u = 0; u < kStageK / kQ4StepK; ++u) {
    const int64_t q = kb * (kStageK / kQ4StepK) + u;
    if (q >= p.steps) break;
    const int64_t pw = q4_param_word(rb, q >> p.group_shift, p.groups, lane >> 2);
    s.sw[u] = __ldg(p.scales + pw);
    s.zw[u] = p.zeros ? __ldg(p.zeros + pw) : kQ4SymZeroWord;
  }
  return s;
}

template <bool BF16, int BN, bool SP24>
__global__ void __launch_bounds__(kBlockThreads) spmm_q4_kernel(const Q4Args p) {
  __shared__ __align__(16) uint16_t b_s[BN * kStageK];
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t n0 = int64_t(blockIdx.x) * BN, rb = int64_t(blockIdx.y) * 4 + warp, z = blockIdx.z;
  const bool active = rb < p.row_blocks;
  const int64_t first = split_first(p.stages, p.splits, int(z)), last = split_last(p.stages, p.splits, int(z));
  float acc[1][BN / 8][4] = {};
  // The weight streams one stage ahead in registers: stage kb + 1's codes, metadata, scales and
  // zeros are in flight while stage kb is computed (decode is bound by how many bytes are in flight).
  StageRegs cur;
  if (active && first < last) cur = load_stage<SP24>(p, rb, first, lane);
  for (int64_t kb = first; kb < last; ++kb) {
    load_b_tile<BN>(p.x, p.N, p.K, n0, kb * kStageK, b_s, p.aligned);
    cp_async_commit();
    StageRegs nxt;
    if (active && kb + 1 < last) nxt = load_stage<SP24>(p, rb, kb + 1, lane);
    cp_async_wait_all();
    __syncthreads();
    if (active) {
#pragma unroll
      for (int u = 0; u < kStageK / kQ4StepK; ++u) {
        const int64_t q = kb * (kStageK / kQ4StepK) + u;
        if (q >= p.steps) break;
        const uint32_t zw = cur.zw[u];
        float t[BN / 8][4] = {};
        if constexpr (SP24) {
          uint32_t a[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) a[r] = q4_dequant_reg(cur.words[u], r, zw, BF16);
#pragma unroll
          for (int nt = 0; nt < BN / 8; ++nt) {
            uint32_t b[4];
            load_b_frag_k32(b, b_s, u, nt, lane);
            if (u == 0) mma_sp_16832<BF16, 0>(t[nt], a, b, cur.e);
            else mma_sp_16832<BF16, 1>(t[nt], a, b, cur.e);
          }
        } else {
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            uint32_t a[4];
#pragma unroll
            for (int r = 0; r < 4; ++r) a[r] = q4_dequant_reg(cur.words[2 * u + j], r, zw, BF16);
#pragma unroll
            for (int nt = 0; nt < BN / 8; ++nt) {
              uint32_t b[2];
              load_b_frag(b, b_s, 2 * u + j, nt, lane);
              mma_16816<BF16>(t[nt], a, b);
            }
          }
        }
        add_scaled<BN>(acc, t, cur.sw[u]);
      }
    }
    __syncthreads();
    cur = nxt;
  }
  if (active) store_acc<1, BN>(acc, rb * kQ4WarpRows, n0, lane, p.M, p.N, p.part + z * p.N * p.M);
}

template <int BN>
cudaError_t launch(const Q4Launch& w, const LaunchArgs& a) {
  Q4Args p{w.codes, w.meta, w.scales, w.zeros, a.x, a.part, a.M, a.K, a.N, w.row_blocks, (a.K + kStageK - 1) / kStageK,
           q4_steps(a.K), w.groups, q4_group_shift(w.group), a.splits, a.aligned};
  auto kernel = w.sp24 ? (a.bf16 ? spmm_q4_kernel<true, BN, true> : spmm_q4_kernel<false, BN, true>)
                       : (a.bf16 ? spmm_q4_kernel<true, BN, false> : spmm_q4_kernel<false, BN, false>);
  SpmmGrid g;
  if (!spmm_grid(a.N, BN, spmm_row_blocks(a.M, kQ4BlockRows), a.splits, &g)) return cudaErrorInvalidConfiguration;
  kernel<<<dim3(g.x, g.y, g.z), kBlockThreads, 0, a.stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_q4(const Q4Launch& w, const LaunchArgs& a) { SK_CUDA_DISPATCH_BN(a.bn, launch, w, a) }

}  // namespace sk::cuda
