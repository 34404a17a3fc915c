// Each area of the binding registers its functions from its own file; addon.cpp calls them all.
#pragma once
#include <napi.h>

#include <vector>

#include "formats/sparse_matrix.h"

namespace sk::addon {

void register_core(Napi::Env env, Napi::Object exports);  // addon.cpp: tensors, formats, spmm, runtime
void register_probes(Napi::Env env, Napi::Object exports);  // probes_binding.cpp: bench probes
void register_io(Napi::Env env, Napi::Object exports);    // io_binding.cpp: safetensors files
void register_cuda(Napi::Env env, Napi::Object exports);  // cuda_bridge.cpp: GPU library, devices
void register_replay(Napi::Env env, Napi::Object exports);  // test/replay_binding.cpp (test addon only)
void register_solvers(Napi::Env env, Napi::Object exports);  // solvers_binding.cpp: CalibrationStats, prune.*
void register_slorb(Napi::Env env, Napi::Object exports);  // slorb_binding.cpp: SLoRB's low-rank term
void register_model(Napi::Env env, Napi::Object exports);    // model_binding.cpp: RMSNorm, rope, attention, ...

// A JS matrix descriptor as a view (addon.cpp); throws and returns false on bad input. The JS
// buffers it points into are appended to `keep` when given.
bool get_matrix(Napi::Env env, const Napi::Value& v, MatrixView* a, std::vector<Napi::Value>* keep);

}  // namespace sk::addon
