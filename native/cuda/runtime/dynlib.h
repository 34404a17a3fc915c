// Finding and opening NVIDIA's math libraries at run time: their absence is a capability, not an
// error, so nothing links against them.
#pragma once
#include <string>
#include <vector>

namespace sk::cuda {

struct DynLib {
  void* handle = nullptr;
  std::string path;  // what was opened
  std::string why;   // when not opened: every place tried and what went wrong
  void* symbol(const char* name, std::string* missing) const;
  // fn = the entry point `name` (declared by hand from NVIDIA's docs), or null with name added to *missing.
  template <class T> void bind(T*& fn, const char* name, std::string* missing) const {
    fn = reinterpret_cast<T*>(symbol(name, missing));
  }
};

// Search order: the env variable `override_env` (a full path), then the bare sonames (the dynamic
// loader's own search: LD_LIBRARY_PATH, rpath, ld.so.cache), then $CUDA_PATH and $CUDA_HOME
// (lib64, lib), the pip wheel folders site-packages/nvidia/<pip_dirs>/lib of the active virtualenv,
// conda env, ~/.local and /usr(/local), and finally /usr/local/cuda/lib64.
DynLib open_library(const std::vector<std::string>& sonames, const char* override_env,
                    const std::vector<std::string>& pip_dirs);

}  // namespace sk::cuda
