#include "cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define SK_X86 1
#endif

namespace sk {

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#ifdef SK_X86
  unsigned a, b, c, d;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    char v[13];
    std::memcpy(v, &b, 4), std::memcpy(v + 4, &d, 4), std::memcpy(v + 8, &c, 4), v[12] = 0;
    f.vendor = std::strcmp(v, "AuthenticAMD") == 0 ? "amd" : std::strcmp(v, "GenuineIntel") == 0 ? "intel" : "other";
  }
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const int base_family = int((a >> 8) & 0xf);
  f.family = base_family == 0xf ? base_family + int((a >> 20) & 0xff) : base_family;
  bool osxsave = c & (1u << 27);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  if (!osxsave) return f;
  unsigned xlo, xhi;
  __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  bool ymm_os = (xlo & 0x6) == 0x6;
  bool zmm_os = (xlo & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = ymm_os && (b & (1u << 5));
  if (zmm_os) {
    f.avx512f = b & (1u << 16);
    f.avx512dq = b & (1u << 17);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.avx512vbmi = c & (1u << 1);
    f.avx512vbmi2 = c & (1u << 6);
    f.avx512vnni = c & (1u << 11);
    f.avx512fp16 = d & (1u << 23);
    unsigned a1, b1, c1, d1;
    if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512bf16 = a1 & (1u << 5);
  }
  if (!ymm_os) f.fma = f.f16c = false;
#endif
  return f;
}

Isa best_isa(const CpuFeatures& f) {
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vbmi2 && f.fma && f.f16c) return Isa::avx512;
  if (f.avx2 && f.fma && f.f16c) return Isa::avx2;
  return Isa::portable;
}

Isa initial_isa() {
  Isa isa = best_isa(cpu_features());
  if (const char* env = std::getenv("SPARSEKIT_ISA")) {
    Isa want;
    if (isa_from_name(env, &want) && isa_supported(want)) isa = want;
  }
  return isa;
}

std::atomic<int> g_isa{-1};

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool isa_supported(Isa isa) { return int(isa) <= int(best_isa(cpu_features())); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::portable: return "portable";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "portable";
}

bool isa_from_name(const char* name, Isa* out) {
  for (Isa i : {Isa::portable, Isa::avx2, Isa::avx512}) {
    if (std::strcmp(name, isa_name(i)) == 0) { *out = i; return true; }
  }
  return false;
}

Isa active_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    v = int(initial_isa());
    g_isa.store(v);
  }
  return Isa(v);
}

bool set_active_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  g_isa.store(int(isa));
  return true;
}

}  // namespace sk
