// Machine probes for the benchmark suite: what this CPU's memory and FMA units can do, measured
// with the same thread pool the kernels use, so kernel numbers can be printed as a fraction of them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sk {

// Streaming read of a `bytes` buffer by every pool thread (vector loads summed into registers);
// best of `reps` passes, in GB/s (1e9 bytes/s).
double probe_read_bandwidth(size_t bytes, int reps);

// The same read over memory the caller owns (e.g. the weight copies a cold benchmark rotates
// through), one buffer after another, each split among the pool threads as the probe splits its
// own; best of `reps` passes over all of them, in GB/s. Nothing is allocated or written.
struct ProbeSpan {
  const void* data;
  size_t bytes;
};
double probe_read_spans(const ProbeSpan* spans, size_t count, int reps);

// Independent fp32 FMA chains on every pool thread with the widest vectors the CPU has, in
// GFLOP/s (2 flops per lane per FMA), best of `reps` runs of `iters` iterations each.
double probe_fma_peak(int64_t iters, int reps);

// The same with AVX512-BF16 `vdpbf16ps` (4 flops per fp32 lane: two bf16 products and their sum),
// in GFLOP/s; 0 when the CPU lacks AVX512-BF16 or the active ISA is not avx512.
double probe_bf16_dot_peak(int64_t iters, int reps);

}  // namespace sk
