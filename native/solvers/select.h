// Exact "k smallest" selection shared by the solvers. Scores are non-negative, so their IEEE bit
// patterns order like the values and a radix select on the bits finds the exact threshold in a
// few linear passes. Ties go to the lower index, which is what a stable ascending sort prunes.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

namespace sk {

inline uint32_t score_key(float v) { uint32_t b; std::memcpy(&b, &v, 4); return v == 0.f ? 0u : b; }
inline uint64_t score_key(double v) { uint64_t b; std::memcpy(&b, &v, 8); return v == 0.0 ? 0u : b; }

// The value t of the k-th smallest (0-based) of n keys, and how many keys equal t precede it in
// sorted order (*rank_in_ties) and how many equal t in all (*ties). `work` is overwritten.
template <class Key>
Key radix_select(Key* work, int64_t n, int64_t k, int64_t* rank_in_ties = nullptr, int64_t* ties = nullptr) {
  Key lo = work[0], hi = work[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = work[i] < lo ? work[i] : lo;
    hi = work[i] > hi ? work[i] : hi;
  }
  int shift = 0;
  if (lo != hi) {
    int top = int(sizeof(Key) * 8) - 1;
    const Key diff = lo ^ hi;
    while (!((diff >> top) & 1)) --top;
    shift = top >= 7 ? top - 7 : 0;
  }
  for (;;) {
    if (lo == hi) break;  // every candidate is equal
    int64_t hist[256] = {0};
    for (int64_t i = 0; i < n; ++i) ++hist[(work[i] >> shift) & 255];
    int b = 0;
    for (; k >= hist[b]; ++b) k -= hist[b];
    int64_t m = 0;
    for (int64_t i = 0; i < n; ++i)
      if (int((work[i] >> shift) & 255) == b) work[m++] = work[i];
    n = m;
    if (n == 1 || shift == 0) break;  // one candidate, or all bits fixed: all equal
    shift = shift >= 8 ? shift - 8 : 0;
  }
  if (rank_in_ties) *rank_in_ties = k;
  if (ties) *ties = n;
  return work[0];
}

// pruned[i] = 1 for the `count` smallest keys (ties: lower index first), 0 for the rest.
template <class Key>
void mark_smallest(const Key* keys, int64_t n, int64_t count, std::vector<Key>& work, uint8_t* pruned) {
  if (count <= 0) {
    std::memset(pruned, 0, size_t(n));
    return;
  }
  if (count >= n) {
    std::memset(pruned, 1, size_t(n));
    return;
  }
  work.assign(keys, keys + n);
  int64_t rank = 0, ties = 0;
  const Key t = radix_select(work.data(), n, count - 1, &rank, &ties);
  for (int64_t i = 0; i < n; ++i) pruned[i] = keys[i] <= t;
  // The (count - 1)-th smallest is the rank-th of the ties: only the first rank + 1 of them go.
  int64_t drop = ties - (rank + 1);
  for (int64_t i = n - 1; drop > 0; --i)
    if (keys[i] == t) {
      pruned[i] = 0;
      --drop;
    }
}

// N:M on one group of m keys: pruned[i] = 1 for the m - n smallest (ties: lower index first).
template <class Key>
void mark_group(const Key* keys, int m, int n, uint8_t* pruned) {
  for (int i = 0; i < m; ++i) pruned[i] = 0;
  for (int t = 0; t < m - n; ++t) {
    int best = -1;
    for (int i = 0; i < m; ++i)
      if (!pruned[i] && (best < 0 || keys[i] < keys[best])) best = i;
    pruned[best] = 1;
  }
}

}  // namespace sk
