// Exact "k smallest" selection shared by the solvers. Scores are non-negative, so their IEEE bit
// patterns order like the values and a radix select on the bits finds the exact threshold in a
// few linear passes. Ties go to the lower index, which is what a stable ascending sort prunes.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
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
// Each key's rank among the group (smaller keys, plus equal keys at lower indices) is counted
// without branches: random keys made the branchy "find the minimum m - n times" mispredict.
template <class Key>
void mark_group(const Key* keys, int m, int n, uint8_t* pruned) {
  for (int i = 0; i < m; ++i) {
    int rank = 0;
    for (int j = 0; j < m; ++j) rank += (keys[j] < keys[i]) | ((keys[j] == keys[i]) & (j < i));
    pruned[i] = rank < m - n;
  }
}

// Scratch for select_row, kept by a worker across its rows.
struct RowSelectScratch {
  std::vector<uint32_t> hist, cand_key, work;
  std::vector<int32_t> cand_idx;
  std::vector<int32_t> band;
  std::vector<uint64_t> exact, exact_work;
  std::vector<uint8_t> flags;
};

// margin value telling select_row the approximate keys cannot be trusted: rank by exact keys.
constexpr uint32_t kExactOnly = 0xffffffffu;

// One row's cut: element c is pruned when key[c] < below, and so is every index in `extra` (their
// keys are >= below). Expressing a row this way lets the writer handle the bulk with one
// vectorised compare and fix up the few exceptions afterwards.
struct RowCut {
  uint32_t below = 0;
  std::vector<int32_t> extra;
};

// The `count` smallest of one row's n items, ties to the lower index. key[i] is the bit pattern
// of a non-negative float score (+inf allowed, no NaN); when margin > 0 it approximates the
// item's true score, whose value exact(i) (a uint64 that orders like the true score) decides, and
// the caller guarantees key[i] is within margin/4 of the bit pattern of the true score rounded to
// float (bit patterns of non-negative floats are consecutive integers across the subnormal,
// normal and infinite ranges, so "within a few units" is one statement for all of them). Exact
// when margin = 0 (exact(i) is then never called).
//
// How: min/max, an 11-bit histogram of the bits below the highest differing one finds the bucket
// of the count-th smallest key, one pass collects that bucket's members plus `margin` either
// side, a radix select among them gives the approximate threshold t. Keys below t - margin are
// certainly pruned (at least n - count + 1 keys are >= t, so the true threshold rounds to at
// least t - margin/4, above any of them), keys above t + margin certainly kept (likewise); the few
// in between (usually just t itself) are ranked by exact() with a linear radix select.

// select_row's first stage, on the approximate keys only (0 < count < n, margin != kExactOnly):
// sets *below (= t - margin) and leaves the band [t - margin, t + margin]'s indices, in index
// order, in s.band; *need of them are pruned. Kept out of line: inlined into the callers' row
// loops it left the hot loops short of registers.
__attribute__((noinline)) inline void approx_threshold(const uint32_t* __restrict key, int64_t n, int64_t count, uint32_t margin,
                                                       RowSelectScratch& s, uint32_t* below, int64_t* need) {
  uint32_t lo = key[0], hi = key[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = key[i] < lo ? key[i] : lo;
    hi = key[i] > hi ? key[i] : hi;
  }
  int64_t rank = count - 1;  // of the threshold, within its bucket once that is found
  uint32_t blo = lo, bhi = lo;
  if (lo != hi) {
    const int top = 31 - __builtin_clz(lo ^ hi);
    const int shift = top >= 10 ? top - 10 : 0;
    const uint32_t base = lo >> shift;
    s.hist.assign(2048, 0);
    uint32_t* __restrict h = s.hist.data();
    for (int64_t i = 0; i < n; ++i) ++h[(key[i] >> shift) - base];
    uint32_t b = 0;
    while (rank >= int64_t(h[b])) rank -= h[b++];
    blo = (base + b) << shift;
    bhi = blo + ((uint32_t(1) << shift) - 1);
  }
  // Collect keys in [blo - margin, bhi + margin] (in index order); count those below it.
  const uint32_t clo = blo >= margin ? blo - margin : 0, width = bhi + margin - clo;
  s.cand_key.resize(size_t(n));
  s.cand_idx.resize(size_t(n));
  uint32_t* __restrict ck = s.cand_key.data();
  int32_t* __restrict ci = s.cand_idx.data();
  // In blocks of 16: a vectorised count and "any in range?" test; only the rare blocks holding a
  // candidate are walked one by one.
  int64_t below_clo = 0, m = 0;
  auto take = [&](int64_t i) {
    ck[m] = key[i];  // written always, kept only when in range: no unpredictable branch
    ci[m] = int32_t(i);
    m += key[i] - clo <= width;
  };
  int64_t i0 = 0;
  for (; i0 + 16 <= n; i0 += 16) {
    uint32_t below16 = 0, in16 = 0;
    for (int j = 0; j < 16; ++j) {
      below16 += key[i0 + j] < clo;
      in16 |= key[i0 + j] - clo <= width;
    }
    below_clo += below16;
    if (in16)
      for (int j = 0; j < 16; ++j) take(i0 + j);
  }
  for (; i0 < n; ++i0) {
    below_clo += key[i0] < clo;
    take(i0);
  }
  s.work.clear();
  for (int64_t j = 0; j < m; ++j)
    if (ck[j] >= blo && ck[j] <= bhi) s.work.push_back(ck[j]);
  const uint32_t t = radix_select(s.work.data(), int64_t(s.work.size()), rank);
  const uint32_t t_lo = t >= margin ? t - margin : 0, t_hi = t + margin;
  int64_t nb = below_clo;
  s.band.clear();
  for (int64_t j = 0; j < m; ++j) {
    nb += ck[j] < t_lo;
    if (ck[j] >= t_lo && ck[j] <= t_hi) s.band.push_back(ci[j]);
  }
  // The count-th smallest key is t, so fewer than count keys are < t_lo and at least count <= t_hi.
  *below = t_lo;
  *need = count - nb;
}

template <class Exact>
void select_row(const uint32_t* key, int64_t n, int64_t count, uint32_t margin, Exact exact, RowSelectScratch& s, RowCut* cut) {
  cut->extra.clear();
  if (count <= 0) {
    cut->below = 0;
    return;
  }
  if (count >= n) {
    cut->below = 0xffffffffu;  // every key (a non-negative float's bits) is below
    return;
  }
  if (margin == kExactOnly) {
    s.exact.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) s.exact[size_t(i)] = exact(i);
    s.flags.resize(size_t(n));
    mark_smallest(s.exact.data(), n, count, s.exact_work, s.flags.data());
    cut->below = 0;
    for (int64_t i = 0; i < n; ++i)
      if (s.flags[size_t(i)]) cut->extra.push_back(int32_t(i));
    return;
  }
  int64_t need = 0;
  approx_threshold(key, n, count, margin, s, &cut->below, &need);
  const int64_t nband = int64_t(s.band.size());
  if (margin == 0) {  // equal exact keys: the lowest indices go
    for (int64_t j = 0; j < need; ++j) cut->extra.push_back(s.band[size_t(j)]);
    return;
  }
  s.exact.resize(size_t(nband));
  s.flags.resize(size_t(nband));
  for (int64_t j = 0; j < nband; ++j) s.exact[size_t(j)] = exact(s.band[size_t(j)]);
  mark_smallest(s.exact.data(), nband, need, s.exact_work, s.flags.data());  // band is in index order
  for (int64_t j = 0; j < nband; ++j)
    if (s.flags[size_t(j)]) cut->extra.push_back(s.band[size_t(j)]);
}

// True when none of v[0..n) is NaN or infinite.
inline bool all_finite(const float* v, int64_t n) {
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= !(std::fabs(v[i]) <= 3.40282347e38f);
  return !bad;
}

// The row-by-row selection magnitude (per row, N:M) and Wanda share. For each row:
// load_row(r, buf) returns the row as float32 (buf, or w's own memory); unstructured rows prune
// their `count` lowest scores via select_row on approx_keys(v, key) (uint32 keys, `margin` as
// select_row documents) and exact_key(c, v[c]) (uint64); N:M rows prune the m - n lowest keys
// of every group of m (approximate keys where they leave no doubt, exact ones otherwise).
// finish(r, v, key, cut) writes row r. Returns false (and stops early) if a row holds a NaN or
// an infinity; the caller reports which.
template <class LoadRow, class ApproxKeys, class ExactKey, class Finish>
bool prune_rows(int64_t rows, int64_t cols, int pm, int pn, int64_t count, uint32_t margin, LoadRow load_row,
                ApproxKeys approx_keys, ExactKey exact_key, Finish finish) {
  std::atomic<bool> bad{false};
  parallel_range(rows, 4, [&](int64_t b, int64_t e) {
    std::vector<float> buf(static_cast<size_t>(cols));
    std::vector<uint32_t> key(static_cast<size_t>(cols), 0);
    std::vector<uint8_t> pruned;
    RowSelectScratch scratch;
    RowCut cut;
    for (int64_t r = b; r < e && !bad.load(std::memory_order_relaxed); ++r) {
      const float* v = load_row(r, buf.data());
      if (!all_finite(v, cols)) {
        bad = true;
        return;
      }
      if (pm > 0) {
        // Each group is decided on the approximate keys when the pruned and kept ones are more
        // than `margin` apart (then the true scores order the same way), else on exact keys.
        pruned.resize(size_t(cols));
        if (margin != kExactOnly) approx_keys(v, key.data());
        uint64_t ex[16];
        for (int64_t g = 0; g < cols; g += pm) {
          uint8_t* pr = &pruned[size_t(g)];
          bool decided = false;
          if (margin != kExactOnly) {
            const uint32_t* k = &key[size_t(g)];
            mark_group(k, pm, pn, pr);
            uint32_t max_pruned = 0, min_kept = 0xffffffffu;
            for (int i = 0; i < pm; ++i) {
              if (pr[i]) max_pruned = std::max(max_pruned, k[i]);
              else min_kept = std::min(min_kept, k[i]);
            }
            decided = pn == pm || min_kept - max_pruned > margin;
          }
          if (!decided) {
            for (int i = 0; i < pm; ++i) ex[i] = exact_key(g + i, v[g + i]);
            mark_group(ex, pm, pn, pr);
          }
        }
        cut.below = 0;  // nothing is below 0: the groups' picks are the extras
        cut.extra.resize(size_t(cols));
        size_t ne = 0;
        for (int64_t c = 0; c < cols; ++c) {  // branch-free: half the flags are set, at random
          cut.extra[ne] = int32_t(c);
          ne += pruned[size_t(c)];
        }
        cut.extra.resize(ne);
      } else {
        approx_keys(v, key.data());
        select_row(key.data(), cols, count, margin, [&](int64_t c) { return exact_key(c, v[c]); }, scratch, &cut);
      }
      finish(r, v, key.data(), cut);
    }
  });
  return !bad.load();
}

}  // namespace sk
