// The GPU side of the binding: finds libsparsekit_cuda.so at run time (the default CPU build never
// links CUDA), reports devices and libraries, moves device buffers and runs device SpMM. Also
// exposes the CPU replay of the CUDA kernels (native/cuda/replay.h) so vitest can check them on
// machines without a GPU.
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
#include "cuda/cuda_api.h"
#include "cuda/replay.h"
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

// cudaReplay(desc, x: [N,K] 16-bit, n, kernel, splitK, bn) -> Float32Array [N, M]
Napi::Value CudaReplay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MatrixView a;
  if (!get_matrix(env, info[0], &a, nullptr)) return env.Undefined();
  JsBuffer x = buffer_of(info[1]);
  cuda::GpuKernel kernel;
  if (!x.ok || !info[2].IsNumber() || !info[3].IsString() || !info[4].IsNumber() || !info[5].IsNumber() ||
      !cuda::gpu_kernel_from_name(info[3].As<Napi::String>().Utf8Value().c_str(), &kernel))
    return throw_error(env, ErrorCode::argument, "cudaReplay(desc, x, n, 'tiled-csl'|'bitmap'|'sp24', splitK, bn)");
  const int64_t n = info[2].As<Napi::Number>().Int64Value();
  if (n < 0 || x.bytes < size_t(n * a.cols) * 2) return throw_error(env, ErrorCode::shape, "cudaReplay: x is smaller than [n, K]");
  Napi::Float32Array y = Napi::Float32Array::New(env, size_t(n * a.rows));
  cuda::ReplayOptions opt;
  opt.kernel = kernel;
  opt.split_k = info[4].As<Napi::Number>().Int32Value();
  opt.bn = info[5].As<Napi::Number>().Int32Value();
  Status st = cuda::replay_spmm(a, static_cast<const uint16_t*>(x.data), n, opt, y.Data());
  if (!st.ok()) return throw_error(env, st.code, st.message);
  return y;
}

// ---- device buffers and matrices -----------------------------------------------------------------

struct DeviceBuf {
  const SkCudaApi* api;
  int device;
  void* ptr;
  size_t bytes;
};
struct DeviceMat {
  const SkCudaApi* api;
  void* handle;
  uint64_t bytes;
};

template <class T> T* unwrap(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) { throw_error(env, ErrorCode::argument, std::string(what) + " must be a device handle"); return nullptr; }
  T* p = v.As<Napi::External<T>>().Data();
  if (!p || (!p->api)) { throw_error(env, ErrorCode::argument, std::string(what) + " was disposed"); return nullptr; }
  return p;
}

void free_buf(Napi::Env env, DeviceBuf* b) {
  if (b->api) {
    b->api->release(b->device, b->ptr);
    Napi::MemoryManagement::AdjustExternalMemory(env, -int64_t(b->bytes));
    b->api = nullptr;
  }
}
void free_mat(Napi::Env env, DeviceMat* m) {
  if (m->api) {
    m->api->release_matrix(m->handle);
    Napi::MemoryManagement::AdjustExternalMemory(env, -int64_t(m->bytes));
    m->api = nullptr;
  }
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
  return Napi::External<DeviceBuf>::New(env, new DeviceBuf{api, device, ptr, bytes}, [](Napi::Env env, DeviceBuf* b) {
    free_buf(env, b);
    delete b;
  });
}

Napi::Value CudaFree(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) free_buf(info.Env(), info[0].As<Napi::External<DeviceBuf>>().Data());
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
  DeviceBuf copy = *b;
  return PromiseWorker::Start(env, [copy, h, to_device] {
    SkCudaStatus st{};
    if (to_device) copy.api->copy_to_device(copy.device, copy.ptr, h.data, copy.bytes, &st);
    else copy.api->copy_to_host(copy.device, h.data, copy.ptr, copy.bytes, &st);
    return to_status(st);
  }, nullptr, {info[0], info[1]});
}

// cudaUploadMatrixAsync(device, desc) -> Promise<handle>
Napi::Value CudaUploadMatrixAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SkCudaApi* api = api_or_throw(env);
  if (!api) return env.Undefined();
  const int device = info[0].As<Napi::Number>().Int32Value();
  MatrixView a;
  std::vector<Napi::Value> keep;
  if (!get_matrix(env, info[1], &a, &keep)) return env.Undefined();
  SkMatrixDesc d{};
  d.format = int(a.format);
  d.dtype = int(a.dtype);
  d.rows = a.rows;
  d.cols = a.cols;
  d.n = a.n;
  d.m = a.m;
  for (int p = 0; p < int(Part::kNumParts); ++p) { d.parts[p] = a.parts[p].data; d.part_bytes[p] = a.parts[p].bytes; }
  auto out = std::make_shared<DeviceMat>(DeviceMat{api, nullptr, 0});
  return PromiseWorker::Start(env, [api, device, d, out] {
    SkCudaStatus st{};
    api->upload_matrix(device, &d, &out->handle, &out->bytes, &st);
    return to_status(st);
  }, [out](Napi::Env env) -> Napi::Value {
    Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(out->bytes));
    return Napi::External<DeviceMat>::New(env, new DeviceMat(*out), [](Napi::Env env, DeviceMat* m) {
      free_mat(env, m);
      delete m;
    });
  }, keep);
}

Napi::Value CudaReleaseMatrix(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) free_mat(info.Env(), info[0].As<Napi::External<DeviceMat>>().Data());
  return info.Env().Undefined();
}

// The operands of cudaSpmmAsync / cudaBenchAsync: (matrix, x, n, outDtype, y, splitK, ...).
struct SpmmOperands {
  DeviceMat mat;
  const void* x;
  void* y;
  int64_t n;
  DType out;
  int split;
};
bool get_spmm_operands(const Napi::CallbackInfo& info, SpmmOperands* o) {
  Napi::Env env = info.Env();
  DeviceMat* m = unwrap<DeviceMat>(env, info[0], "weight");
  DeviceBuf* x = m ? unwrap<DeviceBuf>(env, info[1], "x") : nullptr;
  DeviceBuf* y = x ? unwrap<DeviceBuf>(env, info[4], "y") : nullptr;
  if (!y) return false;
  if (!info[3].IsString() || !dtype_from_name(info[3].As<Napi::String>().Utf8Value().c_str(), &o->out)) {
    throw_error(env, ErrorCode::dtype, "outDtype: unknown dtype");
    return false;
  }
  *o = {*m, x->ptr, y->ptr, info[2].As<Napi::Number>().Int64Value(), o->out, info[5].As<Napi::Number>().Int32Value()};
  return true;
}

// cudaSpmmAsync(matrix, x, n, outDtype, y, splitK) -> Promise<void>
Napi::Value CudaSpmmAsync(const Napi::CallbackInfo& info) {
  SpmmOperands o;
  if (!get_spmm_operands(info, &o)) return info.Env().Undefined();
  return PromiseWorker::Start(info.Env(), [o] {
    SkCudaStatus st{};
    o.mat.api->spmm(o.mat.handle, o.x, o.n, int(o.out), o.y, o.split, &st);
    return to_status(st);
  }, nullptr, {info[0], info[1], info[4]});
}

// cudaBenchAsync(matrix, x, n, outDtype, y, splitK, iters) -> Promise<number> (median ms, CUDA events)
Napi::Value CudaBenchAsync(const Napi::CallbackInfo& info) {
  SpmmOperands o;
  if (!get_spmm_operands(info, &o)) return info.Env().Undefined();
  const int iters = info[6].As<Napi::Number>().Int32Value();
  auto ms = std::make_shared<double>(0);
  return PromiseWorker::Start(info.Env(), [o, iters, ms] {
    SkCudaStatus st{};
    o.mat.api->bench_spmm(o.mat.handle, o.x, o.n, int(o.out), o.y, o.split, iters, ms.get(), &st);
    return to_status(st);
  }, [ms](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *ms); }, {info[0], info[1], info[4]});
}

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaLoad", Napi::Function::New(env, CudaLoad));
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo));
  exports.Set("cudaReplay", Napi::Function::New(env, CudaReplay));
  exports.Set("cudaAlloc", Napi::Function::New(env, CudaAlloc));
  exports.Set("cudaFree", Napi::Function::New(env, CudaFree));
  exports.Set("cudaCopyAsync", Napi::Function::New(env, CudaCopyAsync));
  exports.Set("cudaUploadMatrixAsync", Napi::Function::New(env, CudaUploadMatrixAsync));
  exports.Set("cudaReleaseMatrix", Napi::Function::New(env, CudaReleaseMatrix));
  exports.Set("cudaSpmmAsync", Napi::Function::New(env, CudaSpmmAsync));
  exports.Set("cudaBenchAsync", Napi::Function::New(env, CudaBenchAsync));
}

}  // namespace sk::addon
