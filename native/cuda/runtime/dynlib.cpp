#include "dynlib.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>

namespace sk::cuda {

void* DynLib::symbol(const char* name, std::string* missing) const {
  void* p = handle ? dlsym(handle, name) : nullptr;
  if (!p && missing) *missing += std::string(missing->empty() ? "" : ", ") + name;
  return p;
}

namespace {

std::vector<std::string> candidate_dirs(const std::vector<std::string>& pip_dirs) {
  std::vector<std::string> dirs;
  for (const char* env : {"CUDA_PATH", "CUDA_HOME"})
    if (const char* v = std::getenv(env); v && *v) {
      dirs.push_back(std::string(v) + "/lib64");
      dirs.push_back(std::string(v) + "/lib");
    }
  std::vector<std::string> prefixes;
  for (const char* env : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* v = std::getenv(env); v && *v) prefixes.push_back(v);
  if (const char* home = std::getenv("HOME"); home && *home) prefixes.push_back(std::string(home) + "/.local");
  prefixes.push_back("/usr/local");
  prefixes.push_back("/usr");
  for (const std::string& prefix : prefixes)
    for (const std::string& sub : pip_dirs)
      for (const char* pkgs : {"site-packages", "dist-packages"}) {
        const std::string pattern = prefix + "/lib/python3*/" + pkgs + "/nvidia/" + sub + "/lib";
        glob_t g{};
        if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
          for (size_t i = 0; i < g.gl_pathc; ++i) dirs.push_back(g.gl_pathv[i]);
        globfree(&g);
      }
  dirs.push_back("/usr/local/cuda/lib64");
  return dirs;
}

}  // namespace

DynLib open_library(const std::vector<std::string>& sonames, const char* override_env, const std::vector<std::string>& pip_dirs) {
  DynLib lib;
  std::vector<std::string> tries;
  if (const char* v = std::getenv(override_env); v && *v) tries.push_back(v);
  for (const std::string& s : sonames) tries.push_back(s);
  for (const std::string& d : candidate_dirs(pip_dirs))
    for (const std::string& s : sonames) tries.push_back(d + "/" + s);
  for (const std::string& path : tries) {
    lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib.handle) {
      lib.path = path;
      lib.why.clear();
      return lib;
    }
    const char* err = dlerror();
    if (lib.why.size() < 1500) lib.why += (lib.why.empty() ? "" : "; ") + std::string(err ? err : path.c_str());
  }
  lib.why = "not found (set " + std::string(override_env) + " to its path): " + lib.why;
  return lib;
}

}  // namespace sk::cuda
