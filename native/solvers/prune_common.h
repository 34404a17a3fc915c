// Helpers the solvers share: weight validation and row access, and writing the outputs.
#pragma once
#include <cstdint>
#include <vector>

#include "solvers.h"

namespace sk {

// ERR_NUMERIC naming a NaN/Inf element of w (no copy is made).
Status check_weight_finite(const WeightView& w, const char* solver);

// w as float32 into out (rows x cols); ERR_NUMERIC naming a NaN/Inf element.
Status load_weight_f32(const WeightView& w, float* out, const char* solver);

// Row r of w as float32.
void load_row(const WeightView& w, int64_t r, float* dst);

// Allocates out->weight / out->mask (uninitialised: every row is written by write_row or
// write_row_cut). populate = false leaves the pages to be faulted in by the threads that write
// them (in parallel) instead of populating them up front on one thread. Buffers already wrapped
// (HostBuffer::wrap) with the right sizes are kept.
void allocate_outputs(const WeightView& w, PruneOutput* out, bool populate = true);

// True when out->weight is w's own memory (inPlace): the writers below then read each row from a
// copy, and callers must not hand them a `v` that points into w.
bool in_place(const WeightView& w, const PruneOutput* out);

// Row r of the outputs from the row's prune flags: mask = !pruned, weight = w or 0. Returns the
// number pruned.
int64_t write_row(const WeightView& w, int64_t r, const uint8_t* pruned, PruneOutput* out);

// Row r of the outputs from a cut (select.h's RowCut): element c is pruned when key[c] < below or
// c is one of `extra`. v is the row as float32; *loss = Σ pruned v[c]²·loss_weight[c] (weight 1
// when loss_weight is null). One pass writes weight and mask. Returns the number pruned.
int64_t write_row_cut(const WeightView& w, int64_t r, const float* v, const uint32_t* key, uint32_t below,
                      const std::vector<int32_t>& extra, const double* loss_weight, double* loss, PruneOutput* out);

// The outputs from a float32 weight (rows x cols, already zero where pruned) and its prune flags
// (1 = pruned): weight converted to w's dtype, mask = !pruned; out->pruned counted.
void write_outputs_f32(const WeightView& w, const float* W, const uint8_t* pruned, PruneOutput* out);

// Per-channel Σx², Σx and the token count under the stats lock; ERR_* for disposed, shape, empty.
Status read_channel_stats(CalibrationStats& stats, int64_t cols, const char* solver, std::vector<double>* sumsq,
                          std::vector<double>* sum, double* tokens);

}  // namespace sk
