// SLoRB's added term (cpu/slorb.h): slorbAdd(args) and slorbAddAsync(args), args an object whose
// buffer sizes are all checked against the shapes and strides here, before native code reads them.
#include <napi.h>

#include <cmath>
#include <memory>

#include "bindings.h"
#include "solvers/slorb.h"
#include "napi_util.h"

namespace sk::addon {

namespace {

struct SlorbCall {
  SlorbArgs args;
  std::vector<Napi::Value> keep;
};

bool bad(Napi::Env env, ErrorCode code, const std::string& msg) {
  make_error(env, code, "slorb: " + msg).ThrowAsJavaScriptException();
  return false;
}

bool int_field(Napi::Env env, const Napi::Object& o, const char* key, int64_t lo, int64_t* out) {
  Napi::Value v = o.Get(key);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= double(lo) && d <= double(int64_t(1) << 50)) || std::floor(d) != d)
    return bad(env, ErrorCode::shape, std::string(key) + " must be an integer >= " + std::to_string(lo));
  *out = int64_t(d);
  return true;
}

bool dtype_field(Napi::Env env, const Napi::Object& o, const char* key, DType* out, bool int8_too = false) {
  Napi::Value v = o.Get(key);
  if (!v.IsString() || !dtype_from_name(v.As<Napi::String>().Utf8Value().c_str(), out) ||
      !(dtype_is_float(*out) || (int8_too && *out == DType::i8)))
    return bad(env, ErrorCode::dtype, std::string(key) + " must be float32, float16 or bfloat16" + (int8_too ? " or int8" : ""));
  return true;
}

// A buffer field holding at least `elements` values of `t` (elements = 1 + the largest index read).
bool buffer_field(Napi::Env env, const Napi::Object& o, const char* key, DType t, uint64_t elements, const void** out,
                  std::vector<Napi::Value>* keep) {
  Napi::Value v = o.Get(key);
  JsBuffer b = buffer_of(v);
  if (!b.ok) return bad(env, ErrorCode::argument, std::string(key) + " must be a TypedArray or ArrayBuffer");
  if (b.bytes / dtype_size(t) < elements)
    return bad(env, ErrorCode::shape, std::string(key) + " holds " + std::to_string(b.bytes / dtype_size(t)) + " values, needs " +
                                          std::to_string(elements));
  *out = b.data;
  if (keep) keep->push_back(v);
  return true;
}

}  // namespace

bool get_slorb(Napi::Env env, const Napi::Value& v, SlorbArgs* args, std::vector<Napi::Value>* keep) {
  if (!v.IsObject()) return bad(env, ErrorCode::argument, "expected an arguments object");
  Napi::Object o = v.As<Napi::Object>();
  SlorbArgs& a = *args;
  if (!int_field(env, o, "rows", 0, &a.rows) || !int_field(env, o, "cols", 0, &a.cols) || !int_field(env, o, "groups", 0, &a.groups) ||
      !int_field(env, o, "groupSize", 1, &a.group_size) || !int_field(env, o, "n", 0, &a.n) ||
      !int_field(env, o, "xTokStride", 0, &a.x_tok_stride) || !int_field(env, o, "xFeatStride", 0, &a.x_feat_stride) ||
      !int_field(env, o, "outTokStride", 0, &a.out_tok_stride) || !int_field(env, o, "outRowStride", 0, &a.out_row_stride) ||
      !dtype_field(env, o, "scalesDtype", &a.scales_dtype, true) || !dtype_field(env, o, "xDtype", &a.x_dtype) ||
      !dtype_field(env, o, "outDtype", &a.out_dtype))
    return false;
  if (a.rows > (int64_t(1) << 31) || a.cols > (int64_t(1) << 31) || a.groups > a.cols || a.n > (int64_t(1) << 31))
    return bad(env, ErrorCode::shape, "sizes out of range");
  const bool empty = a.rows == 0 || a.n == 0;
  const uint64_t x_last = empty || a.cols == 0 ? 0 : uint64_t((a.n - 1) * a.x_tok_stride + (a.cols - 1) * a.x_feat_stride) + 1;
  const uint64_t out_last = empty ? 0 : uint64_t((a.n - 1) * a.out_tok_stride + (a.rows - 1) * a.out_row_stride) + 1;
  const void* base = nullptr;
  const void* out = nullptr;
  if (!buffer_field(env, o, "scales", a.scales_dtype, uint64_t(a.rows * a.groups), &a.scales, keep) ||
      !buffer_field(env, o, "x", a.x_dtype, x_last, &a.x, keep) ||
      !buffer_field(env, o, "base", DType::f32, out_last, &base, keep) ||
      !buffer_field(env, o, "out", a.out_dtype, out_last, &out, keep))
    return false;
  a.base = static_cast<float*>(const_cast<void*>(base));
  a.out = const_cast<void*>(out);
  // int8 scales come with one float scale per row, and only they do.
  Napi::Value rs = o.Get("rowScales");
  const bool has_rs = !rs.IsNull() && !rs.IsUndefined();
  if (has_rs != (a.scales_dtype == DType::i8)) return bad(env, ErrorCode::argument, "rowScales must be given exactly when scales are int8");
  if (has_rs && (!dtype_field(env, o, "rowScalesDtype", &a.row_scales_dtype) ||
                 !buffer_field(env, o, "rowScales", a.row_scales_dtype, uint64_t(a.rows), &a.row_scales, keep)))
    return false;
  Napi::Value p = o.Get("proj");
  if (!p.IsNull() && !p.IsUndefined()) {
    if (!dtype_field(env, o, "projDtype", &a.proj_dtype) ||
        !buffer_field(env, o, "proj", a.proj_dtype, uint64_t(a.groups * a.cols), &a.proj, keep))
      return false;
  }
  return true;
}

bool get_slorb_term(Napi::Env env, const Napi::Value& v, int64_t rows, int64_t cols, SlorbTermArgs* t, std::vector<Napi::Value>* keep) {
  *t = SlorbTermArgs{};
  if (v.IsNull() || v.IsUndefined()) return true;
  if (!v.IsObject()) return bad(env, ErrorCode::argument, "expected a term object");
  Napi::Object o = v.As<Napi::Object>();
  if (!int_field(env, o, "groupSize", 1, &t->group)) return false;
  if (cols % t->group != 0)
    return bad(env, ErrorCode::shape, "groupSize " + std::to_string(t->group) + " does not divide the " + std::to_string(cols) + " columns");
  const uint64_t G = uint64_t(cols / t->group);
  const auto field = [&](const char* key, const char* dtype_key, bool int8_too, uint64_t elements, SlorbTermArgs::Buf* b) {
    if (!dtype_field(env, o, dtype_key, &b->dtype, int8_too) || !buffer_field(env, o, key, b->dtype, elements, &b->data, keep)) return false;
    b->bytes = size_t(elements) * dtype_size(b->dtype);
    b->present = true;
    return true;
  };
  if (!field("scales", "scalesDtype", true, uint64_t(rows) * G, &t->scales)) return false;
  Napi::Value rs = o.Get("rowScales");
  const bool has_rs = !rs.IsNull() && !rs.IsUndefined();
  if (has_rs != (t->scales.dtype == DType::i8)) return bad(env, ErrorCode::argument, "rowScales must be given exactly when scales are int8");
  if (has_rs && !field("rowScales", "rowScalesDtype", false, uint64_t(rows), &t->row_scales)) return false;
  Napi::Value p = o.Get("proj");
  if (!p.IsNull() && !p.IsUndefined() && !field("proj", "projDtype", false, G * uint64_t(cols), &t->proj)) return false;
  return true;
}

namespace {

bool get_call(const Napi::CallbackInfo& info, SlorbCall* c) { return get_slorb(info.Env(), info[0], &c->args, &c->keep); }

Napi::Value SlorbAdd(const Napi::CallbackInfo& info) {
  SlorbCall c;
  if (!get_call(info, &c)) return info.Env().Undefined();
  Status st = slorb_add(c.args);
  if (!st.ok()) throw_status(info.Env(), st);
  return info.Env().Undefined();
}

Napi::Value SlorbAddAsync(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<SlorbCall>();
  if (!get_call(info, c.get())) return info.Env().Undefined();
  return PromiseWorker::Start(info.Env(), [c] { return slorb_add(c->args); }, nullptr, c->keep);
}

}  // namespace

void register_slorb(Napi::Env env, Napi::Object exports) {
  exports.Set("slorbAdd", Napi::Function::New(env, SlorbAdd));
  exports.Set("slorbAddAsync", Napi::Function::New(env, SlorbAddAsync));
}

}  // namespace sk::addon
