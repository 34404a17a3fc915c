// What this CPU can run, and which kernel ISA the dispatch tables use (overridable: SPARSEKIT_ISA).
#pragma once

namespace sk {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512bf16 = false, avx512vbmi = false, avx512vbmi2 = false, avx512fp16 = false, avx512vnni = false;
  // The x86 vendor ("amd", "intel", or "other") and display family (cpuid leaf 1: base family plus
  // extended family when the base is 0xF; 0 off x86): the cost model's constants differ between
  // microarchitectures that run the same kernels (lib/cost-model.ts).
  const char* vendor = "other";
  int family = 0;
};

enum class Isa { portable = 0, avx2 = 1, avx512 = 2 };

const CpuFeatures& cpu_features();
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);
bool isa_from_name(const char* name, Isa* out);

// The ISA chosen at load: the best supported one, or SPARSEKIT_ISA when that is supported.
Isa active_isa();
// Tests use this to run every variant the machine supports; returns false if unsupported.
bool set_active_isa(Isa isa);

}  // namespace sk
