// Layout arithmetic shared by packers, kernels and (later) device code. docs/formats.md is the spec.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define SK_HD __host__ __device__
#else
#define SK_HD
#endif

namespace sk {

// bitmap and nm: one bit per element, 32-element words, bit j of word w <-> column 32*w + j.
SK_HD inline int64_t mask_words_per_row(int64_t cols) { return (cols + 31) / 32; }

// nm: K is split into groups of m consecutive columns; the last group may be partial and is
// treated as if padded with zero columns, so every group stores exactly n values.
SK_HD inline int64_t nm_groups(int64_t cols, int m) { return (cols + m - 1) / m; }
SK_HD inline int64_t nm_padded_cols(int64_t cols, int m) { return nm_groups(cols, m) * m; }
SK_HD inline int64_t nm_values_per_row(int64_t cols, int n, int m) { return nm_groups(cols, m) * n; }

// Tiled-CSL (Flash-LLM): 128x64 tiles numbered row-major; each stored element is one 32-bit word,
// low half the 16-bit value, high half the swizzled position inside the tile.
constexpr int kTileRows = 128;
constexpr int kTileCols = 64;
constexpr int kTileWordAlign = 4;  // per-tile word counts are padded to a multiple of 4 (16-byte loads)

SK_HD inline int64_t tiles_down(int64_t rows) { return (rows + kTileRows - 1) / kTileRows; }
SK_HD inline int64_t tiles_across(int64_t cols) { return (cols + kTileCols - 1) / kTileCols; }

// Shared-memory swizzle: XOR the column's 8-element chunk with the row's low 3 bits so that the
// eight rows an ldmatrix reads land in different banks.
SK_HD inline uint32_t tile_position(uint32_t row, uint32_t col) { return row * kTileCols + (col ^ ((row % 8) << 3)); }
SK_HD inline uint32_t tile_position_row(uint32_t pos) { return pos / kTileCols; }
SK_HD inline uint32_t tile_position_col(uint32_t pos) { return (pos % kTileCols) ^ (((pos / kTileCols) % 8) << 3); }
SK_HD inline uint32_t tiled_csl_word(uint16_t value_bits, uint32_t pos) { return uint32_t(value_bits) | (pos << 16); }

}  // namespace sk
