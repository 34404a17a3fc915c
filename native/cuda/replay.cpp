// See replay.h. The loops mirror the kernels in spmm_*.cu step by step (same stage order, same
// buffers, same per-thread indices); only the warp instructions are replaced by the model.
#include "replay.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bitmap_index.h"
#include "gpu_layouts.h"
#include "sp24_index.h"
#include "tiled_csl_index.h"
#include "warp_model.h"

namespace sk::cuda {

const char* gpu_kernel_name(GpuKernel k) {
  switch (k) {
    case GpuKernel::tiled_csl: return "tiled-csl";
    case GpuKernel::bitmap: return "bitmap";
    case GpuKernel::sp24: return "sp24";
  }
  return "?";
}

bool gpu_kernel_from_name(const char* name, GpuKernel* out) {
  for (GpuKernel k : {GpuKernel::tiled_csl, GpuKernel::bitmap, GpuKernel::sp24})
    if (std::strcmp(name, gpu_kernel_name(k)) == 0) { *out = k; return true; }
  return false;
}

namespace {

using model::kLanes;
using model::ModelError;

// Block-wide state: the double-buffered activation tiles and every warp's accumulators.
struct Block {
  int bn;
  int mts;  // m16 blocks per warp
  std::vector<uint16_t> b_smem[2];
  std::vector<float> acc;  // [warp][mt][nt][lane][4]
  float* at(int w, int mt, int nt, int lane) { return &acc[size_t((((w * mts + mt) * (bn / 8) + nt) * kLanes + lane) * 4)]; }
};

// The block's threads stage X[n0.., k0..) into smem (cp.async in the kernel; zero-fill at edges).
void stage_b(const uint16_t* x, int64_t N, int64_t K, int64_t n0, int64_t k0, int bn, uint16_t* smem) {
  for (int tid = 0; tid < kBlockThreads; ++tid)
    for (int c = tid; c < b_tile_chunks(bn); c += kBlockThreads) {
      const int64_t n = n0 + b_chunk_row(c), k = k0 + b_chunk_col(c);
      const int valid = b_chunk_valid(n, k, N, K);
      for (int e = 0; e < 8; ++e)
        smem[smem_pos(b_chunk_row(c), b_chunk_col(c) + e)] = e < valid ? x[n * K + k + e] : 0;
    }
}

// One warp, one k16 step of B from smem: ldmatrix.x2 for n8 block nt.
bool load_b_frag(const Block& blk, int cur, int ks, int nt, uint32_t b[kLanes][2], ModelError* err) {
  uint32_t addr[kLanes], regs[kLanes][4];
  for (int lane = 0; lane < kLanes; ++lane) addr[lane] = smem_pos(nt * 8 + ldsm_b_row(lane), ks * 16 + ldsm_b_col(lane));
  model::ldmatrix(blk.b_smem[cur].data(), blk.b_smem[cur].size(), addr, 2, false, regs, err);
  for (int lane = 0; lane < kLanes; ++lane) { b[lane][0] = regs[lane][0]; b[lane][1] = regs[lane][1]; }
  return !err->failed;
}

// Accumulators -> partial[z][n][m] (f32), the kernels' epilogue.
void store_acc(Block& blk, int warps, int64_t m_base, int warp_rows, int64_t n0, int64_t M, int64_t N, float* part) {
  for (int w = 0; w < warps; ++w)
    for (int mt = 0; mt < blk.mts; ++mt)
      for (int nt = 0; nt < blk.bn / 8; ++nt)
        for (int lane = 0; lane < kLanes; ++lane)
          for (int i = 0; i < 4; ++i) {
            const int64_t m = m_base + w * warp_rows + mt * 16 + acc_row(lane, i), n = n0 + nt * 8 + acc_col(lane, i);
            if (m < M && n < N) part[n * M + m] = blk.at(w, mt, nt, lane)[i];
          }
}

Status model_failed(const ModelError& e, GpuKernel k) {
  return Status::Error(ErrorCode::internal, std::string("replay of the ") + gpu_kernel_name(k) + " kernel: " + e.what);
}

struct Problem {
  DType dtype;
  int64_t M, K, N;
  const uint16_t* x;
  int bn, splits;
  int64_t stages;
};

Block make_block(const Problem& p, int mts) {
  Block blk;
  blk.bn = p.bn;
  blk.mts = mts;
  for (auto& s : blk.b_smem) s.assign(size_t(p.bn * kStageK), 0);
  blk.acc.assign(size_t(4 * mts * (p.bn / 8) * kLanes * 4), 0.f);
  return blk;
}

// ---- Tiled-CSL -------------------------------------------------------------------------------

void tcsl_load_tile(const uint32_t* words, const int32_t* offs, int64_t tile, uint16_t* a_smem) {
  // Zero the buffer (the kernel's uint4 stores), then every round's register-staged words.
  for (int tid = 0; tid < kBlockThreads; ++tid)
    for (int c = tid; c < kTcslZeroChunks; c += kBlockThreads) std::memset(a_smem + c * 8, 0, 16);
  const int count = offs[tile + 1] - offs[tile];
  const uint32_t* w = words + offs[tile];
  for (int round = 0; round < tcsl_rounds(count); ++round) {
    uint32_t staged[kBlockThreads][kTcslVecsPerThread][4];
    bool have[kBlockThreads][kTcslVecsPerThread];
    for (int tid = 0; tid < kBlockThreads; ++tid)
      for (int j = 0; j < kTcslVecsPerThread; ++j) {
        const int idx = tcsl_word_index(tid, round, j);
        have[tid][j] = idx < count;
        if (have[tid][j]) std::memcpy(staged[tid][j], w + idx, 16);
      }
    for (int tid = 0; tid < kBlockThreads; ++tid)
      for (int j = 0; j < kTcslVecsPerThread; ++j)
        if (have[tid][j])
          for (int e = 0; e < 4; ++e) a_smem[tcsl_word_pos(staged[tid][j][e])] = tcsl_word_bits(staged[tid][j][e]);
  }
}

Status replay_tiled_csl(const MatrixView& a, const Problem& p, float* part) {
  const uint32_t* words = a.as<uint32_t>(Part::words);
  const int32_t* offs = a.as<int32_t>(Part::tile_offsets);
  const int64_t tile_rows = tiles_down(p.M);
  ModelError err;
  std::vector<uint16_t> a_smem[2];
  for (auto& s : a_smem) s.assign(size_t(kTileRows * kTileCols), 0);
  for (int z = 0; z < p.splits; ++z)
    for (int64_t by = 0; by < tile_rows; ++by)
      for (int64_t n0 = 0; n0 < p.N; n0 += p.bn) {
        Block blk = make_block(p, 2);
        const int64_t first = split_first(p.stages, p.splits, z), last = split_last(p.stages, p.splits, z);
        tcsl_load_tile(words, offs, by * p.stages + first, a_smem[0].data());
        stage_b(p.x, p.N, p.K, n0, first * kStageK, p.bn, blk.b_smem[0].data());
        for (int64_t kt = first; kt < last; ++kt) {
          const int cur = int((kt - first) & 1), nxt = cur ^ 1;
          for (int w = 0; w < 4; ++w)
            for (int ks = 0; ks < kStageK / 16; ++ks)
              for (int mt = 0; mt < 2; ++mt) {
                uint32_t addr[kLanes], afrag[kLanes][4];
                for (int lane = 0; lane < kLanes; ++lane)
                  addr[lane] = smem_pos(tcsl_warp_row0(w, mt) + ldsm_a_row(lane), ks * 16 + ldsm_a_col(lane));
                model::ldmatrix(a_smem[cur].data(), a_smem[cur].size(), addr, 4, false, afrag, &err);
                for (int nt = 0; nt < p.bn / 8; ++nt) {
                  uint32_t bfrag[kLanes][2];
                  if (!load_b_frag(blk, cur, ks, nt, bfrag, &err)) return model_failed(err, GpuKernel::tiled_csl);
                  float (*acc)[4] = reinterpret_cast<float (*)[4]>(blk.at(w, mt, nt, 0));
                  model::mma_m16n8k16(p.dtype, afrag, bfrag, acc, acc);
                }
              }
          if (err.failed) return model_failed(err, GpuKernel::tiled_csl);
          if (kt + 1 < last) {
            tcsl_load_tile(words, offs, by * p.stages + kt + 1, a_smem[nxt].data());
            stage_b(p.x, p.N, p.K, n0, (kt + 1) * kStageK, p.bn, blk.b_smem[nxt].data());
          }
        }
        store_acc(blk, 4, by * kTileRows, kTcslWarpRows, n0, p.M, p.N, part + size_t(z) * size_t(p.N * p.M));
      }
  return Status::Ok();
}

// ---- warp-per-16-rows kernels (bitmap, 2:4) ----------------------------------------------------

// The shared skeleton of spmm_bitmap.cu and spmm_sp24.cu: 4 warps of 16 rows per block, one
// activation tile per 64-wide K stage, `warp_stage(blk, w, rb, kb)` does one warp's tensor-core work.
static_assert(kBmpWarpRows == 16 && kSp24WarpRows == 16 && kBmpBlockRows == 64 && kSp24BlockRows == 64,
              "replay_warp_rows assumes 4 warps of 16 rows");
template <class WarpStage>
Status replay_warp_rows(const Problem& p, int64_t row_blocks, float* part, WarpStage&& warp_stage) {
  const int64_t blocks = (row_blocks + 3) / 4;
  for (int z = 0; z < p.splits; ++z)
    for (int64_t bx = 0; bx < blocks; ++bx)
      for (int64_t n0 = 0; n0 < p.N; n0 += p.bn) {
        Block blk = make_block(p, 1);
        const int64_t first = split_first(p.stages, p.splits, z), last = split_last(p.stages, p.splits, z);
        for (int64_t kb = first; kb < last; ++kb) {
          stage_b(p.x, p.N, p.K, n0, kb * kStageK, p.bn, blk.b_smem[0].data());
          for (int w = 0; w < 4; ++w)
            if (bx * 4 + w < row_blocks) SK_RETURN_IF_ERROR(warp_stage(blk, w, bx * 4 + w, kb));
        }
        store_acc(blk, 4, bx * 4 * 16, 16, n0, p.M, p.N, part + size_t(z) * size_t(p.N * p.M));
      }
  return Status::Ok();
}

Status replay_bitmap(const BitmapGpu& g, const Problem& p, float* part) {
  ModelError err;
  return replay_warp_rows(p, g.row_blocks, part, [&](Block& blk, int w, int64_t rb, int64_t kb) {
    const int64_t t = rb * g.kblocks + kb;
    // The warp stages its tile's values (uint4 copies) and 16 masks into shared memory.
    std::vector<uint16_t> vals(g.values.begin() + g.offsets[t], g.values.begin() + g.offsets[t + 1]);
    const uint64_t* masks = &g.masks[size_t(t * kBmpSubtiles)];
    int run = 0;
    for (int ks = 0; ks < kStageK / 16; ++ks) {
      uint32_t afrag[kLanes][4];
      for (int q = 0; q < 4; ++q) {
        const uint64_t mask = masks[ks * 4 + q];
        for (int lane = 0; lane < kLanes; ++lane) afrag[lane][q] = bmp_lane_pair(mask, lane, vals.data() + run);
        run += popc64(mask);
      }
      for (int nt = 0; nt < p.bn / 8; ++nt) {
        uint32_t bfrag[kLanes][2];
        if (!load_b_frag(blk, 0, ks, nt, bfrag, &err)) return model_failed(err, GpuKernel::bitmap);
        float (*acc)[4] = reinterpret_cast<float (*)[4]>(blk.at(w, 0, nt, 0));
        model::mma_m16n8k16(p.dtype, afrag, bfrag, acc, acc);
      }
    }
    return Status::Ok();
  });
}

Status replay_sp24(const Sp24Gpu& g, const Problem& p, float* part) {
  ModelError err;
  return replay_warp_rows(p, g.row_blocks, part, [&](Block& blk, int w, int64_t rb, int64_t kb) {
    for (int ks = 0; ks < kStageK / 16; ++ks) {
      const int64_t kg = kb * (kStageK / 16) + ks;
      if (kg >= g.ksteps) break;
      uint32_t afrag[kLanes][2], e[kLanes];
      for (int lane = 0; lane < kLanes; ++lane) {
        afrag[lane][0] = g.values[size_t(sp24_value_word(rb, kg, g.ksteps, lane, 0))];
        afrag[lane][1] = g.values[size_t(sp24_value_word(rb, kg, g.ksteps, lane, 1))];
        e[lane] = g.meta[size_t(sp24_meta_word(rb, kg, g.ksteps, lane >> 2))];
      }
      for (int nt = 0; nt < p.bn / 8; ++nt) {
        uint32_t bfrag[kLanes][2];
        if (!load_b_frag(blk, 0, ks, nt, bfrag, &err)) return model_failed(err, GpuKernel::sp24);
        float (*acc)[4] = reinterpret_cast<float (*)[4]>(blk.at(w, 0, nt, 0));
        model::mma_sp_m16n8k16(p.dtype, afrag, bfrag, acc, e, kSp24Selector, acc, &err);
        if (err.failed) return model_failed(err, GpuKernel::sp24);
      }
    }
    return Status::Ok();
  });
}

}  // namespace

Status replay_spmm(const MatrixView& a, const uint16_t* x, int64_t n, const ReplayOptions& opt, float* y) {
  SK_RETURN_IF_ERROR(check_part_sizes(a));
  if (a.dtype != DType::f16 && a.dtype != DType::bf16)
    return Status::Error(ErrorCode::dtype, std::string("GPU kernels take float16/bfloat16 weights, got ") + dtype_name(a.dtype));
  const Format want = opt.kernel == GpuKernel::tiled_csl ? Format::tiled_csl : opt.kernel == GpuKernel::bitmap ? Format::bitmap : Format::nm;
  if (a.format != want)
    return Status::Error(ErrorCode::format, std::string("the ") + gpu_kernel_name(opt.kernel) + " kernel needs the " +
                                                format_name(want) + " format, got " + format_name(a.format));
  Problem p{a.dtype, a.rows, a.cols, n, x, opt.bn ? opt.bn : pick_bn(n), 1, (a.cols + kStageK - 1) / kStageK};
  if (p.bn != 8 && p.bn != 16 && p.bn != 32 && p.bn != 64)
    return Status::Error(ErrorCode::argument, "bn must be 8, 16, 32 or 64, got " + std::to_string(p.bn));
  p.splits = int(std::max<int64_t>(1, std::min<int64_t>(opt.split_k, p.stages)));
  if (p.M == 0 || p.N == 0) return Status::Ok();
  if (p.stages == 0) {  // K == 0: the launcher writes zeros without running a kernel
    std::fill(y, y + p.M * p.N, 0.f);
    return Status::Ok();
  }
  std::vector<float> part(size_t(p.splits) * size_t(p.M * p.N), 0.f);
  Status st;
  if (opt.kernel == GpuKernel::tiled_csl) {
    st = replay_tiled_csl(a, p, part.data());
  } else if (opt.kernel == GpuKernel::bitmap) {
    BitmapGpu g;
    SK_RETURN_IF_ERROR(bitmap_to_gpu(a, &g));
    st = replay_bitmap(g, p, part.data());
  } else {
    Sp24Gpu g;
    SK_RETURN_IF_ERROR(nm24_to_gpu(a, &g));
    st = replay_sp24(g, p, part.data());
  }
  SK_RETURN_IF_ERROR(st);
  // The split-K reduction kernel: sum the partial products in split order.
  for (int64_t i = 0; i < p.M * p.N; ++i) {
    float s = 0.f;
    for (int z = 0; z < p.splits; ++z) s += part[size_t(z) * size_t(p.M * p.N) + size_t(i)];
    y[i] = s;
  }
  return Status::Ok();
}

}  // namespace sk::cuda
