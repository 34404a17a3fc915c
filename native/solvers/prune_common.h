// Helpers the solvers share: weight loading/validation and turning a prune mask into outputs.
#pragma once
#include <cstdint>
#include <vector>

#include "solvers.h"

namespace sk {

// |w| (or w) as float32, row-major; ERR_NUMERIC naming the first NaN/Inf element.
Status load_weight_f32(const WeightView& w, std::vector<float>* out, const char* solver);

// out->mask = !pruned, out->weight = w with pruned elements zeroed (same dtype), counts, loss untouched.
void finish_masked(const WeightView& w, const std::vector<uint8_t>& pruned, PruneOutput* out);

}  // namespace sk
