// Small helpers for the binding: typed-array access, error mapping, and a Promise worker that keeps
// its JS inputs alive while native code runs on a libuv thread.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace sk::addon {

// Throws a JS Error whose `code` is the stable sparsekit code; lib/errors.ts maps it to a class.
inline Napi::Error make_error(Napi::Env env, ErrorCode code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, error_code_name(code)));
  return e;
}
inline void throw_status(Napi::Env env, const Status& st) { make_error(env, st.code, st.message).ThrowAsJavaScriptException(); }

struct JsBuffer {
  void* data = nullptr;
  size_t bytes = 0;
  bool ok = false;
};

// A TypedArray (over an ArrayBuffer or a SharedArrayBuffer) or an ArrayBuffer, as bytes. The data
// pointer comes from napi_get_typedarray_info itself: going through the view's ArrayBuffer object
// would fail for a SharedArrayBuffer, and a failed node-addon-api call aborts the process.
inline JsBuffer buffer_of(const Napi::Value& v) {
  JsBuffer b;
  if (v.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(v.Env(), v, &type, &length, &data, nullptr, &offset) != napi_ok) return b;
    b.data = data;
    b.bytes = length * v.As<Napi::TypedArray>().ElementSize();
    b.ok = true;
  } else if (v.IsArrayBuffer()) {
    size_t bytes = 0;
    void* data = nullptr;
    if (napi_get_arraybuffer_info(v.Env(), v, &data, &bytes) != napi_ok) return b;
    b.data = data;
    b.bytes = bytes;
    b.ok = true;
  }
  return b;
}

// Moves a byte vector into a JS ArrayBuffer without copying; V8 is told about the memory.
inline Napi::ArrayBuffer adopt_bytes(Napi::Env env, std::vector<uint8_t>&& bytes) {
  if (bytes.empty()) return Napi::ArrayBuffer::New(env, 0);
  auto* owner = new std::vector<uint8_t>(std::move(bytes));
  const int64_t size = int64_t(owner->size());
  Napi::MemoryManagement::AdjustExternalMemory(env, size);
  return Napi::ArrayBuffer::New(env, owner->data(), owner->size(), [](Napi::Env env, void*, std::vector<uint8_t>* o) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -int64_t(o->size()));
    delete o;
  }, owner);
}

// Runs `work` off the event loop and settles a Promise with `result(env)` or the Status error.
// Every JS object in `keep_alive` stays referenced until the Promise settles (Node-API only
// references objects, so pass the objects that own native resources, or use `done`). `done`, if
// given, runs on the JS thread when the work has finished, before the Promise settles, whatever
// the outcome: cuda_bridge.cpp releases its in-flight pins there.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Status()>;
  using Result = std::function<Napi::Value(Napi::Env)>;
  using Done = std::function<void(Napi::Env)>;

  static Napi::Promise Start(Napi::Env env, Work work, Result result, const std::vector<Napi::Value>& keep_alive,
                             Done done = nullptr) {
    auto* w = new PromiseWorker(env, std::move(work), std::move(result), keep_alive);
    w->done_ = std::move(done);
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      status_ = work_();
    } catch (const std::bad_alloc&) {
      status_ = Status::Error(ErrorCode::memory, "out of host memory");
    } catch (const std::exception& e) {
      status_ = Status::Error(ErrorCode::internal, e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (done_) done_(env);
    if (!status_.ok()) {
      deferred_.Reject(make_error(env, status_.code, status_.message).Value());
      return;
    }
    Napi::Value v = result_ ? result_(env) : env.Undefined();
    if (env.IsExceptionPending()) deferred_.Reject(env.GetAndClearPendingException().Value());
    else deferred_.Resolve(v);
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Result result, const std::vector<Napi::Value>& keep_alive)
      : Napi::AsyncWorker(env, "sparsekit"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), result_(std::move(result)) {
    for (const auto& v : keep_alive)
      if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Result result_;
  Done done_;
  Status status_;
  std::vector<Napi::ObjectReference> refs_;
};

}  // namespace sk::addon
