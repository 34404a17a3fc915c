// The one source of truth for the vectorised CPU kernels. Each ISA file (spmm_avx512.cpp,
// spmm_avx2.cpp, spmm_portable.cpp) defines a traits struct `VT` with that ISA's primitives, then
// includes this file inside its target region and anonymous namespace. No std templates are
// instantiated here (see core/isa_target.h): buffers come from ScratchBuffer (spmm.h).
//
// VT must provide:
//   using V;  W (floats per V), CW (columns per decode chunk, divides 32), NV = CW / W,
//   kJ, kRv, kRvDense, kRv32 (N <= kJ: activation vectors per register block; rows per pass for
//   bitmap / N:M, 16-bit dense and fp32 dense weights),
//   kGemvChains (N = 1: independent accumulators, enough to cover the FMA latency),
//   kGemvApart, kGemvApartDense (N <= kJ: a bitmap / N:M pass's, a dense pass's rows are a quarter
//   of the task apart, not adjacent),
//   kPrefetch16, kPrefetch32 (N <= kJ: 16-bit / fp32 dense rows prefetched kStreamAheadBytes ahead),
//   kRb, kJV (N > kJ: rows x W-wide column vectors of the outer-product block);
//   kCursorPairs (popcount-cursor rows decode two chunks per cursor step, MaskSrc::decode_two);
//   zero, load, load_tail, set1, fma, hsum, store;
//   template <class D> dense_chunk(const T*, V[NV]), dense_tail(const T*, int cnt, V[NV]),
//                      sparse_chunk<D, Safe>(const T* p, uint32_t bits, const T* end, V[NV]) -> next p
//                      (Safe: 32 values may be loaded from p without checking against end),
//                      load_w(const T*), load_w_tail(const T*, int) (W values, natural order);
//   gather(const float*, const int32_t*) (W floats at the given indices);
//   mask_cols(bits, base, int32_t* out) -> popcount: out[i] = base + position of the i-th set bit
//   (may write up to 32 entries).

// Register-block kernels stay separate functions: inlining all of their instances into one
// dispatcher made compile times grow steeply, for no run-time gain (one call per row block).
#define SK_BLOCK __attribute__((noinline))

#ifdef SK_KERNELS_NO_FORCED_UNROLL
#define SK_UNROLL
#else
#define SK_UNROLL _Pragma("GCC unroll 64")
#endif

constexpr int NV = VT::NV;
constexpr int CW = VT::CW;
constexpr int W = VT::W;
using V = typename VT::V;

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// Weight dtype tags: storage type and scalar conversion.
struct F32 { using T = float; static constexpr bool kIsF32 = true, kIsBf16 = false, kIsF16 = false;
             static float to_f32(float v) { return v; } };
struct BF16 { using T = uint16_t; static constexpr bool kIsF32 = false, kIsBf16 = true, kIsF16 = false;
              static float to_f32(uint16_t v) { return bf16_to_f32(v); } };
struct F16 { using T = uint16_t; static constexpr bool kIsF32 = false, kIsBf16 = false, kIsF16 = true;
             static float to_f32(uint16_t v) { return f16_to_f32(v); } };

// ---- where a row's weights come from ------------------------------------------------------

template <class D> struct DenseSrc {
  using T = typename D::T;
  static constexpr bool kAlwaysSafe = true;  // only the last partial chunk is checked (decode())
  using Dt = D;
  struct Row { const T* p; };
  const T* base;
  int64_t cols, full, total;
  explicit DenseSrc(const MatrixView& a)
      : base(a.as<T>(Part::values)), cols(a.cols), full(a.cols / CW), total((a.cols + CW - 1) / CW) {}
  int64_t chunks() const { return total; }
  int64_t full_chunks() const { return full; }
  bool safe(int64_t, int64_t) const { return true; }
  Row row(int64_t r) const { return {base + r * cols}; }
  // Chunks [c, c + n) of the row kStreamAheadBytes ahead, a line at a time (the GEMV's steps).
  void prefetch(const Row& rw, int64_t c, int64_t n) const {
    if constexpr (D::kIsF32 ? VT::kPrefetch32 : VT::kPrefetch16) {
      const char* p = reinterpret_cast<const char*>(rw.p + c * CW) + kStreamAheadBytes;
      for (int64_t b = 0; b < int64_t(n * CW * sizeof(T)); b += 64) __builtin_prefetch(p + b);
    }
  }
  template <bool> void decode_full(Row& rw, int64_t c, V* o) const { VT::template dense_chunk<D>(rw.p + c * CW, o); }
  template <bool Safe> void decode_two(Row& rw, int64_t c, V* o0, V* o1) const {
    decode_full<Safe>(rw, c, o0);
    decode_full<Safe>(rw, c + 1, o1);
  }
  void decode(Row& rw, int64_t c, V* o) const {
    if (c < full) VT::template dense_chunk<D>(rw.p + c * CW, o);
    else VT::template dense_tail<D>(rw.p + c * CW, int(cols - c * CW), o);
  }
  // fp32 rows can be read in place when the whole chunk range lies inside the row.
  const float* direct(int64_t r, int64_t c0, int64_t c1) const {
    if constexpr (D::kIsF32) return c1 <= full ? reinterpret_cast<const float*>(base + r * cols + c0 * CW) : nullptr;
    return nullptr;
  }
  int64_t direct_stride() const { return cols; }
};

// bitmap and nm share the decode: a 32-bit mask word per 32 columns, values packed in order.
// bitmap rows start at rowPtr[r]; nm rows hold exactly groups * n values.
// Fixed: n:m with m dividing CW, so every chunk holds exactly CW / m * n values: chunk c's start
// is known without the popcounts of the chunks before it (no cursor, no chain between chunks).
// Half: Fixed with n / m = 1/2 on an ISA with VT::half_pair (two chunks per value load).
template <class D, bool Fixed = false, bool Half = false> struct MaskSrc {
  static_assert(!Half || Fixed, "Half pairs are fixed-offset chunks");
  using T = typename D::T;
  static constexpr bool kAlwaysSafe = false;
  using Dt = D;
  struct Row { const T* p; const uint32_t* m; };
  void prefetch(const Row&, int64_t, int64_t) const {}  // the decode's pace: the hardware prefetcher keeps up
  const T* vals;
  const T* end;
  const uint32_t* masks;
  const int32_t* rp;
  int64_t wpr, per_row, step;
  explicit MaskSrc(const MatrixView& a)
      : vals(a.as<T>(Part::values)),
        end(a.as<T>(Part::values) + a.part(Part::values).bytes / sizeof(T)),
        masks(a.as<uint32_t>(Part::masks)),
        rp(a.format == Format::bitmap ? a.as<int32_t>(Part::row_ptr) : nullptr),
        wpr(mask_words_per_row(a.format == Format::nm ? nm_padded_cols(a.cols, a.m) : a.cols)),
        per_row(a.format == Format::nm ? nm_values_per_row(a.cols, a.n, a.m) : 0),
        step(a.format == Format::nm ? CW / a.m * a.n : 0) {}
  int64_t chunks() const { return wpr * 32 / CW; }
  int64_t full_chunks() const { return chunks(); }
  int64_t row_start(int64_t r) const { return rp ? int64_t(rp[r]) : r * per_row; }
  // Rows [r, r + n) may load whole 32-value blocks without running off the values buffer.
  bool safe(int64_t r, int64_t n) const { return row_start(r + n) + 32 <= end - vals; }
  Row row(int64_t r) const { return {vals + row_start(r), masks + r * wpr}; }
  static uint32_t chunk_bits(const Row& rw, int64_t c) {
    if constexpr (CW == 32) return rw.m[c];
    else if constexpr (CW == 8) return reinterpret_cast<const uint8_t*>(rw.m)[c];  // x86: little-endian words
    else return (rw.m[(c * CW) >> 5] >> ((c * CW) & 31)) & ((1u << (CW & 31)) - 1u);
  }
  template <bool Safe> void decode_full(Row& rw, int64_t c, V* o) const {
    const uint32_t bits = chunk_bits(rw, c);
    if constexpr (Fixed) VT::template sparse_chunk<D, Safe>(rw.p + c * step, bits, end, o);
    else rw.p = VT::template sparse_chunk<D, Safe>(rw.p, bits, end, o);
  }
  // Only the ISAs with kHalfPairs define VT::half_pair: the template parameter defers the lookup.
  template <class Isa> static void half_pair(const T* p, uint32_t b0, uint32_t b1, V* o0, V* o1) {
    Isa::template half_pair<D>(p, b0, b1, o0, o1);
  }
  // Chunks c and c + 1. Half (n:m keeping half of each chunk): both from one value load.
  template <bool Safe> void decode_two(Row& rw, int64_t c, V* o0, V* o1) const {
    if constexpr (Half && Safe) {
      const uint8_t* b = reinterpret_cast<const uint8_t*>(rw.m);  // x86: little-endian words
      half_pair<VT>(rw.p + c * (CW / 2), b[c], b[c + 1], o0, o1);
    } else if constexpr (!Fixed && VT::kCursorPairs) {
      // A popcount cursor: the second chunk starts at the first's count, and the row advances once
      // per two chunks (one add on the chain from pair to pair instead of two).
      const uint32_t b0 = chunk_bits(rw, c), b1 = chunk_bits(rw, c + 1);
      const T* p = rw.p;
      VT::template sparse_chunk<D, Safe>(VT::template sparse_chunk<D, Safe>(p, b0, end, o0), b1, end, o1);
      rw.p = p + __builtin_popcountll(uint64_t(b0) | uint64_t(b1) << CW);
    } else {
      decode_full<Safe>(rw, c, o0);
      decode_full<Safe>(rw, c + 1, o1);
    }
  }
  void decode(Row& rw, int64_t c, V* o) const { decode_full<false>(rw, c, o); }
  const float* direct(int64_t, int64_t, int64_t) const { return nullptr; }
  int64_t direct_stride() const { return 0; }
};

// ---- N <= kJ: decode straight into registers, one pass over the weight ------------------

// A pass of R rows of Src reads rows a quarter of the task apart (VT::kGemvApart for bitmap / N:M,
// VT::kGemvApartDense for dense rows).
template <class Src, int R> constexpr bool kApartRows = (Src::kAlwaysSafe ? VT::kGemvApartDense : VT::kGemvApart) && R > 1;

template <class Src, int R, int J, bool Safe>
SK_BLOCK void fused_block(const Src& s, const Activations& x, int64_t r, int64_t j0, const OutputSpec& out, int64_t rs, int64_t passes) {
  // One activation vector: U chunks per step into separate accumulators (S chains per row), so the
  // loop runs at the FMA throughput rather than its latency even with a single row. Rows a quarter
  // apart are independent chains already: NV per row keep the register block within 32 vectors.
  constexpr int S = J > 1 ? 1 : kApartRows<Src, R> ? NV : VT::kGemvChains;
  constexpr int U = J > 1 ? 1 : (S + NV - 1) / NV < 2 ? 2 : (S + NV - 1) / NV;
  static_assert(J > 1 || U % 2 == 0, "single-vector steps decode chunks in pairs");
  const float* xj[J];
  for (int j = 0; j < J; ++j) xj[j] = x.data + (j0 + j) * x.k_padded;
  // Full chunks need no bounds checks; the dense row's last partial chunk does.
  const int64_t full = s.full_chunks(), chunks = s.chunks();
  // `passes` passes in one call, as the bf16 GEMV (spmm_avx512_bf16.cpp gemv_block) does.
  for (int64_t p = 0; p < passes; ++p, ++r) {
    typename Src::Row rows[R];
    for (int i = 0; i < R; ++i) rows[i] = s.row(r + i * rs);
    V acc[R][J][S];
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < J; ++j)
        for (int q = 0; q < S; ++q) acc[i][j][q] = VT::zero();
    auto step = [&](int64_t c, const V (&w)[R][NV], int set) {
      SK_UNROLL for (int j = 0; j < J; ++j)
        SK_UNROLL for (int v = 0; v < NV; ++v) {
          const V xv = VT::load(xj[j] + c * CW + v * W);
          SK_UNROLL for (int i = 0; i < R; ++i) {
            V& a = acc[i][j][(set * NV + v) % S];
            a = VT::fma(w[i][v], xv, a);
          }
        }
    };
    int64_t c = 0;
    if constexpr (J == 1) {
      for (; c + U <= full; c += U) {
        V w[U][R][NV];
        SK_UNROLL for (int i = 0; i < R; ++i) s.prefetch(rows[i], c, U);
        SK_UNROLL for (int i = 0; i < R; ++i)
          SK_UNROLL for (int u = 0; u < U; u += 2) s.template decode_two<Safe>(rows[i], c + u, w[u][i], w[u + 1][i]);
        SK_UNROLL for (int u = 0; u < U; ++u) step(c + u, w[u], u);
      }
    }
    for (; c < full; ++c) {
      V w[R][NV];
      SK_UNROLL for (int i = 0; i < R; ++i) s.template decode_full<Safe>(rows[i], c, w[i]);
      step(c, w, 0);
    }
    for (; c < chunks; ++c) {
      V w[R][NV];
      SK_UNROLL for (int i = 0; i < R; ++i) s.decode(rows[i], c, w[i]);
      step(c, w, 0);
    }
    // Reduce with fully unrolled loops: any runtime index into acc would make the compiler keep it
    // in memory and store every accumulator on every chunk.
    float res[R][J];
    SK_UNROLL for (int i = 0; i < R; ++i)
      SK_UNROLL for (int j = 0; j < J; ++j) {
        V t = acc[i][j][0];
        SK_UNROLL for (int q = 1; q < S; ++q) t = VT::add(t, acc[i][j][q]);
        res[i][j] = VT::hsum(t);
      }
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < J; ++j) out.store(r + i * rs, j0 + j, res[i][j]);
  }
}

// Rows r + i * rs for i < R (rs = 1: adjacent rows), `passes` times, one row further each time.
template <class Src, int R, bool Safe>
void fused_rows(const Src& s, const Activations& x, int64_t r, const OutputSpec& out, int64_t rs = 1, int64_t passes = 1) {
  for (int64_t j0 = 0; j0 < x.n; j0 += VT::kJ) {
    switch (imin(VT::kJ, x.n - j0)) {
      case 1: fused_block<Src, R, 1, Safe>(s, x, r, j0, out, rs, passes); break;
      case 2: if constexpr (VT::kJ >= 2) fused_block<Src, R, 2, Safe>(s, x, r, j0, out, rs, passes); break;
      case 3: if constexpr (VT::kJ >= 3) fused_block<Src, R, 3, Safe>(s, x, r, j0, out, rs, passes); break;
      default: if constexpr (VT::kJ >= 4) fused_block<Src, R, 4, Safe>(s, x, r, j0, out, rs, passes); break;
    }
  }
}

template <class Src> void spmv_kernel(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const Src s(a);
  int64_t r = r0;
  // Rows per pass, measured per ISA on 11008x4096 at N=1 (see the traits): the number of
  // sequential streams each core reads best differs between Zen 4 and Zen 3, and between a plain
  // stream and one interleaved with decode work.
  constexpr int R = !Src::kAlwaysSafe ? VT::kRv : Src::Dt::kIsF32 ? VT::kRv32 : VT::kRvDense;
  if constexpr (kApartRows<Src, R>) {
    // Rows a quarter apart, as the bf16 dot-product GEMVs read them: four sequential streams per
    // core, each row's x loads shared by the pass (dense rows: docs/kernels.md, "Measurements
    // behind the code").
    return apart_row_passes<R>(r0, r1, [&](int64_t i) { return s.safe(i, 1); }, [&](auto rb, auto safe, int64_t i, int64_t rs, int64_t passes) {
      fused_rows<Src, decltype(rb)::value, decltype(safe)::value>(s, x, i, out, rs, passes);
    });
  }
  for (; r + R <= r1; r += R) {
    if (Src::kAlwaysSafe || s.safe(r, R)) fused_rows<Src, R, true>(s, x, r, out);
    else if constexpr (!Src::kAlwaysSafe) fused_rows<Src, R, false>(s, x, r, out);
  }
  for (; r < r1; ++r) fused_rows<Src, 1, Src::kAlwaysSafe>(s, x, r, out);
}

// ---- N > kJ: decode a K-block of kRb rows once into fp32 scratch, then an outer-product GEMM ----
// x is k-major with its row stride padded to whole vectors (x.ld), so every FMA is a full vector:
// c[r, j..j+W) += w[r, k] (broadcast) * x[k, j..j+W). kRb x kJV accumulators stay in registers.

constexpr int64_t kKcChunks = 512 / CW;  // the shortest K block
constexpr int64_t kPanelBytes = 256 * 1024;  // the longest: its x panel fills half of a 512 KB L2
// The longest that the decode scratch holds: kRb rows, each skewed by 16 floats so that the rows
// do not share L1 sets.
constexpr int64_t kKcMaxChunks = (kWorkspaceDecodeFloats / VT::kRb - 16) / CW;

// c[i * ldc + v * W ...] += sum_k w[i * ldw + k] * x[k * ldx + v * W ...] for k < len.
template <int R, int JV>
SK_BLOCK void micro(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t len, float* c, int64_t ldc) {
  V acc[R][JV];
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < JV; ++v) acc[i][v] = VT::load(c + i * ldc + v * W);
  for (int64_t k = 0; k < len; ++k) {
    V xv[JV];
    SK_UNROLL for (int v = 0; v < JV; ++v) xv[v] = VT::load(x + k * ldx + v * W);
    SK_UNROLL for (int i = 0; i < R; ++i) {
      const V b = VT::set1(w[i * ldw + k]);
      SK_UNROLL for (int v = 0; v < JV; ++v) acc[i][v] = VT::fma(b, xv[v], acc[i][v]);
    }
  }
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < JV; ++v) VT::store(c + i * ldc + v * W, acc[i][v]);
}

template <int R>
void micro_rows(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t len, float* c, int64_t nv) {
  for (int64_t v0 = 0; v0 < nv; v0 += VT::kJV) {
    const float* xb = x + v0 * W;
    float* cb = c + v0 * W;
    switch (imin(VT::kJV, nv - v0)) {
      case 1: micro<R, 1>(w, ldw, xb, ldx, len, cb, ldx); break;
      case 2: if constexpr (VT::kJV >= 2) micro<R, 2>(w, ldw, xb, ldx, len, cb, ldx); break;
      case 3: if constexpr (VT::kJV >= 3) micro<R, 3>(w, ldw, xb, ldx, len, cb, ldx); break;
      default: if constexpr (VT::kJV >= 4) micro<R, 4>(w, ldw, xb, ldx, len, cb, ldx); break;
    }
  }
}

template <int R = VT::kRb>
void micro_dispatch(int rr, const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t len, float* c, int64_t nv) {
  if constexpr (R > 0) {
    if (rr == R) return micro_rows<R>(w, ldw, x, ldx, len, c, nv);
    micro_dispatch<R - 1>(rr, w, ldw, x, ldx, len, c, nv);
  }
}

template <class Src> void spmm_kernel(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const Src s(a);
  const int64_t n = x.n, ld = x.ld, nv = ld / W, rows = r1 - r0, chunks = s.chunks();
  static_assert(kKcMaxChunks >= kKcChunks && sizeof(typename Src::Row) <= kWorkspaceCursorBytes, "workspace");
  // Workspace (sized by spmm_workspace_bytes): fp32 C tile [rows, ld], decode buffer, row cursors.
  float* c = static_cast<float*>(x.workspace);
  float* wbuf = c + rows * ld;
  auto* cur = reinterpret_cast<typename Src::Row*>(wbuf + kWorkspaceDecodeFloats);
  for (int64_t i = 0; i < rows * ld; ++i) c[i] = 0.f;
  for (int64_t i = 0; i < rows; ++i) cur[i] = s.row(r0 + i);
  // K block: as long as half of L2 holds its x panel, so that each row is read in long runs (with
  // 512 columns, kRb rows x 1-2 KB runs kept the prefetcher short; docs/kernels.md, "Measurements
  // behind the code"). Decoded rows are also bounded by the scratch.
  const bool direct = s.direct(r0, 0, chunks) != nullptr;
  const int64_t kc_chunks = imin(direct ? chunks : kKcMaxChunks, imax(kKcChunks, kPanelBytes / int64_t(sizeof(float)) / ld / CW));
  const int64_t ldw_scratch = kc_chunks * CW + 16;
  for (int64_t c0 = 0; c0 < chunks; c0 += kc_chunks) {
    const int64_t c1 = imin(chunks, c0 + kc_chunks), len = (c1 - c0) * CW;
    const float* xb = x.data + c0 * CW * ld;
    for (int64_t rb = 0; rb < rows; rb += VT::kRb) {
      const int rr = int(imin(VT::kRb, rows - rb));
      const float* w = s.direct(r0 + rb, c0, c1);
      int64_t ldw = s.direct_stride();
      if (!w) {
        // Chunk-major over the rr rows: their rr streams advance together, as the fp32 rows do in
        // the micro-kernel. Row by row, each 1-2 KB run was too short for the prefetcher and the
        // loads stalled (docs/kernels.md, "Measurements behind the code").
        for (int64_t cc = c0; cc < c1; ++cc)
          for (int i = 0; i < rr; ++i) {
            V t[NV];
            s.decode(cur[rb + i], cc, t);
            SK_UNROLL for (int v = 0; v < NV; ++v) VT::store(wbuf + i * ldw_scratch + (cc - c0) * CW + v * W, t[v]);
          }
        w = wbuf;
        ldw = ldw_scratch;
      }
      micro_dispatch(rr, w, ldw, xb, ld, len, c + rb * ld, nv);
    }
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < n; ++j) out.store(r0 + i, j, c[i * ld + j]);
}

// ---- outer products over a row's nonzeros (k-major x, rows padded to whole vectors) ---------

// out[r, j0 .. j0 + NVB*W) = sum_i vals[i] * x[cols[i], j0 ...], from plain arrays of a row's column
// indices and fp32 values. kU nonzeros per step go to kU accumulator sets: one chain of dependent
// FMAs would run at the FMA latency, not its throughput; kU * NVB chains (6-8) cover it.
template <int NVB>
SK_BLOCK void outer_block(const Activations& x, const int32_t* cols, const float* vals, int64_t cnt, int64_t r, int64_t j0,
                          const OutputSpec& out) {
  constexpr int kU = NVB >= 4 ? 2 : 8 / NVB;
  V acc[kU][NVB];
  SK_UNROLL for (int u = 0; u < kU; ++u)
    SK_UNROLL for (int q = 0; q < NVB; ++q) acc[u][q] = VT::zero();
  const float* xb = x.data + j0;
  int64_t i = 0;
  for (; i + kU <= cnt; i += kU) {
    SK_UNROLL for (int u = 0; u < kU; ++u) {
      const V v = VT::set1(vals[i + u]);
      const float* xr = xb + int64_t(cols[i + u]) * x.ld;
      SK_UNROLL for (int q = 0; q < NVB; ++q) acc[u][q] = VT::fma(v, VT::load(xr + q * W), acc[u][q]);
    }
  }
  for (; i < cnt; ++i) {
    const V v = VT::set1(vals[i]);
    const float* xr = xb + int64_t(cols[i]) * x.ld;
    SK_UNROLL for (int q = 0; q < NVB; ++q) acc[0][q] = VT::fma(v, VT::load(xr + q * W), acc[0][q]);
  }
  alignas(64) float tmp[NVB * W];
  SK_UNROLL for (int q = 0; q < NVB; ++q) {
    V t = acc[0][q];
    SK_UNROLL for (int u = 1; u < kU; ++u) t = VT::add(t, acc[u][q]);
    VT::store(tmp + q * W, t);
  }
  const int64_t jn = imin(NVB * W, x.n - j0);
  for (int64_t j = 0; j < jn; ++j) out.store(r, j0 + j, tmp[j]);
}

void outer_row(const Activations& x, const int32_t* cols, const float* vals, int64_t cnt, int64_t r, const OutputSpec& out) {
  constexpr int kB = 4;  // vectors of N per pass over the row
  for (int64_t j0 = 0; j0 < x.n; j0 += kB * W) {
    switch ((imin(kB * W, x.n - j0) + W - 1) / W) {
      case 1: outer_block<1>(x, cols, vals, cnt, r, j0, out); break;
      case 2: outer_block<2>(x, cols, vals, cnt, r, j0, out); break;
      case 3: outer_block<3>(x, cols, vals, cnt, r, j0, out); break;
      default: outer_block<4>(x, cols, vals, cnt, r, j0, out); break;
    }
  }
}

// Prefetch [p, e) into the caches. The bitmap outer product reads a row in two passes (mask
// words, then values), which the hardware prefetcher followed poorly; fetching the next row ahead
// helped it. CSR reads its indices inside the product loop and got slower with it, so it does not
// (docs/kernels.md, "Measurements behind the code").
inline void prefetch_range(const void* p, const void* e) {
  for (const char* q = static_cast<const char*>(p); q < e; q += 64) __builtin_prefetch(q);
}

// A row's stored values as fp32: fp32 rows in place, 16-bit rows widened into buf (cnt + W floats).
template <class D> const float* row_values_f32(const typename D::T* p, int64_t cnt, float* buf) {
  if constexpr (D::kIsF32) {
    return p;
  } else {
    int64_t i = 0;
    for (; i + W <= cnt; i += W) VT::store(buf + i, VT::template load_w<D>(p + i));
    if (i < cnt) VT::store(buf + i, VT::template load_w_tail<D>(p + i, int(cnt - i)));
    return buf;
  }
}

// ---- CSR: gather x by column index (N = 1) or broadcast-FMA whole x rows (k-major, N > 1) ----

template <class D> void csr_kernel(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  using T = typename D::T;
  const T* vals = a.as<T>(Part::values);
  const int32_t* rp = a.as<int32_t>(Part::row_ptr);
  const int32_t* ci = a.as<int32_t>(Part::col_idx);
  const int64_t n = x.n;
  if (n == 1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t p = rp[r];
      const int64_t e = rp[r + 1];
      V acc0 = VT::zero(), acc1 = VT::zero();
      for (; p + 2 * W <= e; p += 2 * W) {
        acc0 = VT::fma(VT::template load_w<D>(vals + p), VT::gather(x.data, ci + p), acc0);
        acc1 = VT::fma(VT::template load_w<D>(vals + p + W), VT::gather(x.data, ci + p + W), acc1);
      }
      if (p + W <= e) {
        acc0 = VT::fma(VT::template load_w<D>(vals + p), VT::gather(x.data, ci + p), acc0);
        p += W;
      }
      // The last few in scalar: a masked gather and a staged partial load cost more per row.
      float tail = 0.f;
      for (; p < e; ++p) tail += D::to_f32(vals[p]) * x.data[ci[p]];
      out.store(r, 0, VT::hsum(VT::add(acc0, acc1)) + tail);
    }
    return;
  }
  float* fv = static_cast<float*>(x.workspace);  // one row's values as fp32 (16-bit weights)
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = rp[r], cnt = rp[r + 1] - b;
    outer_row(x, ci + b, row_values_f32<D>(vals + b, cnt, fv), cnt, r, out);
  }
}

// Bitmap / N:M with N > kJ at low density: the same outer product, with each row's column indices
// rebuilt from the mask bits first (branch-free: a register compress on AVX-512, a byte table on
// AVX2; walking the bits inline mispredicts once per word), so only the nonzeros cost FMAs.
template <class D> void mask_outer_kernel(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const MaskSrc<D> s(a);
  int32_t* cols = static_cast<int32_t*>(x.workspace);  // wpr * 32 + 32 entries
  float* fv = reinterpret_cast<float*>(cols + s.wpr * 32 + 32);
  for (int64_t r = r0; r < r1; ++r) {
    const typename MaskSrc<D>::Row rw = s.row(r);
    if (r + 1 < r1) {
      const typename MaskSrc<D>::Row nx = s.row(r + 1);
      prefetch_range(nx.p, nx.p + (s.row_start(r + 2) - s.row_start(r + 1)));
      prefetch_range(nx.m, nx.m + s.wpr);
    }
    int64_t cnt = 0;
    for (int64_t w = 0; w < s.wpr; ++w) cnt += VT::mask_cols(rw.m[w], int32_t(w * 32), cols + cnt);
    outer_row(x, cols, row_values_f32<D>(rw.p, cnt, fv), cnt, r, out);
  }
}

// ---- the table -----------------------------------------------------------------------------

// Below VT::kOuterDensity the skip-zeros outer product beats decode-to-dense GEMM for N > kJ (it
// does d of the FMAs, each with its own x-row load, against the GEMM's register-blocked dense work).
inline double density(const MatrixView& a) {
  return double(a.part(Part::values).bytes) / double(dtype_size(a.dtype)) / (double(a.rows) * double(a.cols));
}

// The kernel names of one dtype, indexed by SpmmKernelId ("<id>_<dtype>_<isa>").
using KernelNames = const char* const[int(SpmmKernelId::count)];

// `batch` is N, the activation columns; a.n / a.m are the n and m of an n:m weight.
template <class D> SpmmKernel pick_for_dtype(const MatrixView& a, int64_t batch, KernelNames& names) {
  using Id = SpmmKernelId;
  const auto name = [&](Id id) { return names[int(id)]; };
  const XLayout nl = XLayout::n_major, kl = XLayout::k_major;
  const bool gemv = batch <= VT::kJ;
  const bool nm = a.format == Format::nm;
  switch (a.format) {
    case Format::dense:
      return gemv ? SpmmKernel{spmv_kernel<DenseSrc<D>>, nl, name(Id::gemv_dense)}
                  : SpmmKernel{spmm_kernel<DenseSrc<D>>, kl, name(Id::gemm_dense), true, W};
    case Format::bitmap:
    case Format::nm:
      if (!gemv && density(a) < VT::kOuterDensity)
        return SpmmKernel{mask_outer_kernel<D>, XLayout::k_major, name(nm ? Id::spmm_nm_outer : Id::spmm_bitmap_outer), true, W};
      if constexpr (VT::kHalfPairs)
        if (gemv && nm && CW % a.m == 0 && 2 * a.n == a.m)
          return SpmmKernel{spmv_kernel<MaskSrc<D, true, true>>, nl, name(Id::spmv_nm)};
      if (nm && CW % a.m == 0)
        return gemv ? SpmmKernel{spmv_kernel<MaskSrc<D, true>>, nl, name(Id::spmv_nm)}
                    : SpmmKernel{spmm_kernel<MaskSrc<D, true>>, kl, name(Id::spmm_nm), true, W};
      return gemv ? SpmmKernel{spmv_kernel<MaskSrc<D>>, nl, name(nm ? Id::spmv_nm : Id::spmv_bitmap)}
                  : SpmmKernel{spmm_kernel<MaskSrc<D>>, kl, name(nm ? Id::spmm_nm : Id::spmm_bitmap), true, W};
    case Format::csr:
      return SpmmKernel{csr_kernel<D>, XLayout::k_major, name(Id::spmm_csr), batch > 1, batch == 1 ? 1 : W};
    default:
      return SpmmKernel{};
  }
}

#define SK_SPMM_KERNEL(id, what) #id "_f32_" SK_ISA_NAME,
KernelNames kNamesF32 = {
#include "spmm_kernel_list.inc"
};
#undef SK_SPMM_KERNEL
#define SK_SPMM_KERNEL(id, what) #id "_bf16_" SK_ISA_NAME,
KernelNames kNamesBf16 = {
#include "spmm_kernel_list.inc"
};
#undef SK_SPMM_KERNEL
#define SK_SPMM_KERNEL(id, what) #id "_f16_" SK_ISA_NAME,
KernelNames kNamesF16 = {
#include "spmm_kernel_list.inc"
};
#undef SK_SPMM_KERNEL

SpmmKernel pick_kernel(const MatrixView& a, int64_t batch) {
  switch (a.dtype) {
    case DType::f32: return pick_for_dtype<F32>(a, batch, kNamesF32);
    case DType::bf16: return pick_for_dtype<BF16>(a, batch, kNamesBf16);
    case DType::f16: return pick_for_dtype<F16>(a, batch, kNamesF16);
    default: return SpmmKernel{};
  }
}

#undef SK_UNROLL
#undef SK_BLOCK
