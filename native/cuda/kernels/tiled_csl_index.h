// Per-thread index math of the Tiled-CSL kernel (Flash-LLM's "load as sparse, compute as dense").
// A block of 128 threads owns one 128-row tile row and walks its 128x64 tiles along K. Each tile's
// words are fetched into registers in rounds of kStageWords (16-byte loads, coalesced across the
// block) and scattered into a zeroed, swizzled [128][64] shared-memory tile. A tile over 50% dense
// simply takes a second round: this is the fix for Flash-LLM's fixed 4096-word register budget.
#pragma once
#include "mma_layout.h"

namespace sk::cuda {

constexpr int kTcslVecsPerThread = 8;                                     // uint4 loads per thread per round
constexpr int kTcslRoundWords = kTcslVecsPerThread * 4 * kBlockThreads;  // 4096 words = 50% of a tile
constexpr int kTcslMaxRounds = (kTileRows * kTileCols + kTcslRoundWords - 1) / kTcslRoundWords;  // 2

// Index (within the tile's word list) of the first word of thread `tid`'s j-th uint4 in `round`.
// Consecutive threads read consecutive 16-byte chunks so every load instruction is coalesced.
SK_HD inline int tcsl_word_index(int tid, int round, int j) {
  return round * kTcslRoundWords + (j * kBlockThreads + tid) * 4;
}
SK_HD inline int tcsl_rounds(int words) { return (words + kTcslRoundWords - 1) / kTcslRoundWords; }

// A word's destination in the [128][64] shared tile (the packer already swizzled the position)
// and its 16-bit value.
SK_HD inline uint32_t tcsl_word_pos(uint32_t word) { return word >> 16; }
SK_HD inline uint16_t tcsl_word_bits(uint32_t word) { return uint16_t(word & 0xffffu); }

// Warp w computes rows 32w .. 32w+31 of the tile row: two m16 blocks.
constexpr int kTcslWarpRows = 32;
SK_HD inline uint32_t tcsl_warp_row0(int warp, int mt) { return uint32_t(warp * kTcslWarpRows + mt * 16); }

// Zeroing the next A tile: 16 KB as 1024 uint4 stores, thread t stores chunks t, t+128, ...
constexpr int kTcslZeroChunks = kTileRows * kTileCols / 8;

}  // namespace sk::cuda
