// Each area of the binding registers its functions from its own file; addon.cpp calls them all.
#pragma once
#include <napi.h>

#include <vector>

#include "formats/sparse_matrix.h"
#include "solvers/slorb.h"

namespace sk::addon {

void register_core(Napi::Env env, Napi::Object exports);  // addon.cpp: tensors, formats, spmm, runtime
void register_probes(Napi::Env env, Napi::Object exports);  // probes_binding.cpp: bench probes
void register_io(Napi::Env env, Napi::Object exports);    // io_binding.cpp: safetensors files
void register_cuda(Napi::Env env, Napi::Object exports);  // cuda_bridge.cpp: GPU library, devices
void register_replay(Napi::Env env, Napi::Object exports);  // test/replay_binding.cpp (test addon only)
void register_solvers(Napi::Env env, Napi::Object exports);  // solvers_binding.cpp: CalibrationStats, prune.*
void register_slorb(Napi::Env env, Napi::Object exports);  // slorb_binding.cpp: SLoRB's low-rank term
void register_model(Napi::Env env, Napi::Object exports);    // model_binding.cpp: RMSNorm, rope, attention, ...
void register_matrix(Napi::Env env, Napi::Object exports);   // matrix_binding.cpp: SparseMatrix storage

// A JS matrix descriptor as a view (matrix_binding.cpp): { handle } of a native-owned packed
// matrix, or a dense weight's JS values. Throws and returns false on bad input. With `keep` (async
// work), what keeps the bytes alive until the work settles is appended to it.
bool get_matrix(Napi::Env env, const Napi::Value& v, MatrixView* a, std::vector<Napi::Value>* keep);
// SLoRB term arguments (slorb_binding.cpp): every buffer checked against the shapes and strides;
// what keeps them alive is appended to `keep`. Throws and returns false on bad input.
bool get_slorb(Napi::Env env, const Napi::Value& v, SlorbArgs* a, std::vector<Napi::Value>* keep);
// A SLoRB term as a weight carries it (the GPU upload and its CPU replay; slorb_binding.cpp): the
// object { groupSize, scales, scalesDtype, rowScales?, rowScalesDtype, proj?, projDtype } with
// every buffer checked to hold its shape for a [rows, cols] weight; `bytes` is exactly that shape's
// size. Null / undefined is no term (group 0). Throws and returns false on bad input.
struct SlorbTermArgs {
  struct Buf {
    const void* data = nullptr;
    size_t bytes = 0;
    DType dtype = DType::f32;
    bool present = false;  // given (data may be null when it holds no element)
  };
  int64_t group = 0;
  Buf scales, row_scales, proj;
};
bool get_slorb_term(Napi::Env env, const Napi::Value& v, int64_t rows, int64_t cols, SlorbTermArgs* t, std::vector<Napi::Value>* keep);
// Moves a packed matrix into native-owned storage: { handle, partBytes, nnz, derivedBytes } (matrix_binding.cpp).
Napi::Value wrap_packed(Napi::Env env, PackedMatrix&& pm);
// A descriptor's `quant`: undefined / null (float values) or { bits, groupSize, symmetric }
// (addon.cpp). Throws and returns false on bad input.
bool get_quant(Napi::Env env, const Napi::Value& v, QuantSpec* q);
// Copies `src`'s parts into native-owned storage and validates the copy (copy_validated); throws
// the validation error (or ERR_MEMORY) and returns undefined when it fails.
Napi::Value wrap_validated_copy(Napi::Env env, const MatrixView& src);

}  // namespace sk::addon
