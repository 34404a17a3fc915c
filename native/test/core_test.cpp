// Links the native core without Node: conversions, every format's pack/validate/unpack round trip,
// and spmm against an fp64 reference. Run by `npm run test:native` (cmake + ctest) and by .ci/run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "../core/convert.h"
#include "../core/sizes.h"
#include "../core/thread_pool.h"
#include "../cpu/spmm.h"
#include "../formats/sparse_matrix.h"
#include "check.h"

using namespace sk;

static void test_half_conversions() {
  CHECK(f32_to_f16(1.0f) == 0x3c00, "1.0");
  CHECK(f32_to_f16(65504.f) == 0x7bff, "max half");
  CHECK(f32_to_f16(65520.f) == 0x7c00, "overflow to inf");
  CHECK(f32_to_f16(5.9604644775390625e-8f) == 0x0001, "smallest subnormal");
  CHECK(f32_to_f16(2.98023223876953125e-8f) == 0x0000, "tie to even at zero");
  CHECK(f32_to_bf16(1.00390625f) == 0x3f80, "bf16 tie to even down");
  CHECK(f32_to_bf16(1.01171875f) == 0x3f82, "bf16 tie to even up");
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaNs
    CHECK(f32_to_f16(f16_to_f32(uint16_t(h))) == h, "f16 round trip %04x", h);
  }
}

static void test_formats_and_spmm() {
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 13, 3}, {130, 70, 5}, {257, 129, 1}, {64, 200, 9}};
  const float sparsities[] = {0.f, 0.5f, 0.9f, 1.0f};
  for (auto& sh : shapes) {
    const int64_t M = sh[0], K = sh[1], N = sh[2];
    for (float sp : sparsities) {
      for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
        std::vector<uint8_t> w(size_t(M * K) * dtype_size(dt));
        fill_random(w.data(), dt, size_t(M * K), 7, Distribution::normal, 0, 1);
        std::vector<float> u(size_t(M * K));
        fill_random(u.data(), DType::f32, u.size(), 8, Distribution::uniform, 0, 1);
        std::vector<uint8_t> mask(size_t(M * K));
        for (size_t i = 0; i < mask.size(); ++i) mask[i] = u[i] >= sp;
        std::vector<float> x(size_t(K * N));
        fill_random(x.data(), DType::f32, x.size(), 9, Distribution::normal, 0, 1);
        // fp64 reference of the masked product.
        std::vector<double> ref(size_t(M * N), 0.0), mag(size_t(M * N), 0.0);
        for (int64_t r = 0; r < M; ++r)
          for (int64_t k = 0; k < K; ++k) {
            if (!mask[r * K + k]) continue;
            double v = load_as_f32(w.data(), dt, size_t(r * K + k));
            for (int64_t j = 0; j < N; ++j) {
              ref[r * N + j] += v * x[k * N + j];
              mag[r * N + j] += std::fabs(v * x[k * N + j]);
            }
          }
        for (Format f : {Format::dense, Format::csr, Format::bitmap, Format::nm, Format::tiled_csl}) {
          if (f == Format::tiled_csl && dt == DType::f32) continue;
          PackOptions opt;
          opt.format = f;
          opt.mask = mask.data();
          if (f == Format::nm) { opt.n = 2; opt.m = 4; opt.prune_magnitude = true; }
          PackedMatrix pm;
          Status st = pack(w.data(), dt, M, K, opt, &pm);
          CHECK(st.ok(), "pack %s: %s", format_name(f), st.message.c_str());
          if (!st.ok()) continue;
          MatrixView v = pm.view();
          st = validate(v);
          CHECK(st.ok(), "validate %s %lldx%lld: %s", format_name(f), (long long)M, (long long)K, st.message.c_str());
          std::vector<uint8_t> back(w.size());
          unpack(v, back.data());
          // Expected dense: masked (and for nm, the kept subset of the mask).
          std::vector<uint8_t> kept(size_t(M * K));
          for (int64_t i = 0; i < M * K; ++i) {
            bool nz = load_as_f32(back.data(), dt, size_t(i)) != 0.f;
            kept[i] = nz;
            if (f != Format::nm) {
              bool want = mask[i] && load_as_f32(w.data(), dt, size_t(i)) != 0.f;
              CHECK(nz == want, "%s unpack keep mismatch at %lld", format_name(f), (long long)i);
              if (nz == want && nz) CHECK(std::memcmp(&back[i * dtype_size(dt)], &w[i * dtype_size(dt)], dtype_size(dt)) == 0, "value");
            } else if (nz) {
              CHECK(mask[i], "nm kept a masked-out value");
            }
          }
          std::vector<float> y(size_t(M * N));
          SpmmArgs args;
          args.b = x.data();
          args.n = N;
          args.out = {y.data(), DType::f32, N, 1, nullptr};
          st = spmm_cpu(v, args);
          CHECK(st.ok(), "spmm %s", st.message.c_str());
          for (int64_t r = 0; r < M; ++r)
            for (int64_t j = 0; j < N; ++j) {
              double want = 0, m = 0;
              if (f == Format::nm) {
                for (int64_t k = 0; k < K; ++k)
                  if (kept[r * K + k]) {
                    double t = double(load_as_f32(w.data(), dt, size_t(r * K + k))) * x[k * N + j];
                    want += t;
                    m += std::fabs(t);
                  }
              } else {
                want = ref[r * N + j];
                m = mag[r * N + j];
              }
              double err = std::fabs(double(y[r * N + j]) - want);
              CHECK(err <= 1e-5 * m + 1e-30, "%s %s [%lld,%lld,%lld] s=%.1f y(%lld,%lld)=%g want %g",
                    format_name(f), dtype_name(dt), (long long)M, (long long)K, (long long)N, sp, (long long)r,
                    (long long)j, y[r * N + j], want);
            }
        }
      }
    }
  }
}

// Issue #11: the size limits and checked products, and that copy_validated checks (and keeps) a
// copy: a source changed after the call cannot reach the result.
static void test_sizes_and_copy_validated() {
  uint64_t e = 0;
  CHECK(matrix_elements(int64_t(1) << 20, int64_t(1) << 20, &e) && e == uint64_t(1) << 40, "2^20 x 2^20 is the limit");
  CHECK(!matrix_elements(int64_t(1) << 20, (int64_t(1) << 20) + 1, &e), "past 2^40 elements");
  CHECK(!matrix_elements(kMaxDim + 1, 1, &e) && matrix_elements(kMaxDim, 0, &e) && e == 0, "per-dimension limit");
  CHECK(!matrix_elements(-1, 1, &e), "negative");
  // A negative dimension next to a zero one: the product is 0, so only the sign check refuses it.
  CHECK(!matrix_elements(-1, 0, &e) && !matrix_elements(0, -1, &e) && !matrix_elements(INT64_MIN, 0, &e), "negative next to zero");
  CHECK(!bytes_of(uint64_t(1) << 62, 4, &e) && bytes_of(uint64_t(1) << 61, 4, &e), "checked byte count");
  CHECK(!bytes_of(uint64_t(1) << 40, uint64_t(1) << 20, 16, &e), "checked rows x per-row x bytes");
  // The shapes fail the shape check before any part size is computed.
  MatrixView nm;
  nm.format = Format::nm; nm.rows = int64_t(1) << 40; nm.cols = int64_t(1) << 27; nm.n = 4; nm.m = 4;
  CHECK(validate(nm).code == ErrorCode::shape && check_part_sizes(nm).code == ErrorCode::shape, "nm [2^40, 2^27]");
  MatrixView tc;
  tc.format = Format::tiled_csl; tc.dtype = DType::f16; tc.rows = int64_t(1) << 38; tc.cols = int64_t(1) << 37;
  int32_t one_offset = 0;
  tc.parts[int(Part::tile_offsets)] = {&one_offset, 4};
  CHECK(validate(tc).code == ErrorCode::shape, "tiled-csl [2^38, 2^37]");
  // copy_validated: a valid csr copied, then the source scribbled on: the copy is unchanged.
  std::vector<int32_t> rp = {0, 1, 2}, ci = {1, 0};
  std::vector<float> vals = {1.f, 2.f};
  MatrixView src;
  src.format = Format::csr; src.rows = 2; src.cols = 2;
  src.parts[int(Part::row_ptr)] = {rp.data(), rp.size() * 4};
  src.parts[int(Part::col_idx)] = {ci.data(), ci.size() * 4};
  src.parts[int(Part::values)] = {vals.data(), vals.size() * 4};
  PackedMatrix copy;
  CHECK(copy_validated(src, &copy).ok(), "valid csr copies");
  ci[0] = 1 << 30;
  CHECK(validate(copy.view()).ok() && copy.view().as<int32_t>(Part::col_idx)[0] == 1, "the copy does not follow the source");
  CHECK(copy_validated(src, &copy).code == ErrorCode::format && copy.parts[int(Part::col_idx)].empty(), "a bad source leaves nothing");
}

// The pool hands every task to exactly one thread, back to back (workers still spinning), after
// the spin ran out (workers asleep), from two calling threads at once, and nested: serially inside
// a task of several, on the pool again inside a single task (which runs on the caller, not as a
// task), so the nested count is atomic.
static void test_thread_pool() {
  for (const char* spin : {"0", "50", "200"}) {
    setenv("SPARSEKIT_SPIN_US", spin, 1);
    for (int threads : {2, 3}) {
      set_num_threads(threads);  // a new pool, which reads the spin
      std::atomic<int> bad{0};
      auto round = [&](int64_t tasks) {
        std::vector<std::atomic<int>> hits(size_t(tasks + 1));
        parallel_for(tasks, [&](int64_t t) {
          hits[size_t(t)].fetch_add(1);
          std::atomic<int> inner{0};
          parallel_for(3, [&](int64_t) { inner.fetch_add(1); });
          if (inner.load() != 3) bad.fetch_add(1);
        });
        for (int64_t t = 0; t < tasks; ++t)
          if (hits[size_t(t)].load() != 1) bad.fetch_add(1);
        if (hits[size_t(tasks)].load() != 0) bad.fetch_add(1);
      };
      for (int i = 0; i < 300; ++i) {
        round(1 + i % 17);
        if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // past any spin
      }
      std::thread other([&] { for (int i = 0; i < 200; ++i) round(1 + i % 9); });
      for (int i = 0; i < 200; ++i) round(1 + i % 13);
      other.join();
      CHECK(bad.load() == 0, "spin %s us, %d threads: %d tasks run other than once", spin, threads, bad.load());
    }
  }
  // Asleep workers are woken for a job: tasks of 2 ms each (the caller alone would take 16 ms)
  // run on more than one thread, also right after the workers went to sleep.
  setenv("SPARSEKIT_SPIN_US", "0", 1);
  set_num_threads(2);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::mutex mu;
    std::vector<std::thread::id> ids;
    parallel_for(8, [&](int64_t) {
      {
        std::lock_guard<std::mutex> lk(mu);
        if (std::find(ids.begin(), ids.end(), std::this_thread::get_id()) == ids.end()) ids.push_back(std::this_thread::get_id());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    });
    CHECK(ids.size() == 2, "round %d: 8 tasks of 2 ms ran on %zu thread(s) of 2: the sleeping worker was not woken", i, ids.size());
  }
  unsetenv("SPARSEKIT_SPIN_US");
}

int main() {
  test_half_conversions();
  test_thread_pool();
  test_sizes_and_copy_validated();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    test_formats_and_spmm();
  }
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures == 0 ? 0 : 1;
}
