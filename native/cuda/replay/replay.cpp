// See replay.h. The loops mirror the kernels in spmm_*.cu step by step (same stage order, same
// buffers, same per-thread indices); only the warp instructions are replaced by the model.
#include "replay.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../kernels/bitmap_index.h"
#include "../runtime/gpu_layouts.h"
#include "../runtime/gpu_quant_layouts.h"
#include "../kernels/q4_index.h"
#include "../kernels/sp24_index.h"
#include "../../formats/tiled_csl_order.h"
#include "../kernels/tiled_csl_index.h"
#include "warp_model.h"

namespace sk::cuda {

const char* gpu_kernel_name(GpuKernel k) {
  switch (k) {
    case GpuKernel::tiled_csl: return "tiled-csl";
    case GpuKernel::bitmap: return "bitmap";
    case GpuKernel::sp24: return "sp24";
    case GpuKernel::sp24_k32: return "sp24-k32";
    case GpuKernel::q4_dense: return "q4-dense";
    case GpuKernel::q4_sp24: return "q4-sp24";
  }
  return "?";
}

bool gpu_kernel_from_name(const char* name, GpuKernel* out) {
  for (GpuKernel k : {GpuKernel::tiled_csl, GpuKernel::bitmap, GpuKernel::sp24, GpuKernel::sp24_k32, GpuKernel::q4_dense,
                      GpuKernel::q4_sp24})
    if (std::strcmp(name, gpu_kernel_name(k)) == 0) { *out = k; return true; }
  return false;
}

namespace {

using model::kLanes;
using model::ModelError;

// Shared memory with a race check. Every access carries the thread and the block's barrier epoch
// (one per __syncthreads in the kernel); two threads touching one element in the same epoch with
// at least one write is a race the kernel's barriers do not prevent, except identical values
// written twice (Tiled-CSL's padding repeats a word on purpose). ldmatrix reads are charged to
// the lane that supplies the row address.
class SharedMem {
 public:
  SharedMem(size_t n, const int* epoch, ModelError* err)
      : v_(n, 0), w_epoch_(n, -1), r_epoch_(n, -1), w_tid_(n, -1), r_tid_(n, -1), epoch_(epoch), err_(err) {}
  void write(int tid, size_t i, uint16_t x) {
    if (w_epoch_[i] == *epoch_ && w_tid_[i] != tid && v_[i] != x) race("write after another thread's write", i);
    if (r_epoch_[i] == *epoch_ && r_tid_[i] != tid) race("write after another thread's read", i);
    v_[i] = x;
    w_epoch_[i] = *epoch_;
    w_tid_[i] = tid;
  }
  void read(int tid, size_t i) {
    if (w_epoch_[i] == *epoch_ && w_tid_[i] != tid) race("read of another thread's write", i);
    r_tid_[i] = r_epoch_[i] == *epoch_ && r_tid_[i] != tid ? -2 : tid;  // -2: several readers
    r_epoch_[i] = *epoch_;
  }
  // ldmatrix: lanes 0 .. 8*num-1 each read one 8-element row.
  void read_rows(int warp, const uint32_t addr[kLanes], int num) {
    for (int lane = 0; lane < 8 * num; ++lane)
      for (int e = 0; e < 8 && size_t(addr[lane]) + 8 <= v_.size(); ++e) read(warp * kLanes + lane, addr[lane] + e);
  }
  const uint16_t* data() const { return v_.data(); }
  size_t size() const { return v_.size(); }

 private:
  void race(const char* what, size_t i) {
    err_->fail(std::string("shared-memory race: ") + what + " at element " + std::to_string(i) + " in barrier epoch " +
               std::to_string(*epoch_));
  }
  std::vector<uint16_t> v_;
  std::vector<int> w_epoch_, r_epoch_, w_tid_, r_tid_;
  const int* epoch_;
  ModelError* err_;
};

// Block-wide state: barrier epoch, the double-buffered activation tiles, every warp's accumulators.
struct Block {
  int bn;
  int mts;  // m16 blocks per warp
  std::unique_ptr<int> epoch = std::make_unique<int>(0);
  std::vector<SharedMem> b_smem;
  std::vector<float> acc;  // [warp][mt][nt][lane][4]
  float* at(int w, int mt, int nt, int lane) { return &acc[size_t((((w * mts + mt) * (bn / 8) + nt) * kLanes + lane) * 4)]; }
  void barrier() { ++*epoch; }
};

// The block's threads stage X[n0.., k0..) into smem (cp.async in the kernel; zero-fill at edges).
void stage_b(const uint16_t* x, int64_t N, int64_t K, int64_t n0, int64_t k0, int bn, SharedMem& smem) {
  for (int tid = 0; tid < kBlockThreads; ++tid)
    for (int c = tid; c < b_tile_chunks(bn); c += kBlockThreads) {
      const int64_t n = n0 + b_chunk_row(c), k = k0 + b_chunk_col(c);
      const int valid = b_chunk_valid(n, k, N, K);
      for (int e = 0; e < 8; ++e) smem.write(tid, smem_pos(b_chunk_row(c), b_chunk_col(c) + e), e < valid ? x[n * K + k + e] : 0);
    }
}

// Warp w, one k16 step of B from smem: ldmatrix.x2 for n8 block nt.
bool load_b_frag(Block& blk, int cur, int w, int ks, int nt, uint32_t b[kLanes][2], ModelError* err) {
  uint32_t addr[kLanes], regs[kLanes][4];
  for (int lane = 0; lane < kLanes; ++lane) addr[lane] = smem_pos(nt * 8 + ldsm_b_row(lane), ks * 16 + ldsm_b_col(lane));
  blk.b_smem[cur].read_rows(w, addr, 2);
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
  bool omit_barrier;
};

Block make_block(const Problem& p, int mts, ModelError* err) {
  Block blk;
  blk.bn = p.bn;
  blk.mts = mts;
  for (int i = 0; i < 2; ++i) blk.b_smem.emplace_back(size_t(p.bn * kStageK), blk.epoch.get(), err);
  blk.acc.assign(size_t(4 * mts * (p.bn / 8) * kLanes * 4), 0.f);
  return blk;
}

// ---- Tiled-CSL -------------------------------------------------------------------------------

void tcsl_zero(SharedMem& a) {  // the kernel's uint4 stores
  for (int tid = 0; tid < kBlockThreads; ++tid)
    for (int c = tid; c < kTcslZeroChunks; c += kBlockThreads)
      for (int e = 0; e < 8; ++e) a.write(tid, size_t(c * 8 + e), 0);
}

// Register rounds [first_round, rounds) of a tile: each thread loads its uint4s, then scatters.
// Each scatter store of a warp (round, j, e) must address its 32-bit shared words in distinct
// banks (the packer's order, formats/tiled_csl_order.h); a conflict fails the replay, except in
// edge tiles narrower than 8 columns, whose positions reach fewer than 32 banks (`all_banks`).
void tcsl_scatter(const uint32_t* words, const int32_t* offs, int64_t tile, int first_round, bool all_banks, SharedMem& a,
                  ModelError* err) {
  const int count = offs[tile + 1] - offs[tile];
  const uint32_t* w = words + offs[tile];
  for (int round = first_round; round < tcsl_rounds(count); ++round) {
    for (int tid = 0; tid < kBlockThreads; ++tid)
      for (int j = 0; j < kTcslVecsPerThread; ++j) {
        const int idx = tcsl_word_index(tid, round, j);
        if (idx >= count) continue;
        for (int e = 0; e < 4; ++e) a.write(tid, tcsl_word_pos(w[idx + e]), tcsl_word_bits(w[idx + e]));
      }
    for (int warp = 0; warp < kBlockThreads / kWarp; ++warp)
      for (int j = 0; j < kTcslVecsPerThread; ++j)
        for (int e = 0; e < 4; ++e) {
          uint32_t bank_word[kSmemBanks];  // the 32-bit shared word each bank holds in this store, +1 (0 = none)
          std::fill(bank_word, bank_word + kSmemBanks, 0u);
          for (int lane = 0; lane < kWarp; ++lane) {
            const int idx = tcsl_word_index(warp * kWarp + lane, round, j);
            if (idx >= count) continue;
            const uint32_t sw = tcsl_word_pos(w[idx + e]) / 2, bank = sw % kSmemBanks;
            if (all_banks && bank_word[bank] && bank_word[bank] != sw + 1)
              err->fail("tiled-csl scatter bank conflict: tile " + std::to_string(tile) + ", round " + std::to_string(round) +
                        ", warp " + std::to_string(warp) + ", store " + std::to_string(j * 4 + e) + ", bank " + std::to_string(bank));
            bank_word[bank] = sw + 1;
          }
        }
  }
}

Status replay_tiled_csl(const MatrixView& a, const Problem& p, float* part) {
  const uint32_t* words = a.as<uint32_t>(Part::words);
  const int32_t* offs = a.as<int32_t>(Part::tile_offsets);
  const int64_t tile_rows = tiles_down(p.M);
  ModelError err;
  for (int z = 0; z < p.splits; ++z)
    for (int64_t by = 0; by < tile_rows; ++by)
      for (int64_t n0 = 0; n0 < p.N; n0 += p.bn) {
        Block blk = make_block(p, 2, &err);
        std::vector<SharedMem> a_smem;
        for (int i = 0; i < 2; ++i) a_smem.emplace_back(size_t(kTileRows * kTileCols), blk.epoch.get(), &err);
        const int64_t first = split_first(p.stages, p.splits, z), last = split_last(p.stages, p.splits, z);
        const int64_t tile0 = by * p.stages;
        const int tile_rows = int(std::min<int64_t>(kTileRows, p.M - by * kTileRows));
        auto all_banks = [&](int64_t kt) {  // the tile of K stage kt reaches every bank
          return tile_region_banks(tile_rows, int(std::min<int64_t>(kTileCols, p.K - kt * kTileCols))) == kSmemBanks;
        };
        // Prologue, as in spmm_tiled_csl.cu: zero | sync | scatter + stage B | wait, sync.
        tcsl_zero(a_smem[0]);
        blk.barrier();
        tcsl_scatter(words, offs, tile0 + first, 0, all_banks(first), a_smem[0], &err);
        stage_b(p.x, p.N, p.K, n0, first * kStageK, p.bn, blk.b_smem[0]);
        blk.barrier();
        for (int64_t kt = first; kt < last; ++kt) {
          const int cur = int((kt - first) & 1), nxt = cur ^ 1;
          const bool more = kt + 1 < last;
          if (more) {  // next B tile (cp.async) and zeroing of the next A buffer overlap the math
            stage_b(p.x, p.N, p.K, n0, (kt + 1) * kStageK, p.bn, blk.b_smem[nxt]);
            tcsl_zero(a_smem[nxt]);
          }
          for (int w = 0; w < 4; ++w)
            for (int ks = 0; ks < kStageK / 16; ++ks)
              for (int mt = 0; mt < 2; ++mt) {
                uint32_t addr[kLanes], afrag[kLanes][4];
                for (int lane = 0; lane < kLanes; ++lane)
                  addr[lane] = smem_pos(tcsl_warp_row0(w, mt) + ldsm_a_row(lane), ks * 16 + ldsm_a_col(lane));
                a_smem[cur].read_rows(w, addr, 4);
                model::ldmatrix(a_smem[cur].data(), a_smem[cur].size(), addr, 4, false, afrag, &err);
                for (int nt = 0; nt < p.bn / 8; ++nt) {
                  uint32_t bfrag[kLanes][2];
                  if (!load_b_frag(blk, cur, w, ks, nt, bfrag, &err)) return model_failed(err, GpuKernel::tiled_csl);
                  float (*acc)[4] = reinterpret_cast<float (*)[4]>(blk.at(w, mt, nt, 0));
                  model::mma_m16n8k16(p.dtype, afrag, bfrag, acc, acc);
                }
              }
          if (more) {
            if (!p.omit_barrier) blk.barrier();  // cp.async wait + __syncthreads: zeroing done everywhere
            tcsl_scatter(words, offs, tile0 + kt + 1, 0, all_banks(kt + 1), a_smem[nxt], &err);
          }
          blk.barrier();
          if (err.failed) return model_failed(err, GpuKernel::tiled_csl);
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

// The shared skeleton of spmm_bitmap.cu and spmm_sp24.cu: 4 warps of 16 rows per block, K in
// 64-wide stages. `stage_warp(smem, w, rb, kb)` is one warp's staging into its own shared region
// (`warp_elems` 16-bit elements per warp and buffer, 0 = none); `compute(blk, cur, w, rb, kb)`
// its tensor-core work on buffer `cur`. `double_buffer` mirrors the kernel's schedule: stage k+1
// is issued before stage k is computed, one barrier per stage.
template <class StageWarp, class Compute>
Status replay_warp_rows(const Problem& p, int64_t row_blocks, size_t warp_elems, bool double_buffer, StageWarp&& stage_warp,
                        Compute&& compute, float* part) {
  const int64_t blocks = (row_blocks + 3) / 4;
  for (int z = 0; z < p.splits; ++z)
    for (int64_t bx = 0; bx < blocks; ++bx)
      for (int64_t n0 = 0; n0 < p.N; n0 += p.bn) {
        ModelError err;
        Block blk = make_block(p, 1, &err);
        std::vector<SharedMem> warp_smem;  // [buffer][warp]
        for (int i = 0; i < 8; ++i) warp_smem.emplace_back(warp_elems, blk.epoch.get(), &err);
        auto stage = [&](int64_t kb, int buf) {
          stage_b(p.x, p.N, p.K, n0, kb * kStageK, p.bn, blk.b_smem[buf]);
          for (int w = 0; w < 4; ++w)
            if (bx * 4 + w < row_blocks) stage_warp(warp_smem[size_t(buf * 4 + w)], w, bx * 4 + w, kb);
        };
        const int64_t first = split_first(p.stages, p.splits, z), last = split_last(p.stages, p.splits, z);
        if (double_buffer) {
          stage(first, 0);
          blk.barrier();
        }
        for (int64_t kb = first; kb < last; ++kb) {
          const int cur = double_buffer ? int((kb - first) & 1) : 0;
          if (double_buffer && kb + 1 < last) stage(kb + 1, cur ^ 1);
          if (!double_buffer) {
            stage(kb, 0);
            if (!p.omit_barrier) blk.barrier();
          }
          for (int w = 0; w < 4; ++w)
            if (bx * 4 + w < row_blocks) SK_RETURN_IF_ERROR(compute(blk, warp_smem[size_t(cur * 4 + w)], cur, w, bx * 4 + w, kb));
          if (!(double_buffer && p.omit_barrier)) blk.barrier();
          if (err.failed) return Status::Error(ErrorCode::internal, "replay: " + err.what);
        }
        store_acc(blk, 4, bx * 4 * 16, 16, n0, p.M, p.N, part + size_t(z) * size_t(p.N * p.M));
      }
  return Status::Ok();
}

// Per-warp shared region of the bitmap kernel: values [0, 1024), then 16 masks as 4 x 16 bits.
constexpr size_t kBmpMaskBase = kBmpMaxValues;

Status replay_bitmap(const BitmapGpu& g, const Problem& p, float* part) {
  ModelError err;
  auto stage_warp = [&](SharedMem& sm, int w, int64_t rb, int64_t kb) {
    const int64_t t = rb * g.kblocks + kb;
    const int base = g.offsets[t], chunks = (g.offsets[t + 1] - base) / kBmpValueAlign;
    for (int c = 0; c < chunks; ++c)  // lane c % 32 moves chunk c (cp.async, 16 bytes)
      for (int e = 0; e < kBmpValueAlign; ++e)
        sm.write(w * kLanes + c % kLanes, size_t(c * kBmpValueAlign + e), g.values[size_t(base + c * kBmpValueAlign + e)]);
    for (int l = 0; l < kBmpSubtiles; ++l)  // lane l < 16 moves mask l (8 bytes)
      for (int j = 0; j < 4; ++j) sm.write(w * kLanes + l, kBmpMaskBase + size_t(l * 4 + j), uint16_t(g.masks[size_t(t * kBmpSubtiles + l)] >> (16 * j)));
  };
  auto compute = [&](Block& blk, SharedMem& sm, int cur, int w, int64_t, int64_t) -> Status {
    int run = 0;
    for (int ks = 0; ks < kStageK / 16; ++ks) {
      uint32_t afrag[kLanes][4];
      for (int q = 0; q < 4; ++q) {
        const int s = ks * 4 + q;
        uint64_t mask = 0;
        for (int j = 0; j < 4; ++j) mask |= uint64_t(sm.data()[kBmpMaskBase + size_t(s * 4 + j)]) << (16 * j);
        for (int lane = 0; lane < kLanes; ++lane) {
          for (int j = 0; j < 4; ++j) sm.read(w * kLanes + lane, kBmpMaskBase + size_t(s * 4 + j));
          afrag[lane][q] = bmp_lane_pair(mask, lane, sm.data() + run);
          // The shared-memory reads bmp_lane_pair just made, for the race check.
          const uint32_t bits = uint32_t(mask >> (2 * lane)) & 3u;
          const int off = popc64(mask & ((uint64_t(1) << (2 * lane)) - 1));
          if (bits & 1u) sm.read(w * kLanes + lane, size_t(run + off));
          if (bits & 2u) sm.read(w * kLanes + lane, size_t(run + off + int(bits & 1u)));
        }
        run += popc64(mask);
      }
      for (int nt = 0; nt < p.bn / 8; ++nt) {
        uint32_t bfrag[kLanes][2];
        if (!load_b_frag(blk, cur, w, ks, nt, bfrag, &err)) return model_failed(err, GpuKernel::bitmap);
        float (*acc)[4] = reinterpret_cast<float (*)[4]>(blk.at(w, 0, nt, 0));
        model::mma_m16n8k16(p.dtype, afrag, bfrag, acc, acc);
      }
    }
    return Status::Ok();
  };
  return replay_warp_rows(p, g.row_blocks, kBmpMaskBase + 4 * kBmpSubtiles, true, stage_warp, compute, part);
}

Status replay_sp24(const Sp24Gpu& g, const Problem& p, float* part) {
  ModelError err;
  auto stage_warp = [](SharedMem&, int, int64_t, int64_t) {};  // A comes straight from global memory
  auto compute = [&](Block& blk, SharedMem&, int cur, int w, int64_t rb, int64_t kb) -> Status {
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
        if (!load_b_frag(blk, cur, w, ks, nt, bfrag, &err)) return model_failed(err, GpuKernel::sp24);
        float (*acc)[4] = reinterpret_cast<float (*)[4]>(blk.at(w, 0, nt, 0));
        model::mma_sp_m16n8k16(p.dtype, afrag, bfrag, acc, e, kSp24Selector, acc, &err);
        if (err.failed) return model_failed(err, GpuKernel::sp24);
      }
    }
    return Status::Ok();
  };
  return replay_warp_rows(p, g.row_blocks, 0, false, stage_warp, compute, part);
}

// The m16n8k32 variant (spmm_sp24.cu with K32): two K steps per instruction, metadata from the
// thread pair of `selector`.
Status replay_sp24_k32(const Sp24Gpu& g, const Problem& p, int selector, float* part) {
  ModelError err;
  auto stage_warp = [](SharedMem&, int, int64_t, int64_t) {};
  auto compute = [&](Block& blk, SharedMem&, int cur, int w, int64_t rb, int64_t kb) -> Status {
    for (int q = 0; q < kStageK / 32; ++q) {
      const int64_t kg = kb * (kStageK / 16) + 2 * q;
      if (kg >= g.ksteps) break;
      uint32_t afrag[kLanes][4], e[kLanes];
      for (int lane = 0; lane < kLanes; ++lane) {
        for (int h = 0; h < 2; ++h)
          for (int j = 0; j < 2; ++j)
            afrag[lane][2 * h + j] = kg + h < g.ksteps ? g.values[size_t(sp24_value_word(rb, kg + h, g.ksteps, lane, j))] : 0u;
        const int64_t km = kg + sp24_k32_meta_half(lane);
        e[lane] = km < g.ksteps ? g.meta[size_t(sp24_meta_word(rb, km, g.ksteps, lane >> 2))] : kSp24PadMeta;
      }
      for (int nt = 0; nt < p.bn / 8; ++nt) {
        uint32_t lo[kLanes][2], hi[kLanes][2], bfrag[kLanes][4];
        if (!load_b_frag(blk, cur, w, 2 * q, nt, lo, &err) || !load_b_frag(blk, cur, w, 2 * q + 1, nt, hi, &err))
          return model_failed(err, GpuKernel::sp24_k32);
        for (int lane = 0; lane < kLanes; ++lane) {
          bfrag[lane][0] = lo[lane][0];
          bfrag[lane][1] = lo[lane][1];
          bfrag[lane][2] = hi[lane][0];
          bfrag[lane][3] = hi[lane][1];
        }
        float (*acc)[4] = reinterpret_cast<float (*)[4]>(blk.at(w, 0, nt, 0));
        model::mma_sp_m16n8k32(p.dtype, afrag, bfrag, acc, e, selector, acc, &err);
        if (err.failed) return model_failed(err, GpuKernel::sp24_k32);
      }
    }
    return Status::Ok();
  };
  return replay_warp_rows(p, g.row_blocks, 0, false, stage_warp, compute, part);
}

// spmm_q4.cu: per stage each lane's codes (and, 2:4, metadata word) and the scale / zero words of
// its two k32 steps (the kernel loads them one stage ahead; the words are the same); per k32 step
// the A fragment dequantized in registers (q4_dequant_reg), mma into a zeroed tile, then
// acc += scale * tile.
Status replay_q4(const Q4Gpu& g, const Problem& p, float* part) {
  ModelError err;
  const bool bf16 = p.dtype == DType::bf16;
  const GpuKernel kernel = g.sp24 ? GpuKernel::q4_sp24 : GpuKernel::q4_dense;
  auto stage_warp = [](SharedMem&, int, int64_t, int64_t) {};
  auto compute = [&](Block& blk, SharedMem&, int cur, int w, int64_t rb, int64_t kb) -> Status {
    for (int u = 0; u < kStageK / kQ4StepK; ++u) {
      const int64_t q = kb * (kStageK / kQ4StepK) + u;
      if (q >= g.steps) break;
      uint32_t sw[kLanes], zw[kLanes];
      for (int lane = 0; lane < kLanes; ++lane) {
        const int64_t pw = q4_param_word(rb, q >> q4_group_shift(g.group), g.groups, lane >> 2);
        sw[lane] = g.scales[size_t(pw)];
        zw[lane] = g.asym ? g.zeros[size_t(pw)] : kQ4SymZeroWord;
      }
      std::vector<float> tile(size_t(p.bn / 8) * kLanes * 4, 0.f);
      auto t = [&](int nt) { return reinterpret_cast<float (*)[4]>(&tile[size_t(nt) * kLanes * 4]); };
      if (g.sp24) {
        uint32_t a[kLanes][4], e[kLanes];
        for (int lane = 0; lane < kLanes; ++lane) {
          const uint32_t word = g.codes[size_t(q4s_code_word(rb, kb, g.stages, lane, u))];
          for (int r = 0; r < 4; ++r) a[lane][r] = q4_dequant_reg(word, r, zw[lane], bf16);
          e[lane] = g.meta[size_t(q4s_meta_word(rb, kb, g.stages, lane))];
        }
        for (int nt = 0; nt < p.bn / 8; ++nt) {
          uint32_t lo[kLanes][2], hi[kLanes][2], b[kLanes][4];
          if (!load_b_frag(blk, cur, w, 2 * u, nt, lo, &err) || !load_b_frag(blk, cur, w, 2 * u + 1, nt, hi, &err))
            return model_failed(err, kernel);
          for (int lane = 0; lane < kLanes; ++lane) {
            b[lane][0] = lo[lane][0];
            b[lane][1] = lo[lane][1];
            b[lane][2] = hi[lane][0];
            b[lane][3] = hi[lane][1];
          }
          model::mma_sp_m16n8k32(p.dtype, a, b, t(nt), e, /*selector=*/u, t(nt), &err);
          if (err.failed) return model_failed(err, kernel);
        }
      } else {
        for (int j = 0; j < 2; ++j) {
          uint32_t a[kLanes][4];
          for (int lane = 0; lane < kLanes; ++lane)
            for (int r = 0; r < 4; ++r)
              a[lane][r] = q4_dequant_reg(g.codes[size_t(q4d_code_word(rb, kb, g.stages, lane, 2 * u + j))], r, zw[lane], bf16);
          for (int nt = 0; nt < p.bn / 8; ++nt) {
            uint32_t b[kLanes][2];
            if (!load_b_frag(blk, cur, w, 2 * u + j, nt, b, &err)) return model_failed(err, kernel);
            model::mma_m16n8k16(p.dtype, a, b, t(nt), t(nt));
          }
        }
      }
      for (int nt = 0; nt < p.bn / 8; ++nt)
        for (int lane = 0; lane < kLanes; ++lane) {
          float* acc = blk.at(w, 0, nt, lane);
          for (int i = 0; i < 4; ++i) acc[i] = std::fma(q4_scale(sw[lane], i >> 1), t(nt)[lane][i], acc[i]);
        }
    }
    return Status::Ok();
  };
  return replay_warp_rows(p, g.row_blocks, 0, false, stage_warp, compute, part);
}

}  // namespace

Status replay_spmm(const MatrixView& a, const uint16_t* x, int64_t n, const ReplayOptions& opt, float* y) {
  SK_RETURN_IF_ERROR(check_part_sizes(a));
  const bool q4 = opt.kernel == GpuKernel::q4_dense || opt.kernel == GpuKernel::q4_sp24;
  if (q4 != a.quant.on())
    return Status::Error(ErrorCode::dtype, std::string("the ") + gpu_kernel_name(opt.kernel) + " kernel takes " +
                                               (q4 ? "int4" : "float16/bfloat16") + " weights");
  if (q4 && opt.x_dtype != DType::f16 && opt.x_dtype != DType::bf16)
    return Status::Error(ErrorCode::dtype, std::string("activations must be float16 or bfloat16, got ") + dtype_name(opt.x_dtype));
  if (!q4 && a.dtype != DType::f16 && a.dtype != DType::bf16)
    return Status::Error(ErrorCode::dtype, std::string("GPU kernels take float16/bfloat16 weights, got ") + dtype_name(a.dtype));
  const Format want = opt.kernel == GpuKernel::tiled_csl ? Format::tiled_csl : opt.kernel == GpuKernel::bitmap ? Format::bitmap
                      : opt.kernel == GpuKernel::q4_dense ? Format::dense : Format::nm;
  if (opt.out_dtype != DType::f32 && opt.out_dtype != DType::f16 && opt.out_dtype != DType::bf16)
    return Status::Error(ErrorCode::dtype, std::string("output dtype must be float32, float16 or bfloat16, got ") + dtype_name(opt.out_dtype));
  if (a.format != want)
    return Status::Error(ErrorCode::format, std::string("the ") + gpu_kernel_name(opt.kernel) + " kernel needs the " +
                                                format_name(want) + " format, got " + format_name(a.format));
  Problem p{q4 ? opt.x_dtype : a.dtype, a.rows, a.cols, n, x, opt.bn ? opt.bn : pick_bn(n), 1, (a.cols + kStageK - 1) / kStageK, opt.omit_barrier};
  if (p.bn != 8 && p.bn != 16 && p.bn != 32 && p.bn != 64)
    return Status::Error(ErrorCode::argument, "bn must be 8, 16, 32 or 64, got " + std::to_string(p.bn));
  p.splits = int(std::max<int64_t>(1, std::min<int64_t>(opt.split_k, p.stages)));
  if (p.M == 0 || p.N == 0) return Status::Ok();
  std::vector<float> part(size_t(p.splits) * size_t(p.M * p.N), 0.f);
  Status st;
  if (p.stages == 0) {
    // K == 0: the launcher reduces one zeroed partial (the bias, or zeros) without running a kernel
  } else if (q4) {
    Q4Gpu g;
    SK_RETURN_IF_ERROR(q4_to_gpu(a, &g, Q4Mutation(opt.q4_mutation)));
    st = replay_q4(g, p, part.data());
  } else if (opt.kernel == GpuKernel::tiled_csl) {
    st = replay_tiled_csl(a, p, part.data());
  } else if (opt.kernel == GpuKernel::bitmap) {
    BitmapGpu g;
    SK_RETURN_IF_ERROR(bitmap_to_gpu(a, &g));
    st = replay_bitmap(g, p, part.data());
  } else {
    Sp24Gpu g;
    SK_RETURN_IF_ERROR(nm24_to_gpu(a, &g));
    st = opt.kernel == GpuKernel::sp24 ? replay_sp24(g, p, part.data()) : replay_sp24_k32(g, p, opt.sp24_selector, part.data());
  }
  SK_RETURN_IF_ERROR(st);
  SK_RETURN_IF_ERROR(replay_slorb_term(opt.slorb, p.M, p.K, x, p.dtype, p.N, part.data()));
  // The split-K reduction kernel: sum the partial products in split order in fp32, add the bias,
  // round once to the output dtype (RNE, as __float2half_rn / __float2bfloat16_rn).
  for (int64_t i = 0; i < p.M * p.N; ++i) {
    float s = 0.f;
    for (int z = 0; z < p.splits; ++z) s += part[size_t(z) * size_t(p.M * p.N) + size_t(i)];
    if (opt.bias) s += load_as_f32(opt.bias, opt.bias_dtype, size_t(i % p.M));
    y[i] = opt.out_dtype == DType::f16 ? f16_to_f32(f32_to_f16(s)) : opt.out_dtype == DType::bf16 ? bf16_to_f32(f32_to_bf16(s)) : s;
  }
  return Status::Ok();
}

}  // namespace sk::cuda
