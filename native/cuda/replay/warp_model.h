// A CPU model of the warp-level tensor-core instructions the kernels use, written from the PTX ISA
// (release 8.7 / 9.x) text, independently of the kernels' own index math in *_index.h:
//   ldmatrix.sync.aligned.m8n8{.x1,.x2,.x4}{,.trans}.shared.b16   (PTX ISA 9.7.14.5.15)
//   mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 (9.7.14.5.8, fragments for
//     mma.m16n8k16 with floating point type)
//   mma.sp::ordered_metadata.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32
//     (9.7.14.6.1 sparse matrix storage, 9.7.14.6.2.1 fragments and metadata for m16n8k16)
// Registers are plain uint32 per lane; the model reports misuse (misaligned ldmatrix rows, invalid
// 2:4 metadata) instead of producing garbage, which is what the hardware would do silently.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "../../core/dtype.h"

namespace sk::cuda::model {

constexpr int kLanes = 32;

struct ModelError {
  bool failed = false;
  std::string what;
  void fail(const std::string& w) { if (!failed) { failed = true; what = w; } }
};

// smem: the shared-memory array in 16-bit elements; row_addr[l]: element index passed by lane l
// (only the lanes ldmatrix reads are used). out[l][j]: destination register j of lane l.
void ldmatrix(const uint16_t* smem, size_t smem_elems, const uint32_t row_addr[kLanes], int num, bool trans,
              uint32_t out[kLanes][4], ModelError* err);

// D = A * B + C for one m16n8k16; dtype f16 or bf16 for both A and B; products exact, sum in fp64,
// rounded once to fp32 (the hardware accumulates at least this precisely for these inputs).
void mma_m16n8k16(DType dtype, const uint32_t a[kLanes][4], const uint32_t b[kLanes][2], const float c[kLanes][4],
                  float d[kLanes][4]);

// Sparse A (2:4): a holds the kept values, e the metadata, selector picks the lane of each quad.
void mma_sp_m16n8k16(DType dtype, const uint32_t a[kLanes][2], const uint32_t b[kLanes][2], const float c[kLanes][4],
                     const uint32_t e[kLanes], int selector, float d[kLanes][4], ModelError* err);

// The dense matrices the fragments stand for, for direct tests of the model itself.
void unpack_a(DType dtype, const uint32_t a[kLanes][4], double out[16][16]);
void unpack_b(DType dtype, const uint32_t b[kLanes][2], double out[16][8]);

}  // namespace sk::cuda::model
