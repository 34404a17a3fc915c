// Binding for native/io: safetensors files as opaque handles (Napi::External) that lib/safetensors.ts
// wraps. Tensor bytes are handed to JS as external ArrayBuffers over the mapping; each one holds
// a reference to the mapping, so the file stays mapped while any of them is alive.
#include <napi.h>

#include <cstring>
#include <functional>
#include <memory>

#include "bindings.h"
#include "core/sizes.h"
#include "io/safetensors.h"
#include "napi_util.h"

namespace sk::addon {

namespace {

struct ReadHandle {
  st::File file;  // file.map is null once closed
};

struct WriteHandle {
  std::unique_ptr<st::Writer> writer;
  bool busy = false;  // an async call is running: the writer is not thread-safe
};

Napi::Value fail(Napi::Env env, ErrorCode code, const std::string& msg) {
  make_error(env, code, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value header_to_js(Napi::Env env, const st::Header& h, uint64_t file_size) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array tensors = Napi::Array::New(env, h.tensors.size());
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const st::TensorEntry& e = h.tensors[i];
    Napi::Object t = Napi::Object::New(env);
    t.Set("name", e.name);
    t.Set("dtype", e.dtype);
    Napi::Array shape = Napi::Array::New(env, e.shape.size());
    for (size_t d = 0; d < e.shape.size(); ++d) shape.Set(uint32_t(d), double(e.shape[d]));
    t.Set("shape", shape);
    t.Set("begin", double(e.begin));
    t.Set("end", double(e.end));
    tensors.Set(uint32_t(i), t);
  }
  o.Set("tensors", tensors);
  Napi::Object meta = Napi::Object::New(env);
  for (const auto& kv : h.metadata) meta.Set(kv.first, kv.second);
  o.Set("metadata", meta);
  o.Set("dataOffset", double(h.data_offset));
  o.Set("fileSize", double(file_size));
  return o;
}

Napi::Value opened(Napi::Env env, std::shared_ptr<ReadHandle> h) {
  Napi::Object o = header_to_js(env, h->file.header, h->file.map->size()).As<Napi::Object>();
  auto* owner = new std::shared_ptr<ReadHandle>(std::move(h));
  o.Set("handle", Napi::External<std::shared_ptr<ReadHandle>>::New(env, owner, [](Napi::Env, std::shared_ptr<ReadHandle>* p) { delete p; }));
  return o;
}

// stOpen(path) -> { handle, tensors, metadata, dataOffset, fileSize }
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return fail(env, ErrorCode::argument, "path must be a string");
  auto h = std::make_shared<ReadHandle>();
  Status st = st::open(info[0].As<Napi::String>().Utf8Value(), &h->file);
  if (!st.ok()) return fail(env, st.code, st.message);
  return opened(env, std::move(h));
}

Napi::Value OpenAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return fail(env, ErrorCode::argument, "path must be a string");
  auto h = std::make_shared<ReadHandle>();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  return PromiseWorker::Start(
      env, [h, path] { return st::open(path, &h->file); }, [h](Napi::Env env) { return opened(env, h); }, {});
}

ReadHandle* read_handle(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) {
    fail(info.Env(), ErrorCode::argument, "not a safetensors handle");
    return nullptr;
  }
  ReadHandle* h = info[0].As<Napi::External<std::shared_ptr<ReadHandle>>>().Data()->get();
  if (!h->file.map) {
    fail(info.Env(), ErrorCode::argument, "safetensors file was closed");  // lib/ reports ERR_DISPOSED first
    return nullptr;
  }
  return h;
}

// stTensor(handle, index) -> ArrayBuffer over the tensor's bytes in the mapping (no copy).
Napi::Value TensorBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReadHandle* h = read_handle(info);
  if (!h) return env.Undefined();
  if (!info[1].IsNumber()) return fail(env, ErrorCode::argument, "index must be a number");
  const int64_t i = info[1].As<Napi::Number>().Int64Value();
  if (i < 0 || size_t(i) >= h->file.header.tensors.size()) return fail(env, ErrorCode::argument, "tensor index out of range");
  const st::TensorEntry& e = h->file.header.tensors[size_t(i)];
  const size_t bytes = size_t(e.end - e.begin);
  if (bytes == 0) return Napi::ArrayBuffer::New(env, 0);
  const size_t offset = size_t(h->file.header.data_offset + e.begin);
  h->file.map->will_need(offset, bytes);
  auto* keep = new std::shared_ptr<MappedFile>(h->file.map);
  napi_value ab;
  napi_status s = napi_create_external_arraybuffer(
      env, h->file.map->data() + offset, bytes,
      [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<MappedFile>*>(hint); }, keep, &ab);
  if (s == napi_ok) return Napi::Value(env, ab);
  // Runtimes that forbid external buffers (V8 sandbox builds): fall back to a copy.
  delete keep;
  if (env.IsExceptionPending()) env.GetAndClearPendingException();
  Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, bytes);
  std::memcpy(copy.Data(), h->file.map->data() + offset, bytes);
  return copy;
}

// stMatrix(handle, { format, dtype, rows, cols, n, m, parts: { <part>: tensorIndex } }) -> the
// native matrix (matrix_binding.cpp) copied straight from the mapping and validated from the copy.
// No JS buffer over the mapping is made, so closing the file unmaps it at once.
Napi::Value Matrix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReadHandle* h = read_handle(info);
  if (!h) return env.Undefined();
  if (!info[1].IsObject()) return fail(env, ErrorCode::argument, "stMatrix(handle, desc)");
  Napi::Object d = info[1].As<Napi::Object>();
  MatrixView a;
  Napi::Value fv = d.Get("format"), tv = d.Get("dtype");
  if (!fv.IsString() || !format_from_name(fv.As<Napi::String>().Utf8Value().c_str(), &a.format) || !tv.IsString() ||
      !dtype_from_name(tv.As<Napi::String>().Utf8Value().c_str(), &a.dtype) || !d.Get("parts").IsObject())
    return fail(env, ErrorCode::argument, "stMatrix: bad descriptor");
  const double dims[4] = {d.Get("rows").ToNumber().DoubleValue(), d.Get("cols").ToNumber().DoubleValue(),
                          d.Get("n").ToNumber().DoubleValue(), d.Get("m").ToNumber().DoubleValue()};
  if (!(dims[0] >= 0 && dims[0] <= double(kMaxDim) && dims[1] >= 0 && dims[1] <= double(kMaxDim)))
    return fail(env, ErrorCode::shape, "stMatrix: shape out of range");
  a.rows = int64_t(dims[0]);
  a.cols = int64_t(dims[1]);
  auto small = [](double v) { return v >= 0 && v <= 1024 ? int(v) : -1; };  // copy_validated checks n:m
  a.n = a.format == Format::nm ? small(dims[2]) : 0;
  a.m = a.format == Format::nm ? small(dims[3]) : 0;
  if (!get_quant(env, d.Get("quant"), &a.quant)) return env.Undefined();
  Napi::Object parts = d.Get("parts").As<Napi::Object>();
  for (int p = 0; p < int(Part::kNumParts); ++p) {
    Napi::Value iv = parts.Get(part_name(Part(p)));
    if (iv.IsUndefined()) continue;
    const double i = iv.ToNumber().DoubleValue();
    if (!(i >= 0 && i < double(h->file.header.tensors.size()))) return fail(env, ErrorCode::argument, "stMatrix: tensor index out of range");
    const st::TensorEntry& e = h->file.header.tensors[size_t(i)];
    a.parts[p] = {h->file.map->data() + h->file.header.data_offset + e.begin, size_t(e.end - e.begin)};
  }
  return wrap_validated_copy(env, a);
}

// stRelease(handle, index): gives back the resident pages of a tensor the caller is done with.
// Safe even if JS still holds views of it: they read the file again on their next access.
Napi::Value Release(const Napi::CallbackInfo& info) {
  ReadHandle* h = read_handle(info);
  if (!h || !info[1].IsNumber()) return info.Env().Undefined();
  const int64_t i = info[1].As<Napi::Number>().Int64Value();
  if (i < 0 || size_t(i) >= h->file.header.tensors.size()) return info.Env().Undefined();
  const st::TensorEntry& e = h->file.header.tensors[size_t(i)];
  h->file.map->dont_need(size_t(h->file.header.data_offset + e.begin), size_t(e.end - e.begin));
  return info.Env().Undefined();
}

// stClose(handle): drops the handle's reference; buffers already handed out keep the mapping.
Napi::Value Close(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) info[0].As<Napi::External<std::shared_ptr<ReadHandle>>>().Data()->get()->file.map.reset();
  return info.Env().Undefined();
}

// ---- writer --------------------------------------------------------------------------------

WriteHandle* write_handle(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) {
    fail(info.Env(), ErrorCode::argument, "not a safetensors writer");
    return nullptr;
  }
  WriteHandle* h = info[0].As<Napi::External<WriteHandle>>().Data();
  if (h->busy) {
    fail(info.Env(), ErrorCode::argument, "safetensors writer: a previous call has not finished (await it first)");
    return nullptr;
  }
  if (!h->writer) {
    fail(info.Env(), ErrorCode::argument, "safetensors writer: already finished or aborted");
    return nullptr;
  }
  return h;
}

// stWriterCreate(path, reserveBytes) -> handle
Napi::Value WriterCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber()) return fail(env, ErrorCode::argument, "stWriterCreate(path, reserve)");
  auto* h = new WriteHandle();
  const double reserve = info[1].As<Napi::Number>().DoubleValue();
  Status st = st::Writer::create(info[0].As<Napi::String>().Utf8Value(), reserve > 0 ? uint64_t(reserve) : 0, &h->writer);
  if (!st.ok()) {
    delete h;
    return fail(env, st.code, st.message);
  }
  return Napi::External<WriteHandle>::New(env, h, [](Napi::Env, WriteHandle* p) { delete p; });  // unfinished: temp removed
}

// Runs a writer call off the event loop. The handle is marked busy until the Promise settles,
// whichever way: the status is carried to the main thread so `busy` is cleared there on errors too.
Napi::Value run_writer_async(const Napi::CallbackInfo& info, WriteHandle* h, std::function<Status()> work, bool release,
                             const std::vector<Napi::Value>& keep) {
  h->busy = true;
  auto status = std::make_shared<Status>();
  return PromiseWorker::Start(
      info.Env(), [work, status] { *status = work(); return Status::Ok(); },
      [h, status, release](Napi::Env env) -> Napi::Value {
        h->busy = false;
        if (release || !status->ok()) h->writer.reset();  // a failed writer removes its temp file
        if (!status->ok()) make_error(env, status->code, status->message).ThrowAsJavaScriptException();
        return env.Undefined();
      },
      keep);
}

struct AppendCall {
  std::string name, dtype;
  std::vector<int64_t> shape;
  JsBuffer data;
};

bool read_append(const Napi::CallbackInfo& info, AppendCall* c) {
  Napi::Env env = info.Env();
  if (!info[1].IsString() || !info[2].IsString() || !info[3].IsArray()) {
    fail(env, ErrorCode::argument, "append(handle, name, dtype, shape, data)");
    return false;
  }
  c->name = info[1].As<Napi::String>().Utf8Value();
  c->dtype = info[2].As<Napi::String>().Utf8Value();
  Napi::Array shape = info[3].As<Napi::Array>();
  for (uint32_t i = 0; i < shape.Length(); ++i) {
    Napi::Value d = shape.Get(i);
    if (!d.IsNumber() || d.As<Napi::Number>().DoubleValue() < 0) {
      fail(env, ErrorCode::shape, "append: shape entries must be non-negative numbers");
      return false;
    }
    c->shape.push_back(d.As<Napi::Number>().Int64Value());
  }
  c->data = buffer_of(info[4]);
  if (!c->data.ok) {
    fail(env, ErrorCode::argument, "append: data must be a TypedArray or ArrayBuffer");
    return false;
  }
  return true;
}

// The append's arguments for writer h; when they are refused the file is abandoned, as after any
// failed append (the JS side drops its handle on every failure).
bool get_append(const Napi::CallbackInfo& info, WriteHandle* h, AppendCall* c) {
  if (read_append(info, c)) return true;
  h->writer.reset();
  return false;
}

Napi::Value WriterAppend(const Napi::CallbackInfo& info) {
  WriteHandle* h = write_handle(info);
  AppendCall c;
  if (!h || !get_append(info, h, &c)) return info.Env().Undefined();
  Status st = h->writer->append(c.name, c.dtype, c.shape, c.data.data, c.data.bytes);
  if (!st.ok()) {
    h->writer.reset();  // as in the async form: a failed append abandons the file
    return fail(info.Env(), st.code, st.message);
  }
  return info.Env().Undefined();
}

Napi::Value WriterAppendAsync(const Napi::CallbackInfo& info) {
  WriteHandle* h = write_handle(info);
  auto c = std::make_shared<AppendCall>();
  if (!h || !get_append(info, h, c.get())) return info.Env().Undefined();
  return run_writer_async(info, h, [h, c] { return h->writer->append(c->name, c->dtype, c->shape, c->data.data, c->data.bytes); },
                          false, {info[0], info[4]});
}

bool get_metadata(const Napi::CallbackInfo& info, std::vector<std::pair<std::string, std::string>>* out) {
  if (info[1].IsUndefined() || info[1].IsNull()) return true;
  if (!info[1].IsObject()) {
    fail(info.Env(), ErrorCode::argument, "metadata must be an object of strings");
    return false;
  }
  Napi::Object o = info[1].As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    Napi::Value k = keys.Get(i), v = o.Get(k);
    if (!v.IsString()) {
      fail(info.Env(), ErrorCode::argument, "metadata['" + k.ToString().Utf8Value() + "'] must be a string");
      return false;
    }
    out->emplace_back(k.ToString().Utf8Value(), v.As<Napi::String>().Utf8Value());
  }
  return true;
}

Napi::Value WriterFinish(const Napi::CallbackInfo& info) {
  WriteHandle* h = write_handle(info);
  std::vector<std::pair<std::string, std::string>> meta;
  if (!h || !get_metadata(info, &meta)) return info.Env().Undefined();
  Status st = h->writer->finish(meta);
  h->writer.reset();
  if (!st.ok()) return fail(info.Env(), st.code, st.message);
  return info.Env().Undefined();
}

Napi::Value WriterFinishAsync(const Napi::CallbackInfo& info) {
  WriteHandle* h = write_handle(info);
  auto meta = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  if (!h || !get_metadata(info, meta.get())) return info.Env().Undefined();
  return run_writer_async(info, h, [h, meta] { return h->writer->finish(*meta); }, true, {info[0]});
}

Napi::Value WriterAbort(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) {
    WriteHandle* h = info[0].As<Napi::External<WriteHandle>>().Data();
    if (!h->busy) h->writer.reset();  // removes the temp file
  }
  return info.Env().Undefined();
}

// stRemoveTempFiles(): removes the temp files of every unfinished writer (CLI signal handlers).
Napi::Value RemoveTempFiles(const Napi::CallbackInfo& info) {
  st::remove_unfinished_temp_files();
  return info.Env().Undefined();
}

}  // namespace

void register_io(Napi::Env env, Napi::Object exports) {
  exports.Set("stOpen", Napi::Function::New(env, Open));
  exports.Set("stOpenAsync", Napi::Function::New(env, OpenAsync));
  exports.Set("stTensor", Napi::Function::New(env, TensorBytes));
  exports.Set("stRelease", Napi::Function::New(env, Release));
  exports.Set("stMatrix", Napi::Function::New(env, Matrix));
  exports.Set("stClose", Napi::Function::New(env, Close));
  exports.Set("stWriterCreate", Napi::Function::New(env, WriterCreate));
  exports.Set("stWriterAppend", Napi::Function::New(env, WriterAppend));
  exports.Set("stWriterAppendAsync", Napi::Function::New(env, WriterAppendAsync));
  exports.Set("stWriterFinish", Napi::Function::New(env, WriterFinish));
  exports.Set("stWriterFinishAsync", Napi::Function::New(env, WriterFinishAsync));
  exports.Set("stWriterAbort", Napi::Function::New(env, WriterAbort));
  exports.Set("stRemoveTempFiles", Napi::Function::New(env, RemoveTempFiles));
}

}  // namespace sk::addon
