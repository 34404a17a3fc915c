// Register-form expands for the AVX-512 kernels (spmm_avx512.cpp, spmm_avx512_bf16.cpp,
// qspmm_avx512.cpp): include inside an SK_TARGET_BEGIN_AVX512* region and an anonymous namespace.
// A zero-masked expand waits on its destination's old value (Zen 5: ~5.5 cycles per expand into
// the same register, against 1 per cycle into distinct ones). Expanding in place makes that old
// value the source itself, so the wait is the true dependency; inline asm keeps the compiler from
// choosing another destination.
// The register form: the memory form of vpexpandw/vexpandps is far slower on Zen 4/5 (measured
// here: ~18 cycles per 32-column chunk against ~4), so load 64 bytes and expand in registers.
inline __m512i expand_w16(__m512i v, __mmask32 k) {
  __asm__("vpexpandw %0, %0%{%1%}%{z%}" : "+v"(v) : "Yk"(k));
  return v;
}
inline __m512 expand_f32(__m512 v, __mmask16 k) {
  __asm__("vexpandps %0, %0%{%1%}%{z%}" : "+v"(v) : "Yk"(k));
  return v;
}
inline __m256i expand_b32(__m256i v, __mmask32 k) {
  __asm__("vpexpandb %0, %0%{%1%}%{z%}" : "+v"(v) : "Yk"(k));
  return v;
}
inline __m512i expand_b64(__m512i v, __mmask64 k) {
  __asm__("vpexpandb %0, %0%{%1%}%{z%}" : "+v"(v) : "Yk"(k));
  return v;
}
// The register form into a copy of `over` (the lanes k leaves clear keep its bytes).
inline __m512i expand_b64_over(__m512i over, __mmask64 k, __m512i v) {
  __asm__("vpexpandb %2, %0%{%1%}" : "+v"(over) : "Yk"(k), "v"(v));
  return over;
}
// The number of lanes an expand fills, 64-bit so that it adds to a pointer without a sign
// extension, and without the dependency-breaking xor compilers put before popcnt for older Intel
// cores (two of a bitmap chunk's ~12 instructions; measured in docs/kernels.md).
inline uint64_t popcount64(uint64_t v) {
  uint64_t r;
  __asm__("popcnt %1, %0" : "=r"(r) : "r"(v));
  return r;
}
