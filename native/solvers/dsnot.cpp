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
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  if (opt.max_cycles < 0) return Status::Error(ErrorCode::argument, "dsnot: maxCycles must be >= 0");
  if (!(opt.update_threshold >= 0) || !std::isfinite(opt.pow_of_var))
    return Status::Error(ErrorCode::argument, "dsnot: updateThreshold must be >= 0 and powOfVar finite");
  const int64_t rows = w.rows, cols = w.cols;
  std::vector<double> sumsq, sum;
  double tokens;
  SK_RETURN_IF_ERROR(read_channel_stats(stats, cols, "dsnot", &sumsq, &sum, &tokens));
  std::vector<double> d2;
  if (opt.initial_sparsegpt) {
    {
      std::lock_guard<std::mutex> lk(stats.mutex());
      if (!stats.has_hessian()) return Status::Error(ErrorCode::argument, "dsnot: initial 'sparsegpt' needs stats created with { hessian: true }");
    }
    SK_RETURN_IF_ERROR(sparsegpt_saliency_diag(stats, opt.damping, &d2));
  }
  const size_t total = size_t(rows) * size_t(cols);
  std::vector<float> W(total);
  SK_RETURN_IF_ERROR(load_weight_f32(w, W.data(), "dsnot"));
  std::vector<double> mean(static_cast<size_t>(cols)), vpow(static_cast<size_t>(cols)), norm(static_cast<size_t>(cols));
  for (int64_t j = 0; j < cols; ++j) {
    mean[size_t(j)] = sum[size_t(j)] / tokens;
    const double var = std::max(0.0, sumsq[size_t(j)] / tokens - mean[size_t(j)] * mean[size_t(j)]);
    vpow[size_t(j)] = opt.pow_of_var == 0 ? 1.0 : std::pow(var, opt.pow_of_var);
    norm[size_t(j)] = std::sqrt(sumsq[size_t(j)]);
  }
  std::vector<uint8_t> pruned(total);
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  std::atomic<int64_t> nswaps{0};
  const int64_t count = int64_t(std::floor(double(cols) * p.sparsity));
  control.set_total(int32_t(std::min<int64_t>(rows, 1 << 30)));
  std::atomic<bool> aborted{false};
  parallel_range(rows, 8, [&](int64_t b, int64_t e) {
    std::vector<double> dm(static_cast<size_t>(cols)), init(static_cast<size_t>(cols)), mr(static_cast<size_t>(cols)), vals;
    std::vector<uint64_t> key(static_cast<size_t>(cols)), work;
    std::vector<int64_t> grow, kept, reo, prune_list;
    for (int64_t r = b; r < e; ++r) {
      if (control.aborted()) {
        aborted = true;
        return;
      }
      const float* v = &W[size_t(r * cols)];
      uint8_t* pr = &pruned[size_t(r * cols)];
      for (int64_t c = 0; c < cols; ++c) {
        const double x = v[c];
        dm[size_t(c)] = x * mean[size_t(c)];
        init[size_t(c)] = opt.initial_sparsegpt ? (sumsq[size_t(c)] == 0 ? 0.0 : x * x / d2[size_t(c)]) : std::fabs(x) * norm[size_t(c)];
        key[size_t(c)] = score_key(init[size_t(c)]);
      }
      if (p.nm())
        for (int64_t g = 0; g < cols; g += p.m) mark_group(&key[size_t(g)], p.m, p.n, pr + g);
      else
        mark_smallest(key.data(), cols, count, work, pr);
      double err = 0;
      grow.clear();
      for (int64_t c = 0; c < cols; ++c)
        if (pr[c]) {
          err += dm[size_t(c)];
          grow.push_back(c);
          mr[size_t(c)] = dm[size_t(c)] == 0 ? 0.0 : dm[size_t(c)] / vpow[size_t(c)];
        }
      std::stable_sort(grow.begin(), grow.end(), [&](int64_t x, int64_t y) { return mr[size_t(x)] < mr[size_t(y)]; });
      const int sign0 = sgn(err);
      int64_t glo = 0, ghi = int64_t(grow.size()) - 1;
      int64_t plo = 0, phi = -1;
      if (!p.nm()) {
        // Kept weights by Wanda score (ascending, stable), then the published reordering.
        kept.clear();
        for (int64_t c = 0; c < cols; ++c)
          if (!pr[c]) kept.push_back(c);
        std::stable_sort(kept.begin(), kept.end(), [&](int64_t x, int64_t y) {
          return std::fabs(double(v[x])) * norm[size_t(x)] < std::fabs(double(v[y])) * norm[size_t(y)];
        });
        vals.resize(kept.size());
        for (size_t i = 0; i < kept.size(); ++i) vals[i] = dm[size_t(kept[i])];
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
          init[size_t(pi)] = INFINITY;
        } else {
          if (plo > phi) break;
          pi = err < 0 ? prune_list[size_t(phi--)] : prune_list[size_t(plo++)];
          if (err < 0 ? dm[size_t(pi)] <= 0 : dm[size_t(pi)] >= 0) break;  // no pruning left that offsets e
        }
        const double after = err + dm[size_t(pi)] - dm[size_t(gi)];
        const bool same = opt.same_sign || p.nm();
        if (!(std::fabs(err) > opt.update_threshold) || (same && sign0 != sgn(after))) break;
        pr[pi] = 1;
        pr[gi] = 0;
        err = after;
        ++made;
      }
      nswaps += made;
      double loss = 0;
      for (int64_t c = 0; c < cols; ++c)
        if (pr[c]) loss += double(v[c]) * double(v[c]) * sumsq[size_t(c)];
      row_loss[size_t(r)] = loss;
      control.advance();
    }
  });
  if (aborted || control.aborted()) return Status::Error(ErrorCode::aborted, "dsnot: aborted");
  std::vector<float> Wout(total);
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    for (size_t i = size_t(b * cols); i < size_t(e * cols); ++i) Wout[i] = pruned[i] ? 0.f : W[i];
  });
  write_outputs_f32(w, Wout.data(), pruned.data(), out);
  out->loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0) / tokens;
  *swaps = nswaps.load();
  return Status::Ok();
}

}  // namespace sk
