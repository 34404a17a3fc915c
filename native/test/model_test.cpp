// Links the transformer pieces without Node: RMSNorm, rotary embeddings, causal GQA attention
// over a partly filled cache, SwiGLU, embedding lookup and the NLL, each against a float64
// re-computation on odd sizes. Run by `npm run test:native`.
#include <cmath>
#include <cstdio>
#include <vector>

#include "../core/convert.h"
#include "../core/thread_pool.h"
#include "../model/transformer.h"
#include "check.h"

using namespace sk;

static std::vector<float> random(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  fill_random(v.data(), DType::f32, n, seed, Distribution::normal, 0, 1);
  return v;
}

static double rel(double got, double want) { return std::fabs(got - want) / (1.0 + std::fabs(want)); }

static void test_rms_norm() {
  const int64_t rows = 7, cols = 131;
  auto x = random(size_t(rows * cols), 1), w = random(size_t(cols), 2);
  std::vector<uint16_t> wb(static_cast<size_t>(cols));
  convert(w.data(), DType::f32, wb.data(), DType::bf16, size_t(cols));
  std::vector<float> out(x.size()), outb(x.size());
  model::rms_norm(x.data(), rows, cols, w.data(), DType::f32, 1e-5f, out.data());
  model::rms_norm(x.data(), rows, cols, wb.data(), DType::bf16, 1e-5f, outb.data());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += double(x[size_t(r * cols + c)]) * x[size_t(r * cols + c)];
    const double inv = 1 / std::sqrt(ss / double(cols) + 1e-5);
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      CHECK(rel(out[i], w[size_t(c)] * x[i] * inv) < 1e-5, "rms_norm [%lld, %lld]: %g vs %g", (long long)r, (long long)c, out[i], w[size_t(c)] * x[i] * inv);
      CHECK(rel(outb[i], bf16_to_f32(wb[size_t(c)]) * x[i] * inv) < 1e-5, "rms_norm bf16 weight [%lld, %lld]", (long long)r, (long long)c);
    }
  }
  // An all-zero row (a zero embedding, a padding token) normalizes to zeros: eps keeps 1/sqrt finite.
  std::vector<float> zero(static_cast<size_t>(cols), 0.0f), zout(static_cast<size_t>(cols), 1.0f);
  model::rms_norm(zero.data(), 1, cols, w.data(), DType::f32, 1e-5f, zout.data());
  for (int64_t c = 0; c < cols; ++c) CHECK(zout[size_t(c)] == 0.0f, "rms_norm of a zero row: [%lld] = %g", (long long)c, zout[size_t(c)]);
  // A tiny row: eps dominates the mean (as in transformers, sqrt(mean + eps), not sqrt(mean) + eps).
  std::vector<float> tiny(static_cast<size_t>(cols), 1e-4f), tout(static_cast<size_t>(cols));
  model::rms_norm(tiny.data(), 1, cols, w.data(), DType::f32, 1e-5f, tout.data());
  const double tinv = 1 / std::sqrt(1e-8 + 1e-5);
  for (int64_t c = 0; c < cols; ++c)
    CHECK(rel(tout[size_t(c)], w[size_t(c)] * 1e-4 * tinv) < 1e-5, "rms_norm of a tiny row [%lld]: %g", (long long)c, tout[size_t(c)]);
  // In place (out == x).
  auto y = x;
  model::rms_norm(y.data(), rows, cols, w.data(), DType::f32, 1e-5f, y.data());
  CHECK(y == out, "rms_norm in place differs");
}

static void test_rope() {
  const int64_t rows = 5, heads = 3, hd = 10;
  auto x = random(size_t(rows * heads * hd), 3);
  auto y = x;
  std::vector<float> inv = {1.0f, 0.3f, 0.05f, 0.01f, 0.001f};
  std::vector<int32_t> pos = {0, 1, 7, 100, 2047};
  model::rope(y.data(), rows, heads, hd, pos.data(), inv.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < hd / 2; ++i) {
        const size_t a = size_t((r * heads + h) * hd + i), b = a + size_t(hd / 2);
        const double ang = double(float(pos[size_t(r)]) * inv[size_t(i)]);
        const double wa = x[a] * std::cos(ang) - x[b] * std::sin(ang), wb = x[b] * std::cos(ang) + x[a] * std::sin(ang);
        CHECK(rel(y[a], wa) < 1e-5 && rel(y[b], wb) < 1e-5, "rope row %lld head %lld pair %lld", (long long)r, (long long)h, (long long)i);
      }
}

static void test_attention(const model::AttentionShape& s) {
  const int64_t qdim = s.heads * s.head_dim, kvdim = s.kv_heads * s.head_dim;
  auto q = random(size_t(s.batch * s.tokens * qdim), 4);
  auto k = random(size_t(s.batch * s.capacity * kvdim), 5), v = random(size_t(s.batch * s.capacity * kvdim), 6);
  // Rows beyond past + tokens hold garbage the kernel must not read: make it huge.
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t j = s.past + s.tokens; j < s.capacity; ++j)
      for (int64_t d = 0; d < kvdim; ++d) k[size_t((b * s.capacity + j) * kvdim + d)] = v[size_t((b * s.capacity + j) * kvdim + d)] = 1e30f;
  std::vector<float> out(q.size());
  model::attention(q.data(), k.data(), v.data(), s, out.data());
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t t = 0; t < s.tokens; ++t)
      for (int64_t h = 0; h < s.heads; ++h) {
        const int64_t g = h / (s.heads / s.kv_heads), keys = s.past + t + 1;
        std::vector<double> p(static_cast<size_t>(keys));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < keys; ++j) {
          double d = 0;
          for (int64_t e = 0; e < s.head_dim; ++e)
            d += double(q[size_t((b * s.tokens + t) * qdim + h * s.head_dim + e)]) * k[size_t((b * s.capacity + j) * kvdim + g * s.head_dim + e)];
          p[size_t(j)] = d * s.scale;
          mx = std::max(mx, p[size_t(j)]);
        }
        for (auto& x : p) sum += (x = std::exp(x - mx));
        for (int64_t e = 0; e < s.head_dim; ++e) {
          double want = 0;
          for (int64_t j = 0; j < keys; ++j) want += p[size_t(j)] / sum * v[size_t((b * s.capacity + j) * kvdim + g * s.head_dim + e)];
          const float got = out[size_t((b * s.tokens + t) * qdim + h * s.head_dim + e)];
          CHECK(rel(got, want) < 1e-5, "attention b%lld t%lld h%lld e%lld: %g vs %g", (long long)b, (long long)t, (long long)h, (long long)e, got, want);
        }
      }
}

static void test_swiglu_embed_nll() {
  auto g = random(37, 7), u = random(37, 8);
  auto out = g;
  model::swiglu(out.data(), u.data(), 37);
  for (size_t i = 0; i < 37; ++i) CHECK(rel(out[i], g[i] / (1 + std::exp(-double(g[i]))) * u[i]) < 1e-6, "swiglu %zu", i);

  const int64_t vocab = 11, cols = 6;
  auto table = random(size_t(vocab * cols), 9);
  std::vector<int32_t> ids = {3, 0, 10, 3};
  std::vector<float> e(ids.size() * size_t(cols));
  CHECK(model::embed(ids.data(), 4, table.data(), DType::f32, vocab, cols, e.data()).ok(), "embed failed");
  for (size_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < cols; ++c) CHECK(e[r * size_t(cols) + size_t(c)] == table[size_t(ids[r] * cols + c)], "embed row %zu", r);
  ids[2] = 11;
  Status st = model::embed(ids.data(), 4, table.data(), DType::f32, vocab, cols, e.data());
  CHECK(!st.ok() && st.code == ErrorCode::argument && st.message.find("token 2") != std::string::npos, "embed out of range: %s", st.message.c_str());

  const int64_t rows = 5;
  auto logits = random(size_t(rows * vocab), 10);
  logits[3] = 80.0f;  // a large logit: the max subtraction keeps exp finite
  std::vector<int32_t> targets = {3, 0, -1, 10, 4};
  double sum = 0, want = 0;
  int64_t count = 0;
  CHECK(model::nll(logits.data(), rows, vocab, targets.data(), &sum, &count).ok(), "nll failed");
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[size_t(r)] < 0) continue;
    double z = 0;
    for (int64_t c = 0; c < vocab; ++c) z += std::exp(double(logits[size_t(r * vocab + c)]));
    want += std::log(z) - logits[size_t(r * vocab + targets[size_t(r)])];
  }
  CHECK(count == 4 && rel(sum, want) < 1e-9, "nll %g vs %g (count %lld)", sum, want, (long long)count);
  targets[1] = 11;
  CHECK(!model::nll(logits.data(), rows, vocab, targets.data(), &sum, &count).ok(), "nll accepted a target outside the vocabulary");
}

int main() {
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    test_rms_norm();
    test_rope();
    // batch 2, 3 new tokens after 4 cached, capacity 9, GQA 6/2: the per-row (decode) path.
    test_attention({2, 3, 4, 9, 6, 2, 5, 0.4f});
    // The blocked-GEMM (prefill) path: at its threshold; across query-row blocks (150 = 64 + 64 +
    // 22) after cached positions, GQA, an odd head_dim; and a prompt with nothing cached.
    test_attention({1, model::kAttentionGemmTokens, 0, 8, 2, 1, 7, 0.3f});
    test_attention({2, 150, 7, 160, 4, 2, 19, 0.2f});
    test_attention({1, 129, 0, 129, 3, 3, 16, 0.25f});
    test_swiglu_embed_nll();
  }
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
