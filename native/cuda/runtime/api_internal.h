// Shared by api.cu (devices, memory, copies, the C table) and launcher.cu (weights and SpMM):
// status helpers, the per-device stream and checked allocation.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "../../core/status.h"
#include "cuda_api.h"

namespace sk::cuda {

int set_status(SkCudaStatus* st, ErrorCode code, const std::string& msg);
int ok_status(SkCudaStatus* st);
int cuda_fail(SkCudaStatus* st, cudaError_t e, const std::string& what);

cudaStream_t stream_for(int device);  // one non-blocking stream per device, created on first use
int use_device(int device, SkCudaStatus* st);
// cudaMalloc; out of memory is ERR_DEVICE with the requested, free and total bytes.
int device_alloc(size_t bytes, void** p, SkCudaStatus* st);
// cudaMallocAsync on the device's stream, with the same error message.
int device_alloc_async(size_t bytes, void** p, cudaStream_t s, const char* what, SkCudaStatus* st);

// launcher.cu
int upload_matrix(int device, const SkMatrixDesc* desc, void** handle, uint64_t* bytes, SkCudaStatus* st);
void release_matrix(void* handle);
int spmm(void* handle, const SkSpmmArgs* args, SkSpmmRun* ran, SkCudaStatus* st);
int bench_spmm(void* handle, const SkSpmmArgs* args, int iters, double* ms, SkSpmmRun* ran, SkCudaStatus* st);
int selected_kernel(void* handle, const SkSpmmArgs* args, SkSpmmRun* out, SkCudaStatus* st);

}  // namespace sk::cuda
