// Register-form expands for the AVX-512 kernels (spmm_avx512.cpp, spmm_avx512_bf16.cpp,
// qspmm_avx512.cpp): include inside an SK_TARGET_BEGIN_AVX512* region and an anonymous namespace.
// Zen 4: a zero-masked expand waits on its destination's old value. Zero a register (a dependency-
// breaking idiom) and use the merge form; inline asm keeps the compiler from folding it back.
// The register form: the memory form of vpexpandw/vexpandps is far slower on Zen 4/5 (measured
// here: ~18 cycles per 32-column chunk against ~4), so load 64 bytes and expand in registers.
inline __m512i expand_w16(__m512i src, __mmask32 k) {
  __m512i v = _mm512_setzero_si512();
  __asm__("vpexpandw %1, %0%{%2%}" : "+v"(v) : "v"(src), "Yk"(k));
  return v;
}
inline __m512 expand_f32(__m512 src, __mmask16 k) {
  __m512 v = _mm512_setzero_ps();
  __asm__("vexpandps %1, %0%{%2%}" : "+v"(v) : "v"(src), "Yk"(k));
  return v;
}
inline __m256i expand_b32(__m256i src, __mmask32 k) {
  __m256i v = _mm256_setzero_si256();
  __asm__("vpexpandb %1, %0%{%2%}" : "+v"(v) : "v"(src), "Yk"(k));
  return v;
}
