// Each area of the binding registers its functions from its own file; addon.cpp calls them all.
#pragma once
#include <napi.h>

namespace sk::addon {

void register_core(Napi::Env env, Napi::Object exports);  // addon.cpp: tensors, formats, spmm, runtime
void register_probes(Napi::Env env, Napi::Object exports);  // probes_binding.cpp: bench probes
void register_io(Napi::Env env, Napi::Object exports);    // io_binding.cpp: safetensors files
void register_solvers(Napi::Env env, Napi::Object exports);  // solvers_binding.cpp: CalibrationStats, prune.*

}  // namespace sk::addon
