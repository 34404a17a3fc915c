// SparseMatrix storage. A packed matrix lives in native memory that JavaScript cannot write: parts
// from outside are copied in and validated from the copy (copy_validated), pack() results are
// moved in, and parts() hands out copies. Kernels, unpack and the CUDA upload only ever see these
// bytes, so nothing written into a JS array after validation can make them index out of bounds
// (docs/formats.md "Trust"). dispose() frees the memory at once; work in flight holds its own
// reference (see get_matrix).
#include <napi.h>

#include <cstring>
#include <memory>
#include <new>

#include "bindings.h"
#include "core/sizes.h"
#include "formats/quant.h"
#include "napi_util.h"

namespace sk::addon {

namespace {

using Held = std::shared_ptr<const PackedMatrix>;

// The External's payload: `m` is reset by matrixDispose; the box itself goes with the External.
struct MatrixBox {
  Held m;
  int64_t bytes = 0;  // reported to V8 as external memory while `m` is held
};

// The native memory a matrix holds (reported to V8): its parts and the kernel data derived from them.
int64_t total_bytes(const PackedMatrix& pm) {
  int64_t n = int64_t(pm.aux.size());
  for (const auto& p : pm.parts) n += int64_t(p.size());
  return n;
}

void drop(Napi::Env env, MatrixBox* box) {
  if (!box->m) return;
  box->m.reset();
  Napi::MemoryManagement::AdjustExternalMemory(env, -box->bytes);
}

bool fail(Napi::Env env, ErrorCode code, const std::string& msg) {
  make_error(env, code, msg).ThrowAsJavaScriptException();
  return false;
}

MatrixBox* box_of(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal()) {
    fail(env, ErrorCode::argument, "not a sparse matrix handle");
    return nullptr;
  }
  MatrixBox* box = v.As<Napi::External<MatrixBox>>().Data();
  if (!box->m) {
    fail(env, ErrorCode::argument, "sparse matrix was disposed");  // lib/ reports ERR_DISPOSED first
    return nullptr;
  }
  return box;
}

bool get_int(Napi::Env env, const Napi::Value& v, const char* what, int64_t lo, int64_t hi, int64_t* out) {
  if (!v.IsNumber()) return fail(env, ErrorCode::argument, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= double(lo) && d <= double(hi)) || double(int64_t(d)) != d)
    return fail(env, ErrorCode::shape, std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " +
                                           std::to_string(hi) + "]");
  *out = int64_t(d);
  return true;
}

// The descriptor's fields and JS part buffers, unchecked beyond their types.
bool decode_desc(Napi::Env env, const Napi::Value& v, MatrixView* a) {
  if (!v.IsObject()) return fail(env, ErrorCode::argument, "matrix descriptor must be an object");
  Napi::Object d = v.As<Napi::Object>();
  Napi::Value fv = d.Get("format"), tv = d.Get("dtype");
  if (!fv.IsString() || !format_from_name(fv.As<Napi::String>().Utf8Value().c_str(), &a->format))
    return fail(env, ErrorCode::argument, "unknown sparse format");
  if (!tv.IsString() || !dtype_from_name(tv.As<Napi::String>().Utf8Value().c_str(), &a->dtype))
    return fail(env, ErrorCode::dtype, "matrix dtype: unknown dtype");
  int64_t n = 0, m = 0;
  if (!get_int(env, d.Get("rows"), "rows", 0, kMaxDim, &a->rows) || !get_int(env, d.Get("cols"), "cols", 0, kMaxDim, &a->cols))
    return false;
  if (a->format == Format::nm &&
      (!get_int(env, d.Get("n"), "n", 1, 16, &n) || !get_int(env, d.Get("m"), "m", 1, 16, &m)))
    return false;
  a->n = int(n);
  a->m = int(m);
  if (!get_quant(env, d.Get("quant"), &a->quant)) return false;
  Napi::Value pv = d.Get("parts");
  if (!pv.IsObject()) return fail(env, ErrorCode::argument, "matrix parts must be an object");
  Napi::Object parts = pv.As<Napi::Object>();
  for (int p = 0; p < int(Part::kNumParts); ++p) {
    Napi::Value b = parts.Get(part_name(Part(p)));
    if (b.IsUndefined() || b.IsNull()) continue;
    JsBuffer jb = buffer_of(b);
    if (!jb.ok) return fail(env, ErrorCode::argument, std::string(part_name(Part(p))) + " must be a TypedArray or ArrayBuffer");
    a->parts[p] = {jb.data, jb.bytes};
  }
  return true;
}

Napi::Value wrap(Napi::Env env, PackedMatrix&& pm) {
  auto* box = new MatrixBox();
  box->bytes = total_bytes(pm);
  box->m = std::make_shared<const PackedMatrix>(std::move(pm));
  Napi::MemoryManagement::AdjustExternalMemory(env, box->bytes);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<MatrixBox>::New(env, box, [](Napi::Env env, MatrixBox* b) {
    drop(env, b);
    delete b;
  }));
  Napi::Object sizes = Napi::Object::New(env);
  for (int p = 0; p < int(Part::kNumParts); ++p)
    if (matrix_has_part(box->m->format, box->m->quant, Part(p))) sizes.Set(part_name(Part(p)), double(box->m->parts[p].size()));
  o.Set("partBytes", sizes);
  o.Set("nnz", double(stored_count(box->m->view())));
  o.Set("derivedBytes", double(box->m->aux.size()));
  return o;
}

// matrixFromParts(desc) -> { handle, partBytes, nnz, derivedBytes }: copies, then validates the copy.
Napi::Value FromParts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MatrixView a;
  if (!decode_desc(env, info[0], &a)) return env.Undefined();
  return wrap_validated_copy(env, a);
}

// matrixPart(handle, name) -> a new ArrayBuffer holding a copy of the part.
Napi::Value PartCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MatrixBox* box = box_of(env, info[0]);
  Part p;
  if (!box) return env.Undefined();
  if (!info[1].IsString() || !part_from_name(info[1].As<Napi::String>().Utf8Value().c_str(), &p)) {
    fail(env, ErrorCode::argument, "unknown part name");
    return env.Undefined();
  }
  const std::vector<uint8_t>& bytes = box->m->parts[int(p)];
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes.size());
  if (!bytes.empty()) std::memcpy(ab.Data(), bytes.data(), bytes.size());
  return ab;
}

// matrixDispose(handle): frees the parts now unless work in flight still holds them; idempotent.
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) drop(info.Env(), info[0].As<Napi::External<MatrixBox>>().Data());
  return info.Env().Undefined();
}

}  // namespace

Napi::Value wrap_packed(Napi::Env env, PackedMatrix&& pm) { return wrap(env, std::move(pm)); }

Napi::Value wrap_validated_copy(Napi::Env env, const MatrixView& src) {
  PackedMatrix pm;
  Status st;
  try {
    st = copy_validated(src, &pm);
  } catch (const std::bad_alloc&) {
    st = Status::Error(ErrorCode::memory, "out of host memory copying the parts");
  }
  if (!st.ok()) {
    throw_status(env, st);
    return env.Undefined();
  }
  return wrap(env, std::move(pm));
}

// desc: { handle } for packed matrices, or { format: 'dense', dtype, rows, cols, parts: { values } }
// for a dense Tensor used as a weight (its bytes carry no indices, so later writes cannot move a
// read out of bounds). Other formats with JS parts are refused: they must go through
// matrixFromParts. With `keep` (async work), a reference to the native parts travels with the
// call so that a dispose() while it runs frees them only when it has finished.
bool get_matrix(Napi::Env env, const Napi::Value& v, MatrixView* a, std::vector<Napi::Value>* keep) {
  if (!v.IsObject()) return fail(env, ErrorCode::argument, "matrix descriptor must be an object");
  Napi::Value hv = v.As<Napi::Object>().Get("handle");
  if (!hv.IsUndefined()) {
    MatrixBox* box = box_of(env, hv);
    if (!box) return false;
    *a = box->m->view();
    if (keep) {
      auto* pin = new Held(box->m);
      keep->push_back(Napi::External<Held>::New(env, pin, [](Napi::Env, Held* h) { delete h; }));
    }
    return true;
  }
  if (!decode_desc(env, v, a)) return false;
  if (a->format != Format::dense)
    return fail(env, ErrorCode::argument, std::string(format_name(a->format)) + " matrices are passed by handle (SparseMatrix.fromParts)");
  Status st = check_part_sizes(*a);
  if (!st.ok()) return fail(env, st.code, st.message);
  if (keep) keep->push_back(v.As<Napi::Object>().Get("parts").As<Napi::Object>().Get("values"));
  return true;
}

void register_matrix(Napi::Env env, Napi::Object exports) {
  exports.Set("matrixFromParts", Napi::Function::New(env, FromParts));
  exports.Set("matrixPart", Napi::Function::New(env, PartCopy));
  exports.Set("matrixDispose", Napi::Function::New(env, Dispose));
}

}  // namespace sk::addon
