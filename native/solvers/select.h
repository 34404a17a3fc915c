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

// The value of the k-th smallest (0-based) of n keys; `work` is overwritten (pass a copy).
template <class Key>
Key radix_select(Key* work, int64_t n, int64_t k) {
  Key lo = work[0], hi = work[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = work[i] < lo ? work[i] : lo;
    hi = work[i] > hi ? work[i] : hi;
  }
  if (lo == hi) return lo;
  int top = int(sizeof(Key) * 8) - 1;
  const Key diff = lo ^ hi;
  while (!((diff >> top) & 1)) --top;
  int shift = top >= 7 ? top - 7 : 0;
  for (;;) {
    int64_t hist[256] = {0};
    for (int64_t i = 0; i < n; ++i) ++hist[(work[i] >> shift) & 255];
    int b = 0;
    for (; k >= hist[b]; ++b) k -= hist[b];
    int64_t m = 0;
    for (int64_t i = 0; i < n; ++i)
      if (int((work[i] >> shift) & 255) == b) work[m++] = work[i];
    n = m;
    if (n == 1 || shift == 0) return work[0];
    shift = shift >= 8 ? shift - 8 : 0;
  }
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
  const Key t = radix_select(work.data(), n, count - 1);
  int64_t less = 0;
  for (int64_t i = 0; i < n; ++i) less += keys[i] < t;
  int64_t ties = count - less;
  for (int64_t i = 0; i < n; ++i) {
    const bool p = keys[i] < t || (keys[i] == t && ties > 0);
    if (keys[i] == t && ties > 0) --ties;
    pruned[i] = p;
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
