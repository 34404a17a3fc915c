// Exact "k smallest" selection shared by the solvers. Scores are non-negative, so their IEEE bit
// patterns order like the values and a radix select on the bits finds the exact threshold in a
// few linear passes. Ties go to the lower index, which is what a stable ascending sort prunes.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/thread_pool.h"

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

// The `count` smallest of n keys over a big index range, in parallel and without a copy of the
// keys: min/max, then a 16-bit histogram of the bits below the highest differing one finds the
// bucket holding the threshold, a radix select over that bucket's members finds it exactly, and
// ties are shared out in index order as per-chunk quotas. Chunks are fixed (multiples of `unit`
// indices) so the result does not depend on the thread count. Key key_at(i) for i in [0, n).
template <class Key>
struct Selection {
  Key t = 0;                   // keys < t are pruned; keys == t while their chunk's quota lasts
  int64_t chunks = 1, n = 0, unit = 1;
  std::vector<int64_t> quota;  // per chunk
  int64_t begin(int64_t c) const { return (n / unit) * c / chunks * unit; }
  int64_t end(int64_t c) const { return c + 1 == chunks ? n : (n / unit) * (c + 1) / chunks * unit; }
};

template <class Key, class KeyAt>
Selection<Key> select_smallest(int64_t n, int64_t count, int64_t unit, KeyAt key_at) {
  Selection<Key> s;
  s.n = n;
  s.unit = std::max<int64_t>(unit, 1);
  s.chunks = std::max<int64_t>(1, std::min<int64_t>(16, n / s.unit));
  s.quota.assign(size_t(s.chunks), 0);
  if (count <= 0 || n == 0) {
    s.t = 0;  // nothing is < 0 and no quota: nothing pruned
    return s;
  }
  const int64_t C = s.chunks;
  std::vector<Key> lo(static_cast<size_t>(C)), hi(static_cast<size_t>(C));
  parallel_for(C, [&](int64_t c) {
    Key a = key_at(s.begin(c)), b = a;
    for (int64_t i = s.begin(c); i < s.end(c); ++i) {
      const Key k = key_at(i);
      a = k < a ? k : a;
      b = k > b ? k : b;
    }
    lo[size_t(c)] = a;
    hi[size_t(c)] = b;
  });
  const Key mn = *std::min_element(lo.begin(), lo.end()), mx = *std::max_element(hi.begin(), hi.end());
  int shift = 0;
  if (mn != mx) {
    int top = int(sizeof(Key) * 8) - 1;
    while (!(((mn ^ mx) >> top) & 1)) --top;
    shift = top >= 15 ? top - 15 : 0;
  }
  std::vector<uint32_t> hist(size_t(C) << 16, 0);
  parallel_for(C, [&](int64_t c) {
    uint32_t* h = &hist[size_t(c) << 16];
    for (int64_t i = s.begin(c); i < s.end(c); ++i) ++h[(key_at(i) >> shift) & 0xffff];
  });
  int64_t rank = count - 1, bucket = 0;
  for (;; ++bucket) {
    int64_t in = 0;
    for (int64_t c = 0; c < C; ++c) in += hist[(size_t(c) << 16) + size_t(bucket)];
    if (rank < in) break;
    rank -= in;
  }
  std::vector<std::vector<Key>> cand(static_cast<size_t>(C));
  parallel_for(C, [&](int64_t c) {
    for (int64_t i = s.begin(c); i < s.end(c); ++i) {
      const Key k = key_at(i);
      if (int64_t((k >> shift) & 0xffff) == bucket) cand[size_t(c)].push_back(k);
    }
  });
  std::vector<Key> all;
  for (auto& v : cand) all.insert(all.end(), v.begin(), v.end());
  int64_t in_ties = 0;
  s.t = radix_select(all.data(), int64_t(all.size()), rank, &in_ties);
  // Keys below the bucket plus those below t inside it: count - 1 - in_ties are < t.
  std::vector<int64_t> equal(size_t(C), 0);
  parallel_for(C, [&](int64_t c) {
    int64_t e = 0;
    for (int64_t i = s.begin(c); i < s.end(c); ++i) e += key_at(i) == s.t;
    equal[size_t(c)] = e;
  });
  int64_t ties = in_ties + 1;
  for (int64_t c = 0; c < C; ++c) {
    s.quota[size_t(c)] = std::min(ties, equal[size_t(c)]);
    ties -= s.quota[size_t(c)];
  }
  return s;
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

// The row-by-row selection magnitude (per row, N:M) and Wanda share: key_of(c, v) scores column c
// of a row holding v, each row prunes its `count` lowest keys (or the m-n lowest of every group of
// m when p.nm()), and loss_weight(c) scales each pruned value's squared contribution to the row's
// loss. `finish(r, v, pruned, loss)` writes the row's outputs.
template <class Key, class LoadRow, class KeyOf, class LossWeight, class Finish>
void prune_rows(int64_t rows, int64_t cols, int pm, int pn, int64_t count, LoadRow load_row, KeyOf key_of,
                LossWeight loss_weight, Finish finish) {
  parallel_range(rows, 4, [&](int64_t b, int64_t e) {
    std::vector<float> v(static_cast<size_t>(cols));
    std::vector<Key> key(static_cast<size_t>(cols)), work;
    std::vector<uint8_t> pruned(static_cast<size_t>(cols));
    for (int64_t r = b; r < e; ++r) {
      load_row(r, v.data());
      for (int64_t c = 0; c < cols; ++c) key[size_t(c)] = key_of(c, v[size_t(c)]);
      if (pm > 0)
        for (int64_t g = 0; g < cols; g += pm) mark_group(&key[size_t(g)], pm, pn, &pruned[size_t(g)]);
      else
        mark_smallest(key.data(), cols, count, work, pruned.data());
      double loss = 0;
      for (int64_t c = 0; c < cols; ++c)
        if (pruned[size_t(c)]) loss += double(v[size_t(c)]) * double(v[size_t(c)]) * loss_weight(c);
      finish(r, pruned.data(), loss);
    }
  });
}

}  // namespace sk
