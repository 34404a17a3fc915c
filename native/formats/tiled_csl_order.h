// The order of the words inside one Tiled-CSL tile (docs/formats.md): sorted by target
// shared-memory bank so that the GPU kernel's scatter stores are free of bank conflicts, padded with
// explicit zeros at unstored positions (Flash-LLM's packer does the same with its ItemsInBank).
//
// The GPU kernel scatters a tile 128 words at a time: word i goes to the shared tile from lane
// (i % 128) / 4 of one warp in that warp's store number i % 4 (native/cuda/tiled_csl_index.h,
// tcsl_word_index). A store is conflict-free when its lanes address 32-bit shared words in 32
// different banks (two 16-bit halves of one 32-bit word are one access, not a conflict).
#pragma once
#include <cstdint>
#include <vector>

#include "layout.h"

namespace sk {

constexpr int kTileScatterChunk = 128;  // words per warp per register load (32 lanes x uint4)
constexpr int kSmemBanks = 32;

// The bank (4-byte word of the [128][64] 16-bit shared tile, modulo 32) a word's value lands in.
SK_HD inline uint32_t tile_word_bank(uint32_t word) { return (word >> 17) % kSmemBanks; }
// The store instruction (0..3) and lane (0..31) of word i within its 128-word chunk.
SK_HD inline int tile_word_store(int64_t i) { return int(i % 4); }
SK_HD inline int tile_word_lane(int64_t i) { return int(i % kTileScatterChunk / 4); }

// The words of one tile (tile_rows x tile_cols valid, any order, unique positions) in scatter order:
// every group of words one store instruction writes hits distinct banks, zeros at positions the
// tile does not store fill the lanes that would otherwise conflict, and the count is a multiple of 4
// and at most 8192. Where no conflict-free order fits (tiles too small or too full to pad), the
// words come in (row, col) order with the count padded by repeating the last word, the older
// order, which is still a valid tile. `conflict_free` (if given) says which it was.
std::vector<uint32_t> order_tile_words(std::vector<uint32_t> words, int tile_rows, int tile_cols, bool* conflict_free = nullptr);

// How many of the 32 banks the valid region (tile_rows x tile_cols) of a tile reaches. A tile
// narrower than 8 columns reaches fewer (2 columns: 8 banks), so its 32-lane stores cannot all be
// conflict-free without writing outside the matrix; the packer then keeps the (row, col) order.
int tile_region_banks(int tile_rows, int tile_cols);

// The worst bank conflict (lanes hitting one bank with different 32-bit words) over the store
// instructions of a tile's word list: 1 means conflict-free, 0 an empty tile.
int tile_scatter_conflict_ways(const uint32_t* words, int64_t count);

}  // namespace sk
