// See warp_model.h. Every layout formula below is transcribed from the PTX ISA, not shared with the
// kernels: groupID = laneid >> 2, threadID_in_group = laneid % 4 throughout.
#include "warp_model.h"

namespace sk::cuda::model {

namespace {

double half_value(DType dtype, uint16_t bits) {
  return dtype == DType::bf16 ? double(bf16_to_f32(bits)) : double(f16_to_f32(bits));
}
uint16_t half_of(uint32_t reg, int h) { return uint16_t(h ? reg >> 16 : reg & 0xffffu); }

// mma.m16n8k16 .f16/.bf16 A fragment: a0..a7 in four registers (two per register, a(2j) low).
//   row = groupID for ai with 0 <= i < 2 or 4 <= i < 6, groupID + 8 otherwise
//   col = threadID_in_group * 2 + (i & 1) for i < 4, + 8 for i >= 4
int a_row(int lane, int i) { return (lane >> 2) + (((i >= 2 && i < 4) || i >= 6) ? 8 : 0); }
int a_col(int lane, int i) { return (lane % 4) * 2 + (i & 1) + (i >= 4 ? 8 : 0); }
// B fragment b0..b3 in two registers: row (k) = threadID_in_group * 2 + (i & 1), + 8 for i >= 2;
// col (n) = groupID.
int b_row(int lane, int i) { return (lane % 4) * 2 + (i & 1) + (i >= 2 ? 8 : 0); }
int b_col(int lane) { return lane >> 2; }
// C/D fragment c0..c3 (f32): row = groupID for i < 2, groupID + 8 otherwise; col = tig * 2 + (i & 1).
int c_row(int lane, int i) { return (lane >> 2) + (i >= 2 ? 8 : 0); }
int c_col(int lane, int i) { return (lane % 4) * 2 + (i & 1); }

void multiply(const double A[16][16], const double B[16][8], const float c[kLanes][4], float d[kLanes][4]) {
  for (int lane = 0; lane < kLanes; ++lane)
    for (int i = 0; i < 4; ++i) {
      const int r = c_row(lane, i), col = c_col(lane, i);
      double s = 0;
      for (int k = 0; k < 16; ++k) s += A[r][k] * B[k][col];
      d[lane][i] = float(s + double(c[lane][i]));
    }
}

}  // namespace

void ldmatrix(const uint16_t* smem, size_t smem_elems, const uint32_t row_addr[kLanes], int num, bool trans,
              uint32_t out[kLanes][4], ModelError* err) {
  if (num != 1 && num != 2 && num != 4) { err->fail("ldmatrix: .num must be x1, x2 or x4"); return; }
  // Threads 8j .. 8j+7 supply the addresses of rows 0..7 of matrix j; each row is 8 contiguous
  // b16 elements and must be 16-byte aligned.
  for (int j = 0; j < num; ++j) {
    uint16_t m[8][8];
    for (int r = 0; r < 8; ++r) {
      const uint32_t addr = row_addr[8 * j + r];
      if (addr % 8 != 0) { err->fail("ldmatrix: row address not 16-byte aligned"); return; }
      if (size_t(addr) + 8 > smem_elems) { err->fail("ldmatrix: row address outside shared memory"); return; }
      for (int c = 0; c < 8; ++c) m[r][c] = smem[addr + c];
    }
    // Without .trans lane l receives row l/4, elements 2(l%4) and 2(l%4)+1 (lower in the low half);
    // with .trans the matrix is read column-wise: elements [2(l%4)][l/4] and [2(l%4)+1][l/4].
    for (int lane = 0; lane < kLanes; ++lane) {
      const int r = lane >> 2, c = 2 * (lane % 4);
      const uint16_t lo = trans ? m[c][r] : m[r][c];
      const uint16_t hi = trans ? m[c + 1][r] : m[r][c + 1];
      out[lane][j] = uint32_t(lo) | (uint32_t(hi) << 16);
    }
  }
}

void unpack_a(DType dtype, const uint32_t a[kLanes][4], double out[16][16]) {
  for (int lane = 0; lane < kLanes; ++lane)
    for (int i = 0; i < 8; ++i) out[a_row(lane, i)][a_col(lane, i)] = half_value(dtype, half_of(a[lane][i / 2], i & 1));
}

void unpack_b(DType dtype, const uint32_t b[kLanes][2], double out[16][8]) {
  for (int lane = 0; lane < kLanes; ++lane)
    for (int i = 0; i < 4; ++i) out[b_row(lane, i)][b_col(lane)] = half_value(dtype, half_of(b[lane][i / 2], i & 1));
}

void mma_m16n8k16(DType dtype, const uint32_t a[kLanes][4], const uint32_t b[kLanes][2], const float c[kLanes][4],
                  float d[kLanes][4]) {
  double A[16][16], B[16][8];
  unpack_a(dtype, a, A);
  unpack_b(dtype, b, B);
  multiply(A, B, c, d);
}

void mma_sp_m16n8k16(DType dtype, const uint32_t a[kLanes][2], const uint32_t b[kLanes][2], const float c[kLanes][4],
                     const uint32_t e[kLanes], int selector, float d[kLanes][4], ModelError* err) {
  if (selector < 0 || selector > 3) { err->fail("mma.sp: sparsity selector must be 0..3 for m16n8k16"); return; }
  // Sparse A fragment: a0,a1 (register 0) are the two kept values of row groupID, a2,a3 (register
  // 1) of row groupID + 8, both in the 4-wide chunk starting at column threadID_in_group * 4.
  // Metadata: the lane with threadID_in_group == selector holds 16 2-bit indices for its quad;
  // our reading of Figure 119: bits [0,16) cover row groupID, [16,32) row groupID + 8, four bits
  // per chunk in column order, the lower 2 bits locating the first stored value.
  double A[16][16] = {};
  for (int row = 0; row < 16; ++row)
    for (int chunk = 0; chunk < 4; ++chunk) {
      const uint32_t meta = e[4 * (row % 8) + selector];
      const uint32_t field = (meta >> (16 * (row / 8) + 4 * chunk)) & 0xfu;
      const int i0 = int(field & 3u), i1 = int(field >> 2);
      if (i0 >= i1) { err->fail("mma.sp: metadata field is not one of the ordered 2:4 patterns"); return; }
      const uint32_t reg = a[4 * (row % 8) + chunk][row / 8];
      A[row][4 * chunk + i0] = half_value(dtype, half_of(reg, 0));
      A[row][4 * chunk + i1] = half_value(dtype, half_of(reg, 1));
    }
  double B[16][8];
  unpack_b(dtype, b, B);
  multiply(A, B, c, d);
}

}  // namespace sk::cuda::model
