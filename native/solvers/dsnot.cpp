// DSnoT (Zhang et al., "Dynamic Sparse No Training: Training-Free Fine-tuning for Sparse LLMs",
// ICLR 2024), following the published algorithm and its code's defaults. Each output row keeps
// its own expected reconstruction error e = Σ_{pruned j} w_j·E[x_j] (the mean change of the
// output) and swaps one pruned weight for one kept weight per cycle:
//   grow: the pruned weight whose w_j·E[x_j]/Var[x_j]^pow most reduces e (the largest when e > 0,
//         the most negative otherwise);
//   prune: unstructured: among the kept weights ordered by Wanda score, negative w·E[x] first and
//         then positive ones from the highest score down, the next from the end that offsets e
//         (the positive end when e < 0, the negative end otherwise); N:M: the kept weight with the
//         lowest initial score in the grown weight's group, so the pattern holds;
//   a row stops when |e| <= update_threshold (and, for N:M or with same_sign, when a swap would
//   flip e's sign), after max_cycles, or when its candidates run out. Weights are not updated.
// SparseGPT start ("SparseGPT + DSnoT"): the start is SparseGPT's mask and reconstructed weights ŵ,
// e = Σ_j (w_j − ŵ_j)·E[x_j] (the same sum for a mask-only start), pruning j raises e by ŵ_j·E[x_j]
// and growing j gives it back its dense w_j. With check_error (the default there) a swap is made
// only if it lowers the row's exact error ΔᵀSΔ (S = XᵀX/tokens, Δ = w − ŵ; SΔ is kept up to date in
// O(K) per swap): the mean-error criterion alone undoes SparseGPT's compensation (layer error
// 1.06–1.15× SparseGPT's, bench/solvers-quality.ts), with the check it ends below SparseGPT's.
// Deviation, on purpose: the published code sorts the growth candidates among all of a row's
// weights with the kept ones at metric 0, so a row that runs past its pruned candidates "grows"
// a kept weight (and a stopped row can mark one pruned); here only pruned weights are candidates
// and a row whose list is used up stops, which keeps the sparsity exact. Likewise a row stops when
// the next candidate at the chosen end no longer offsets e (a grown w·E[x] of e's sign, a pruned
// one of the opposite sign): past that point the published lists hand out the highest-scored kept
// weights (the pruning list runs from low scores at both ends to high scores in the middle). On
// 4096-wide layers 50 cycles rarely get there; on narrow ones they do, and pruning those weights
// wrecks the layer (tiny Llama, 50%: perplexity 28.5 instead of Wanda's 4.36).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>

#include "../core/thread_pool.h"
#include "linalg.h"
#include "prune_common.h"
#include "select.h"

namespace sk {

namespace {

inline int sgn(double v) { return (v > 0) - (v < 0); }

// The published reordering of the pruning candidates (values v in Wanda order): positions with
// v < 0 ascending, added element-wise to positions with v > 0 descending right-aligned (zeros
// elsewhere), which for v without zeros is [negatives in order, positives reversed].
void reorder(const std::vector<double>& v, std::vector<int64_t>* out) {
  const int64_t n = int64_t(v.size());
  std::vector<int64_t> pos, neg;
  for (int64_t t = 0; t < n; ++t) {
    if (v[size_t(t)] > 0) pos.push_back(t);
    if (v[size_t(t)] < 0) neg.push_back(t);
  }
  out->assign(size_t(n), 0);
  const int64_t P = int64_t(pos.size());
  for (int64_t i = 0; i < P; ++i) (*out)[size_t(n - P + i)] += pos[size_t(P - 1 - i)];
  for (size_t i = 0; i < neg.size(); ++i) (*out)[i] += neg[i];
}

}  // namespace

Status prune_dsnot(const WeightView& w, CalibrationStats& stats, const Pattern& p, const DsnotOptions& opt, const Control& control,
                   PruneOutput* out, int64_t* swaps) {
  using Initial = DsnotOptions::Initial;
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  if (opt.max_cycles < 0) return Status::Error(ErrorCode::argument, "dsnot: maxCycles must be >= 0");
  if (!(opt.update_threshold >= 0) || !std::isfinite(opt.pow_of_var))
    return Status::Error(ErrorCode::argument, "dsnot: updateThreshold must be >= 0 and powOfVar finite");
  const int64_t rows = w.rows, cols = w.cols;
  std::vector<double> sumsq, sum;
  double tokens;
  SK_RETURN_IF_ERROR(read_channel_stats(stats, cols, "dsnot", &sumsq, &sum, &tokens));
  const bool from_sparsegpt = opt.initial == Initial::sparsegpt;
  if (opt.initial != Initial::wanda || opt.check_error) {
    std::lock_guard<std::mutex> lk(stats.mutex());
    if (!stats.has_hessian())
      return Status::Error(ErrorCode::argument, "dsnot: initial 'sparsegpt' / 'sparsegpt-saliency' and checkError need stats created with { hessian: true }");
  }
  std::vector<double> d2;
  if (opt.initial == Initial::sparsegpt_saliency) SK_RETURN_IF_ERROR(sparsegpt_saliency_diag(stats, opt.damping, &d2));
  const size_t total = size_t(rows) * size_t(cols);
  // W: the dense weight; C: the current one (the start's values where kept, 0 where pruned).
  std::vector<float> W(total), C;
  SK_RETURN_IF_ERROR(load_weight_f32(w, W.data(), "dsnot"));
  std::vector<uint8_t> pruned(total);
  // SparseGPT's progress steps (its column blocks + 2), then one per row.
  const int64_t sg_steps = from_sparsegpt ? (cols + 127) / 128 + 2 : 0;
  control.set_total(int32_t(std::min<int64_t>(sg_steps + rows, 1 << 30)));
  if (from_sparsegpt) {
    SparseGptOptions so;
    so.damping = opt.damping;
    PruneOutput start;
    Control inner = control;
    inner.keep_total = true;
    SK_RETURN_IF_ERROR(prune_sparsegpt(w, stats, p, so, inner, &start));
    WeightView sv = w;
    sv.data = start.weight.data();
    C.resize(total);
    SK_RETURN_IF_ERROR(load_weight_f32(sv, C.data(), "dsnot"));
    const uint8_t* m = start.mask.as<uint8_t>();
    for (size_t i = 0; i < total; ++i) pruned[i] = !m[i];
  }
  std::vector<double> mean(static_cast<size_t>(cols)), vpow(static_cast<size_t>(cols)), norm(static_cast<size_t>(cols));
  for (int64_t j = 0; j < cols; ++j) {
    mean[size_t(j)] = sum[size_t(j)] / tokens;
    const double var = std::max(0.0, sumsq[size_t(j)] / tokens - mean[size_t(j)] * mean[size_t(j)]);
    vpow[size_t(j)] = opt.pow_of_var == 0 ? 1.0 : std::pow(var, opt.pow_of_var);
    norm[size_t(j)] = std::sqrt(sumsq[size_t(j)]);
  }
  const int64_t count = int64_t(std::floor(double(cols) * p.sparsity));
  // The initial score: Wanda's or SparseGPT's saliency on the dense weight, or (SparseGPT start)
  // Wanda's on the reconstructed weight, which is also what orders the pruning candidates.
  auto initial_score = [&](const float* v, const float* c, int64_t j) -> double {
    if (opt.initial == Initial::sparsegpt_saliency) return sumsq[size_t(j)] == 0 ? 0.0 : double(v[j]) * v[j] / d2[size_t(j)];
    return std::fabs(double(c[j])) * norm[size_t(j)];
  };
  if (!from_sparsegpt) {
    parallel_range(rows, 8, [&](int64_t b, int64_t e) {
      std::vector<uint64_t> key(static_cast<size_t>(cols)), work;
      for (int64_t r = b; r < e; ++r) {
        const float* v = &W[size_t(r * cols)];
        uint8_t* pr = &pruned[size_t(r * cols)];
        for (int64_t c = 0; c < cols; ++c) key[size_t(c)] = score_key(initial_score(v, v, c));
        if (p.nm())
          for (int64_t g = 0; g < cols; g += p.m) mark_group(&key[size_t(g)], p.m, p.n, pr + g);
        else
          mark_smallest(key.data(), cols, count, work, pr);
      }
    });
  }
  const float* Cw = from_sparsegpt ? C.data() : W.data();  // kept values (pruned entries are read as 0)
  // With check_error: S = XᵀX/tokens and HD = Δ·S for Δ = W − Ŵ, kept up to date swap by swap.
  std::vector<float> S, HD;
  if (opt.check_error) {
    S.resize(size_t(cols) * size_t(cols));
    {
      std::lock_guard<std::mutex> lk(stats.mutex());
      const double* x = stats.xtx();
      parallel_range(cols, 16, [&](int64_t b, int64_t e) {  // the lower triangle, mirrored
        for (int64_t i = b; i < e; ++i)
          for (int64_t j = 0; j < cols; ++j) S[size_t(i * cols + j)] = float((j <= i ? x[i * cols + j] : x[j * cols + i]) / tokens);
      });
    }
    std::vector<float> Dl(total);
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      for (size_t i = size_t(b * cols); i < size_t(e * cols); ++i) Dl[i] = pruned[i] ? W[i] : W[i] - Cw[i];
    });
    HD.assign(total, 0.f);
    GemmArgs g;
    g.m = rows;
    g.n = cols;
    g.k = cols;
    g.a = Dl.data();
    g.lda = cols;
    g.b = S.data();
    g.ldb = cols;
    g.c = HD.data();
    g.ldc = cols;
    gemm(g);
  }
  std::vector<float> Wout(total);
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  std::atomic<int64_t> nswaps{0};
  std::atomic<bool> aborted{false};
  parallel_range(rows, 8, [&](int64_t b, int64_t e) {
    std::vector<double> dm(static_cast<size_t>(cols)), dc(static_cast<size_t>(cols)), init(static_cast<size_t>(cols)),
        mr(static_cast<size_t>(cols)), delta(static_cast<size_t>(cols)), hd(static_cast<size_t>(cols)), vals;
    std::vector<int64_t> grow, kept, reo, prune_list;
    std::vector<uint8_t> grown(static_cast<size_t>(cols));
    for (int64_t r = b; r < e; ++r) {
      if (control.aborted()) {
        aborted = true;
        return;
      }
      const float* v = &W[size_t(r * cols)];
      const float* cur = &Cw[size_t(r * cols)];
      uint8_t* pr = &pruned[size_t(r * cols)];
      double err = 0;
      grow.clear();
      std::fill(grown.begin(), grown.end(), uint8_t(0));
      for (int64_t c = 0; c < cols; ++c) {
        const double x = v[c], k = pr[c] ? 0.0 : double(cur[c]);
        dm[size_t(c)] = x * mean[size_t(c)];  // e falls by this when c grows back to w_c
        dc[size_t(c)] = k * mean[size_t(c)];  // e rises by this when c is pruned
        delta[size_t(c)] = x - k;
        err += delta[size_t(c)] * mean[size_t(c)];
        init[size_t(c)] = initial_score(v, cur, c);
        if (pr[c]) {
          grow.push_back(c);
          mr[size_t(c)] = dm[size_t(c)] == 0 ? 0.0 : dm[size_t(c)] / vpow[size_t(c)];
        }
      }
      if (opt.check_error)
        for (int64_t c = 0; c < cols; ++c) hd[size_t(c)] = HD[size_t(r * cols + c)];
      std::stable_sort(grow.begin(), grow.end(), [&](int64_t x, int64_t y) { return mr[size_t(x)] < mr[size_t(y)]; });
      const int sign0 = sgn(err);
      int64_t glo = 0, ghi = int64_t(grow.size()) - 1;
      int64_t plo = 0, phi = -1;
      if (!p.nm()) {
        // Kept weights by their initial score (ascending, stable), then the published reordering.
        kept.clear();
        for (int64_t c = 0; c < cols; ++c)
          if (!pr[c]) kept.push_back(c);
        std::stable_sort(kept.begin(), kept.end(), [&](int64_t x, int64_t y) {
          return std::fabs(double(cur[x])) * norm[size_t(x)] < std::fabs(double(cur[y])) * norm[size_t(y)];
        });
        vals.resize(kept.size());
        for (size_t i = 0; i < kept.size(); ++i) vals[i] = dc[size_t(kept[i])];
        reorder(vals, &reo);
        prune_list.resize(kept.size());
        for (size_t i = 0; i < kept.size(); ++i) prune_list[i] = kept[size_t(reo[i])];
        phi = int64_t(prune_list.size()) - 1;
      } else {
        for (int64_t c = 0; c < cols; ++c)
          if (pr[c]) init[size_t(c)] = INFINITY;
      }
      int64_t made = 0;
      for (int cycle = 0; cycle < opt.max_cycles && glo <= ghi; ++cycle) {
        const int64_t gi = err > 0 ? grow[size_t(ghi--)] : grow[size_t(glo++)];
        if (err > 0 ? dm[size_t(gi)] <= 0 : dm[size_t(gi)] >= 0) break;  // no growth left that offsets e
        int64_t pi;
        if (p.nm()) {
          const int64_t g0 = gi - gi % p.m;
          pi = g0;
          for (int64_t c = g0 + 1; c < g0 + p.m; ++c)
            if (init[size_t(c)] < init[size_t(pi)]) pi = c;
          if (!std::isfinite(init[size_t(pi)])) break;  // n = 0: nothing kept in the group
        } else {
          if (plo > phi) break;
          pi = err < 0 ? prune_list[size_t(phi--)] : prune_list[size_t(plo++)];
          if (err < 0 ? dc[size_t(pi)] <= 0 : dc[size_t(pi)] >= 0) break;  // no pruning left that offsets e
        }
        const double after = err + dc[size_t(pi)] - dm[size_t(gi)];
        const bool same = opt.same_sign || p.nm();
        if (!(std::fabs(err) > opt.update_threshold) || (same && sign0 != sgn(after))) break;
        if (opt.check_error) {
          // Δ changes by ui at pi (pruned: Δ = w) and uj at gi (grown: Δ = 0).
          const double ui = double(v[pi]) - delta[size_t(pi)], uj = -delta[size_t(gi)];
          const float* si = &S[size_t(pi * cols)];
          const float* sj = &S[size_t(gi * cols)];
          const double change = 2 * (ui * hd[size_t(pi)] + uj * hd[size_t(gi)]) + ui * ui * si[pi] + uj * uj * sj[gi] + 2 * ui * uj * si[gi];
          if (!(change < 0)) continue;  // this pair would raise the error: skip it, the row goes on
          for (int64_t c = 0; c < cols; ++c) hd[size_t(c)] += ui * si[c] + uj * sj[c];
          delta[size_t(pi)] += ui;
          delta[size_t(gi)] += uj;
        }
        if (p.nm()) init[size_t(pi)] = INFINITY;
        pr[pi] = 1;
        pr[gi] = 0;
        grown[size_t(gi)] = 1;
        err = after;
        ++made;
      }
      nswaps += made;
      double loss = 0;
      float* o = &Wout[size_t(r * cols)];
      for (int64_t c = 0; c < cols; ++c) {
        // A weight grown back gets its dense value; the others keep the start's.
        o[c] = pr[c] ? 0.f : grown[size_t(c)] ? v[c] : cur[c];
        if (opt.check_error)
          loss += delta[size_t(c)] * hd[size_t(c)];
        else if (pr[c])
          loss += double(v[c]) * double(v[c]) * sumsq[size_t(c)] / tokens;
      }
      row_loss[size_t(r)] = loss;
      control.advance();
    }
  });
  if (aborted || control.aborted()) return Status::Error(ErrorCode::aborted, "dsnot: aborted");
  write_outputs_f32(w, Wout.data(), pruned.data(), out);
  out->loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0);
  *swaps = nswaps.load();
  return Status::Ok();
}

}  // namespace sk
