// See tiled_csl_order.h. A greedy schedule: every store instruction takes one 32-bit shared word's
// items (one or two values) from each bank, banks with the most items left first, so the banks run
// out together; a store that still has free lanes gets zeros at unstored positions of the banks it
// does not use, the least-used banks of the tile first.
#include "tiled_csl_order.h"

#include <algorithm>
#include <array>
#include <bitset>

namespace sk {

namespace {

constexpr int kTileElems = kTileRows * kTileCols;

uint32_t pos_of(uint32_t word) { return word >> 16; }
uint32_t smem_word_of(uint32_t word) { return pos_of(word) >> 1; }  // the 32-bit shared word

using BankQueues = std::array<std::vector<uint32_t>, kSmemBanks>;  // each bank's words, halves of a 32-bit word adjacent

// How far each bank's queue has been taken; cheap to copy for trial schedules.
struct Schedule {
  const BankQueues* q;
  std::array<size_t, kSmemBanks> head{};
  size_t left(int b) const { return (*q)[size_t(b)].size() - head[size_t(b)]; }

  // One store instruction of up to `lanes` lanes: appends its words to `out`, returns the banks used.
  uint32_t fill(int lanes, std::vector<uint32_t>* out) {
    // Banks by items left, most first (ties: lower bank), as one sort of packed keys.
    std::array<uint32_t, kSmemBanks> key;
    for (int b = 0; b < kSmemBanks; ++b) key[size_t(b)] = uint32_t(left(b)) << 5 | uint32_t(kSmemBanks - 1 - b);
    std::sort(key.begin(), key.end(), [](uint32_t x, uint32_t y) { return x > y; });
    uint32_t used = 0;
    int taken = 0;
    for (uint32_t k : key) {
      const int b = kSmemBanks - 1 - int(k & 31u);
      if (taken == lanes || left(b) == 0) break;
      const auto& bq = (*q)[size_t(b)];
      const uint32_t first = bq[head[size_t(b)]++];
      out->push_back(first);
      ++taken;
      used |= 1u << b;
      if (taken < lanes && left(b) > 0 && smem_word_of(bq[head[size_t(b)]]) == smem_word_of(first)) {
        out->push_back(bq[head[size_t(b)]++]);
        ++taken;
      }
    }
    return used;
  }
};

// A zero word at an unstored, in-tile position of a bank not in `used`, least-used banks first.
class Padding {
 public:
  Padding(const std::vector<uint32_t>& words, int rows, int cols) : rows_(rows), cols_(cols) {
    for (uint32_t w : words) {
      taken_.set(pos_of(w));
      ++count_[tile_word_bank(w)];
    }
    for (int b = 0; b < kSmemBanks; ++b) order_[size_t(b)] = b;
    std::stable_sort(order_.begin(), order_.end(), [&](int x, int y) { return count_[size_t(x)] < count_[size_t(y)]; });
  }
  // False when no bank outside `used` has a free position left.
  bool next(uint32_t used, uint32_t* word) {
    for (int b : order_) {
      if (used >> b & 1u) continue;
      // Bank b holds positions 2 * (32 * r + b) + h, r = 0..127, h = 0..1.
      for (uint32_t& c = cursor_[size_t(b)]; c < uint32_t(kTileElems / kSmemBanks); ++c) {
        const uint32_t pos = 2 * (uint32_t(kSmemBanks) * (c / 2) + uint32_t(b)) + (c & 1u);
        if (taken_.test(pos) || tile_position_row(pos) >= uint32_t(rows_) || tile_position_col(pos) >= uint32_t(cols_)) continue;
        taken_.set(pos);
        *word = tiled_csl_word(0, pos);
        return true;
      }
    }
    return false;
  }

 private:
  int rows_, cols_;
  std::bitset<kTileElems> taken_;
  std::array<int, kSmemBanks> count_{};
  std::array<int, kSmemBanks> order_{};
  std::array<uint32_t, kSmemBanks> cursor_{};
};

std::vector<uint32_t> row_major_order(std::vector<uint32_t> words) {
  std::sort(words.begin(), words.end(), [](uint32_t a, uint32_t b) {
    const uint32_t pa = pos_of(a), pb = pos_of(b);
    return tile_position_row(pa) * kTileCols + tile_position_col(pa) < tile_position_row(pb) * kTileCols + tile_position_col(pb);
  });
  while (words.size() % kTileWordAlign) words.push_back(words.back());
  return words;
}

// Places the stores of chunk c (4 stores of `lanes` lanes) into out[128c + 4t + e]; false if the
// padding runs out.
bool place_chunk(Schedule& s, Padding& pad, int64_t c, int lanes, std::vector<uint32_t>* out) {
  out->resize(size_t(c * kTileScatterChunk + 4 * lanes));
  for (int e = 0; e < 4; ++e) {
    std::vector<uint32_t> store;
    uint32_t used = s.fill(lanes, &store);
    while (int(store.size()) < lanes) {
      uint32_t z;
      if (!pad.next(used, &z)) return false;
      used |= 1u << tile_word_bank(z);
      store.push_back(z);
    }
    for (int t = 0; t < lanes; ++t) (*out)[size_t(c * kTileScatterChunk + 4 * t + e)] = store[size_t(t)];
  }
  return true;
}

}  // namespace

std::vector<uint32_t> order_tile_words(std::vector<uint32_t> words, int tile_rows, int tile_cols, bool* conflict_free) {
  if (conflict_free) *conflict_free = true;
  if (words.empty()) return words;
  std::sort(words.begin(), words.end(), [](uint32_t a, uint32_t b) { return pos_of(a) < pos_of(b); });
  // Full chunks (4 stores of 32 lanes) while one more would not finish the tile, then the last
  // chunk with the fewest lanes per store that takes every remaining item.
  BankQueues queues;
  for (uint32_t w : words) queues[tile_word_bank(w)].push_back(w);
  Schedule s{&queues};
  std::vector<uint32_t> out;
  Padding pad(words, tile_rows, tile_cols);
  size_t placed = 0;
  int64_t c = 0;
  bool ok = true;
  for (;; ++c) {
    if (words.size() - placed <= size_t(kTileScatterChunk)) {  // would one more full chunk finish the tile?
      Schedule probe = s;
      std::vector<uint32_t> tmp;
      for (int e = 0; e < 4; ++e) probe.fill(32, &tmp);
      if (placed + tmp.size() >= words.size()) break;
    }
    if (!place_chunk(s, pad, c, 32, &out)) { ok = false; break; }
    placed = 0;
    for (int b = 0; b < kSmemBanks; ++b) placed += s.head[size_t(b)];
  }
  if (ok) {
    const size_t rest = words.size() - placed;
    bool done = false;
    for (int lanes = int((rest + 3) / 4); lanes <= 32; ++lanes) {
      Schedule probe = s;
      std::vector<uint32_t> tmp;
      for (int e = 0; e < 4; ++e) probe.fill(lanes, &tmp);
      if (tmp.size() < rest) continue;
      Schedule trial = s;
      Padding trial_pad = pad;
      std::vector<uint32_t> last = out;
      if (!place_chunk(trial, trial_pad, c, lanes, &last)) break;  // out of padding: more lanes need more
      out = std::move(last);
      done = true;
      break;
    }
    ok = done;
  }
  if (!ok || out.size() > size_t(kTileElems)) {
    if (conflict_free) *conflict_free = false;
    return row_major_order(std::move(words));
  }
  return out;
}

int tile_region_banks(int tile_rows, int tile_cols) {
  uint32_t banks = 0;
  for (int r = 0; r < std::min(tile_rows, 8); ++r)  // the swizzle repeats every 8 rows
    for (int c = 0; c < std::min(tile_cols, kTileCols); ++c) banks |= 1u << (tile_position(uint32_t(r), uint32_t(c)) / 2 % kSmemBanks);
  return __builtin_popcount(banks);
}

int tile_scatter_conflict_ways(const uint32_t* words, int64_t count) {
  int worst = 0;
  for (int64_t c0 = 0; c0 < count; c0 += kTileScatterChunk)
    for (int e = 0; e < 4; ++e) {
      std::array<int, kSmemBanks> ways{};
      for (int t = 0; t < 32; ++t) {
        const int64_t i = c0 + 4 * t + e;
        if (i >= count) break;
        const uint32_t b = tile_word_bank(words[i]), sw = smem_word_of(words[i]);
        // Lanes of one store touch at most a few words per bank; count distinct ones.
        bool seen = false;
        for (int u = 0; u < t && !seen; ++u) {
          const int64_t j = c0 + 4 * u + e;
          seen = tile_word_bank(words[j]) == b && smem_word_of(words[j]) == sw;
        }
        if (!seen) ways[b]++;
        worst = std::max(worst, ways[b]);
      }
    }
  return worst;
}

}  // namespace sk
