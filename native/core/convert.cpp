#include "convert.h"

#include <cmath>

#include "thread_pool.h"

namespace sk {

namespace {

constexpr int64_t kGrain = 1 << 16;

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Two independent uniforms in (0, 1] from one counter.
inline void uniform_pair(uint64_t seed, uint64_t counter, double* u1, double* u2) {
  uint64_t h = splitmix64(splitmix64(seed) ^ (counter * 0xd1342543de82ef95ull));
  *u1 = (double(h >> 32) + 1.0) * (1.0 / 4294967296.0);
  *u2 = (double(h & 0xffffffffu) + 1.0) * (1.0 / 4294967296.0);
}

}  // namespace

void convert(const void* src, DType st, void* dst, DType dt, size_t n) {
  parallel_range(int64_t(n), kGrain, [&](int64_t b, int64_t e) {
    if (st == dt) {
      size_t es = dtype_size(st);
      std::memcpy(static_cast<char*>(dst) + b * es, static_cast<const char*>(src) + b * es, size_t(e - b) * es);
      return;
    }
    for (int64_t i = b; i < e; ++i) store_from_f32(dst, dt, size_t(i), load_as_f32(src, st, size_t(i)));
  });
}

void fill_random(void* dst, DType type, size_t n, uint64_t seed, Distribution dist, double a, double b) {
  // Chunks start on even indices so each Box-Muller pair stays inside one chunk.
  int64_t pairs = int64_t((n + 1) / 2);
  parallel_range(pairs, kGrain / 2, [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      double u1, u2;
      uniform_pair(seed, uint64_t(p), &u1, &u2);
      double v0, v1;
      if (dist == Distribution::uniform) {
        // (0,1] -> [0,1) keeps the documented half-open interval.
        v0 = a + (b - a) * (1.0 - u1);
        v1 = a + (b - a) * (1.0 - u2);
      } else {
        double r = std::sqrt(-2.0 * std::log(u1));
        double t = 6.283185307179586 * u2;
        v0 = a + b * r * std::cos(t);
        v1 = a + b * r * std::sin(t);
      }
      size_t i = size_t(p) * 2;
      store_from_f32(dst, type, i, float(v0));
      if (i + 1 < n) store_from_f32(dst, type, i + 1, float(v1));
    }
  });
}

}  // namespace sk
