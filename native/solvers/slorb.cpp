#include "solvers/slorb.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "core/cpu_features.h"
#include "solvers/linalg.h"

namespace sk {

namespace {

// Tokens from which S·(P·x) runs through the blocked GEMM instead of one dot product per row and token.
constexpr int64_t kSlorbGemmTokens = 4;

// Decodes n values of a float dtype to float32 (the switch is outside the loop so each case vectorizes).
void decode(const void* p, DType t, int64_t offset, int64_t n, float* dst) {
  switch (t) {
    case DType::f32: { const float* s = static_cast<const float*>(p) + offset; for (int64_t i = 0; i < n; i++) dst[i] = s[i]; break; }
    case DType::f16: { const uint16_t* s = static_cast<const uint16_t*>(p) + offset; for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]); break; }
    case DType::bf16: { const uint16_t* s = static_cast<const uint16_t*>(p) + offset; for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]); break; }
    default: for (int64_t i = 0; i < n; i++) dst[i] = load_as_f32(p, t, size_t(offset + i)); break;
  }
}

// One output value; the float dtypes inline (a call per element cost more than the dots at N = 16).
inline void put(void* out, DType t, int64_t o, float v) {
  if (t == DType::f32) static_cast<float*>(out)[o] = v;
  else if (t == DType::bf16) static_cast<uint16_t*>(out)[o] = f32_to_bf16(v);
  else if (t == DType::f16) static_cast<uint16_t*>(out)[o] = f32_to_f16(v);
  else store_from_f32(out, t, size_t(o), v);
}

// Eight partial sums: the compiler keeps them in vector lanes without reassociating on its own.
float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

}  // namespace

Status SlorbTerm::prepare(const SlorbArgs& a) {
  if (a.rows < 0 || a.cols < 0 || a.n < 0 || a.groups < 0 || a.group_size < 1)
    return Status::Error(ErrorCode::shape, "slorb: negative sizes or a group size below 1");
  if (!a.proj && a.groups * a.group_size != a.cols)
    return Status::Error(ErrorCode::shape, "slorb: group size " + std::to_string(a.group_size) + " times " + std::to_string(a.groups) +
                                               " groups is not the " + std::to_string(a.cols) + " inputs");
  if (!(dtype_is_float(a.scales_dtype) || a.scales_dtype == DType::i8) || !dtype_is_float(a.x_dtype) || !dtype_is_float(a.out_dtype) ||
      (a.proj && !dtype_is_float(a.proj_dtype)))
    return Status::Error(ErrorCode::dtype, "slorb: projection, activations and output must be float dtypes, scales float or int8");
  if ((a.scales_dtype == DType::i8) != (a.row_scales != nullptr) || (a.row_scales && !dtype_is_float(a.row_scales_dtype)))
    return Status::Error(ErrorCode::dtype, "slorb: int8 scales need float row scales, and only int8 scales take them");
  a_ = a;
  if (a.rows == 0 || a.n == 0) return Status::Ok();
  const int64_t G = a.groups, K = a.cols;
  // g[t, i] = (P x_t)_i for every token, in float32: computed once, reused by every row.
  g_.assign(size_t(a.n * G), 0.0f);
  const Isa isa = active_isa();
  const bool avx512 = isa == Isa::avx512;  // the group sums, the panels and the bf16 row dots are AVX-512 code
  const SlorbGroupSums sums = !a.proj && a.group_size % 16 == 0 && a.x_feat_stride == 1 && avx512
                                  ? slorb_group_sums_avx512() : nullptr;
  std::vector<float> xt(sums ? 0 : size_t(K));
  std::vector<float> prow(a.proj ? size_t(K) : 0);
  for (int64_t t = 0; t < a.n; t++) {
    float* gt = g_.data() + t * G;
    if (sums) {
      sums(a.x, a.x_dtype, t * a.x_tok_stride, G, a.group_size, gt);
      continue;
    }
    if (a.x_feat_stride == 1) decode(a.x, a.x_dtype, t * a.x_tok_stride, K, xt.data());
    else for (int64_t k = 0; k < K; k++) xt[size_t(k)] = load_as_f32(a.x, a.x_dtype, size_t(t * a.x_tok_stride + k * a.x_feat_stride));
    if (!a.proj) {
      for (int64_t i = 0; i < G; i++) {
        float s = 0;
        for (int64_t j = 0; j < a.group_size; j++) s += xt[size_t(i * a.group_size + j)];
        gt[i] = s;
      }
    } else {
      for (int64_t i = 0; i < G; i++) {
        decode(a.proj, a.proj_dtype, i * K, K, prow.data());
        gt[i] = dot(prow.data(), xt.data(), K);
      }
    }
  }
  // g in the activations' dtype, as the reference layer computes it (docs/adapters.md, "Numerics").
  for (float& v : g_) v = round_to_dtype(v, a.x_dtype);
  vec_ = a.n > kSlorbDotTokens ? nullptr
         : avx512             ? slorb_dots_avx512()
         : isa == Isa::avx2   ? slorb_dots_avx2()
                              : nullptr;
  const bool panels = avx512 && vec_ && a.n >= kSlorbPanelTokens && a.out_row_stride == 1;
  // bf16 g with bf16 or int8 S (exact in bf16): the vdpbf16ps panels, with exact products and fp32
  // sums like the fp32 panels (in another order, denormals flushed).
  panels_bf16_ = panels && a.x_dtype == DType::bf16 && (a.scales_dtype == DType::bf16 || a.scales_dtype == DType::i8) &&
                         cpu_features().avx512bf16 ? slorb_panels_bf16_avx512() : nullptr;
  panels_ = panels && !panels_bf16_ ? slorb_panels_avx512() : nullptr;
  if (panels_bf16_) {
    const int64_t O = (G + 7) / 8;
    gO_.assign(size_t((a.n + 15) / 16 * O * 64), 0u);
    for (int64_t t = 0; t < a.n; t++)
      for (int64_t i = 0; i < G; i++)
        gO_[size_t((t / 16 * O + i / 8) * 64 + t % 16 * 4 + i % 8 / 2)] |= uint32_t(f32_to_bf16(g_[size_t(t * G + i)])) << (16 * (i % 2));
  }
  if (panels_) {
    const int64_t block = (G + 1) / 2 * 32;
    gP_.assign(size_t((a.n + 15) / 16 * block), 0.0f);
    for (int64_t t = 0; t < a.n; t++)
      for (int64_t i = 0; i < G; i++) gP_[size_t(t / 16 * block + i / 2 * 32 + t % 16 * 2 + i % 2)] = g_[size_t(t * G + i)];
  }
  // One token, bf16 g and bf16 S: the row dots with vdpbf16ps, exact products and fp32 sums.
  gemv_bf16_ = avx512 && vec_ && a.n == 1 && a.x_dtype == DType::bf16 && a.scales_dtype == DType::bf16 && cpu_features().avx512bf16
                   ? slorb_gemv_bf16_avx512() : nullptr;
  if (gemv_bf16_) {
    g16_.assign(size_t((G + 31) / 32 * 32), 0);
    for (int64_t i = 0; i < G; i++) g16_[size_t(i)] = f32_to_bf16(g_[size_t(i)]);
  }
  gemm_ = !vec_ && a.n >= kSlorbGemmTokens && (a.out_row_stride == 1 || a.out_tok_stride == 1);
  return Status::Ok();
}

void SlorbTerm::add_rows(int64_t r0, int64_t r1) const {
  const SlorbArgs& a = a_;
  if (r1 <= r0 || a.n == 0) return;
  const int64_t G = a.groups, R = r1 - r0;
  // The paths that add into base in place must then write the output (unless it is base itself).
  const bool convert = a.out != static_cast<void*>(a.base) || a.out_dtype != DType::f32;
  thread_local std::vector<float> buf;
  if (gemm_) {
    // From a few tokens on, S[r0:r1]·g is a small GEMM (serial inside a pool task): S's rows go to
    // float32 once and the per-ISA blocked GEMM (linalg.h) adds them into base.
    const float* s = static_cast<const float*>(a.scales) + r0 * G;
    if (a.scales_dtype != DType::f32) {
      if (buf.size() < size_t(R * G)) buf.resize(size_t(R * G));
      decode(a.scales, a.scales_dtype, r0 * G, R * G, buf.data());
      if (a.row_scales)
        for (int64_t r = r0; r < r1; r++) {
          const float rs = row_scale(r);
          for (int64_t i = 0; i < G; i++) buf[size_t((r - r0) * G + i)] *= rs;
        }
      s = buf.data();
    }
    GemmArgs ga;
    ga.k = G;
    ga.b_trans = true;
    ga.ldb = G;
    if (a.out_row_stride == 1) {  // base[N, rows] += g[N, G] · Sᵀ
      ga.m = a.n; ga.n = R; ga.a = g_.data(); ga.lda = G; ga.b = s; ga.c = a.base + r0; ga.ldc = a.out_tok_stride;
    } else {                      // base[rows, N] += S[rows, G] · gᵀ
      ga.m = R; ga.n = a.n; ga.a = s; ga.lda = G; ga.b = g_.data(); ga.c = a.base + r0 * a.out_row_stride; ga.ldc = a.out_row_stride;
    }
    gemm(ga);
    if (convert)
      for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < a.n; t++) {
          const int64_t o = t * a.out_tok_stride + r * a.out_row_stride;
          put(a.out, a.out_dtype, o, a.base[o]);
        }
    return;
  }
  // The rows' scales (all 1 for float S), decoded once for the range instead of a call per element;
  // before the dots, which are stored just below them.
  auto row_scales = [&](float* rs) {
    if (a.row_scales) decode(a.row_scales, a.row_scales_dtype, r0, R, rs);
    else std::fill(rs, rs + R, 1.0f);
  };
  // base[t, r] += rs[r] · d[t · ts + (r − r0) · rstep] for every token, then the output's dtype:
  // along the output's unit stride when the rows have it (with a token's rows 4 KiB multiples
  // apart, each base load would wait on the previous token's store: 4K aliasing).
  auto add_dots = [&](const float* d, int64_t ts, int64_t rstep, const float* rs) {
    if (a.out_row_stride == 1) {
      for (int64_t t = 0; t < a.n; t++) {
        float* b = a.base + t * a.out_tok_stride + r0;
        const float* dt = d + t * ts;
        if (rstep == 1) for (int64_t r = 0; r < R; r++) b[r] += rs[r] * dt[r];
        else for (int64_t r = 0; r < R; r++) b[r] += rs[r] * dt[r * rstep];
        if (convert)
          for (int64_t r = 0; r < R; r++) put(a.out, a.out_dtype, t * a.out_tok_stride + r0 + r, b[r]);
      }
      return;
    }
    for (int64_t r = 0; r < R; r++)
      for (int64_t t = 0; t < a.n; t++) {
        const int64_t o = t * a.out_tok_stride + (r0 + r) * a.out_row_stride;
        put(a.out, a.out_dtype, o, a.base[o] + rs[r] * d[t * ts + r * rstep]);
      }
  };
  if (panels_ || panels_bf16_) {  // dots token-major
    if (buf.size() < size_t(R * (a.n + 1))) buf.resize(size_t(R * (a.n + 1)));
    row_scales(buf.data() + R * a.n);
    if (panels_bf16_) panels_bf16_(a.scales, a.scales_dtype, G, r0, r1, gO_.data(), a.n, buf.data(), a.rows);
    else panels_(a.scales, a.scales_dtype, G, r0, r1, gP_.data(), a.n, buf.data(), a.rows);
    add_dots(buf.data(), R, 1, buf.data() + R * a.n);
    return;
  }
  // Up to kSlorbDotTokens: y[t, r] = base[t, r] + S[r, :] · g[t, :], S read once for all tokens.
  if (vec_) {  // dots row-major
    if (buf.size() < size_t(R * (a.n + 1))) buf.resize(size_t(R * (a.n + 1)));
    row_scales(buf.data() + R * a.n);
    if (gemv_bf16_) gemv_bf16_(a.scales, G, r0, r1, g16_.data(), buf.data(), a.rows);
    else vec_(a.scales, a.scales_dtype, G, r0, r1, g_.data(), a.n, buf.data(), a.rows);
    add_dots(buf.data(), 1, a.n, buf.data() + R * a.n);
    return;
  }
  if (buf.size() < size_t(G)) buf.resize(size_t(G));
  for (int64_t r = r0; r < r1; r++) {  // portable: one row decoded, then a dot per token
    decode(a.scales, a.scales_dtype, r * G, G, buf.data());
    const float rs = row_scale(r);
    for (int64_t t = 0; t < a.n; t++) {
      const int64_t o = t * a.out_tok_stride + r * a.out_row_stride;
      put(a.out, a.out_dtype, o, a.base[o] + rs * dot(buf.data(), g_.data() + t * G, G));
    }
  }
}

Status slorb_add(const SlorbArgs& a) {
  SlorbTerm term;
  Status st = term.prepare(a);
  if (!st.ok() || a.rows == 0 || a.n == 0) return st;
  parallel_range(a.rows, a.n >= kSlorbGemmTokens ? 256 : 64, [&](int64_t b, int64_t e) { term.add_rows(b, e); });
  return Status::Ok();
}

}  // namespace sk
