// SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned in
// One-Shot", 2023), following the published algorithm step by step:
//   dead columns (diag H = 0): H_jj = 1, W[:, j] = 0; H += damping·mean(diag H)·I;
//   U = upper Cholesky factor of H⁻¹; then for each block of `block_size` columns: choose the
//   unstructured mask once for the whole block from w²/U_ii² (or N:M every m columns from the
//   current weights), prune/quantize column by column, propagate each column's error
//   (w - q)/U_ii along U's row inside the block, and finally update all later columns at once
//   with W[:, i2:] -= Err·U[i1:i2, i2:].
// U is computed as J·(chol(J H J))⁻¹·J (J reverses the index order): the reversed Cholesky gives
// H = R Rᵀ with R upper, so H⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹ is upper with a positive diagonal, i.e. the
// same unique factor the published chol -> cholesky_inverse -> chol(upper) chain produces, in one
// factorization and one triangular inverse instead of two factorizations and an inverse.
// Deviation, on purpose: the published unstructured step prunes `tmp <= sorted[⌊n·s⌋]`, one
// weight more than ⌊n·s⌋ per block; we prune exactly ⌊n·s⌋ per block (ties: lower flat index).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>

#include "../core/convert.h"
#include "../core/thread_pool.h"
#include "../formats/quant.h"
#include "linalg.h"
#include "prune_common.h"
#include "select.h"

namespace sk {

namespace {

struct Quantizer {
  float maxq = 0;
  std::vector<float> scale, zero;
  float apply(float x, int64_t r) const {
    const float s = scale[size_t(r)], z = zero[size_t(r)];
    const float q = std::min(std::max(std::nearbyint(x / s) + z, 0.f), maxq);
    return s * (q - z);
  }
};

// Per-row asymmetric min-max grid over the whole row (including 0, so zeros stay exactly zero).
void fit_quantizer(const float* w, int64_t rows, int64_t cols, int bits, Quantizer* q) {
  q->maxq = float((1 << bits) - 1);
  q->scale.resize(size_t(rows));
  q->zero.resize(size_t(rows));
  parallel_range(rows, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float lo = 0.f, hi = 0.f;
      for (int64_t c = 0; c < cols; ++c) {
        lo = std::min(lo, w[r * cols + c]);
        hi = std::max(hi, w[r * cols + c]);
      }
      if (lo == 0.f && hi == 0.f) {
        lo = -1.f;
        hi = 1.f;
      }
      const float s = (hi - lo) / q->maxq;
      q->scale[size_t(r)] = s;
      q->zero[size_t(r)] = std::nearbyint(-lo / s);
    }
  });
}

struct HessianInfo {
  int64_t dead = 0;
  double mean_diag = 0, min_diag = 0, max_diag = 0;
};

// g (k x k) lower triangle = J (H + damp·I) J with H = 2·S/tokens and dead diagonals set to 1.
Status build_reversed_hessian(CalibrationStats& stats, double damping, const HessianInfo& info, float* g) {
  std::lock_guard<std::mutex> lk(stats.mutex());
  if (stats.released()) return Status::Error(ErrorCode::argument, "sparsegpt: stats was disposed");
  const int64_t k = stats.k();
  const double* s = stats.xtx();
  const double f = 2.0 / stats.tokens(), damp = damping * info.mean_diag;
  std::atomic<bool> finite{true};
  parallel_range(k, 16, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const int64_t j = k - 1 - p;  // original row of H for g's row p
      float* row = g + p * k;
      for (int64_t q = 0; q < p; ++q) {
        const int64_t i = k - 1 - q;  // i > j: S(i, j) lives at s[i*k + j]
        row[q] = float(f * s[i * k + j]);
        if (!std::isfinite(row[q])) finite = false;
      }
      std::fill(row + p + 1, row + k, 0.f);  // scratch for the factorization; keep it tame
      const double d = s[j * k + j] == 0 ? 1.0 : f * s[j * k + j];
      row[p] = float(d + damp);
      if (!std::isfinite(row[p])) finite = false;
    }
  });
  if (!finite)
    return Status::Error(ErrorCode::numeric, "sparsegpt: H = 2XᵀX/n does not fit in float32 (max diagonal " +
                                                 std::to_string(info.max_diag) + "); scale the calibration inputs down");
  return Status::Ok();
}

HessianInfo hessian_info(CalibrationStats& stats) {
  std::lock_guard<std::mutex> lk(stats.mutex());
  HessianInfo h;
  const int64_t k = stats.k();
  const double f = 2.0 / stats.tokens();
  h.min_diag = INFINITY;
  double sum = 0;
  for (int64_t j = 0; j < k; ++j) {
    const double d0 = f * stats.xtx()[j * k + j];
    if (d0 == 0) ++h.dead;
    const double d = d0 == 0 ? 1.0 : d0;
    sum += d;
    h.min_diag = std::min(h.min_diag, d0);
    h.max_diag = std::max(h.max_diag, d0);
  }
  h.mean_diag = sum / double(k);
  return h;
}

// SPARSEKIT_TRACE=1 prints each phase's wall and process CPU time to stderr (for benchmarks on
// shared machines, where CPU time is the steadier number).
struct PhaseTimer {
  bool on = std::getenv("SPARSEKIT_TRACE") != nullptr;
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();
  std::clock_t cpu = std::clock();
  void lap(const char* what) {
    if (!on) return;
    const auto now = std::chrono::steady_clock::now();
    const std::clock_t c = std::clock();
    std::fprintf(stderr, "sparsegpt %-20s wall %8.1f ms  cpu %8.1f ms\n", what,
                 std::chrono::duration<double, std::milli>(now - t).count(), 1000.0 * double(c - cpu) / CLOCKS_PER_SEC);
    t = now;
    cpu = c;
  }
};

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

Status prune_sparsegpt(const WeightView& w, CalibrationStats& stats, const Pattern& p, const SparseGptOptions& opt,
                       const Control& control, PruneOutput* out) {
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  const int64_t rows = w.rows, k = w.cols, bs = opt.block_size;
  if (bs < 1) return Status::Error(ErrorCode::argument, "sparsegpt: blockSize must be >= 1, got " + std::to_string(bs));
  if (p.nm() && bs % p.m != 0)
    return Status::Error(ErrorCode::argument, "sparsegpt: blockSize (" + std::to_string(bs) + ") must be a multiple of m (" +
                                                  std::to_string(p.m) + ")");
  if (opt.quant_bits != 0 && (opt.quant_bits < 2 || opt.quant_bits > 8))
    return Status::Error(ErrorCode::argument, "sparsegpt: quantizeBits must be in [2, 8], got " + std::to_string(opt.quant_bits));
  const int qg = opt.quant_bits > 0 ? opt.quant_group : 0;
  if (qg > 0) {
    if (k % qg != 0)
      return Status::Error(ErrorCode::shape, "sparsegpt: quantize.groupSize " + std::to_string(qg) + " does not divide the " +
                                                 std::to_string(k) + " columns");
    if (bs % qg != 0)
      return Status::Error(ErrorCode::argument, "sparsegpt: blockSize (" + std::to_string(bs) + ") must be a multiple of quantize.groupSize (" +
                                                    std::to_string(qg) + ")");
  }
  if (!(opt.damping >= 0) || !std::isfinite(opt.damping))
    return Status::Error(ErrorCode::argument, "sparsegpt: damping must be a finite number >= 0, got " + fmt(opt.damping));
  {
    std::lock_guard<std::mutex> lk(stats.mutex());
    if (stats.released()) return Status::Error(ErrorCode::argument, "sparsegpt: stats was disposed");
    if (!stats.has_hessian())
      return Status::Error(ErrorCode::argument, "sparsegpt: stats must be created with { hessian: true }");
    if (stats.k() != k)
      return Status::Error(ErrorCode::shape, "sparsegpt: the weight has " + std::to_string(k) + " input columns but stats has " +
                                                 std::to_string(stats.k()) + " channels");
    if (stats.tokens() <= 0) return Status::Error(ErrorCode::argument, "sparsegpt: stats has no calibration tokens (call add() first)");
  }
  PhaseTimer timer;
  const int64_t nblocks = (k + bs - 1) / bs;
  control.set_total(int32_t(nblocks + 2));

  // Working weight in float32: for float32 input it is the output buffer itself.
  const size_t total = size_t(rows) * size_t(k);
  HostBuffer wbuf;
  float* W;
  if (w.dtype == DType::f32) {
    out->weight.allocate(total * 4);
    W = out->weight.as<float>();
  } else {
    wbuf.allocate(total * 4);
    W = wbuf.as<float>();
  }
  SK_RETURN_IF_ERROR(load_weight_f32(w, W, "sparsegpt"));

  timer.lap("load weight");
  const HessianInfo info = hessian_info(stats);
  out->dead_columns = info.dead;
  if (info.dead > 0) {
    std::lock_guard<std::mutex> lk(stats.mutex());
    std::vector<uint8_t> dead(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) dead[size_t(j)] = stats.xtx()[j * k + j] == 0;
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t j = 0; j < k; ++j)
          if (dead[size_t(j)]) W[r * k + j] = 0.f;
    });
  }
  Quantizer quant;
  if (opt.quant_bits > 0 && qg == 0) fit_quantizer(W, rows, k, opt.quant_bits, &quant);
  const int64_t qgpr = qg > 0 ? k / qg : 0;
  if (qg > 0) {
    out->group_scale.assign(size_t(rows * qgpr), 0);
    out->group_zero.assign(size_t(rows * qgpr), 0);
  }
  std::atomic<bool> fit_failed{false};
  std::mutex fit_mutex;
  Status fit_error;

  // U = upper Cholesky factor of (H + damp I)⁻¹, retrying with more damping if H + damp I is not
  // numerically positive definite in float32.
  struct Scratch {  // returned to the one-slot cache however the call ends
    HostBuffer buf;
    ~Scratch() { give_back_scratch(std::move(buf)); }
  } ubuf{take_scratch(size_t(k) * size_t(k) * 4)};
  float* U = ubuf.buf.as<float>();
  const size_t usize = size_t(k) * size_t(k);
  double damping = opt.damping;
  std::string tried;
  for (int attempt = 0;; ++attempt) {
    SK_RETURN_IF_ERROR(build_reversed_hessian(stats, damping, info, U));
    CholeskyFailure fail;
    Status st = cholesky_lower(U, k, k, &fail, control.abort_flag());
    if (st.code == ErrorCode::aborted) return Status::Error(ErrorCode::aborted, "sparsegpt: aborted");
    tried += (tried.empty() ? "" : ", ") + fmt(damping);
    if (st.ok()) break;
    if (attempt >= opt.max_retries)
      return Status::Error(ErrorCode::numeric,
                           "sparsegpt: H + damping·mean(diag H)·I is not positive definite in float32 (damping tried: " + tried +
                               "; Cholesky pivot " + fmt(fail.pivot) + " at column " + std::to_string(k - 1 - fail.index) +
                               "; layer: " + std::to_string(rows) + "x" + std::to_string(k) + ", " + fmt(stats.tokens()) +
                               " tokens, " + std::to_string(info.dead) + " dead columns, diag H min " + fmt(info.min_diag) +
                               " mean " + fmt(info.mean_diag) + " max " + fmt(info.max_diag) + ")");
    damping = damping > 0 ? damping * 10 : 0.01;
    out->retries = attempt + 1;
  }
  out->damping_used = damping;
  control.advance();
  timer.lap("H + Cholesky");
  SK_RETURN_IF_ERROR(invert_lower(U, k, k, control.abort_flag()));
  if (control.aborted()) return Status::Error(ErrorCode::aborted, "sparsegpt: aborted");
  // J L⁻¹ J is the flat array reversed.
  parallel_range(int64_t(usize / 2), 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::swap(U[size_t(i)], U[usize - 1 - size_t(i)]);
  });
  control.advance();
  timer.lap("inverse + reverse");

  out->mask.allocate(total);  // every element is written by the block loop
  uint8_t* mask = out->mask.data();
  std::vector<float> err(static_cast<size_t>(rows * std::min(bs, k)));
  std::vector<uint8_t> bmask(static_cast<size_t>(rows * std::min(bs, k)));
  std::vector<uint64_t> keys;
  std::vector<double> row_loss(size_t(rows), 0.0);
  const LinalgKernels& kernels = linalg_kernels(active_isa());
  for (int64_t i1 = 0; i1 < k; i1 += bs) {
    if (control.aborted()) return Status::Error(ErrorCode::aborted, "sparsegpt: aborted");
    const int64_t i2 = std::min(i1 + bs, k), cnt = i2 - i1;
    if (!p.nm() && !opt.fixed_mask) {
      keys.resize(size_t(rows * cnt));
      parallel_range(rows, 64, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r)
          for (int64_t c = 0; c < cnt; ++c) {
            const double wv = W[r * k + i1 + c], d = U[size_t((i1 + c) * k + i1 + c)];
            keys[size_t(r * cnt + c)] = score_key(wv * wv / (d * d));
          }
      });
      const Selection<uint64_t> sel = select_smallest<uint64_t>(rows * cnt, int64_t(std::floor(double(rows * cnt) * p.sparsity)), cnt,
                                                                [&](int64_t i) { return keys[size_t(i)]; });
      parallel_for(sel.chunks, [&](int64_t c) {
        int64_t left = sel.quota[size_t(c)];
        for (int64_t i = sel.begin(c); i < sel.end(c); ++i) {
          const uint64_t key = keys[size_t(i)];
          const bool pr = key < sel.t || (key == sel.t && left > 0);
          if (key == sel.t && pr) --left;
          bmask[size_t(i)] = pr;
        }
      });
    }
    // kRowGroup rows at a time, the block held transposed (wt[c][lane]) so that the error
    // propagation inside the block is one vector FMA per (column, later column).
    const int64_t groups = (rows + kRowGroup - 1) / kRowGroup;
    parallel_range(groups, 1, [&](int64_t gb, int64_t ge) {
      constexpr int G = kRowGroup;
      // Transposed per-group state: weights, prune flags and errors of column c, lane l at [c*G + l].
      std::vector<float> wt(static_cast<size_t>(cnt * G)), et(static_cast<size_t>(cnt * G));
      std::vector<uint8_t> pt(static_cast<size_t>(cnt * G));
      std::vector<uint64_t> gk(static_cast<size_t>(std::max(p.m, 1)));
      std::vector<uint8_t> gp(static_cast<size_t>(std::max(p.m, 1)));
      double loss[G];
      for (int64_t grp = gb; grp < ge; ++grp) {
        const int64_t r0 = grp * G, lanes = std::min<int64_t>(G, rows - r0);
        for (int64_t c = 0; c < cnt; ++c)
          for (int l = 0; l < G; ++l) {
            const bool live = l < lanes;
            wt[size_t(c * G + l)] = live ? W[(r0 + l) * k + i1 + c] : 0.f;
            pt[size_t(c * G + l)] = !live                         ? 0
                                    : opt.fixed_mask != nullptr ? uint8_t(!opt.fixed_mask[size_t((r0 + l) * k + i1 + c)])
                                    : !p.nm()                   ? bmask[size_t((r0 + l) * cnt + c)]
                                                                : 0;
          }
        std::fill(loss, loss + G, 0.0);
        for (int64_t i = 0; i < cnt; ++i) {
          if (p.nm() && !opt.fixed_mask && i % p.m == 0) {
            for (int l = 0; l < lanes; ++l) {
              for (int c = 0; c < p.m; ++c) {
                const double wv = wt[size_t((i + c) * G + l)], dc = U[size_t((i1 + i + c) * k + i1 + i + c)];
                gk[size_t(c)] = score_key(wv * wv / (dc * dc));
              }
              mark_group(gk.data(), p.m, p.n, gp.data());
              for (int c = 0; c < p.m; ++c) pt[size_t((i + c) * G + l)] = gp[size_t(c)];
            }
          }
          if (qg > 0 && i % qg == 0) {
            // Group-wise grid: fitted on the group's current (error-updated) weights that are not
            // marked pruned (unstructured: the block's mask; N:M: groups not yet reached count
            // whole), 0 always in range; the fp16-rounded scale is the one used and stored.
            for (int l = 0; l < lanes; ++l) {
              float lo = 0.f, hi = 0.f;
              for (int64_t c = i; c < i + qg; ++c)
                if (!pt[size_t(c * G + l)]) {
                  lo = std::min(lo, wt[size_t(c * G + l)]);
                  hi = std::max(hi, wt[size_t(c * G + l)]);
                }
              const size_t gi = size_t((r0 + l) * qgpr + (i1 + i) / qg);
              Status st = quant_fit_group(lo, hi, opt.quant_bits, opt.quant_asym, &out->group_scale[gi], &out->group_zero[gi]);
              if (!st.ok() && !fit_failed.exchange(true)) {
                std::lock_guard<std::mutex> lk(fit_mutex);
                fit_error = st;
              }
            }
          }
          const float* urow = &U[size_t((i1 + i) * k + i1)];
          const float d = urow[i];
          const double d2 = double(d) * double(d);
          float* wi = &wt[size_t(i * G)];
          float* ei = &et[size_t(i * G)];
          const uint8_t* pi = &pt[size_t(i * G)];
          if (qg > 0)
            for (int l = 0; l < lanes; ++l) {
              const size_t gi = size_t((r0 + l) * qgpr + (i1 + i) / qg);
              const float sf = f16_to_f32(out->group_scale[gi]);
              const int z = out->group_zero[gi];
              const float wv = wi[l];
              const float q = pi[l] ? 0.f : sf * float(int(quant_round(wv, sf, z, opt.quant_bits)) - z);
              ei[l] = (wv - q) / d;
              loss[l] += double(wv - q) * double(wv - q) / d2;
              wi[l] = q;
            }
          else if (opt.quant_bits > 0)
            for (int l = 0; l < lanes; ++l) {
              const float wv = wi[l], q = quant.apply(pi[l] ? 0.f : wv, r0 + l);
              ei[l] = (wv - q) / d;
              loss[l] += double(wv - q) * double(wv - q) / d2;
              wi[l] = q;
            }
          else
            for (int l = 0; l < G; ++l) {  // padding lanes hold 0 and stay 0
              const float wv = wi[l], q = pi[l] ? 0.f : wv;
              ei[l] = (wv - q) / d;
              loss[l] += double(wv - q) * double(wv - q) / d2;
              wi[l] = q;
            }
          kernels.rank1_rows(cnt - i - 1, urow + i + 1, ei, wi + G);
        }
        for (int l = 0; l < lanes; ++l) {
          const int64_t r = r0 + l;
          for (int64_t c = 0; c < cnt; ++c) {
            W[r * k + i1 + c] = wt[size_t(c * G + l)];
            err[size_t(r * cnt + c)] = et[size_t(c * G + l)];
            mask[size_t(r * k + i1 + c)] = !pt[size_t(c * G + l)];
          }
          row_loss[size_t(r)] += loss[l] / 2;
        }
      }
    });
    if (i2 < k) {
      GemmArgs g;
      g.m = rows;
      g.n = k - i2;
      g.k = cnt;
      g.a = err.data();
      g.lda = cnt;
      g.b = &U[size_t(i1 * k + i2)];
      g.ldb = k;
      g.c = W + i2;
      g.ldc = k;
      g.alpha = -1.f;
      gemm(g);
    }
    control.advance();
  }
  timer.lap("blocks");
  if (fit_failed.load()) return fit_error;
  if (w.dtype != DType::f32) {
    out->weight.allocate(total * dtype_size(w.dtype));
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      convert(W + b * k, DType::f32, out->weight.data() + size_t(b * k) * dtype_size(w.dtype), w.dtype, size_t((e - b) * k));
    });
  }
  int64_t pruned = 0;
  for (size_t i = 0; i < total; ++i) pruned += !mask[i];
  out->pruned = pruned;
  out->loss = 0;
  for (double l : row_loss) out->loss += l;
  if (opt.quant_bits > 0) {
    out->scale = std::move(quant.scale);
    out->zero = std::move(quant.zero);
  }
  return Status::Ok();
}

// With J H J = L Lᵀ (the reversed Cholesky above), H = R Rᵀ for R = J L J upper, and U = R⁻¹ has
// U_ii = 1 / L_pp for p = k - 1 - i: one factorization, no inverse.
Status sparsegpt_saliency_diag(CalibrationStats& stats, double damping, std::vector<double>* d2) {
  const HessianInfo info = hessian_info(stats);
  const int64_t k = stats.k();
  HostBuffer g;
  g.allocate(size_t(k) * size_t(k) * 4);
  for (int attempt = 0;; ++attempt) {
    SK_RETURN_IF_ERROR(build_reversed_hessian(stats, damping, info, g.as<float>()));
    CholeskyFailure fail;
    Status st = cholesky_lower(g.as<float>(), k, k, &fail);
    if (st.ok()) break;
    if (attempt >= 3) return Status::Error(ErrorCode::numeric, "dsnot: H + damping·mean(diag H)·I is not positive definite in float32");
    damping = damping > 0 ? damping * 10 : 0.01;
  }
  d2->resize(size_t(k));
  for (int64_t i = 0; i < k; ++i) {
    const double l = g.as<float>()[(k - 1 - i) * k + (k - 1 - i)];
    (*d2)[size_t(i)] = 1.0 / (l * l);
  }
  return Status::Ok();
}

}  // namespace sk
