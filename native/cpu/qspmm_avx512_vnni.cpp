// AVX-512 VNNI kernels for quantized weights at N = 1 with int8 activations (opt-in:
// linear(..., { activations: 'int8' }), ActivationRounding::int8), as llama.cpp does for its k-quants:
//   x is rounded per weight group (the same G columns): s_x = max|x| / 127, xq = round(x / s_x);
//   each group's Σ code·xq is exact in int32 (vpdpbusd: unsigned codes × signed xq), the zero
//   point is subtracted as zero·Σ xq over the kept columns, and the group adds
//   scale·s_x·(Σ code·xq − zero·Σ xq) to an fp32 accumulator.
// Dense 4-bit rows read 32 code bytes per 64 columns and split them into low and high nibbles
// (columns 2j and 2j+1); x is staged in that order (per 64 columns: the even columns, then the
// odd ones), so no interleave is needed. Sparse rows compress x's int8 copy to the kept columns
// (vpcompressb) instead of expanding the weights.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../core/dtype.h"
#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX512VNNI
namespace sk {
namespace {

#include "avx512_expand.inl"
#include "qspmm_x8_round.inl"
#include "qspmm_x8_rows.inl"
#include "unroll.inl"

enum QFmt { kDense = 0, kNM = 1, kBitmap = 2 };

constexpr int64_t round128(int64_t c) { return (c + 127) / 128 * 128; }

// The int8 copy of x and what the kernels precompute from it: written once per call by the
// kernel's prepare (SpmmKernel::prepare, before the tasks run), read by every task, so the rounding
// does not grow with the number of tasks. The bitmap kernel's scratch is per task.
struct XQ {
  int8_t* q;                // column order, zero-padded to a multiple of 128 columns
  int8_t* pairs;            // dense 4-bit: per 128 columns, the 64 even ones then the 64 odd ones
  int32_t* lane_sum;        // dense 4-bit: per 128 columns, lane i = Σ xq over columns 8i .. 8i+7
  int32_t* start;           // dense 4-bit: -8 · lane_sum, the symmetric accumulators' start
  float* scale;             // per group: s_x
  int32_t* sum;             // per group: Σ xq
  int32_t* group_lanes;     // bitmap 4-bit: per group, lane i = Σ xq over its columns ≡ 4i mod 64
  uint8_t* scratch;         // task's: kBitmapRows x (cols rounded to 128, + 128) bytes, the bitmap kernel's rows of codes as bytes
  float* row_scales;        // task's: kBitmapRows x (cols / 32 + 16), the bitmap kernel's scale·s_x per row and group of a pass
};
enum Stage { kPlain = 0, kPairs = 1, kGroupLanes = 2 };

// The bitmap kernel's rows per pass, each with a buffer of its codes as bytes, 128 bytes of
// slack past them (a 64-byte read from the last code).
constexpr int kBitmapRows = 4;
constexpr int64_t kBitmapRowBytes = 128;
// The call's part (prepared, 64-aligned): q, pairs, the lane sums and starts (3 cp bytes), then per
// group (at least 32 columns) s_x, Σ xq and 16 lane sums (72 bytes).
size_t x8_prepared_bytes(const MatrixView&, int64_t, int64_t kp) { return size_t(3 * round128(kp) + (kp / 32 + 1) * 72 + 128); }
// The bitmap kernel's per-task scratch: its rows of codes as bytes and their scale·s_x.
size_t x8_workspace(int64_t, int64_t, int64_t kp) {
  const int64_t cp = round128(kp);
  return size_t(kBitmapRows * (cp + kBitmapRowBytes) + kBitmapRows * (kp / 32 + 16) * 4 + 128);
}

// Where everything lives: prepared (the call's, 64-aligned) and ws (the task's, may be null).
XQ x8_layout(int64_t cols, int group, void* prepared, void* ws) {
  const int64_t cp = round128(cols), groups = cols / group;
  int8_t* q = static_cast<int8_t*>(prepared);
  int8_t* pairs = q + cp;
  int32_t* lane = reinterpret_cast<int32_t*>(pairs + cp);
  int32_t* start = lane + cp / 128 * 16;
  float* sc = reinterpret_cast<float*>(start + cp / 128 * 16);
  int32_t* sum = reinterpret_cast<int32_t*>(sc + groups);
  int32_t* gl = reinterpret_cast<int32_t*>(align64(sum + groups));
  uint8_t* scratch = static_cast<uint8_t*>(ws);
  float* rs = ws ? reinterpret_cast<float*>(align64(scratch + kBitmapRows * (cp + kBitmapRowBytes))) : nullptr;
  return {q, pairs, lane, start, sc, sum, gl, scratch, rs};
}

void quantize_x(const float* x, int64_t cols, int group, Stage stage, const XQ& xq) {
  const int64_t cp = round128(cols), groups = cols / group;
  int8_t* q = xq.q;
  int8_t* pairs = xq.pairs;
  int32_t* lane = xq.lane_sum;
  int32_t* start = xq.start;
  float* sc = xq.scale;
  int32_t* sum = xq.sum;
  for (int64_t g = 0; g < groups; ++g) {
    const float* xg = x + g * group;
    const float s = x8_group_scale(xg, group);
    __m512i tot = _mm512_setzero_si512();
    for (int i = 0; i < group; i += 16) {
      const __m512i v = x8_round16_epi32(xg + i, s);
      tot = _mm512_add_epi32(tot, v);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + g * group + i), _mm512_cvtepi32_epi8(v));
    }
    sc[g] = s;
    sum[g] = _mm512_reduce_add_epi32(tot);
  }
  std::memset(q + cols, 0, size_t(cp - cols));
  if (stage == kPairs) {
    alignas(64) uint8_t even[64], odd[64];
    for (int j = 0; j < 64; ++j) even[j] = uint8_t(2 * j), odd[j] = uint8_t(2 * j + 1);
    const __m512i ie = _mm512_load_si512(even), io = _mm512_load_si512(odd), ones = _mm512_set1_epi8(1);
    for (int64_t c = 0; c < cp; c += 128) {
      const __m512i v0 = _mm512_load_si512(q + c), v1 = _mm512_load_si512(q + c + 64);
      const __m512i e = _mm512_permutex2var_epi8(v0, ie, v1), o = _mm512_permutex2var_epi8(v0, io, v1);
      _mm512_store_si512(pairs + c, e);
      _mm512_store_si512(pairs + c + 64, o);
      const __m512i ls = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, e), ones, o);
      _mm512_store_si512(lane + c / 8, ls);
      _mm512_store_si512(start + c / 8, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(ls, 3)));
    }
  }
  int32_t* gl = xq.group_lanes;
  if (stage == kGroupLanes) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t g = 0; g < groups; ++g) {
      __m512i t = _mm512_setzero_si512();
      for (int64_t c = g * group; c < (g + 1) * group; c += 64)
        t = _mm512_dpbusd_epi32(t, ones, group == 32 ? _mm512_zextsi256_si512(_mm256_load_si256(reinterpret_cast<const __m256i*>(q + c))) : _mm512_load_si512(q + c));
      _mm512_store_si512(gl + 16 * g, t);
    }
  }
}

// SpmmKernel::prepare: x rounded once per call, with what `S` stages besides.
template <Stage S>
void prepare_gemv_x8(const MatrixView& a, const Activations& x, void* out) {
  quantize_x(x.data, a.cols, a.quant.group, S, x8_layout(a.cols, a.quant.group, out, nullptr));
}
// A task's view: the call's prepared x and its own workspace.
XQ task_x8(const MatrixView& a, const Activations& x) {
  return x8_layout(a.cols, a.quant.group, const_cast<void*>(x.prepared), x.workspace);
}

// Software prefetch of [p, p + bytes), one instruction per line.
inline void prefetch_lines(const void* p, int64_t bytes) {
  for (int64_t i = 0; i < bytes; i += 64) _mm_prefetch(static_cast<const char*>(p) + i, _MM_HINT_T0);
}

// Where the dense and 2:4 kernels read a row block's per-group data: the fp16 scales (times s_x)
// and zero points of the groups a 128-column block touches (1 to 4).
struct BlockGroups {
  int64_t g0;
  __mmask8 m;
};
// G is a power of two (32 .. 256): shifts, not the integer divisions that cost more than the
// block's arithmetic in the one-row loops (the shift count is hoisted out of the loops).
inline int group_shift(int G) { return __builtin_ctz(unsigned(G)); }
inline BlockGroups block_groups(int64_t c, int G, int64_t gpr) {
  const int gs = group_shift(G);
  const int64_t g0 = c >> gs, per = G <= 128 ? 128 >> gs : 1;
  const int64_t ns = per < gpr - g0 ? per : gpr - g0;
  return {g0, __mmask8((1u << ns) - 1)};
}

// Lane i of a 128-column block covers `span` columns of each weight group slot; its group,
// counted from the block's first: (span·(i mod 8) or span·i) / G, 0 when G > 128. In registers and
// by a shift: the kernels call it once per pass, and an integer division per lane there (GCC
// cannot hoist it past the pass's stores) was 7–16 serial divisions at every pass's start.
inline __m512i lane_groups(int G, int span, bool mirror) {
  if (G > 128) return _mm512_setzero_si512();
  const __m512i i = mirror ? _mm512_set_epi32(7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0)
                           : _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  return _mm512_srl_epi32(_mm512_mullo_epi32(i, _mm512_set1_epi32(span)), _mm_cvtsi32_si128(group_shift(G)));
}

// A run of up to 16 groups from g (masked past the row's gpr) and their s_x, loaded once for every
// row that multiplies its fp16 scales by them: times(row's scales + g) = scale·s_x per group.
// Which of the groups g .. g + 15 a row of gpr groups has.
inline __mmask16 group_run_mask(int64_t g, int64_t gpr) { return gpr - g >= 16 ? __mmask16(0xffff) : __mmask16((1u << (gpr - g)) - 1); }
// The code sums (quant.h) of up to 16 groups from p, as floats (0 past the mask).
inline __m512 code_sums16(const int16_t* p, __mmask16 m) { return _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, p))); }
struct SxRun {
  __mmask16 m;
  __m512 x;
  SxRun(const float* sx, int64_t g, int64_t gpr) : m(group_run_mask(g, gpr)), x(_mm512_maskz_loadu_ps(m, sx + g)) {}
  __m512 times(const uint16_t* scales) const { return _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, scales)), x); }
};

// scale_g·s_x,g of 16 consecutive groups of R rows, refreshed every 16 groups; a block's lanes
// take theirs with one vpermps (index: the lane's group + the block's first group mod 16).
// Prefetch: each row's scales kScalesAhead bytes past the run just loaded, for rows whose scales
// the caller does not prefetch itself (dense4_rows: four rows a quarter apart are eight streams per
// core with their scales, and the hardware prefetcher missed the scales' short runs: at G = 32 the
// dense GEMV took 1.12-1.2x the time without).
constexpr int64_t kScalesAhead = 128;
template <int R, bool Prefetch = false> struct RowScales {
  __m512 v[R];
  __m512i at;
  // Call at every block: reloads when the block starts a run of 16 groups (and says so).
  // Rows r, r + step, ... r + (R - 1)·step.
  bool next(const uint16_t* scales, const float* sx, int64_t r, int64_t c, int G, int64_t gpr, __m512i lidx, int64_t step = 1) {
    const int gs = group_shift(G);
    const int64_t g0 = c >> gs;
    const bool fresh = (c & ((int64_t(16) << gs) - 1)) == 0;
    if (fresh) {
      const SxRun run(sx, g0, gpr);
      for (int i = 0; i < R; ++i) v[i] = run.times(scales + (r + i * step) * gpr + g0);
      if constexpr (Prefetch)
        for (int i = 0; i < R; ++i) _mm_prefetch(reinterpret_cast<const char*>(scales + (r + i * step) * gpr + g0) + kScalesAhead, _MM_HINT_T0);
    }
    at = _mm512_add_epi32(lidx, _mm512_set1_epi32(int(g0 % 16)));
    return fresh;
  }
  __m512 lanes(int i) const { return _mm512_permutexvar_ps(at, v[i]); }
};

// Dense 4-bit, R rows at a time (r, r + step, ...) sharing the x loads. Per 128 columns and row: 64 code bytes, low
// and high nibbles (columns 2j, 2j+1) against x's even and odd columns, two vpdpbusd into one
// int32 vector whose lane i holds columns 8i .. 8i+7 (all in one group), converted and scaled
// per lane; the symmetric zero point enters as the accumulator's start, -8·Σ xq of the lane.
template <int R, bool Asym>
void dense4_rows(const Q4Rows& w, const XQ& xq, int64_t r, int64_t step, const OutputSpec& out) {
  const __m512i nib = _mm512_set1_epi8(0x0f), lidx = lane_groups(w.G, 8, false);
  __m512 facc[R];
  unroll<R>([&](auto i) SK_UNROLLED { facc[i] = _mm512_setzero_ps(); });
  RowScales<R, true> rs;
  const int64_t rb = w.cols / 2;
  // One 128-column block of the R rows; Full: no column tail (the tail block's masked loads and
  // its branch stay out of the main loop). The rows go through unroll<R>: facc stays in registers.
  auto block = [&](int64_t c, auto full) SK_UNROLLED {
    constexpr bool Full = decltype(full)::value;
    const int64_t tail = w.cols - c < 128 ? w.cols - c : 128;
    const __mmask64 cm = Full ? ~__mmask64(0) : (__mmask64(1) << (tail / 2)) - 1;
    const BlockGroups bg = block_groups(c, w.G, w.gpr);
    const __m512i xe = _mm512_load_si512(xq.pairs + c), xo = _mm512_load_si512(xq.pairs + c + 64);
    const __m512i xs = _mm512_load_si512(xq.lane_sum + c / 8);
    rs.next(w.scales, xq.scale, r, c, w.G, w.gpr, lidx, step);
    const __m512i init = Asym ? _mm512_setzero_si512() : _mm512_load_si512(xq.start + c / 8);
    unroll<R>([&](auto ic) SK_UNROLLED {
      constexpr int i = decltype(ic)::value;
      const int64_t rr = r + i * step;
      // Plain loads in whole blocks (masked ones cost ~15% here); they stay inside the row.
      const uint8_t* cp = w.codes + rr * rb + c / 2;
      _mm_prefetch(reinterpret_cast<const char*>(cp) + kStreamAheadBytes, _MM_HINT_T0);  // one line per row and block
      const __m512i cc = Full ? _mm512_loadu_si512(cp) : _mm512_maskz_loadu_epi8(cm, cp);
      __m512i acc = _mm512_dpbusd_epi32(init, _mm512_and_si512(cc, nib), xe);
      acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(cc, 4), nib), xo);
      if constexpr (Asym) {
        const __m512i z = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(bg.m, w.zeros + rr * w.gpr + bg.g0));
        acc = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_permutexvar_epi32(lidx, z), xs));
      }
      facc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), rs.lanes(i), facc[i]);
    });
  };
  int64_t c = 0;
  for (; c + 128 <= w.cols; c += 128) block(c, std::true_type{});
  if (c < w.cols) block(c, std::false_type{});
  unroll<R>([&](auto i) SK_UNROLLED { out.store(r + i * step, 0, _mm512_reduce_add_ps(facc[i])); });
}

// 2:4 4-bit, R rows at a time. Per 128 columns (32 four-column groups) and row: 32 code bytes,
// byte j = group j's two kept codes (low nibble the first). Their x bytes are picked from the two
// zmm of x by one vpermt2b: the mask nibbles are spread to bytes (the mask's two qwords broadcast
// to the qwords that read them, then vpmultishiftqb), a vpshufb table gives the first (bytes 0-31)
// and second (32-63) kept column, + 4j. One vpdpbusd then covers 64 kept weights; lanes i and
// i + 8 hold columns 16i .. 16i+15. The broadcast loads replace a vpermq of the mask and a
// vinserti64x4 of the codes' high nibbles, shuffles that were on this loop's critical port.
struct NM24Tables {
  __m512i perm, ctl, lut, base, shift, shl;
};
NM24Tables nm24_tables() {
  alignas(64) uint8_t ctl[64], lut[64], base[64];
  for (int q = 0; q < 8; ++q)
    for (int t = 0; t < 8; ++t) ctl[8 * q + t] = uint8_t(32 * (q & 1) + 4 * t);
  for (int j = 0; j < 64; ++j) {
    const int k = j % 16;
    const int first = k ? __builtin_ctz(unsigned(k)) : 0, second = k ? 31 - __builtin_clz(unsigned(k)) : 0;
    lut[j] = uint8_t(j < 32 ? first : second);
    base[j] = uint8_t(4 * (j % 32));
  }
  // shift: words 16..31 (the codes' second copy) take the high nibbles; shl: words 0..15 move the
  // low nibbles up to where the high ones are (the signed codes of nm24_block<true>).
  return {_mm512_set_epi64(1, 1, 0, 0, 1, 1, 0, 0), _mm512_load_si512(ctl), _mm512_load_si512(lut), _mm512_load_si512(base),
          _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1), _mm512_zextsi256_si512(_mm256_set1_epi16(4))};
}

// One row's 128-column block (tail columns when partial): the vpermt2b pick indices from the mask
// words at mp and the 64 codes from the 32 bytes at cp (first kept values, then second ones).
// Sym16: each code as the signed byte 16·(code − 8), the symmetric zero point taken off in the
// same op that isolates the nibble ((code ^ 8) << 4 read as int8); else the unsigned code.
struct NM24Block {
  __m512i idx, codes;
};
template <bool Sym16 = false>
inline NM24Block nm24_block(const NM24Tables& t, const uint32_t* mp, const uint8_t* cp, int64_t tail) {
  const __m512i nib = _mm512_set1_epi8(0x0f);
  __m512i m, cb;
  // Plain loads in whole blocks (masked ones cost ~15% here); they stay inside the row.
  if (tail == 128) {
    long long q0, q1;  // qwords 0, 1, 4, 5 read the mask's first 8 bytes, 2, 3, 6, 7 its second
    std::memcpy(&q0, mp, 8);
    std::memcpy(&q1, mp + 2, 8);
    m = _mm512_mask_set1_epi64(_mm512_set1_epi64(q0), 0xCC, q1);
    cb = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(cp)));
  } else {
    const __m128i ml = _mm_maskz_loadu_epi32(__mmask8((1u << (tail / 32)) - 1), mp);
    m = _mm512_permutexvar_epi64(t.perm, _mm512_castsi128_si512(ml));
    cb = _mm512_broadcast_i64x4(_mm256_maskz_loadu_epi8((__mmask32(1) << (tail / 4)) - 1, cp));
  }
  const __m512i idx = _mm512_add_epi8(_mm512_shuffle_epi8(t.lut, _mm512_and_si512(_mm512_multishift_epi64_epi8(t.ctl, m), nib)), t.base);
  if constexpr (Sym16)  // (A & 0xf0) ^ 0x80
    return {idx, _mm512_ternarylogic_epi32(_mm512_sllv_epi16(cb, t.shl), _mm512_set1_epi8(char(0xf0)), _mm512_set1_epi8(char(0x80)), 0x6a)};
  return {idx, _mm512_and_si512(_mm512_srlv_epi16(cb, t.shift), nib)};
}

// R rows per pass, r .. r + R - 1 (adjacent: their codes and masks are one run each, and the next
// pass's runs are prefetched in address order). The row loops go through unroll<R>, so the R
// accumulators and the rows' scales stay in registers. OneGroup (G >= 128: a block is one group):
// each row's scale·s_x of the run's 16 groups is also kept in memory, and the FMA takes the
// block's as a broadcast operand instead of a vpermps per row and block; and the zero point costs
// no vpdpbusd: the picked x are made unsigned (xq + 128) and the codes signed (code − zero), so
//   Σ (xq + 128)(code − zero) = Σ xq (code − zero) + 128 Σ (code − zero),
// and the second sum, the weights' alone, is the matrix's code sums (quant.h): 128 · scale·s_x ·
// sum of each group comes off the row once, after its blocks. The symmetric codes are 16·(code − 8)
// (nm24_block<true>), their 1/16 folded into the block's scale (exact: a power of two).
template <int R, bool Asym, bool OneGroup>
void nm24_rows(const Q4Rows& w, const XQ& xq, const NM24Tables& t, int64_t r, const OutputSpec& out) {
  const __m512i lidx = lane_groups(w.G, 16, true);
  // Byte j of zidx: lane j / 4's group (each lane's value in its four bytes).
  const __m512i zidx = Asym ? _mm512_mullo_epi32(lidx, _mm512_set1_epi32(0x01010101)) : _mm512_setzero_si512();
  const __m512i z8 = _mm512_set1_epi8(8);
  __m512 facc[R];
  unroll<R>([&](auto i) SK_UNROLLED { facc[i] = _mm512_setzero_ps(); });
  RowScales<R> rs;
  alignas(64) float sc[OneGroup ? R : 1][16];
  const int gs = group_shift(w.G);
  const int64_t wpr = w.cols / 32, rb = w.cols / 4;
  // As in dense4_rows: the next pass's codes, masks and scales (and code sums), each in address
  // order (per block, R·32 bytes of codes and R·16 of masks: a line every 2 and every 4 rows).
  const uint8_t* next = w.codes + (r + R) * rb;
  const char* next_m = reinterpret_cast<const char*>(w.masks + (r + R) * wpr);
  prefetch_lines(w.scales + (r + R) * w.gpr, 2 * R * w.gpr);
  if constexpr (OneGroup) prefetch_lines(w.code_sums + (r + R) * w.gpr, 2 * R * w.gpr);
  const __m512i sign = _mm512_set1_epi8(char(0x80));
  // One 128-column block of the R rows; Full: no column tail (the tail's masked loads stay out of
  // the main loop).
  auto block = [&](int64_t c, auto full) SK_UNROLLED {
    const int64_t tail = decltype(full)::value ? 128 : w.cols - c;
    const BlockGroups bg = block_groups(c, w.G, w.gpr);
    __m512i x0 = _mm512_load_si512(xq.q + c), x1 = _mm512_load_si512(xq.q + c + 64);
    if constexpr (OneGroup) x0 = _mm512_xor_si512(x0, sign), x1 = _mm512_xor_si512(x1, sign);  // xq + 128
    if (rs.next(w.scales, xq.scale, r, c, w.G, w.gpr, lidx) && OneGroup)
      unroll<R>([&](auto i) SK_UNROLLED {
        _mm512_store_ps(sc[OneGroup ? int(i) : 0], Asym ? rs.v[int(i)] : _mm512_mul_ps(rs.v[int(i)], _mm512_set1_ps(1.f / 16)));
      });
    const int64_t gi = (c >> gs) & 15;
    // Row r + i's block, by one stride per row (the products r·stride cost registers and spills).
    const uint32_t* mp = w.masks + r * wpr + c / 32;
    const uint8_t* cp = w.codes + r * rb + c / 4;
    unroll<R>([&](auto ic) SK_UNROLLED {
      constexpr int i = decltype(ic)::value;
      const NM24Block blk = nm24_block<OneGroup && !Asym>(t, mp, cp, tail);
      mp += wpr, cp += rb;
      const __m512i xp = _mm512_permutex2var_epi8(x0, blk.idx, x1), cc = blk.codes;
      if constexpr (i % 2 == 0 || R == 1) {
        _mm_prefetch(reinterpret_cast<const char*>(next), _MM_HINT_T0);
        next += 64;
      }
      if constexpr (i % 4 == 0 || R < 4) {
        _mm_prefetch(next_m, _MM_HINT_T0);
        next_m += 64;
      }
      __m512i d;
      if constexpr (OneGroup) {
        const __m512i b = Asym ? _mm512_sub_epi8(cc, _mm512_set1_epi8(char(w.zeros[(r + i) * w.gpr + (c >> gs)]))) : cc;
        d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), xp, b);
      } else {
        __m512i zb = z8;
        if constexpr (Asym) zb = _mm512_permutexvar_epi8(zidx, _mm512_castsi128_si512(_mm_maskz_loadu_epi8(bg.m, w.zeros + (r + i) * w.gpr + bg.g0)));
        d = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), cc, xp), _mm512_dpbusd_epi32(_mm512_setzero_si512(), zb, xp));
      }
      const __m512 s = OneGroup ? _mm512_set1_ps(sc[OneGroup ? i : 0][gi]) : rs.lanes(i);
      facc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), s, facc[i]);
    });
  };
  int64_t c = 0;
  for (; c + 128 <= w.cols; c += 128) block(c, std::true_type{});
  if (c < w.cols) block(c, std::false_type{});
  if constexpr (OneGroup)  // 128 · scale·s_x · Σ (code − zero) per group, 16 groups a step
    for (int64_t g = 0; g < w.gpr; g += 16) {
      const SxRun run(xq.scale, g, w.gpr);
      unroll<R>([&](auto i) SK_UNROLLED {
        const int64_t at = (r + i) * w.gpr + g;
        const __m512 cs = code_sums16(w.code_sums + at, run.m);
        facc[i] = _mm512_fnmadd_ps(_mm512_mul_ps(cs, _mm512_set1_ps(128.f)), run.times(w.scales + at), facc[i]);
      });
    }
  unroll<R>([&](auto i) SK_UNROLLED { out.store(r + i, 0, _mm512_reduce_add_ps(facc[i])); });
}

template <bool Asym, bool OneGroup>
void nm24_passes(const Q4Rows& w, const XQ& xq, const NM24Tables& t, int64_t r, int64_t r1, const OutputSpec& out) {
  for (; r + 8 <= r1; r += 8) nm24_rows<8, Asym, OneGroup>(w, xq, t, r, out);
  for (; r + 4 <= r1; r += 4) nm24_rows<4, Asym, OneGroup>(w, xq, t, r, out);
  for (; r < r1; ++r) nm24_rows<1, Asym, OneGroup>(w, xq, t, r, out);
}

template <bool Asym>
void rows4(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out, int fmt) {
  const int G = a.quant.group;
  const XQ xq = task_x8(a, x);
  const Q4Rows w{a.as<uint8_t>(Part::values), a.as<uint16_t>(Part::scales), Asym ? a.as<uint8_t>(Part::zeros) : nullptr,
                 fmt == kDense ? nullptr : a.as<uint32_t>(Part::masks), a.cols, a.cols / G, G, quant_code_sums(a)};
  int64_t r = r0;
  if (fmt == kDense) {
    // Four rows a quarter of the task apart: four sequential streams per core, as the dense bf16
    // GEMV reads (8 adjacent rows with the next pass prefetched in software are faster warm but
    // slower cold, docs/kernels.md), each row's codes prefetched kStreamAheadBytes ahead and its
    // scales one run ahead (RowScales): cold, the hardware prefetcher alone left the loop waiting
    // on the codes (docs/kernels.md, "Measurements behind the code"). The rows left over (at most
    // 3) run one at a time.
    const int64_t q = (r1 - r0) / 4;
    for (int64_t i = 0; i < q; ++i) dense4_rows<4, Asym>(w, xq, r0 + i, q, out);
    for (r = r0 + 4 * q; r < r1; ++r) dense4_rows<1, Asym>(w, xq, r, 1, out);
  } else {
    // 8 rows per pass: 24% faster than 4 warm; 4 rows a quarter of the task apart were slower cold.
    // OneGroup (G >= 128) is where the matrix has its code sums (quant.h).
    const NM24Tables t = nm24_tables();
    quant_has_code_sums(a) ? nm24_passes<Asym, true>(w, xq, t, r, r1, out) : nm24_passes<Asym, false>(w, xq, t, r, r1, out);
  }
}
void qgemv_dense4_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  a.quant.asym ? rows4<true>(a, x, r0, r1, out, kDense) : rows4<false>(a, x, r0, r1, out, kDense);
}
void qgemv_nm24_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  a.quant.asym ? rows4<true>(a, x, r0, r1, out, kNM) : rows4<false>(a, x, r0, r1, out, kNM);
}

// Bitmap 4-bit, R rows per pass sharing x's loads. Each row's codes are first spread to bytes in
// its own buffer (32 code bytes per step: widened, nibbles split); then per 64 columns (two
// groups when G = 32) and row, the next popcount bytes are expanded to their columns (vpexpandb, the
// zero point filling the pruned columns) and dotted with x in column order. One int32
// accumulator per row and unit (a group, or a pair of 32-column groups): the R rows are the independent vpdpbusd chains, and each
// group's sum is converted and scaled once (scale·s_x of 16 groups per row in one register).
// The codes are read as 32-byte halves: a 64-byte load (nearly always split across two lines)
// costs more here than two 32-byte ones, and Narrow passes (at most a third of the columns kept,
// so a step rarely keeps more than 32) read one half unless the step's count needs the second.
template <bool Narrow>
inline __m512i bitmap_codes(const uint8_t* u, uint64_t n) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u));
  // The expand reads only the first n bytes: past 32 the upper half is never looked at.
  if (Narrow && __builtin_expect(n <= 32, 1)) return _mm512_castsi256_si512(lo);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + 32)), 1);
}
template <int R, int G, bool Asym, bool Narrow, bool Sums>
void bitmap4_rows(const Q4Rows& w, const XQ& xq, const int32_t* rp, int64_t code_bytes, int64_t r, int64_t rows, const OutputSpec& out) {
  static_assert(!Sums || (G >= 128 && !Asym), "bitmap code sums: symmetric, G >= 128 (quant.h)");
  const int64_t gpr = w.gpr, wpr = mask_words_per_row(w.cols), ub_stride = round128(w.cols) + kBitmapRowBytes;
  const uint8_t* u[R];
  for (int i = 0; i < R; ++i) u[i] = spread_row_codes<Sums>(w.codes, code_bytes, rp[r + i], rp[r + i + 1], xq.scratch + i * ub_stride);
  // The next pass's masks and codes (each one contiguous run), prefetched in address order, one
  // line of each per step: its masks (R·8 bytes per step), its codes up to 64 bytes per step
  // (denser rows leave the rest to the hardware prefetcher).
  const int64_t na = r + R < rows ? r + R : rows;
  const char* next_c = reinterpret_cast<const char*>(w.codes + (rp[na] >> 1));
  const char* next_m = reinterpret_cast<const char*>(w.masks + na * wpr);
  if constexpr (Sums) prefetch_lines(w.code_sums + na * gpr, 2 * R * gpr);
  __m512 facc[R], sv[R];
  for (int i = 0; i < R; ++i) facc[i] = _mm512_setzero_ps();
  // G >= 64: every group's scale·s_x of the pass's rows, computed once, so that each group's
  // scaling is one FMA with a broadcast operand (at G = 32 a pair of groups takes its two from a
  // 16-group register by vpermps). Sums: the codes are 16·(code − 8), so 1/16 of it (exact).
  const int64_t rs_stride = gpr + 16;
  if constexpr (G >= 64)
    for (int64_t g = 0; g < gpr; g += 16) {
      const SxRun run(xq.scale, g, gpr);
      for (int i = 0; i < R; ++i) {
        const __m512 v = run.times(w.scales + (r + i) * gpr + g);
        _mm512_storeu_ps(xq.row_scales + i * rs_stride + g, Sums ? _mm512_mul_ps(v, _mm512_set1_ps(1.f / 16)) : v);
      }
    }
  const __m512i z8 = _mm512_set1_epi8(8);
  // Row i's mask word at step c: mk + i·wpr + c/32, addressed from two bases (rows 0-1, 2-3) and
  // one stride, so the 4 rows' pointers do not spill.
  const char* mk = reinterpret_cast<const char*>(w.masks + r * wpr);
  const int64_t ms = wpr * 4;
  // One unit: a group of G >= 64 columns, or at G = 32 a pair of groups in one 64-column step
  // (lanes 0-7 the first, 8-15 the second: scales, zero points and start values per half), or
  // a row's last, unpaired 32-column group (SW = 32).
  const auto unit = [&](int64_t g, auto sw) {
    constexpr int SW = decltype(sw)::value, P = G < 64 && SW == 64 ? 2 : 1, UC = G < 64 ? SW : G;
    // G = 32: scale·s_x of 16 groups per row, refreshed every 16 groups; each group's taken by vpermps.
    if (G < 64 && (g & 15) == 0) {
      const SxRun run(xq.scale, g, gpr);
      for (int i = 0; i < R; ++i) sv[i] = run.times(w.scales + (r + i) * gpr + g);
    }
    const __m512i at = _mm512_add_epi32(_mm512_set1_epi32(int(g & 15)), P == 2 ? _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0) : _mm512_setzero_si512());
    __m512i acc[R], zb[R];
    if constexpr (Sums)
      // Kept columns only: each adds (xq + 128)·16(code − 8) (the expand zeroes the pruned ones),
      // and 128 · Σ (code − 8), the weights' alone, comes off the row after its groups.
      for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_si512();
    else {
      // Pruned columns get the zero point as their code, so every column adds (code - z)·xq: the
      // kept ones their product, the pruned ones 0. The accumulator starts at -z·Σ xq of each
      // lane's columns (x's alone), so every lane is exact (an empty row is 0). G = 32 groups'
      // lane sums fill lanes 0-7; the pair's second moves to 8-15.
      __m512i gl = _mm512_load_si512(xq.group_lanes + 16 * g);
      if constexpr (P == 2) gl = _mm512_inserti64x4(gl, _mm512_castsi512_si256(_mm512_load_si512(xq.group_lanes + 16 * (g + 1))), 1);
      const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(gl, 3));
      for (int i = 0; i < R; ++i) {
        zb[i] = z8;
        acc[i] = start;
        if constexpr (Asym) {
          const int za = w.zeros[(r + i) * gpr + g], zc = P == 2 ? w.zeros[(r + i) * gpr + g + 1] : za;
          zb[i] = _mm512_mask_set1_epi8(_mm512_set1_epi8(char(za)), __mmask64(0xffffffff00000000ull), char(zc));
          acc[i] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_mullo_epi32(_mm512_mask_set1_epi32(_mm512_set1_epi32(za), 0xff00, zc), gl));
        }
      }
    }
    for (int s = 0; s < UC / SW; ++s, mk += SW / 8) {
      const int64_t c = g * G + s * SW;
      _mm_prefetch(next_c, _MM_HINT_T0);
      _mm_prefetch(next_m, _MM_HINT_T0);
      next_c += 64;
      next_m += R * 8;
      // SW = 32: x's upper half reads as 0, so the zero points expanded there add nothing.
      __m512i xv = SW == 64 ? _mm512_load_si512(xq.q + c) : _mm512_zextsi256_si512(_mm256_load_si256(reinterpret_cast<const __m256i*>(xq.q + c)));
      if constexpr (Sums) xv = _mm512_xor_si512(xv, _mm512_set1_epi8(char(0x80)));  // xq + 128
      for (int i = 0; i < R; ++i) {
        const char* mp = (i < 2 ? mk : mk + 2 * ms) + (i & 1) * ms;
        uint64_t km = 0;
        std::memcpy(&km, mp, SW / 8);
        const uint64_t n = popcount64(km);
        if constexpr (Sums)
          acc[i] = _mm512_dpbusd_epi32(acc[i], xv, expand_b64(bitmap_codes<Narrow>(u[i], n), __mmask64(km)));
        else
          acc[i] = _mm512_dpbusd_epi32(acc[i], expand_b64_over(zb[i], __mmask64(km), bitmap_codes<Narrow || SW == 32>(u[i], n)), xv);
        u[i] += n;
      }
    }
    for (int i = 0; i < R; ++i)
      facc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i]), G < 64 ? _mm512_permutexvar_ps(at, sv[i]) : _mm512_set1_ps(xq.row_scales[i * rs_stride + g]), facc[i]);
  };
  constexpr int64_t P = G < 64 ? 2 : 1;
  int64_t g = 0;
  for (; g + P <= gpr; g += P) unit(g, std::integral_constant<int, 64>{});
  if (g < gpr) unit(g, std::integral_constant<int, 32>{});
  if constexpr (Sums)  // 128 · scale·s_x · Σ (code − 8) per group, 16 groups a step (the row scales hold scale·s_x / 16)
    for (g = 0; g < gpr; g += 16) {
      const __mmask16 m = group_run_mask(g, gpr);
      for (int i = 0; i < R; ++i) {
        const __m512 cs = code_sums16(w.code_sums + (r + i) * gpr + g, m);
        facc[i] = _mm512_fnmadd_ps(_mm512_mul_ps(cs, _mm512_set1_ps(2048.f)), _mm512_maskz_loadu_ps(m, xq.row_scales + i * rs_stride + g), facc[i]);
      }
    }
  for (int i = 0; i < R; ++i) out.store(r + i, 0, _mm512_reduce_add_ps(facc[i]));
}

template <int G, bool Asym, bool Sums = false>
void bitmap4_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const XQ xq = task_x8(a, x);
  const Q4Rows w{a.as<uint8_t>(Part::values), a.as<uint16_t>(Part::scales), Asym ? a.as<uint8_t>(Part::zeros) : nullptr,
                 a.as<uint32_t>(Part::masks), a.cols, a.cols / G, G, Sums ? quant_code_sums(a) : nullptr};
  const int32_t* rp = a.as<int32_t>(Part::row_ptr);
  const int64_t code_bytes = int64_t(a.part(Part::values).bytes);
  int64_t r = r0;
  // Narrow passes keep at most a third of their columns (a 64-column step then keeps more than
  // 32 about once in 650 steps at a third, once in 7000 at 30%).
  const auto narrow = [&](int64_t a, int64_t b) { return 3 * (int64_t(rp[b]) - rp[a]) <= (b - a) * w.cols; };
  for (; r + kBitmapRows <= r1; r += kBitmapRows)
    narrow(r, r + kBitmapRows) ? bitmap4_rows<kBitmapRows, G, Asym, true, Sums>(w, xq, rp, code_bytes, r, r1, out)
                               : bitmap4_rows<kBitmapRows, G, Asym, false, Sums>(w, xq, rp, code_bytes, r, r1, out);
  for (; r < r1; ++r)
    narrow(r, r + 1) ? bitmap4_rows<1, G, Asym, true, Sums>(w, xq, rp, code_bytes, r, r1, out) : bitmap4_rows<1, G, Asym, false, Sums>(w, xq, rp, code_bytes, r, r1, out);
}
void qgemv_bitmap4_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  switch (a.quant.group * 2 + a.quant.asym) {
    case 64: return bitmap4_x8<32, false>(a, x, r0, r1, out);
    case 65: return bitmap4_x8<32, true>(a, x, r0, r1, out);
    case 128: return bitmap4_x8<64, false>(a, x, r0, r1, out);
    case 129: return bitmap4_x8<64, true>(a, x, r0, r1, out);
    case 256: return bitmap4_x8<128, false>(a, x, r0, r1, out);
    case 257: return bitmap4_x8<128, true>(a, x, r0, r1, out);
    case 512: return bitmap4_x8<256, false>(a, x, r0, r1, out);
    default: return bitmap4_x8<256, true>(a, x, r0, r1, out);
  }
}
// Symmetric, G >= 128, with the matrix's code sums (quant.h; the selection checks they are there).
void qgemv_bitmap4_sums_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  a.quant.group == 128 ? bitmap4_x8<128, false, true>(a, x, r0, r1, out) : bitmap4_x8<256, false, true>(a, x, r0, r1, out);
}

template <int Fmt, int Bits>
void qgemv_vnni(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QuantSpec qs = a.quant;
  const int G = qs.group;
  const int64_t cols = a.cols, gpr = cols / G;
  const XQ xq = task_x8(a, x);
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = qs.asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  const uint32_t* masks = Fmt == kDense ? nullptr : a.as<uint32_t>(Part::masks);
  const int64_t wpr = Fmt == kDense ? 0 : mask_words_per_row(cols);
  const int32_t* rp = Fmt == kBitmap ? a.as<int32_t>(Part::row_ptr) : nullptr;
  const int64_t per_row = Fmt == kNM ? nm_values_per_row(cols, a.n, a.m) : cols;
  const int kc = Fmt == kNM ? 32 * a.n / a.m : 32;
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t vi = rp ? int64_t(rp[r]) : r * per_row;
    const uint32_t* rm = masks ? masks + r * wpr : nullptr;
    __m512 facc = _mm512_setzero_ps();
    float corr = 0.f;
    for (int64_t g = 0; g < gpr; ++g) {
      const int64_t gi = r * gpr + g;
      const int z = zeros ? zeros[gi] : (1 << (Bits - 1));
      const float s = _cvtsh_ss(scales[gi]) * xq.scale[g];  // F16C: the portable conversion branches
      const int64_t c0 = g * G;
      if constexpr (Fmt == kDense) {  // 8-bit: dense 4-bit has dense4_rows
        __m512i acc = _mm512_setzero_si512();
        const uint8_t* p = codes + vi + c0;
        if (G == 32)
          acc = _mm512_zextsi256_si512(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
                                                           _mm256_load_si256(reinterpret_cast<const __m256i*>(xq.q + c0))));
        else
          for (int i = 0; i < G; i += 64)
            acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(p + i), _mm512_load_si512(xq.q + c0 + i));
        facc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(s), facc);
        corr -= s * float(z) * float(xq.sum[g]);
      } else {
        __m256i acc = _mm256_setzero_si256(), xs = _mm256_setzero_si256();
        for (int64_t ch = c0 / 32; ch < (c0 + G) / 32; ++ch) {
          const uint32_t bits = rm[ch];
          const int cnt = Fmt == kNM ? kc : __builtin_popcount(bits);
          const __m256i xk = _mm256_maskz_compress_epi8(bits, _mm256_load_si256(reinterpret_cast<const __m256i*>(xq.q + ch * 32)));
          __m256i u;
          if constexpr (Bits == 4) {
            __m128i b;
            if (Fmt == kNM && kc == 16) {
              b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + (vi >> 1)));
            } else {
              const int odd = int(vi & 1), nb = (odd + cnt + 1) >> 1;
              const __m256i y = _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << nb) - 1), codes + (vi >> 1));
              const __m128i lo = _mm256_castsi256_si128(y), next = _mm_alignr_epi8(_mm256_extracti128_si256(y, 1), lo, 8);
              b = _mm_or_si128(_mm_srl_epi64(lo, _mm_cvtsi32_si128(odd * 4)), _mm_sll_epi64(next, _mm_cvtsi32_si128(64 - odd * 4)));
            }
            // Nibbles to bytes in column order: byte 2j = low nibble of j, 2j+1 = high nibble.
            const __m256i t = _mm256_cvtepu8_epi16(b);
            u = _mm256_or_si256(_mm256_and_si256(t, _mm256_set1_epi16(0x000f)), _mm256_and_si256(_mm256_slli_epi16(t, 4), _mm256_set1_epi16(0x0f00)));
          } else {
            u = _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << cnt) - 1), codes + vi);
          }
          vi += cnt;
          acc = _mm256_dpbusd_epi32(acc, u, xk);  // codes past cnt meet compressed zeros
          xs = _mm256_dpbusd_epi32(xs, ones, xk);
        }
        const __m256i d = _mm256_sub_epi32(acc, _mm256_mullo_epi32(xs, _mm256_set1_epi32(z)));
        facc = _mm512_fmadd_ps(_mm512_zextps256_ps512(_mm256_cvtepi32_ps(d)), _mm512_set1_ps(s), facc);
      }
    }
    out.store(r, 0, _mm512_reduce_add_ps(facc) + corr);
  }
}

// Only the bitmap int4 kernel (stage kGroupLanes) has per-task scratch; the others read the
// prepared x alone.
template <Stage S = kPlain>
SpmmKernel kernel(SpmmKernelFn fn, const char* name) {
  SpmmKernel k{fn, XLayout::k_major, name, S == kGroupLanes, 1};
  if (S == kGroupLanes) k.workspace = x8_workspace;
  k.prepare_bytes = x8_prepared_bytes;
  k.prepare = prepare_gemv_x8<S>;
  return k;
}

}  // namespace

SpmmKernel select_qspmm_vnni(const MatrixView& a, int64_t n) {
  const CpuFeatures& f = cpu_features();
  if (n < 1 || !f.avx512vnni || !f.avx512vbmi) return SpmmKernel{};
  if (n > 1) return SpmmKernel{};  // N > 1: qspmm_avx512_gemm_x8.cpp
  if (a.quant.bits == 8) {
    switch (a.format) {
      case Format::dense: return kernel(qgemv_vnni<kDense, 8>, "qspmm_gemv_dense_int8_x8_vnni");
      case Format::nm: return kernel(qgemv_vnni<kNM, 8>, "qspmm_gemv_nm_int8_x8_vnni");
      case Format::bitmap: return kernel(qgemv_vnni<kBitmap, 8>, "qspmm_gemv_bitmap_int8_x8_vnni");
      default: return SpmmKernel{};
    }
  }
  switch (a.format) {
    case Format::dense: return kernel<kPairs>(qgemv_dense4_x8, "qspmm_gemv_dense_int4_x8_vnni");
    case Format::nm: {
      // At G >= 128 the 2:4 kernel reads the matrix's code sums: a view without them (not made from
      // a PackedMatrix) takes the general n:m kernel.
      const bool sums = !quant_has_code_sums(a) || quant_code_sums(a);
      return a.n == 2 && a.m == 4 && sums ? kernel(qgemv_nm24_x8, "qspmm_gemv_nm24_int4_x8_vnni") : kernel(qgemv_vnni<kNM, 4>, "qspmm_gemv_nm_int4_x8_vnni");
    }
    case Format::bitmap:
      // Symmetric at G >= 128: on the kept columns only, with the code sums (quant.h); a view
      // without them (not made from a PackedMatrix) takes the general kernel.
      return quant_code_sums(a) ? kernel<kGroupLanes>(qgemv_bitmap4_sums_x8, "qspmm_gemv_bitmap_int4_sums_x8_vnni")
                                : kernel<kGroupLanes>(qgemv_bitmap4_x8, "qspmm_gemv_bitmap_int4_x8_vnni");
    default: return SpmmKernel{};
  }
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_vnni(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
