// The one source of the GEMM micro-kernel, included by linalg_{portable,avx2,avx512}.cpp inside
// an anonymous namespace after each defines its vector type `V` (width V::kWidth) and the
// register block kMr x kNv. Everything here is ISA-neutral C++; the including file's target
// region decides which instructions it becomes.
//
// C[MR][NR] += alpha * Ap * Bp, Ap packed k-major (MR floats per k), Bp packed k-major (NR per k).
template <int MR, int NV>
void gemm_micro(int64_t kc, const float* ap, const float* bp, float* c, double* cd, int64_t ldc, float alpha) {
  constexpr int W = V::kWidth;
  constexpr int NR = NV * W;
  V acc[MR][NV];
  for (int a = 0; a < MR; ++a)
    for (int v = 0; v < NV; ++v) acc[a][v] = V::zero();
  for (int64_t k = 0; k < kc; ++k) {
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = V::load(bp + v * W);
    for (int a = 0; a < MR; ++a) {
      const V s = V::broadcast(ap[a]);
      for (int v = 0; v < NV; ++v) acc[a][v] = V::fma(s, b[v], acc[a][v]);
    }
    ap += MR;
    bp += NR;
  }
  const V va = V::broadcast(alpha);
  if (cd) {
    // float64 accumulator: this partial sum covers at most kc terms.
    for (int a = 0; a < MR; ++a)
      for (int v = 0; v < NV; ++v) {
        float t[W];
        V::store(t, V::fma(va, acc[a][v], V::zero()));
        double* d = cd + a * ldc + v * W;
        for (int i = 0; i < W; ++i) d[i] += double(t[i]);
      }
    return;
  }
  for (int a = 0; a < MR; ++a)
    for (int v = 0; v < NV; ++v) {
      float* p = c + a * ldc + v * W;
      V::store(p, V::fma(va, acc[a][v], V::load(p)));
    }
}

// wt[c][l] -= e[l] * u[c]: SparseGPT's in-block error propagation for kRowGroup rows at once.
template <int G>
void rank1_rows(int64_t n, const float* u, const float* e, float* wt) {
  constexpr int W = V::kWidth;
  constexpr int NV = G / W;
  static_assert(G % W == 0, "row group must be a whole number of vectors");
  V ev[NV];
  for (int v = 0; v < NV; ++v) ev[v] = V::load(e + v * W);
  for (int64_t c = 0; c < n; ++c) {
    const V s = V::broadcast(-u[c]);
    for (int v = 0; v < NV; ++v) V::store(wt + v * W, V::fma(ev[v], s, V::load(wt + v * W)));
    wt += G;
  }
}

template <int R>
void rotate_columns_block(int64_t count, const int32_t* ks, const double* cs, const double* ss, double* y) {
  for (int64_t i = 0; i < count; ++i) {
    double* __restrict y0 = y + int64_t(ks[i]) * R;
    double* __restrict y1 = y0 + R;
    const double c = cs[i], s = ss[i];
    for (int r = 0; r < R; ++r) {
      const double a = y0[r], b = y1[r];
      y0[r] = c * a - s * b;
      y1[r] = s * a + c * b;
    }
  }
}
