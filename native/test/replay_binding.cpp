// The test-only addon (build/Release/sparsekit_test.node): the whole binding plus the CPU replay of
// the CUDA kernels (native/cuda/replay/), so vitest can check the kernels on machines without a
// GPU. binding.gyp builds it only in a source checkout; it is never shipped.
#include <napi.h>

#include "addon/bindings.h"
#include "addon/napi_util.h"
#include "cuda/replay/replay.h"

namespace sk::addon {

namespace {

Napi::Value throw_error(Napi::Env env, ErrorCode code, const std::string& msg) {
  make_error(env, code, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// cudaReplay(desc, x: [N,K] 16-bit, n, kernel, splitK, bn, outDtype?, { xDtype?, mutation?, slorb?, bias?, biasDtype? }?)
// -> Float32Array [N, M] (a 16-bit outDtype gives the values the reduction kernel would store,
// widened). xDtype: the activations' dtype for the int4 kernels; mutation: Q4Mutation (tests only);
// slorb: the weight's SLoRB term (get_slorb_term), added as the launcher does; bias: [M].
Napi::Value CudaReplay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MatrixView a;
  if (!get_matrix(env, info[0], &a, nullptr)) return env.Undefined();
  JsBuffer x = buffer_of(info[1]);
  cuda::GpuKernel kernel;
  if (!x.ok || !info[2].IsNumber() || !info[3].IsString() || !info[4].IsNumber() || !info[5].IsNumber() ||
      !cuda::gpu_kernel_from_name(info[3].As<Napi::String>().Utf8Value().c_str(), &kernel))
    return throw_error(env, ErrorCode::argument, "cudaReplay(desc, x, n, 'tiled-csl'|'bitmap'|'sp24'|'sp24-k32'|'q4-dense'|'q4-sp24', splitK, bn, outDtype?, options?)");
  const int64_t n = info[2].As<Napi::Number>().Int64Value();
  if (n < 0 || x.bytes < size_t(n * a.cols) * 2) return throw_error(env, ErrorCode::shape, "cudaReplay: x is smaller than [n, K]");
  Napi::Float32Array y = Napi::Float32Array::New(env, size_t(n * a.rows));
  cuda::ReplayOptions opt;
  opt.kernel = kernel;
  opt.split_k = info[4].As<Napi::Number>().Int32Value();
  opt.bn = info[5].As<Napi::Number>().Int32Value();
  if (info.Length() > 6 && !info[6].IsUndefined() &&
      (!info[6].IsString() || !dtype_from_name(info[6].As<Napi::String>().Utf8Value().c_str(), &opt.out_dtype)))
    return throw_error(env, ErrorCode::dtype, "cudaReplay: outDtype must be 'float32', 'float16' or 'bfloat16'");
  if (info.Length() > 7 && info[7].IsObject()) {
    Napi::Object o = info[7].As<Napi::Object>();
    if (o.Get("xDtype").IsString() && !dtype_from_name(o.Get("xDtype").As<Napi::String>().Utf8Value().c_str(), &opt.x_dtype))
      return throw_error(env, ErrorCode::dtype, "cudaReplay: xDtype must be 'float16' or 'bfloat16'");
    if (o.Get("mutation").IsNumber()) opt.q4_mutation = o.Get("mutation").As<Napi::Number>().Int32Value();
    // The launcher's epilogue: SLoRB's term (as the weight carries it) and a bias [M].
    SlorbTermArgs term;
    if (!get_slorb_term(env, o.Get("slorb"), a.rows, a.cols, &term, nullptr)) return env.Undefined();
    opt.slorb = {term.group, term.scales.data, term.scales.dtype, term.row_scales.data, term.row_scales.dtype, term.proj.data, term.proj.dtype};
    Napi::Value bias = o.Get("bias");
    if (!bias.IsNull() && !bias.IsUndefined()) {
      JsBuffer b = buffer_of(bias);
      if (!o.Get("biasDtype").IsString() || !dtype_from_name(o.Get("biasDtype").As<Napi::String>().Utf8Value().c_str(), &opt.bias_dtype) ||
          !dtype_is_float(opt.bias_dtype))
        return throw_error(env, ErrorCode::dtype, "cudaReplay: biasDtype must be 'float32', 'float16' or 'bfloat16'");
      if (!b.ok || b.bytes < size_t(a.rows) * dtype_size(opt.bias_dtype)) return throw_error(env, ErrorCode::shape, "cudaReplay: bias must hold [M] values");
      opt.bias = b.data;
    }
  }
  Status st = cuda::replay_spmm(a, static_cast<const uint16_t*>(x.data), n, opt, y.Data());
  if (!st.ok()) return throw_error(env, st.code, st.message);
  return y;
}

}  // namespace

void register_replay(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaReplay", Napi::Function::New(env, CudaReplay));
}

}  // namespace sk::addon
