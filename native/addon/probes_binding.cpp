// Benchmark probes: measured read bandwidth and FMA peak of this machine (bench/ prints kernel
// numbers as fractions of them). Synchronous on purpose: a probe must own the machine.
#include <napi.h>

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
  exports.Set("probeFmaPeak", Napi::Function::New(env, ProbeFmaPeak));
  exports.Set("probeBf16DotPeak", Napi::Function::New(env, ProbeBf16DotPeak));
}

}  // namespace sk::addon
