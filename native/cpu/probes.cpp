#include "probes.h"

#include "core/isa_target.h"
#if SK_HAVE_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/thread_pool.h"
#include "spmm.h"

namespace sk {
namespace {

// Each returns something that depends on every load/FMA so the compiler keeps the work.
// The readers stream four quarters of their range at once (q floats apart), like the kernels that
// read four rows per pass: one sequential stream per core reads measurably less than four
// (docs/kernels.md, "Measurements behind the code"), and a probe below what a kernel achieves is no floor.
// For the same reason the SIMD readers prefetch each stream kStreamAheadBytes (spmm.h) ahead, as
// the dense GEMVs do: without it the hardware prefetcher alone kept this probe 5-30% below them.
float read_portable(const float* p, size_t q) {
  float s[8] = {};
  for (size_t i = 0; i + 2 <= q; i += 2)
    for (int j = 0; j < 8; ++j) s[j] += p[(j & 3) * q + i + (j >> 2)];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}
float fma_portable(int64_t iters) {
  float a[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 8; ++j) a[j] = a[j] * 0.9999999f + 1e-7f;
  return a[0] + a[7];
}

}  // namespace
}  // namespace sk

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX512
namespace sk {
namespace {
float read_avx512(const float* p, size_t q) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 16 <= q; i += 16) {
    for (int j = 0; j < 4; ++j) _mm_prefetch(reinterpret_cast<const char*>(p + j * q + i) + kStreamAheadBytes, _MM_HINT_T0);
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + q + i));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + 2 * q + i));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + 3 * q + i));
  }
  alignas(64) float t[16];
  _mm512_store_ps(t, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  return t[0] + t[15];
}
// Something that depends on all 12 chains.
float sum_chains(const __m512 (&a)[12]) {
  __m512 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_ps(s, a[j]);
  alignas(64) float t[16];
  _mm512_store_ps(t, s);
  return t[0] + t[15];
}
// 12 independent chains cover the FMA latency (4) times the pipes (2) with room to spare.
float fma_avx512(int64_t iters) {
  __m512 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_ps(1.f + float(j));
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_fmadd_ps(a[j], m, c);
  return sum_chains(a);
}
}  // namespace
}  // namespace sk
SK_TARGET_END

SK_TARGET_BEGIN_AVX512BF16
namespace sk {
namespace {
// vdpbf16ps: per lane, two bf16 products added to an fp32 accumulator (4 flops). 12 chains, as
// for the FMA probe (its latency is the FMA's or longer).
float bf16_dot_avx512(int64_t iters) {
  __m512 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_ps(float(j));
  const __m512bh m = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3380);  // 1.0, ~6e-8
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_dpbf16_ps(a[j], (j & 1) ? m : c, c);
  return sum_chains(a);
}
}  // namespace
}  // namespace sk
SK_TARGET_END

SK_TARGET_BEGIN_AVX2
namespace sk {
namespace {
float read_avx2(const float* p, size_t q) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 8 <= q; i += 8) {
    if (i % 16 == 0)  // once per 64-byte line
      for (int j = 0; j < 4; ++j) _mm_prefetch(reinterpret_cast<const char*>(p + j * q + i) + kStreamAheadBytes, _MM_HINT_T0);
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + q + i));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + 2 * q + i));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + 3 * q + i));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  alignas(32) float t[8];
  _mm256_store_ps(t, s);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
float fma_avx2(int64_t iters) {
  __m256 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_ps(1.f + float(j));
  const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm256_fmadd_ps(a[j], m, c);
  __m256 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, a[j]);
  alignas(32) float t[8];
  _mm256_store_ps(t, s);
  return t[0] + t[7];
}
}  // namespace
}  // namespace sk
SK_TARGET_END
#endif

namespace sk {
namespace {

std::atomic<float> g_sink{0.f};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One thread's share of a read: four quarter streams of q floats from p.
float read_quarters(const float* p, size_t q, Isa isa) {
#if SK_HAVE_X86
  if (isa == Isa::avx512) return read_avx512(p, q);
  if (isa == Isa::avx2) return read_avx2(p, q);
#endif
  (void)isa;
  return read_portable(p, q);
}

}  // namespace

double probe_read_spans(const ProbeSpan* spans, size_t count, int reps) {
  const int threads = get_num_threads();
  const Isa isa = active_isa();
  double best = 0;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    size_t read = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < count; ++i) {
      // From the first 64-byte boundary, whole 64-float blocks per thread; the bytes around them
      // (under 64 + 256 per thread) are not read or counted.
      const uintptr_t at = reinterpret_cast<uintptr_t>(spans[i].data), start = (at + 63) & ~uintptr_t(63);
      if (spans[i].bytes < start - at) continue;
      const int64_t per = int64_t((spans[i].bytes - (start - at)) / sizeof(float) / size_t(threads)) / 64 * 64;
      if (per == 0) continue;
      parallel_for(threads, [&](int64_t t) {
        const float* p = reinterpret_cast<const float*>(start) + t * per;
        g_sink.store(read_quarters(p, size_t(per / 4), isa), std::memory_order_relaxed);
      });
      read += size_t(per) * size_t(threads) * sizeof(float);
    }
    const double s = seconds_since(t0);
    if (read && s > 0) best = std::max(best, double(read) / s / 1e9);
  }
  return best;
}

double probe_read_bandwidth(size_t bytes, int reps) {
  const size_t n = bytes / sizeof(float) / 64 * 64;
  if (n == 0) return 0;
  std::vector<float> buf(n);
  const int threads = get_num_threads();
  const int64_t per = int64_t(n / size_t(threads)) / 64 * 64;
  parallel_for(threads, [&](int64_t t) {  // first touch by the thread that will read it
    std::memset(buf.data() + t * per, 0, size_t(t == threads - 1 ? int64_t(n) - t * per : per) * sizeof(float));
  });
  const ProbeSpan span{buf.data(), n * sizeof(float)};
  return probe_read_spans(&span, 1, reps);
}

double probe_fma_peak(int64_t iters, int reps) {
  const int threads = get_num_threads();
  const Isa isa = active_isa();
  const double flops_per_iter = isa == Isa::avx512 ? 12 * 16 * 2 : isa == Isa::avx2 ? 12 * 8 * 2 : 8 * 2;
  double best = 0;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    parallel_for(threads, [&](int64_t) {
      float s;
#if SK_HAVE_X86
      if (isa == Isa::avx512) s = fma_avx512(iters);
      else if (isa == Isa::avx2) s = fma_avx2(iters);
      else
#endif
        s = fma_portable(iters);
      g_sink.store(s, std::memory_order_relaxed);
    });
    const double flops = double(threads) * double(iters) * flops_per_iter;
    best = std::max(best, flops / seconds_since(t0) / 1e9);
  }
  return best;
}

double probe_bf16_dot_peak(int64_t iters, int reps) {
#if SK_HAVE_X86
  if (!cpu_features().avx512bf16 || active_isa() != Isa::avx512) return 0;
  const int threads = get_num_threads();
  double best = 0;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    parallel_for(threads, [&](int64_t) { g_sink.store(bf16_dot_avx512(iters), std::memory_order_relaxed); });
    best = std::max(best, double(threads) * double(iters) * 12 * 16 * 4 / seconds_since(t0) / 1e9);
  }
  return best;
#else
  (void)iters;
  (void)reps;
  return 0;
#endif
}

}  // namespace sk
