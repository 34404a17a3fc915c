// Binding for native/model: the non-linear transformer pieces. lib/model/ops.ts checks arguments
// first; the size checks here only keep the process safe.
#include <napi.h>

#include <cmath>
#include <memory>

#include "bindings.h"
#include "napi_util.h"
#include "model/transformer.h"

namespace sk::addon {

namespace {

bool fail(Napi::Env env, const std::string& msg, ErrorCode code = ErrorCode::argument) {
  make_error(env, code, msg).ThrowAsJavaScriptException();
  return false;
}

bool get_i64(Napi::Env env, const Napi::Value& v, const char* what, int64_t lo, int64_t hi, int64_t* out) {
  if (!v.IsNumber()) return fail(env, std::string(what) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= double(lo) && d <= double(hi)) || std::floor(d) != d)
    return fail(env, std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
                ErrorCode::shape);
  *out = int64_t(d);
  return true;
}

constexpr int64_t kMaxDim = int64_t(1) << 31;

// Element counts as doubles: a product of integers below 2^53 is exact, and a larger one exceeds
// every buffer anyway, so the comparison below cannot be fooled by overflow.
using Count = double;

// A typed array holding at least `count` elements of `elem` bytes.
bool get_array(Napi::Env env, const Napi::Value& v, const char* what, Count count, size_t elem, void** out) {
  JsBuffer b = buffer_of(v);
  if (!b.ok) return fail(env, std::string(what) + " must be a TypedArray");
  if (double(b.bytes) < count * double(elem)) return fail(env, std::string(what) + " is too small for the given shape", ErrorCode::shape);
  *out = b.data;
  return true;
}

// rmsNorm(x: Float32Array, rows, cols, w, wDtype, eps, out: Float32Array)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows, cols;
  DType wd;
  void *x, *w, *out;
  if (!get_i64(env, info[1], "rows", 0, kMaxDim, &rows) || !get_i64(env, info[2], "cols", 1, kMaxDim, &cols)) return env.Undefined();
  if (!info[4].IsString() || !dtype_from_name(info[4].As<Napi::String>().Utf8Value().c_str(), &wd) || !dtype_is_float(wd)) {
    fail(env, "norm weight dtype must be a float dtype", ErrorCode::dtype);
    return env.Undefined();
  }
  if (!info[5].IsNumber()) { fail(env, "eps must be a number"); return env.Undefined(); }
  if (!get_array(env, info[0], "x", Count(rows) * Count(cols), 4, &x) || !get_array(env, info[3], "w", Count(cols), dtype_size(wd), &w) ||
      !get_array(env, info[6], "out", Count(rows) * Count(cols), 4, &out))
    return env.Undefined();
  model::rms_norm(static_cast<float*>(x), rows, cols, w, wd, info[5].As<Napi::Number>().FloatValue(), static_cast<float*>(out));
  return env.Undefined();
}

// rope(x: Float32Array, rows, heads, headDim, positions: Int32Array, invFreq: Float32Array)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows, heads, hd;
  void *x, *pos, *inv;
  if (!get_i64(env, info[1], "rows", 0, kMaxDim, &rows) || !get_i64(env, info[2], "heads", 1, 1 << 16, &heads) ||
      !get_i64(env, info[3], "headDim", 2, 1 << 16, &hd))
    return env.Undefined();
  if (hd % 2 != 0) { fail(env, "headDim must be even", ErrorCode::shape); return env.Undefined(); }
  if (!get_array(env, info[0], "x", Count(rows) * Count(heads) * Count(hd), 4, &x) || !get_array(env, info[4], "positions", Count(rows), 4, &pos) ||
      !get_array(env, info[5], "invFreq", Count(hd / 2), 4, &inv))
    return env.Undefined();
  model::rope(static_cast<float*>(x), rows, heads, hd, static_cast<const int32_t*>(pos), static_cast<const float*>(inv));
  return env.Undefined();
}

struct AttentionCall {
  model::AttentionShape s;
  const float *q, *k, *v;
  float* out;
  std::vector<Napi::Value> keep;
};

// attention(q, kCache, vCache, out, { batch, tokens, past, capacity, heads, kvHeads, headDim, scale })
bool get_attention(const Napi::CallbackInfo& info, AttentionCall* c) {
  Napi::Env env = info.Env();
  if (!info[4].IsObject()) return fail(env, "attention shape must be an object");
  Napi::Object o = info[4].As<Napi::Object>();
  model::AttentionShape& s = c->s;
  if (!get_i64(env, o.Get("batch"), "batch", 1, kMaxDim, &s.batch) || !get_i64(env, o.Get("tokens"), "tokens", 1, kMaxDim, &s.tokens) ||
      !get_i64(env, o.Get("past"), "past", 0, kMaxDim, &s.past) || !get_i64(env, o.Get("capacity"), "capacity", 1, kMaxDim, &s.capacity) ||
      !get_i64(env, o.Get("heads"), "heads", 1, 1 << 16, &s.heads) || !get_i64(env, o.Get("kvHeads"), "kvHeads", 1, 1 << 16, &s.kv_heads) ||
      !get_i64(env, o.Get("headDim"), "headDim", 1, 1 << 16, &s.head_dim))
    return false;
  if (!o.Get("scale").IsNumber()) return fail(env, "scale must be a number");
  s.scale = o.Get("scale").As<Napi::Number>().FloatValue();
  if (s.heads % s.kv_heads != 0) return fail(env, "heads must be a multiple of kvHeads", ErrorCode::shape);
  if (s.past + s.tokens > s.capacity) return fail(env, "past + tokens exceeds the cache capacity", ErrorCode::shape);
  const Count qn = Count(s.batch) * Count(s.tokens) * Count(s.heads) * Count(s.head_dim);
  const Count kvn = Count(s.batch) * Count(s.capacity) * Count(s.kv_heads) * Count(s.head_dim);
  void *q, *k, *v, *out;
  if (!get_array(env, info[0], "q", qn, 4, &q) || !get_array(env, info[1], "kCache", kvn, 4, &k) ||
      !get_array(env, info[2], "vCache", kvn, 4, &v) || !get_array(env, info[3], "out", qn, 4, &out))
    return false;
  c->q = static_cast<const float*>(q);
  c->k = static_cast<const float*>(k);
  c->v = static_cast<const float*>(v);
  c->out = static_cast<float*>(out);
  for (int i = 0; i < 4; ++i) c->keep.push_back(info[i]);
  return true;
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  AttentionCall c;
  if (get_attention(info, &c)) model::attention(c.q, c.k, c.v, c.s, c.out);
  return info.Env().Undefined();
}

Napi::Value AttentionAsync(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<AttentionCall>();
  if (!get_attention(info, c.get())) return info.Env().Undefined();
  return PromiseWorker::Start(info.Env(), [c] { model::attention(c->q, c->k, c->v, c->s, c->out); return Status::Ok(); }, nullptr, c->keep);
}

// swiglu(gate: Float32Array, up: Float32Array): gate = silu(gate) * up
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  JsBuffer g = buffer_of(info[0]), u = buffer_of(info[1]);
  if (!g.ok || !u.ok) { fail(env, "gate and up must be Float32Arrays"); return env.Undefined(); }
  if (u.bytes < g.bytes) { fail(env, "up is smaller than gate", ErrorCode::shape); return env.Undefined(); }
  model::swiglu(static_cast<float*>(g.data), static_cast<const float*>(u.data), int64_t(g.bytes / 4));
  return env.Undefined();
}

// embed(ids: Int32Array, table, dtype, vocab, cols, out: Float32Array)
Napi::Value Embed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  JsBuffer ids = buffer_of(info[0]);
  int64_t vocab, cols;
  DType dt;
  void *table, *out;
  if (!ids.ok) { fail(env, "ids must be an Int32Array"); return env.Undefined(); }
  const int64_t n = int64_t(ids.bytes / 4);
  if (!info[2].IsString() || !dtype_from_name(info[2].As<Napi::String>().Utf8Value().c_str(), &dt) || !dtype_is_float(dt)) {
    fail(env, "embedding dtype must be a float dtype", ErrorCode::dtype);
    return env.Undefined();
  }
  if (!get_i64(env, info[3], "vocab", 1, kMaxDim, &vocab) || !get_i64(env, info[4], "cols", 1, kMaxDim, &cols) ||
      !get_array(env, info[1], "table", Count(vocab) * Count(cols), dtype_size(dt), &table) ||
      !get_array(env, info[5], "out", Count(n) * Count(cols), 4, &out))
    return env.Undefined();
  Status st = model::embed(static_cast<const int32_t*>(ids.data), n, table, dt, vocab, cols, static_cast<float*>(out));
  if (!st.ok()) throw_status(env, st);
  return env.Undefined();
}

// nll(logits: Float32Array, rows, vocab, targets: Int32Array) -> [sum, count]
Napi::Value Nll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows, vocab;
  void *logits, *targets;
  if (!get_i64(env, info[1], "rows", 0, kMaxDim, &rows) || !get_i64(env, info[2], "vocab", 1, kMaxDim, &vocab) ||
      !get_array(env, info[0], "logits", Count(rows) * Count(vocab), 4, &logits) ||
      !get_array(env, info[3], "targets", Count(rows), 4, &targets))
    return env.Undefined();
  double sum = 0;
  int64_t count = 0;
  Status st = model::nll(static_cast<const float*>(logits), rows, vocab, static_cast<const int32_t*>(targets), &sum, &count);
  if (!st.ok()) { throw_status(env, st); return env.Undefined(); }
  Napi::Array r = Napi::Array::New(env, 2);
  r.Set(uint32_t(0), Napi::Number::New(env, sum));
  r.Set(uint32_t(1), Napi::Number::New(env, double(count)));
  return r;
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  exports.Set("modelRmsNorm", Napi::Function::New(env, RmsNorm));
  exports.Set("modelRope", Napi::Function::New(env, Rope));
  exports.Set("modelAttention", Napi::Function::New(env, Attention));
  exports.Set("modelAttentionAsync", Napi::Function::New(env, AttentionAsync));
  exports.Set("modelSwiglu", Napi::Function::New(env, Swiglu));
  exports.Set("modelEmbed", Napi::Function::New(env, Embed));
  exports.Set("modelNll", Napi::Function::New(env, Nll));
}

}  // namespace sk::addon
