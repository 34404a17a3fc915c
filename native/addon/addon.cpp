// The N-API binding: argument decoding, sync/async entry points, nothing else. lib/native.ts is
// the only caller; it has already checked shapes and dtypes and produces friendly messages, so the
// checks here exist to keep the process safe, not to be pleasant.
#include <napi.h>

#include <cmath>

#include "core/convert.h"
#include "core/cpu_features.h"
#include "core/sizes.h"
#include "core/thread_pool.h"
#include "cpu/spmm.h"
#include "formats/quant.h"
#include "formats/sparse_matrix.h"
#include "solvers/slorb.h"
#include "bindings.h"
#include "napi_util.h"

namespace sk::addon {

namespace {

bool fail(Napi::Env env, ErrorCode code, const std::string& msg) {
  make_error(env, code, msg).ThrowAsJavaScriptException();
  return false;
}

bool get_dtype(Napi::Env env, const Napi::Value& v, const char* what, DType* out) {
  if (!v.IsString() || !dtype_from_name(v.As<Napi::String>().Utf8Value().c_str(), out))
    return fail(env, ErrorCode::dtype, std::string(what) + ": unknown dtype");
  return true;
}

bool get_int(Napi::Env env, const Napi::Value& v, const char* what, int64_t lo, int64_t hi, int64_t* out) {
  if (!v.IsNumber()) return fail(env, ErrorCode::argument, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= double(lo) && d <= double(hi)) || std::floor(d) != d)
    return fail(env, ErrorCode::shape, std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " +
                                           std::to_string(hi) + "], got " + std::to_string(d));
  *out = int64_t(d);
  return true;
}

bool get_buffer(Napi::Env env, const Napi::Value& v, const char* what, JsBuffer* out) {
  *out = buffer_of(v);
  if (!out->ok) return fail(env, ErrorCode::argument, std::string(what) + " must be a TypedArray or ArrayBuffer");
  return true;
}

// MatmulOptions.activations as the call carries it: undefined / 'float32' (as given), 'bfloat16'
// (float activations may be rounded to bf16) or 'int8' (quantized weights' kernels may round them
// to int8; lib/ops.ts allows it only with quantized weights).
bool get_activations(Napi::Env env, const Napi::Value& v, ActivationRounding* out) {
  *out = ActivationRounding::none;
  if (v.IsUndefined()) return true;
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (s == "float32") return true;
  if (s == "bfloat16") {
    *out = ActivationRounding::bf16;
    return true;
  }
  if (s == "int8") {
    *out = ActivationRounding::int8;
    return true;
  }
  return fail(env, ErrorCode::argument, "activations must be 'float32', 'bfloat16' or 'int8'");
}

bool get_format(Napi::Env env, const Napi::Value& v, Format* out) {
  if (!v.IsString() || !format_from_name(v.As<Napi::String>().Utf8Value().c_str(), out))
    return fail(env, ErrorCode::argument, "unknown sparse format");
  return true;
}

}  // namespace

// quant: undefined / null (float values) or { bits, groupSize, symmetric }.
bool get_quant(Napi::Env env, const Napi::Value& v, QuantSpec* q) {
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsObject()) return fail(env, ErrorCode::argument, "quant must be an object");
  Napi::Object o = v.As<Napi::Object>();
  int64_t bits, group;
  if (!get_int(env, o.Get("bits"), "quant.bits", 0, 64, &bits) || !get_int(env, o.Get("groupSize"), "quant.groupSize", 0, 1 << 20, &group))
    return false;
  q->bits = int(bits);
  q->group = int(group);
  q->asym = !o.Get("symmetric").ToBoolean();
  return true;
}


namespace {

// ---- tensors -------------------------------------------------------------------------------

Napi::Value Convert(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  JsBuffer src, dst;
  DType st, dt;
  if (!get_buffer(env, info[0], "src", &src) || !get_dtype(env, info[1], "src dtype", &st) ||
      !get_buffer(env, info[2], "dst", &dst) || !get_dtype(env, info[3], "dst dtype", &dt))
    return env.Undefined();
  size_t n = src.bytes / dtype_size(st);
  if (dst.bytes < n * dtype_size(dt)) {
    fail(env, ErrorCode::shape, "convert: destination too small");
    return env.Undefined();
  }
  convert(src.data, st, dst.data, dt, n);
  return env.Undefined();
}

Napi::Value FillRandom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  JsBuffer dst;
  DType dt;
  if (!get_buffer(env, info[0], "dst", &dst) || !get_dtype(env, info[1], "dtype", &dt)) return env.Undefined();
  if (!info[2].IsBigInt() || !info[3].IsString() || !info[4].IsNumber() || !info[5].IsNumber()) {
    fail(env, ErrorCode::argument, "fillRandom(dst, dtype, seed: bigint, dist, a, b)");
    return env.Undefined();
  }
  bool lossless;
  uint64_t seed = info[2].As<Napi::BigInt>().Uint64Value(&lossless);
  std::string dist = info[3].As<Napi::String>().Utf8Value();
  fill_random(dst.data, dt, dst.bytes / dtype_size(dt), seed, dist == "normal" ? Distribution::normal : Distribution::uniform,
              info[4].As<Napi::Number>().DoubleValue(), info[5].As<Napi::Number>().DoubleValue());
  return env.Undefined();
}

// ---- formats -------------------------------------------------------------------------------

struct PackCall {
  JsBuffer dense;
  DType dtype;
  int64_t rows, cols;
  PackOptions opt;
  std::vector<Napi::Value> keep;
};

// pack(dense, dtype, rows, cols, { format, n, m, mask, prune })
bool get_pack_call(const Napi::CallbackInfo& info, PackCall* c) {
  Napi::Env env = info.Env();
  if (!get_buffer(env, info[0], "dense", &c->dense) || !get_dtype(env, info[1], "dtype", &c->dtype) ||
      !get_int(env, info[2], "rows", 0, kMaxDim, &c->rows) ||
      !get_int(env, info[3], "cols", 0, kMaxDim, &c->cols))
    return false;
  if (!info[4].IsObject()) return fail(env, ErrorCode::argument, "pack options must be an object");
  Napi::Object o = info[4].As<Napi::Object>();
  if (!get_format(env, o.Get("format"), &c->opt.format)) return false;
  if (c->opt.format == Format::nm) {
    int64_t n, m;
    if (!get_int(env, o.Get("n"), "n", 1, 16, &n) || !get_int(env, o.Get("m"), "m", 1, 16, &m)) return false;
    c->opt.n = int(n);
    c->opt.m = int(m);
  }
  c->opt.prune_magnitude = o.Get("prune").ToBoolean();
  if (!get_quant(env, o.Get("quant"), &c->opt.quant)) return false;
  uint64_t elems, bytes;
  if (!matrix_elements(c->rows, c->cols, &elems) || !bytes_of(elems, dtype_size(c->dtype), &bytes))
    return fail(env, ErrorCode::shape, "pack: shape is out of range (at most 2^40 elements)");
  if (c->opt.quant.on()) {
    // A grid computed elsewhere (sparsegpt's quant): fp16 scales and, asymmetric, uint8 zeros per group.
    Status st = check_quant_spec(c->opt.format, c->rows, c->cols, c->opt.n, c->opt.m, c->opt.quant);
    if (!st.ok()) return fail(env, st.code, st.message);
    const uint64_t groups = uint64_t(c->rows) * uint64_t(quant_groups_per_row(c->cols, c->opt.quant.group));
    Napi::Value sv = o.Get("scales"), zv = o.Get("zeros");
    if (!sv.IsUndefined() && !sv.IsNull()) {
      JsBuffer sb;
      if (!get_buffer(env, sv, "quant.scale", &sb)) return false;
      if (sb.bytes != groups * 2)
        return fail(env, ErrorCode::shape, "quant.scale: expected " + std::to_string(groups) + " float16 scales, got " + std::to_string(sb.bytes / 2));
      c->opt.scales = static_cast<const uint16_t*>(sb.data);
      c->keep.push_back(sv);
      if (c->opt.quant.asym) {
        JsBuffer zb;
        if (zv.IsUndefined() || zv.IsNull()) return fail(env, ErrorCode::argument, "quant.zero: an asymmetric grid needs its zero points");
        if (!get_buffer(env, zv, "quant.zero", &zb)) return false;
        if (zb.bytes != groups)
          return fail(env, ErrorCode::shape, "quant.zero: expected " + std::to_string(groups) + " zero points, got " + std::to_string(zb.bytes));
        c->opt.zeros = static_cast<const uint8_t*>(zb.data);
        c->keep.push_back(zv);
      }
    }
  }
  if (c->dense.bytes < bytes) return fail(env, ErrorCode::shape, "dense buffer too small for its shape");
  Napi::Value mv = o.Get("mask");
  if (!mv.IsUndefined() && !mv.IsNull()) {
    JsBuffer mb;
    if (!get_buffer(env, mv, "mask", &mb)) return false;
    if (mb.bytes < elems) return fail(env, ErrorCode::shape, "mask buffer too small for its shape");
    c->opt.mask = static_cast<const uint8_t*>(mb.data);
    c->keep.push_back(mv);
  }
  c->keep.push_back(info[0]);
  return true;
}

Napi::Value Pack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PackCall c;
  if (!get_pack_call(info, &c)) return env.Undefined();
  PackedMatrix pm;
  Status st = pack(c.dense.data, c.dtype, c.rows, c.cols, c.opt, &pm);
  if (!st.ok()) { throw_status(env, st); return env.Undefined(); }
  return wrap_packed(env, std::move(pm));
}

Napi::Value PackAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = std::make_shared<PackCall>();
  if (!get_pack_call(info, c.get())) return env.Undefined();
  auto pm = std::make_shared<PackedMatrix>();
  return PromiseWorker::Start(
      env, [c, pm] { return pack(c->dense.data, c->dtype, c->rows, c->cols, c->opt, pm.get()); },
      [pm](Napi::Env env) -> Napi::Value { return wrap_packed(env, std::move(*pm)); }, c->keep);
}

// `keep` only for async calls: it pins the matrix's native parts until the work settles.
bool get_unpack_call(const Napi::CallbackInfo& info, MatrixView* a, JsBuffer* out, std::vector<Napi::Value>* keep) {
  Napi::Env env = info.Env();
  if (!get_matrix(env, info[0], a, keep) || !get_buffer(env, info[1], "out", out)) return false;
  uint64_t elems, bytes;
  if (!matrix_elements(a->rows, a->cols, &elems) || !bytes_of(elems, dtype_size(unpacked_dtype(*a)), &bytes) || out->bytes < bytes)
    return fail(env, ErrorCode::shape, "unpack: output too small");
  if (keep) keep->push_back(info[1]);
  return true;
}

Napi::Value Unpack(const Napi::CallbackInfo& info) {
  MatrixView a;
  JsBuffer out;
  if (get_unpack_call(info, &a, &out, nullptr)) unpack(a, out.data);
  return info.Env().Undefined();
}

Napi::Value UnpackAsync(const Napi::CallbackInfo& info) {
  MatrixView a;
  JsBuffer out;
  std::vector<Napi::Value> keep;
  if (!get_unpack_call(info, &a, &out, &keep)) return info.Env().Undefined();
  return PromiseWorker::Start(info.Env(), [a, out] { return unpack(a, out.data); }, nullptr, keep);
}

// ---- kernels -------------------------------------------------------------------------------

struct SpmmCall {
  MatrixView a;
  SpmmArgs args;
  // SLoRB's term, added inside the same call (cpu/spmm.h's RowEpilogue).
  bool has_slorb = false;
  SlorbArgs slorb;
  std::vector<Napi::Value> keep;
};

// The product, with the SLoRB term when there is one (it reads the float32 rows the kernel wrote).
Status run_spmm_call(const SpmmCall& c) {
  if (!c.has_slorb) return spmm_cpu(c.a, c.args);
  // The term joins the product's row loop: each task adds S's rows for the rows it just wrote.
  SlorbTerm term;
  Status st = term.prepare(c.slorb);
  if (!st.ok()) return st;
  const RowEpilogue epilogue{&SlorbTerm::add_rows_of, &term};
  return spmm_cpu(c.a, c.args, &epilogue);
}

// spmm's optional third argument: null / undefined, or SLoRB arguments (slorb_binding.cpp checks them).
bool get_spmm_slorb(const Napi::CallbackInfo& info, SpmmCall* c) {
  if (info.Length() < 3 || info[2].IsNull() || info[2].IsUndefined()) return true;
  c->has_slorb = true;
  return get_slorb(info.Env(), info[2], &c->slorb, &c->keep);
}

// spmm(matrix, b, bDtype, bIsKn, n, bias|null, biasDtype, out, outDtype, rowStride, colStride)
// `async`: the call outlives this JS call, so what its buffers live in is kept in c->keep.
// spmm(matrix, { b, bDtype, bIsKn, n, bias?, biasDtype?, out, outDtype, rowStride, colStride })
bool get_spmm_call(const Napi::CallbackInfo& info, SpmmCall* c, bool async) {
  Napi::Env env = info.Env();
  if (!info[1].IsObject()) return fail(env, ErrorCode::argument, "spmm: the second argument must be an options object");
  Napi::Object o = info[1].As<Napi::Object>();
  Napi::Value bv = o.Get("b"), ov = o.Get("out"), biasv = o.Get("bias");
  JsBuffer b, out;
  int64_t n, rs, cs;
  if (!get_matrix(env, info[0], &c->a, async ? &c->keep : nullptr) || !get_buffer(env, bv, "b", &b) ||
      !get_dtype(env, o.Get("bDtype"), "bDtype", &c->args.b_dtype) || !get_int(env, o.Get("n"), "n", 0, int64_t(1) << 40, &n) ||
      !get_buffer(env, ov, "out", &out) || !get_dtype(env, o.Get("outDtype"), "outDtype", &c->args.out.dtype) ||
      !get_int(env, o.Get("rowStride"), "rowStride", 0, int64_t(1) << 50, &rs) ||
      !get_int(env, o.Get("colStride"), "colStride", 0, int64_t(1) << 50, &cs))
    return false;
  if (!get_activations(env, o.Get("activations"), &c->args.activations)) return false;
  if (!dtype_is_float(c->args.b_dtype) || !dtype_is_float(c->args.out.dtype))
    return fail(env, ErrorCode::dtype, "activations and output must be float32, float16 or bfloat16");
  c->args.b = b.data;
  c->args.b_is_kn = o.Get("bIsKn").ToBoolean();
  c->args.n = n;
  uint64_t b_bytes;
  if (!bytes_of(uint64_t(c->a.cols), uint64_t(n), dtype_size(c->args.b_dtype), &b_bytes) || b.bytes < b_bytes)
    return fail(env, ErrorCode::shape, "activations buffer too small");
  if (c->a.rows > 0 && n > 0) {
    // Index of the last output element, (rows-1)*rowStride + (n-1)*colStride, checked.
    uint64_t r_end, c_end, last, out_bytes;
    if (!mul_checked(uint64_t(c->a.rows - 1), uint64_t(rs), &r_end) || !mul_checked(uint64_t(n - 1), uint64_t(cs), &c_end) ||
        !add_checked(r_end, c_end, &last) || !bytes_of(last + 1, dtype_size(c->args.out.dtype), &out_bytes) || out.bytes < out_bytes)
      return fail(env, ErrorCode::shape, "output buffer too small");
  }
  c->args.out.data = out.data;
  c->args.out.row_stride = rs;
  c->args.out.col_stride = cs;
  if (!biasv.IsNull() && !biasv.IsUndefined()) {
    JsBuffer bias;
    if (!get_buffer(env, biasv, "bias", &bias) || !get_dtype(env, o.Get("biasDtype"), "biasDtype", &c->args.bias_dtype)) return false;
    if (bias.bytes < uint64_t(c->a.rows) * dtype_size(c->args.bias_dtype)) return fail(env, ErrorCode::shape, "bias buffer too small");
    c->args.bias = bias.data;
    c->keep.push_back(biasv);
  }
  c->keep.push_back(bv);
  c->keep.push_back(ov);
  return true;
}

Napi::Value Spmm(const Napi::CallbackInfo& info) {
  SpmmCall c;
  if (!get_spmm_call(info, &c, false) || !get_spmm_slorb(info, &c)) return info.Env().Undefined();
  Status st = run_spmm_call(c);
  if (!st.ok()) throw_status(info.Env(), st);
  return info.Env().Undefined();
}

Napi::Value SpmmAsync(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<SpmmCall>();
  if (!get_spmm_call(info, c.get(), true) || !get_spmm_slorb(info, c.get())) return info.Env().Undefined();
  return PromiseWorker::Start(info.Env(), [c] { return run_spmm_call(*c); }, nullptr, c->keep);
}

// ---- runtime -------------------------------------------------------------------------------

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n;
  if (get_int(info.Env(), info[0], "threads", 0, 1024, &n)) set_num_threads(int(n));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), get_num_threads()); }

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = cpu_features();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object feat = Napi::Object::New(env);
  feat.Set("avx2", f.avx2);
  feat.Set("fma", f.fma);
  feat.Set("f16c", f.f16c);
  feat.Set("avx512f", f.avx512f);
  feat.Set("avx512bw", f.avx512bw);
  feat.Set("avx512vl", f.avx512vl);
  feat.Set("avx512dq", f.avx512dq);
  feat.Set("avx512bf16", f.avx512bf16);
  feat.Set("avx512vbmi", f.avx512vbmi);
  feat.Set("avx512vbmi2", f.avx512vbmi2);
  feat.Set("avx512fp16", f.avx512fp16);
  feat.Set("avx512vnni", f.avx512vnni);
  o.Set("features", feat);
  o.Set("vendor", f.vendor);
  o.Set("family", f.family);
  o.Set("isa", isa_name(active_isa()));
  Napi::Array isas = Napi::Array::New(env);
  uint32_t i = 0;
  for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512})
    if (isa_supported(isa)) isas.Set(i++, isa_name(isa));
  o.Set("supportedIsas", isas);
  return o;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Isa isa;
  if (!info[0].IsString() || !isa_from_name(info[0].As<Napi::String>().Utf8Value().c_str(), &isa)) {
    fail(env, ErrorCode::argument, "isa must be 'portable', 'avx2' or 'avx512'");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, set_active_isa(isa));
}

Napi::Value KernelName(const Napi::CallbackInfo& info) {
  MatrixView a;
  int64_t n;
  DType x_dtype = DType::f32;  // the activations' dtype (optional third argument)
  ActivationRounding rounding;  // MatmulOptions.activations (optional fourth argument)
  if (!get_matrix(info.Env(), info[0], &a, nullptr) || !get_int(info.Env(), info[1], "n", 0, int64_t(1) << 40, &n) ||
      (!info[2].IsUndefined() && !get_dtype(info.Env(), info[2], "x dtype", &x_dtype)) ||
      !get_activations(info.Env(), info[3], &rounding))
    return info.Env().Undefined();
  return Napi::String::New(info.Env(), select_spmm_kernel(a, n, active_isa(), x_dtype, rounding).name);
}

// The ids of the CPU kernel table (native/cpu/spmm_kernel_list.inc), in table order.
Napi::Value SpmmKernelIds(const Napi::CallbackInfo& info) {
  Napi::Array ids = Napi::Array::New(info.Env(), size_t(SpmmKernelId::count));
  for (int i = 0; i < int(SpmmKernelId::count); ++i) ids.Set(uint32_t(i), kSpmmKernelIds[i]);
  return ids;
}

// The quantized kernels' names (native/cpu/qspmm_kernel_list.inc), in list order.
Napi::Value QspmmKernelNames(const Napi::CallbackInfo& info) {
  static const char* const kNames[] = {
#define SK_QSPMM_KERNEL(name, what) #name,
#include "../cpu/qspmm_kernel_list.inc"
#undef SK_QSPMM_KERNEL
  };
  Napi::Array names = Napi::Array::New(info.Env(), sizeof kNames / sizeof kNames[0]);
  for (uint32_t i = 0; i < names.Length(); ++i) names.Set(i, kNames[i]);
  return names;
}

}  // namespace

void register_core(Napi::Env env, Napi::Object exports) {
  exports.Set("convert", Napi::Function::New(env, Convert));
  exports.Set("fillRandom", Napi::Function::New(env, FillRandom));
  exports.Set("pack", Napi::Function::New(env, Pack));
  exports.Set("packAsync", Napi::Function::New(env, PackAsync));
  exports.Set("unpack", Napi::Function::New(env, Unpack));
  exports.Set("unpackAsync", Napi::Function::New(env, UnpackAsync));
  exports.Set("spmm", Napi::Function::New(env, Spmm));
  exports.Set("spmmAsync", Napi::Function::New(env, SpmmAsync));
  exports.Set("kernelName", Napi::Function::New(env, KernelName));
  exports.Set("spmmKernelIds", Napi::Function::New(env, SpmmKernelIds));
  exports.Set("qspmmKernelNames", Napi::Function::New(env, QspmmKernelNames));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
}

}  // namespace sk::addon

static Napi::Object InitSparsekit(Napi::Env env, Napi::Object exports) {
  sk::addon::register_core(env, exports);
  sk::addon::register_probes(env, exports);
  sk::addon::register_io(env, exports);
  sk::addon::register_cuda(env, exports);
#ifdef SPARSEKIT_TEST_ADDON
  sk::addon::register_replay(env, exports);
#endif
  // One call per area registered in bindings.h.
  sk::addon::register_solvers(env, exports);
  sk::addon::register_slorb(env, exports);
  sk::addon::register_model(env, exports);
  sk::addon::register_matrix(env, exports);
  return exports;
}


NODE_API_MODULE(sparsekit, InitSparsekit)
