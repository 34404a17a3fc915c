#include "model/transformer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "core/convert.h"
#include "core/thread_pool.h"
#include "solvers/linalg.h"

namespace sk::model {

namespace {

// Four independent partial sums so the loop is not one long dependency chain.
inline float dot(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// Rows per task so that a task has at least ~16k elements of work.
int64_t grain_rows(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

}  // namespace

void rms_norm(const float* x, int64_t rows, int64_t cols, const void* w, DType w_dtype, float eps, float* out) {
  std::vector<float> wf(static_cast<size_t>(cols));
  convert(w, w_dtype, wf.data(), DType::f32, size_t(cols));
  parallel_range(rows, grain_rows(cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* o = out + r * cols;
      // float32 like the reference (x.pow(2).mean()), summed pairwise-ish in four chains.
      const float mean = dot(xr, xr, cols) / float(cols);
      const float inv = 1.0f / std::sqrt(mean + eps);
      for (int64_t c = 0; c < cols; ++c) o[c] = wf[size_t(c)] * (xr[c] * inv);
    }
  });
}

void rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, const int32_t* positions, const float* inv_freq) {
  const int64_t half = head_dim / 2;
  parallel_range(rows, grain_rows(heads * head_dim), [&](int64_t b, int64_t e) {
    std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t r = b; r < e; ++r) {
      const float pos = float(positions[r]);
      for (int64_t i = 0; i < half; ++i) {
        const float ang = pos * inv_freq[i];
        cs[size_t(i)] = std::cos(ang);
        sn[size_t(i)] = std::sin(ang);
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + r * heads * head_dim + h * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const float a = v[i], c = v[i + half];
          v[i] = a * cs[size_t(i)] - c * sn[size_t(i)];
          v[i + half] = c * cs[size_t(i)] + a * sn[size_t(i)];
        }
      }
    }
  });
}

namespace {

// Decode steps (few queries): one task per (sequence, head, query row), dot products in place.
void attention_rows(const float* q, const float* k_cache, const float* v_cache, const AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, qdim = s.heads * hd, kvdim = s.kv_heads * hd;
  const int64_t group = s.heads / s.kv_heads;
  const int64_t tasks = s.batch * s.heads * s.tokens;
  parallel_range(tasks, std::max<int64_t>(1, 64 / std::max<int64_t>(1, s.past + s.tokens / 2)), [&](int64_t b, int64_t e) {
    std::vector<float> p;
    for (int64_t task = b; task < e; ++task) {
      const int64_t t = task % s.tokens;
      const int64_t h = (task / s.tokens) % s.heads;
      const int64_t seq = task / (s.tokens * s.heads);
      const int64_t g = h / group;
      const int64_t keys = s.past + t + 1;
      const float* qv = q + (seq * s.tokens + t) * qdim + h * hd;
      const float* kb = k_cache + seq * s.capacity * kvdim + g * hd;
      const float* vb = v_cache + seq * s.capacity * kvdim + g * hd;
      p.resize(size_t(keys));
      float mx = -INFINITY;
      for (int64_t j = 0; j < keys; ++j) {
        p[size_t(j)] = dot(qv, kb + j * kvdim, hd) * s.scale;
        mx = std::max(mx, p[size_t(j)]);
      }
      float sum = 0;
      for (int64_t j = 0; j < keys; ++j) {
        p[size_t(j)] = std::exp(p[size_t(j)] - mx);
        sum += p[size_t(j)];
      }
      const float inv = 1.0f / sum;
      float* o = out + (seq * s.tokens + t) * qdim + h * hd;
      std::fill(o, o + hd, 0.0f);
      for (int64_t j = 0; j < keys; ++j) {
        const float w = p[size_t(j)] * inv;
        const float* vr = vb + j * kvdim;
        for (int64_t d = 0; d < hd; ++d) o[d] += w * vr[d];
      }
    }
  });
}

// Query rows per prefill task: bounds the score block at kPrefillRows x keys floats.
constexpr int64_t kPrefillRows = 64;

// Prefill (many queries): per (sequence, head, block of query rows) the scores S = scale·Q Kᵀ and
// the output P V go through the solvers' blocked GEMM (ISA micro-kernels), which runs serially
// inside each pool task; the tasks spread over the pool. Keys a row may not see (j > past + t)
// get probability 0, so the wasted work is the upper triangle of one row block.
void attention_blocks(const float* q, const float* k_cache, const float* v_cache, const AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, qdim = s.heads * hd, kvdim = s.kv_heads * hd;
  const int64_t group = s.heads / s.kv_heads;
  const int64_t blocks = (s.tokens + kPrefillRows - 1) / kPrefillRows;
  parallel_range(s.batch * s.heads * blocks, 1, [&](int64_t b, int64_t e) {
    std::vector<float> sc;
    for (int64_t task = b; task < e; ++task) {
      const int64_t blk = task % blocks;
      const int64_t h = (task / blocks) % s.heads;
      const int64_t seq = task / (blocks * s.heads);
      const int64_t kv = h / group;  // transformers' repeat_kv
      const int64_t t0 = blk * kPrefillRows, rows = std::min(kPrefillRows, s.tokens - t0);
      const int64_t keys = s.past + t0 + rows;  // what the block's last row sees
      const float* kb = k_cache + seq * s.capacity * kvdim + kv * hd;
      const float* vb = v_cache + seq * s.capacity * kvdim + kv * hd;
      sc.assign(size_t(rows * keys), 0.0f);
      GemmArgs qk;
      qk.m = rows, qk.n = keys, qk.k = hd;
      qk.a = q + (seq * s.tokens + t0) * qdim + h * hd, qk.lda = qdim;
      qk.b = kb, qk.ldb = kvdim, qk.b_trans = true;
      qk.c = sc.data(), qk.ldc = keys, qk.alpha = s.scale;
      gemm(qk);
      for (int64_t i = 0; i < rows; ++i) {
        float* p = sc.data() + i * keys;
        const int64_t seen = s.past + t0 + i + 1;
        float mx = -INFINITY;
        for (int64_t j = 0; j < seen; ++j) mx = std::max(mx, p[j]);
        float sum = 0;
        for (int64_t j = 0; j < seen; ++j) sum += (p[j] = std::exp(p[j] - mx));
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < seen; ++j) p[j] *= inv;
        std::fill(p + seen, p + keys, 0.0f);
        float* o = out + (seq * s.tokens + t0 + i) * qdim + h * hd;
        std::fill(o, o + hd, 0.0f);
      }
      GemmArgs pv;
      pv.m = rows, pv.n = hd, pv.k = keys;
      pv.a = sc.data(), pv.lda = keys;
      pv.b = vb, pv.ldb = kvdim;
      pv.c = out + (seq * s.tokens + t0) * qdim + h * hd, pv.ldc = qdim;
      gemm(pv);
    }
  });
}

}  // namespace

void attention(const float* q, const float* k_cache, const float* v_cache, const AttentionShape& s, float* out) {
  // A GEMM pays for packing its panels; below a handful of queries the direct loop is cheaper.
  if (s.tokens >= kAttentionGemmTokens) attention_blocks(q, k_cache, v_cache, s, out);
  else attention_rows(q, k_cache, v_cache, s, out);
}

void swiglu(float* gate, const float* up, int64_t n) {
  parallel_range(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float g = gate[i];
      gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  });
}

Status embed(const int32_t* ids, int64_t n, const void* table, DType dtype, int64_t vocab, int64_t cols, float* out) {
  for (int64_t r = 0; r < n; ++r)
    if (ids[r] < 0 || ids[r] >= vocab)
      return Status::Error(ErrorCode::argument, "token " + std::to_string(r) + " has id " + std::to_string(ids[r]) +
                                                    ", outside the vocabulary [0, " + std::to_string(vocab) + ")");
  const size_t es = dtype_size(dtype);
  parallel_range(n, grain_rows(cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      convert(static_cast<const uint8_t*>(table) + size_t(ids[r]) * size_t(cols) * es, dtype, out + r * cols, DType::f32, size_t(cols));
  });
  return Status::Ok();
}

Status nll(const float* logits, int64_t rows, int64_t vocab, const int32_t* targets, double* sum, int64_t* count) {
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] >= vocab)
      return Status::Error(ErrorCode::argument, "target " + std::to_string(r) + " is " + std::to_string(targets[r]) +
                                                    ", outside the vocabulary [0, " + std::to_string(vocab) + ")");
  std::vector<double> part(size_t(rows), 0.0);
  parallel_range(rows, grain_rows(vocab), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      if (targets[r] < 0) continue;
      const float* l = logits + r * vocab;
      float mx = -INFINITY;
      for (int64_t c = 0; c < vocab; ++c) mx = std::max(mx, l[c]);
      double s = 0;
      for (int64_t c = 0; c < vocab; ++c) s += std::exp(double(l[c]) - double(mx));
      part[size_t(r)] = double(mx) + std::log(s) - double(l[targets[r]]);
    }
  });
  double total = 0;
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] >= 0) {
      total += part[size_t(r)];
      ++n;
    }
  *sum = total;
  *count = n;
  return Status::Ok();
}

}  // namespace sk::model
