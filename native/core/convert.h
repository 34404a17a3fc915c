// Bulk dtype conversion and seeded random fills (deterministic for any thread count).
#pragma once
#include <cstddef>
#include <cstdint>

#include "dtype.h"

namespace sk {

// Converts n elements; float targets round to nearest-even, integer targets saturate.
void convert(const void* src, DType src_type, void* dst, DType dst_type, size_t n);

enum class Distribution { uniform, normal };

// Element i depends only on (seed, i), so results do not depend on threading or chunking.
// uniform: [a, b); normal: mean a, standard deviation b.
void fill_random(void* dst, DType type, size_t n, uint64_t seed, Distribution dist, double a, double b);

}  // namespace sk
