// cuSPARSELt (2:4 on sparse tensor cores), loaded with dlopen: the compressed copy of a 2:4 weight
// and its matmul plans, cached per (N, dtype, out dtype). sp24_route.h chooses the descriptor
// parameters and when this path runs instead of our mma.sp kernel.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "blas_libs.h"

namespace sk::cuda {

const LibState& cusparselt_state();

struct LtWeight;  // compressed weight + structured descriptor + plan cache

// Compresses the dense 2:4 weight w[M, K] (row-major, device memory, f16 = 1 / bf16 = 2) for
// cuSPARSELt after checking on the device that it really is 2:4 along K (cusparseLtSpMMAPruneCheck2).
// Returns "" and *out (holding *bytes of device memory), or why not (then *out is null).
std::string lt_compress(int device, int dtype, const void* w, int64_t M, int64_t K, cudaStream_t stream, LtWeight** out,
                        uint64_t* bytes);

// y[N, M] = x[N, K] * W^T through the cached plan for (n, dtype, out_dtype), created on first use.
// y is of the weight's dtype (lt_call_ineligible says which calls qualify). Asynchronous on stream.
std::string lt_matmul(LtWeight* w, const void* x, int64_t n, int out_dtype, void* y, cudaStream_t stream);

void lt_release(LtWeight* w);

}  // namespace sk::cuda
