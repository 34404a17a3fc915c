// Pruning solvers: a dense weight [rows = outputs, cols = inputs] plus calibration statistics in,
// the updated weight (same dtype), a keep-mask (1 = kept) and a small report out.
// N:M follows NVIDIA's meaning everywhere: keep n of every m consecutive inputs of a row.
#pragma once
#include <cstdint>
#include <vector>

#include "../core/dtype.h"
#include "../core/status.h"
#include "calibration.h"
#include "host_buffer.h"

namespace sk {

struct Pattern {
  double sparsity = 0;  // unstructured: fraction of weights to prune, in [0, 1)
  int n = 0, m = 0;     // N:M when m > 0
  bool nm() const { return m > 0; }
};

// Shared progress / cancel cell, written by JS (ctrl[0] = 1 asks to abort) and by the solver
// (ctrl[1] = steps done, ctrl[2] = steps in all).
struct Control {
  int32_t* ctrl = nullptr;
  bool aborted() const { return ctrl && __atomic_load_n(&ctrl[0], __ATOMIC_RELAXED) != 0; }
  const volatile int32_t* abort_flag() const { return ctrl; }
  bool keep_total = false;  // a solver run inside another: the outer one set the total
  void set_total(int32_t t) const { if (ctrl && !keep_total) __atomic_store_n(&ctrl[2], t, __ATOMIC_RELAXED); }
  void advance() const { if (ctrl) __atomic_fetch_add(&ctrl[1], 1, __ATOMIC_RELAXED); }
};

struct PruneOutput {
  HostBuffer weight;  // rows x cols in the input dtype
  HostBuffer mask;    // rows x cols, 1 = kept
  int64_t pruned = 0;
  double loss = 0;              // the solver's own estimate; see each solver
  // Wanda's alpha search
  double alpha = -1;
  // SparseGPT
  double damping_used = 0;
  int retries = 0;
  int64_t dead_columns = 0;
  std::vector<float> scale, zero;  // per-row quantization grid when quant_bits > 0
  // Group-wise grid (quant_group > 0): fp16 scale bits and zero points, [rows, cols / group].
  std::vector<uint16_t> group_scale;
  std::vector<uint8_t> group_zero;
  // RIA with permute: the input channel at each output column; Σ kept scores before / after.
  std::vector<int32_t> perm;
  double retained_before = -1, retained_after = -1;
  int64_t swaps = -1;  // DSnoT
  int iters = -1;      // ALPS: ADMM iterations
  double rho = -1;     // ALPS: final ρ
};

struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::f32;
  int64_t rows = 0, cols = 0;
};

// Checks a pattern against the weight's shape: ERR_ARGUMENT / ERR_SHAPE with a clear message.
Status check_pattern(const Pattern& p, int64_t cols);

// Magnitude: |w| ranked over the whole matrix (global) or within each row; N:M within groups.
// loss = Σ pruned w².
Status prune_magnitude(const WeightView& w, const Pattern& p, bool per_row, PruneOutput* out);

// Wanda: |w_ij|·‖X_j‖₂ ranked within each row (exactly ⌊cols·s⌋ pruned per row) or per N:M group.
// alpha_search: the published variant (per-row cumulative-score threshold, alpha bisected in
// [0, 0.8]). loss = Σ pruned w²·‖X_j‖²/tokens (uncorrelated-input estimate of ‖XΔWᵀ‖²/tokens).
Status prune_wanda(const WeightView& w, CalibrationStats& stats, const Pattern& p, bool alpha_search, PruneOutput* out);

struct SparseGptOptions {
  int64_t block_size = 128;
  double damping = 0.01;
  int quant_bits = 0;   // 0: no quantization; 2..8: joint per-row asymmetric quantization
  // > 0: the grid is per group of quant_group columns instead (formats/quant.h: fp16 scales,
  // symmetric unless quant_asym), fitted when the sweep reaches the group; block_size must be a
  // multiple of it. The result packs losslessly as a quantized matrix.
  int quant_group = 0;
  bool quant_asym = false;
  int max_retries = 3;  // Cholesky retries, damping x10 each (0.01 if it was 0)
  // rows x cols, 1 = kept: the mask is given (e.g. RIA's) and only the weights are reconstructed
  // (the published fasterprune(mask=...)); the pattern is then not consulted.
  const uint8_t* fixed_mask = nullptr;
};

// SparseGPT (Frantar & Alistarh 2023), see sparsegpt.cpp. loss = ½ Σ_rows Σ_i (w - q)² / [U]ᵢᵢ²,
// the published error estimate (≈ ‖XΔWᵀ‖² / tokens for H = 2XᵀX/tokens).
Status prune_sparsegpt(const WeightView& w, CalibrationStats& stats, const Pattern& p, const SparseGptOptions& opt,
                       const Control& control, PruneOutput* out);

// ---- beyond SparseGPT (ria.cpp, dsnot.cpp, alps.cpp) ----------------------------------------

struct RiaOptions {
  double a = 0.5;        // exponent of the activation norm
  bool permute = false;  // N:M only: channel permutation (the paper's heuristic reallocation)
  bool refine = false;   // then the paper's linear-sum-assignment refinement, slot by slot
  // Reconstruct the kept weights with SparseGPT's update on RIA's mask (the published code's
  // --reconstruction: fasterprune(mask=W_mask)); needs the Hessian.
  bool reconstruct = false;
  double damping = 0.01;
};

// RIA (Zhang et al. 2024, "Plug-and-Play"): score (|w_ij|/Σ_k|w_kj| + |w_ij|/Σ_k|w_ik|)·‖X_j‖^a,
// ranked within each output row (exactly ⌊cols·s⌋ pruned per row) or per N:M group. With
// permute, *perm (size cols) is the input channel held by each output column: the returned
// weight and mask are in that column order and the mask is N:M there. loss as Wanda's.
// *retained = Σ kept scores before and after the permutation (after = before without it).
// Progress: one step for the scores, one per refined channel (cols with refine), one for the masks,
// then SparseGPT's steps with reconstruct; abort between them and within the refinement.
Status prune_ria(const WeightView& w, CalibrationStats& stats, const Pattern& p, const RiaOptions& opt, const Control& control,
                 PruneOutput* out, std::vector<int32_t>* perm, double retained[2]);

struct DsnotOptions {
  // The start: Wanda's mask, SparseGPT's saliency mask w²/[H⁻¹ chol]ᵢᵢ² without its weight update
  // (the published code's 'sparsegpt'), or SparseGPT's full result (mask and reconstructed weights).
  enum class Initial { wanda, sparsegpt_saliency, sparsegpt };
  Initial initial = Initial::wanda;
  int max_cycles = 50;
  double update_threshold = 0.1 / 2048;  // on |Σ_j (w_j − ŵ_j)·E[x_j]| (per token)
  double pow_of_var = 1;                 // regrowing metric w_j·E[x_j] / Var[x_j]^pow
  bool same_sign = false;                // also stop a row when a swap would flip its error's sign
  // Accept a swap only if it lowers the row's exact error (w − ŵ)ᵀ(XᵀX/tokens)(w − ŵ) (needs the
  // Hessian); a rejected pair is skipped and the row goes on.
  bool check_error = false;
  double damping = 0.01;  // for the SparseGPT start
};

// DSnoT (Zhang et al. 2024, "Dynamic Sparse No Training"): prune-and-grow swaps within each row
// (or N:M group) after a Wanda / SparseGPT-saliency mask or SparseGPT's result. A grown weight gets
// its dense value back; the other kept weights keep the start's values. *swaps = swaps made in
// all. loss: with check_error the exact ‖XΔWᵀ‖²/tokens, else Σ pruned w²·‖X_j‖²/tokens.
Status prune_dsnot(const WeightView& w, CalibrationStats& stats, const Pattern& p, const DsnotOptions& opt, const Control& control,
                   PruneOutput* out, int64_t* swaps);

struct AlpsOptions {
  double rho = 0.1;       // initial ADMM penalty
  int max_iter = 300;
  int update_iter = 3;    // ρ and the support change are looked at every update_iter iterations
  int switch_iter = 30;   // after this, a support change below 0.03% of the kept count stops
  int cg_iter = 10;       // PCG iterations on the final support
  double cg_rtol = 1e-4;
  double damping = 0.01;  // ridge term damping·mean(diag XᵀX)
};

// ALPS (Meng et al. 2024): ADMM on min ‖XWᵀ − XŴᵀ‖² s.t. Ŵ sparse (unstructured over the whole
// layer, or N:M), ρ raised as the support settles, then preconditioned CG for the weights on the
// final support. loss = ‖XΔWᵀ‖²/tokens without the ridge term (exact, from XᵀX). *iters = ADMM iterations run.
Status prune_alps(const WeightView& w, CalibrationStats& stats, const Pattern& p, const AlpsOptions& opt, const Control& control,
                  PruneOutput* out, int* iters, double* rho_final);

// diag(U)² where U is the upper Cholesky factor of (H + damping·mean(diag H)·I)⁻¹ (dead columns'
// H_jj set to 1), H = 2XᵀX/tokens: SparseGPT's saliency denominator (sparsegpt.cpp).
Status sparsegpt_saliency_diag(CalibrationStats& stats, double damping, std::vector<double>* d2);

}  // namespace sk
