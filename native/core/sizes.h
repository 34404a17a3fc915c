// Every size sparsekit derives from a shape that came from outside (a file header, a JS call) is
// computed here, with overflow-checked multiplication, against the documented limits below
// (docs/formats.md "Limits"; lib/shape.ts holds the same numbers for the TypeScript side).
#pragma once
#include <cstdint>

namespace sk {

// Largest dimension of a matrix: every index part (rowPtr, colIdx, tileOffsets) is int32.
constexpr int64_t kMaxDim = (int64_t(1) << 31) - 1;
// Largest rows x cols of one matrix or tensor (2^40, 4 TiB of float32): with it, every byte count
// below fits in 64 bits and in a JavaScript number with room to spare.
constexpr int64_t kMaxElements = int64_t(1) << 40;

// a * b, or false when it does not fit in 64 bits. Both operands must be non-negative.
inline bool mul_checked(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool add_checked(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

// rows * cols when both are in [0, kMaxDim] and the product is at most kMaxElements.
inline bool matrix_elements(int64_t rows, int64_t cols, uint64_t* out) {
  if (rows < 0 || cols < 0 || rows > kMaxDim || cols > kMaxDim) return false;
  uint64_t e;
  if (!mul_checked(uint64_t(rows), uint64_t(cols), &e) || e > uint64_t(kMaxElements)) return false;
  *out = e;
  return true;
}

// count * element_bytes (a part's byte size from its element count), checked.
inline bool bytes_of(uint64_t count, uint64_t element_bytes, uint64_t* out) { return mul_checked(count, element_bytes, out); }

// rows * per_row * element_bytes (a per-row part: mask words, n:m values), checked.
inline bool bytes_of(uint64_t rows, uint64_t per_row, uint64_t element_bytes, uint64_t* out) {
  uint64_t n;
  return mul_checked(rows, per_row, &n) && mul_checked(n, element_bytes, out);
}

}  // namespace sk
