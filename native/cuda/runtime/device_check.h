// What the host checks about the driver and a device before anything runs, as plain functions
// (no CUDA dependency; unit-tested in native/test/cuda_route_test.cpp):
//  - whether the installed driver can run the CUDA runtime this library was built with, and if
//    not, a reason that says which CUDA version the driver supports and what is needed;
//  - whether a device's compute capability has a kernel image among the architectures the
//    library was built for, by CUDA's compatibility rules, and which image it runs.
// api.cu calls them with cudaDriverGetVersion, CUDART_VERSION and the CMake architecture list.
#pragma once
#include <cstdlib>
#include <cstring>
#include <string>

namespace sk::cuda {

// CUDA versions as cudaDriverGetVersion / CUDART_VERSION give them: 1000 * major + 10 * minor.
inline std::string cuda_version_name(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

// The oldest Linux driver of each CUDA major (NVIDIA's CUDA toolkit release notes, "CUDA Toolkit
// and Minimum Required Driver Version for CUDA Minor Version Compatibility"): a runtime of CUDA
// X.y runs on any driver of the X.0 branch or newer.
inline const char* min_driver_for(int cuda_version) {
  const int major = cuda_version / 1000;
  return major >= 13 ? "580" : major == 12 ? "525" : major == 11 ? "450" : "?";
}

// "" when a driver reporting `driver_version` runs a runtime built as `build_version` (same or newer
// major: minor-version compatibility); otherwise what to do about it.
inline std::string driver_mismatch_reason(int driver_version, int build_version) {
  if (driver_version > 0 && driver_version / 1000 >= build_version / 1000) return "";
  const std::string need = "this libsparsekit_cuda was built with CUDA " + cuda_version_name(build_version) +
                           ", whose runtime needs a driver for CUDA " + std::to_string(build_version / 1000) +
                           ".0 or newer (Linux driver R" + min_driver_for(build_version) + "+)";
  const std::string have = driver_version > 0 ? "the installed NVIDIA driver supports CUDA " + cuda_version_name(driver_version) +
                                                    " (R" + min_driver_for(driver_version) + " branch or newer)"
                                              : "no NVIDIA driver answers (cudaDriverGetVersion = 0)";
  std::string fix = "update the driver";
  if (driver_version >= 12000)
    fix += ", or rebuild against a CUDA " + std::to_string(driver_version / 1000) +
           " toolkit (12.5 or newer; CUDACXX=/usr/local/cuda-12.x/bin/nvcc npm run build:cuda, docs/cuda.md)";
  return have + "; " + need + ": " + fix;
}

// The kernel image a device of compute capability major.minor runs from a build for `archs`
// (CMake's CUDA_ARCHITECTURES, space- or semicolon-separated: "80-real" = SASS only, "90-virtual" =
// PTX only, "90" = both). CUDA's rules: SASS for sm_XY runs on X.Z for Z >= Y (same major); PTX
// for compute_XY is JIT-compiled by the driver for any X.Y or newer. SASS is preferred, the newest
// that fits. Returns e.g. "sm_86 SASS", "compute_90 PTX (JIT-compiled by the driver on first use)",
// or "" when nothing runs.
inline std::string kernel_image_for(int major, int minor, const char* archs) {
  const int cc = major * 10 + minor;
  int best_sass = -1, best_ptx = -1;
  for (const char* p = archs; *p;) {
    while (*p == ' ' || *p == ';') ++p;
    if (!*p) break;
    char* end = nullptr;
    const long a = std::strtol(p, &end, 10);
    if (end == p) { ++p; continue; }
    const std::string suffix(end, std::strcspn(end, " ;"));
    p = end + suffix.size();
    const bool sass = suffix != "-virtual", ptx = suffix != "-real";
    if (sass && a / 10 == major && a <= cc && a > best_sass) best_sass = int(a);
    if (ptx && a <= cc && a > best_ptx) best_ptx = int(a);
  }
  if (best_sass >= 0) return "sm_" + std::to_string(best_sass) + " SASS";
  if (best_ptx >= 0) return "compute_" + std::to_string(best_ptx) + " PTX (JIT-compiled by the driver on first use)";
  return "";
}

}  // namespace sk::cuda
