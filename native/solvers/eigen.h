// Symmetric eigen-decomposition in float64 (SliceGPT's PCA of the residual stream).
#pragma once
#include <cstdint>

#include "../core/status.h"
#include "solvers.h"

namespace sk {

// a: n x n symmetric, row-major (only read). values: n, descending. vectors: n x n row-major, the
// eigenvector of values[j] in column j. Householder tridiagonalization, implicit symmetric QR with
// Wilkinson shifts (Golub & Van Loan 8.3); the QR rotations are recorded and applied to the
// accumulated Householder product in cache-sized row blocks, so that O(n^3) part runs from cache
// on every thread. Progress: n Householder steps, n deflations, then the row blocks.
// `record` bounds the rotations kept before they are applied (memory: 16 bytes each); any value
// gives the same result bit for bit (the rotations reach each row in the same order).
constexpr size_t kEigenRecordedRotations = size_t(1) << 22;
Status symmetric_eigen(const double* a, int64_t n, double* values, double* vectors, const Control& control,
                       size_t record = kEigenRecordedRotations);

}  // namespace sk
