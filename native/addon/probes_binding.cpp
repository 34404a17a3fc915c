// Benchmark probes: measured read bandwidth and FMA peak of this machine (bench/ prints kernel
// numbers as fractions of them). Synchronous on purpose: a probe must own the machine.
#include <napi.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "cpu/probes.h"
#include "napi_util.h"

namespace sk::addon {

namespace {

bool number_arg(const Napi::CallbackInfo& info, size_t i, double lo, double hi, double* out) {
  if (!info[i].IsNumber() || !(info[i].As<Napi::Number>().DoubleValue() >= lo) || !(info[i].As<Napi::Number>().DoubleValue() <= hi)) {
    make_error(info.Env(), ErrorCode::argument, "argument " + std::to_string(i) + " must be a number in [" + std::to_string(lo) +
                                                    ", " + std::to_string(hi) + "]").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::Number>().DoubleValue();
  return true;
}

// probeReadBandwidth(bytes, reps) -> GB/s
Napi::Value ProbeReadBandwidth(const Napi::CallbackInfo& info) {
  double bytes, reps;
  if (!number_arg(info, 0, 1 << 20, double(int64_t(1) << 34), &bytes) || !number_arg(info, 1, 1, 1000, &reps)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), probe_read_bandwidth(size_t(bytes), int(reps)));
}

// probeReadBuffers(buffers, reps) -> GB/s: the read probe over the caller's TypedArrays / ArrayBuffers.
Napi::Value ProbeReadBuffers(const Napi::CallbackInfo& info) {
  double reps;
  if (!info[0].IsArray()) {
    make_error(info.Env(), ErrorCode::argument, "buffers must be an array of TypedArrays or ArrayBuffers").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  if (!number_arg(info, 1, 1, 1000, &reps)) return info.Env().Undefined();
  const Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<ProbeSpan> spans;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const JsBuffer b = buffer_of(arr.Get(i));
    if (!b.ok) {
      make_error(info.Env(), ErrorCode::argument, "buffers[" + std::to_string(i) + "] must be a TypedArray or an ArrayBuffer").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    spans.push_back({b.data, b.bytes});
  }
  return Napi::Number::New(info.Env(), probe_read_spans(spans.data(), spans.size(), int(reps)));
}

// probeFmaPeak(iters, reps) -> GFLOP/s
Napi::Value ProbeFmaPeak(const Napi::CallbackInfo& info) {
  double iters, reps;
  if (!number_arg(info, 0, 1, 1e10, &iters) || !number_arg(info, 1, 1, 1000, &reps)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), probe_fma_peak(int64_t(iters), int(reps)));
}

// probeBf16DotPeak(iters, reps) -> GFLOP/s (0 without AVX512-BF16)
Napi::Value ProbeBf16DotPeak(const Napi::CallbackInfo& info) {
  double iters, reps;
  if (!number_arg(info, 0, 1, 1e10, &iters) || !number_arg(info, 1, 1, 1000, &reps)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), probe_bf16_dot_peak(int64_t(iters), int(reps)));
}

}  // namespace

void register_probes(Napi::Env env, Napi::Object exports) {
  exports.Set("probeReadBandwidth", Napi::Function::New(env, ProbeReadBandwidth));
  exports.Set("probeReadBuffers", Napi::Function::New(env, ProbeReadBuffers));
  exports.Set("probeFmaPeak", Napi::Function::New(env, ProbeFmaPeak));
  exports.Set("probeBf16DotPeak", Napi::Function::New(env, ProbeBf16DotPeak));
}

}  // namespace sk::addon
