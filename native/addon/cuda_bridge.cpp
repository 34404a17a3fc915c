// The GPU side of the binding: finds libsparsekit_cuda.so at run time (the default CPU build never
// links CUDA), reports devices and libraries, moves device buffers and runs device SpMM. (The CPU
// replay of the CUDA kernels lives in the test-only addon: native/test/replay_binding.cpp.)
#include <napi.h>
#if defined(_WIN32)
// The CUDA library is Linux-only for now; the loader reports that instead of failing to build.
#define RTLD_NOW 0
#define RTLD_LOCAL 0
static void* dlopen(const char*, int) { return nullptr; }
static const char* dlerror() { return "loading libsparsekit_cuda is not supported on Windows yet"; }
static void* dlsym(void*, const char*) { return nullptr; }
static int dlclose(void*) { return 0; }
#else
#include <dlfcn.h>
#endif

#include <memory>
#include <mutex>
#include <string>

#include "bindings.h"
#include "cuda/runtime/cuda_api.h"
#include "napi_util.h"

namespace sk::addon {

namespace {

struct Loaded {
  std::mutex mu;
  const SkCudaApi* api = nullptr;
  std::string path, reason = "libsparsekit_cuda was not looked for yet";
};
Loaded& loaded() {
  static Loaded l;
  return l;
}

Napi::Value throw_error(Napi::Env env, ErrorCode code, const std::string& msg) {
  make_error(env, code, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

const SkCudaApi* api_or_throw(Napi::Env env) {
  Loaded& l = loaded();
  std::lock_guard<std::mutex> lock(l.mu);
  if (!l.api) throw_error(env, ErrorCode::device, "no CUDA support: " + l.reason);
  return l.api;
}

Status to_status(const SkCudaStatus& st) { return st.code ? Status::Error(ErrorCode(st.code), st.message) : Status::Ok(); }

// cudaLoad(paths: string[]) -> { loaded, path, reason, build }
Napi::Value CudaLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded& l = loaded();
  std::lock_guard<std::mutex> lock(l.mu);
  if (!l.api && info[0].IsArray()) {
    Napi::Array paths = info[0].As<Napi::Array>();
    std::string tried;
    for (uint32_t i = 0; i < paths.Length() && !l.api; ++i) {
      const std::string p = paths.Get(i).ToString().Utf8Value();
      void* h = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        const char* e = dlerror();
        tried += "\n  " + (e ? std::string(e) : p + ": cannot open");
        continue;
      }
      auto fn = reinterpret_cast<SkCudaApiFn>(dlsym(h, "sparsekit_cuda_api"));
      const SkCudaApi* api = fn ? fn() : nullptr;
      if (!api || api->abi_version != SK_CUDA_ABI_VERSION) {
        tried += "\n  " + p + ": not a compatible libsparsekit_cuda (ABI " + std::to_string(api ? api->abi_version : -1) +
                 ", need " + std::to_string(SK_CUDA_ABI_VERSION) + ")";
        dlclose(h);
        continue;
      }
      l.api = api;
      l.path = p;
    }
    if (!l.api)
      l.reason = "sparsekit was installed without its CUDA library (run `npm run build:cuda` on a machine with nvcc, "
                 "or set SPARSEKIT_CUDA_LIB); looked in:" + tried;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("loaded", l.api != nullptr);
  o.Set("path", l.api ? Napi::Value(Napi::String::New(env, l.path)) : env.Null());
  o.Set("reason", l.api ? env.Null() : Napi::Value(Napi::String::New(env, l.reason)));
  o.Set("build", l.api ? Napi::Value(Napi::String::New(env, l.api->build)) : env.Null());
  return o;
}

Napi::Value str_or_null(Napi::Env env, const char* s) { return *s ? Napi::Value(Napi::String::New(env, s)) : env.Null(); }

// cudaInfo() -> { reason, cublasLt, cublasLtReason, cusparseLt, cusparseLtReason, devices: [...] }
Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded& l = loaded();
  const SkCudaApi* api;
  {
    std::lock_guard<std::mutex> lock(l.mu);
    api = l.api;
  }
  Napi::Object o = Napi::Object::New(env);
  Napi::Array devs = Napi::Array::New(env);
  o.Set("devices", devs);
  if (!api) {
    o.Set("reason", l.reason);
    return o;
  }
  SkCudaLibraries libs;
  api->libraries(&libs);
  o.Set("cublasLt", str_or_null(env, libs.cublaslt));
  o.Set("cublasLtReason", str_or_null(env, libs.cublaslt_why));
  o.Set("cusparseLt", str_or_null(env, libs.cusparselt));
  o.Set("cusparseLtReason", str_or_null(env, libs.cusparselt_why));
  SkCudaStatus st{};
  int count = 0;
  if (api->device_count(&count, &st) != 0) {
    o.Set("reason", std::string(st.message));
    return o;
  }
  std::string why;
  for (int i = 0, k = 0; i < count; ++i) {
    SkCudaDevice d{};
    if (api->device_info(i, &d, &st) != 0) {
      why += std::string(why.empty() ? "" : "; ") + st.message;
      continue;
    }
    Napi::Object od = Napi::Object::New(env);
    od.Set("id", d.id);
    od.Set("name", std::string(d.name));
    od.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    od.Set("memoryBytes", double(d.memory_bytes));
    od.Set("smCount", d.sm_count);
    devs.Set(uint32_t(k++), od);
  }
  o.Set("reason", devs.Length() ? env.Null() : Napi::Value(Napi::String::New(env, why)));
  return o;
}

// ---- device buffers and matrices -----------------------------------------------------------------

// A device buffer or weight owned by a JS External. All of this runs on the JS thread: an async
// operation pins its operands when it starts and unpins them when it has finished (before its
// Promise settles), so a dispose() or a finalizer that comes while the operation is still running
// on a worker thread only marks the object; the memory is released when the last operation using
// it ends, never under a running kernel or copy (and the weight's host-side state is never freed
// while a worker uses it).
struct DeviceObject {
  const SkCudaApi* api = nullptr;  // null once the memory is released
  uint64_t bytes = 0;              // reported to V8 with AdjustExternalMemory
  bool disposed = false;           // dispose() or the finalizer ran: no new operation may use it
  bool collected = false;          // the External was finalized: the last unpin deletes the object
  int busy = 0;                    // operations in flight
  virtual void free_device_memory() = 0;
  virtual ~DeviceObject() = default;
};
struct DeviceBuf : DeviceObject {
  int device = 0;
  void* ptr = nullptr;
  void free_device_memory() override { api->release(device, ptr); }
};
struct DeviceMat : DeviceObject {
  void* handle = nullptr;
  void free_device_memory() override { api->release_matrix(handle); }
};

void release_if_idle(Napi::Env env, DeviceObject* o) {
  if (o->busy || !o->disposed || !o->api) return;
  o->free_device_memory();
  Napi::MemoryManagement::AdjustExternalMemory(env, -int64_t(o->bytes));
  o->api = nullptr;
}
void dispose_object(Napi::Env env, DeviceObject* o) {
  o->disposed = true;
  release_if_idle(env, o);
}
template <class T> void finalize_object(Napi::Env env, T* o) {
  o->collected = true;
  dispose_object(env, o);
  if (!o->busy) delete o;
}

// The operands of one async operation, pinned from its start until it has finished.
class Pins {
 public:
  void pin(DeviceObject* o) {
    ++o->busy;
    objs_.push_back(o);
  }
  void unpin(Napi::Env env) {
    for (DeviceObject* o : objs_) {
      --o->busy;
      release_if_idle(env, o);
      if (!o->busy && o->collected) delete o;
    }
    objs_.clear();
  }

 private:
  std::vector<DeviceObject*> objs_;
};

template <class T> T* unwrap(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) { throw_error(env, ErrorCode::argument, std::string(what) + " must be a device handle"); return nullptr; }
  T* p = v.As<Napi::External<T>>().Data();
  if (!p || p->disposed || !p->api) { throw_error(env, ErrorCode::argument, std::string(what) + " was disposed"); return nullptr; }
  return p;
}

// cudaAlloc(device, bytes) -> handle (freed by cudaFree or, as a safety net, by the GC)
Napi::Value CudaAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SkCudaApi* api = api_or_throw(env);
  if (!api) return env.Undefined();
  const int device = info[0].As<Napi::Number>().Int32Value();
  const size_t bytes = size_t(info[1].As<Napi::Number>().Int64Value());
  SkCudaStatus st{};
  void* ptr = nullptr;
  if (api->alloc(device, bytes, &ptr, &st) != 0) return throw_error(env, ErrorCode(st.code), st.message);
  Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(bytes));
  auto* b = new DeviceBuf();
  b->api = api;
  b->bytes = bytes;
  b->device = device;
  b->ptr = ptr;
  return Napi::External<DeviceBuf>::New(env, b, [](Napi::Env env, DeviceBuf* b) { finalize_object(env, b); });
}

Napi::Value CudaFree(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) dispose_object(info.Env(), info[0].As<Napi::External<DeviceBuf>>().Data());
  return info.Env().Undefined();
}

// cudaCopyAsync(handle, host, toDevice) -> Promise<void>
Napi::Value CudaCopyAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceBuf* b = unwrap<DeviceBuf>(env, info[0], "device buffer");
  JsBuffer h = buffer_of(info[1]);
  if (!b) return env.Undefined();
  if (!h.ok || h.bytes != b->bytes)
    return throw_error(env, ErrorCode::shape, "copy: host buffer has " + std::to_string(h.bytes) + " bytes, device buffer " +
                                                  std::to_string(b->bytes));
  const bool to_device = info[2].ToBoolean();
  const SkCudaApi* api = b->api;
  const int device = b->device;
  void* ptr = b->ptr;
  const size_t bytes = b->bytes;
  auto pins = std::make_shared<Pins>();
  pins->pin(b);
  return PromiseWorker::Start(env, [api, device, ptr, bytes, h, to_device] {
    SkCudaStatus st{};
    if (to_device) api->copy_to_device(device, ptr, h.data, bytes, &st);
    else api->copy_to_host(device, h.data, ptr, bytes, &st);
    return to_status(st);
  }, nullptr, {info[0], info[1]}, [pins](Napi::Env env) { pins->unpin(env); });
}

// cudaUploadMatrixAsync(device, desc, slorb?) -> Promise<handle>; slorb: the weight's SLoRB term
// ({ groupSize, scales, scalesDtype, rowScales?, rowScalesDtype, proj?, projDtype }), uploaded with it.
Napi::Value CudaUploadMatrixAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SkCudaApi* api = api_or_throw(env);
  if (!api) return env.Undefined();
  const int device = info[0].As<Napi::Number>().Int32Value();
  MatrixView a;
  std::vector<Napi::Value> keep;
  SlorbTermArgs term;
  if (!get_matrix(env, info[1], &a, &keep) || !get_slorb_term(env, info[2], a.rows, a.cols, &term, &keep)) return env.Undefined();
  SkMatrixDesc d{};
  d.format = int(a.format);
  d.dtype = int(a.dtype);
  d.rows = a.rows;
  d.cols = a.cols;
  d.n = a.n;
  d.m = a.m;
  static_assert(int(Part::kNumParts) == 8, "SkMatrixDesc carries every part");
  for (int p = 0; p < 8; ++p) { d.parts[p] = a.parts[p].data; d.part_bytes[p] = a.parts[p].bytes; }
  d.quant_bits = a.quant.bits;
  d.quant_group = a.quant.group;
  d.quant_asym = a.quant.asym ? 1 : 0;
  d.slorb_group = term.group;
  d.slorb_scales = term.scales.data;
  d.slorb_scales_bytes = term.scales.bytes;
  d.slorb_scales_dtype = int(term.scales.dtype);
  d.slorb_row_scales = term.row_scales.data;
  d.slorb_row_scales_bytes = term.row_scales.bytes;
  d.slorb_row_scales_dtype = term.row_scales.present ? int(term.row_scales.dtype) : -1;
  d.slorb_proj = term.proj.data;
  d.slorb_proj_bytes = term.proj.bytes;
  d.slorb_proj_dtype = term.proj.present ? int(term.proj.dtype) : -1;
  struct Uploaded {
    void* handle = nullptr;
    uint64_t bytes = 0;
  };
  auto out = std::make_shared<Uploaded>();
  return PromiseWorker::Start(env, [api, device, d, out] {
    SkCudaStatus st{};
    api->upload_matrix(device, &d, &out->handle, &out->bytes, &st);
    return to_status(st);
  }, [api, out](Napi::Env env) -> Napi::Value {
    Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(out->bytes));
    auto* m = new DeviceMat();
    m->api = api;
    m->handle = out->handle;
    m->bytes = out->bytes;
    return Napi::External<DeviceMat>::New(env, m, [](Napi::Env env, DeviceMat* m) { finalize_object(env, m); });
  }, keep);
}

// cudaMatrixBytes(handle) -> the device memory the weight holds (its parts, any cuSPARSELt copy, its SLoRB term)
Napi::Value CudaMatrixBytes(const Napi::CallbackInfo& info) {
  DeviceMat* m = unwrap<DeviceMat>(info.Env(), info[0], "weight");
  return m ? Napi::Value(Napi::Number::New(info.Env(), double(m->bytes))) : info.Env().Undefined();
}

Napi::Value CudaReleaseMatrix(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) dispose_object(info.Env(), info[0].As<Napi::External<DeviceMat>>().Data());
  return info.Env().Undefined();
}

// The operands of cudaSpmmAsync / cudaBenchAsync / cudaSelectedKernel: (matrix, x, n, outDtype, y,
// splitK, opts) with opts = { backend: 0|1|2, layout: 0|1, bias: handle|null, biasDtype: string, xDtype?: string }.
// x and y may be null for cudaSelectedKernel.
struct SpmmOperands {
  const SkCudaApi* api = nullptr;
  void* mat = nullptr;  // the weight's handle in libsparsekit_cuda
  SkSpmmArgs args{};
  std::shared_ptr<Pins> pins = std::make_shared<Pins>();  // weight, x, y, bias (async calls pin them)
};
bool get_spmm_operands(const Napi::CallbackInfo& info, SpmmOperands* o, bool buffers) {
  Napi::Env env = info.Env();
  DeviceMat* m = unwrap<DeviceMat>(env, info[0], "weight");
  if (!m) return false;
  SkSpmmArgs a{};
  std::vector<DeviceObject*> used = {m};
  if (buffers) {
    DeviceBuf* x = unwrap<DeviceBuf>(env, info[1], "x");
    DeviceBuf* y = x ? unwrap<DeviceBuf>(env, info[4], "y") : nullptr;
    if (!y) return false;
    a.x = x->ptr;
    a.y = y->ptr;
    used.push_back(x);
    used.push_back(y);
  }
  DType out;
  if (!info[3].IsString() || !dtype_from_name(info[3].As<Napi::String>().Utf8Value().c_str(), &out)) {
    throw_error(env, ErrorCode::dtype, "outDtype: unknown dtype");
    return false;
  }
  if (!info[2].IsNumber() || !info[5].IsNumber() || !info[6].IsObject()) {
    throw_error(env, ErrorCode::argument, "cuda spmm: expected (matrix, x, n, outDtype, y, splitK, options)");
    return false;
  }
  a.n = info[2].As<Napi::Number>().Int64Value();
  a.out_dtype = int(out);
  a.split_k = info[5].As<Napi::Number>().Int32Value();
  Napi::Object opt = info[6].As<Napi::Object>();
  a.backend = opt.Get("backend").IsNumber() ? opt.Get("backend").As<Napi::Number>().Int32Value() : SK_BACKEND_AUTO;
  a.layout = opt.Get("layout").IsNumber() ? opt.Get("layout").As<Napi::Number>().Int32Value() : SK_LAYOUT_NK;
  if (opt.Get("xDtype").IsString()) {  // int4 weights: the activations' dtype (float weights: x has theirs)
    DType xd;
    if (!dtype_from_name(opt.Get("xDtype").As<Napi::String>().Utf8Value().c_str(), &xd)) {
      throw_error(env, ErrorCode::dtype, "xDtype: unknown dtype");
      return false;
    }
    a.x_dtype = int(xd);
  }
  Napi::Value bias = opt.Get("bias");
  if (!bias.IsNull() && !bias.IsUndefined()) {
    DeviceBuf* b = unwrap<DeviceBuf>(env, bias, "bias");
    DType bd;
    if (!b) return false;
    if (!opt.Get("biasDtype").IsString() || !dtype_from_name(opt.Get("biasDtype").As<Napi::String>().Utf8Value().c_str(), &bd)) {
      throw_error(env, ErrorCode::dtype, "bias: unknown dtype");
      return false;
    }
    a.bias = b->ptr;
    a.bias_dtype = int(bd);
    used.push_back(b);
  }
  if (!buffers && opt.Get("hasBias").ToBoolean()) a.bias = reinterpret_cast<const void*>(uintptr_t(1));  // selection only: never read
  o->api = m->api;
  o->mat = m->handle;
  o->args = a;
  if (buffers)  // only the async calls pin; they are the only callers that pass buffers
    for (DeviceObject* u : used) o->pins->pin(u);
  return true;
}

Napi::Object run_info(Napi::Env env, const SkSpmmRun& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kernel", std::string(r.kernel));
  o.Set("note", std::string(r.note));
  return o;
}

// cudaSpmmAsync(matrix, x, n, outDtype, y, splitK, options) -> Promise<{ kernel, note }>
Napi::Value CudaSpmmAsync(const Napi::CallbackInfo& info) {
  SpmmOperands o;
  if (!get_spmm_operands(info, &o, true)) return info.Env().Undefined();
  auto ran = std::make_shared<SkSpmmRun>();
  std::vector<Napi::Value> keep = {info[0], info[1], info[4]};
  if (info[6].As<Napi::Object>().Has("bias")) keep.push_back(info[6].As<Napi::Object>().Get("bias"));
  auto pins = o.pins;
  return PromiseWorker::Start(info.Env(), [o, ran] {
    SkCudaStatus st{};
    o.api->spmm(o.mat, &o.args, ran.get(), &st);
    return to_status(st);
  }, [ran](Napi::Env env) -> Napi::Value { return run_info(env, *ran); }, keep,
  [pins](Napi::Env env) { pins->unpin(env); });
}

// cudaBenchAsync(matrix, x, n, outDtype, y, splitK, options, iters) -> Promise<{ ms, kernel, note }>
// (median ms of CUDA-event-timed runs, L2 flushed before each)
Napi::Value CudaBenchAsync(const Napi::CallbackInfo& info) {
  SpmmOperands o;
  if (!get_spmm_operands(info, &o, true)) return info.Env().Undefined();
  const int iters = info[7].IsNumber() ? info[7].As<Napi::Number>().Int32Value() : 20;
  auto ms = std::make_shared<double>(0);
  auto ran = std::make_shared<SkSpmmRun>();
  auto pins = o.pins;
  return PromiseWorker::Start(info.Env(), [o, iters, ms, ran] {
    SkCudaStatus st{};
    o.api->bench_spmm(o.mat, &o.args, iters, ms.get(), ran.get(), &st);
    return to_status(st);
  }, [ms, ran](Napi::Env env) -> Napi::Value {
    Napi::Object r = run_info(env, *ran);
    r.Set("ms", *ms);
    return r;
  }, {info[0], info[1], info[4]}, [pins](Napi::Env env) { pins->unpin(env); });
}

// cudaSelectedKernel(matrix, null, n, outDtype, null, splitK, options) -> { kernel, note }
Napi::Value CudaSelectedKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SpmmOperands o;
  if (!get_spmm_operands(info, &o, false)) return env.Undefined();
  SkSpmmRun ran{};
  SkCudaStatus st{};
  if (o.api->selected_kernel(o.mat, &o.args, &ran, &st) != 0) return throw_error(env, ErrorCode(st.code), st.message);
  return run_info(env, ran);
}

// cudaMemory(device) -> { free, total } in bytes
Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SkCudaApi* api = api_or_throw(env);
  if (!api) return env.Undefined();
  uint64_t f = 0, t = 0;
  SkCudaStatus st{};
  if (api->memory(info[0].As<Napi::Number>().Int32Value(), &f, &t, &st) != 0) return throw_error(env, ErrorCode(st.code), st.message);
  Napi::Object o = Napi::Object::New(env);
  o.Set("free", double(f));
  o.Set("total", double(t));
  return o;
}

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaLoad", Napi::Function::New(env, CudaLoad));
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo));
  exports.Set("cudaAlloc", Napi::Function::New(env, CudaAlloc));
  exports.Set("cudaFree", Napi::Function::New(env, CudaFree));
  exports.Set("cudaCopyAsync", Napi::Function::New(env, CudaCopyAsync));
  exports.Set("cudaUploadMatrixAsync", Napi::Function::New(env, CudaUploadMatrixAsync));
  exports.Set("cudaReleaseMatrix", Napi::Function::New(env, CudaReleaseMatrix));
  exports.Set("cudaMatrixBytes", Napi::Function::New(env, CudaMatrixBytes));
  exports.Set("cudaSpmmAsync", Napi::Function::New(env, CudaSpmmAsync));
  exports.Set("cudaBenchAsync", Napi::Function::New(env, CudaBenchAsync));
  exports.Set("cudaSelectedKernel", Napi::Function::New(env, CudaSelectedKernel));
  exports.Set("cudaMemory", Napi::Function::New(env, CudaMemory));
}

}  // namespace sk::addon
