// Compiles the rest of a translation unit for one x86 ISA, without per-file build flags, so
// binding.gyp and CMakeLists.txt need no ISA-specific targets. Usage, in `foo_avx512.cpp`:
//
//   #include <every header the file needs, standard ones first>
//   #include "core/isa_target.h"
//   SK_TARGET_BEGIN_AVX512
//   namespace sk { ...kernels... }
//   SK_TARGET_END
//
// Only call such code after checking cpu_features()/active_isa(). Keep everything defined in the
// region internal (anonymous namespace or uniquely named) so no inline function compiled for a
// wider ISA can be picked by the linker for use on a narrower CPU.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#define SK_HAVE_X86 1
#if defined(__clang__)
#define SK_TARGET_BEGIN_AVX2 \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
#define SK_TARGET_BEGIN_AVX512                                                                              \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi2,fma,f16c\"))), apply_to = function)")
#define SK_TARGET_BEGIN_AVX512BF16                                                                          \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi2,avx512bf16,fma,f16c\"))), apply_to = function)")
#define SK_TARGET_BEGIN_AVX512VNNI                                                                          \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512vbmi2,avx512vnni,fma,f16c\"))), apply_to = function)")
#define SK_TARGET_END _Pragma("clang attribute pop")
#else
// GCC 12's zmm->ymm cast intrinsics read an "undefined" register and warn about it (harmless):
// the AVX-512 regions silence those two warnings for the rest of the file.
#define SK_AVX512_GCC_DIAGNOSTICS \
  _Pragma("GCC diagnostic ignored \"-Wuninitialized\"") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define SK_TARGET_BEGIN_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define SK_TARGET_BEGIN_AVX512 SK_AVX512_GCC_DIAGNOSTICS \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi2,fma,f16c\")")
#define SK_TARGET_BEGIN_AVX512BF16 SK_AVX512_GCC_DIAGNOSTICS \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi2,avx512bf16,fma,f16c\")")
#define SK_TARGET_BEGIN_AVX512VNNI SK_AVX512_GCC_DIAGNOSTICS \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512vbmi2,avx512vnni,fma,f16c\")")
#define SK_TARGET_END _Pragma("GCC pop_options")
#endif
#else
#define SK_HAVE_X86 0
#endif
