// Binding for native/solvers: CalibrationStats handles and the three pruning solvers. lib/prune.ts
// and lib/calibration.ts validate arguments first; checks here keep the process safe.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "bindings.h"
#include "napi_util.h"
#include "core/cpu_features.h"
#include "solvers/eigen.h"
#include "solvers/linalg.h"
#include "solvers/solvers.h"

namespace sk::addon {

namespace {

struct StatsHolder {
  std::shared_ptr<CalibrationStats> stats;
  int64_t reported = 0;  // bytes told to V8 through AdjustExternalMemory
};

bool fail(Napi::Env env, ErrorCode code, const std::string& msg) {
  make_error(env, code, msg).ThrowAsJavaScriptException();
  return false;
}

bool get_num(Napi::Env env, const Napi::Value& v, const char* what, double* out) {
  if (!v.IsNumber()) return fail(env, ErrorCode::argument, std::string(what) + " must be a number");
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

bool get_i64(Napi::Env env, const Napi::Value& v, const char* what, int64_t lo, int64_t hi, int64_t* out) {
  double d;
  if (!get_num(env, v, what, &d)) return false;
  if (!(d >= double(lo) && d <= double(hi)) || std::floor(d) != d)
    return fail(env, ErrorCode::argument, std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " +
                                              std::to_string(hi) + "]");
  *out = int64_t(d);
  return true;
}

bool get_stats(Napi::Env env, const Napi::Value& v, std::shared_ptr<CalibrationStats>* out) {
  if (!v.IsExternal()) return fail(env, ErrorCode::argument, "stats handle expected");
  StatsHolder* h = v.As<Napi::External<StatsHolder>>().Data();
  if (!h->stats) return fail(env, ErrorCode::argument, "CalibrationStats was disposed");
  *out = h->stats;
  return true;
}

void report_memory(Napi::Env env, StatsHolder* h) {
  const int64_t now = h->stats ? int64_t(h->stats->bytes()) : 0;
  Napi::MemoryManagement::AdjustExternalMemory(env, now - h->reported);
  h->reported = now;
}

// A weight argument: (buffer, dtype name, rows, cols).
bool get_weight(const Napi::CallbackInfo& info, WeightView* w, std::vector<Napi::Value>* keep) {
  Napi::Env env = info.Env();
  JsBuffer b = buffer_of(info[0]);
  if (!b.ok) return fail(env, ErrorCode::argument, "weight must be a TypedArray");
  if (!info[1].IsString() || !dtype_from_name(info[1].As<Napi::String>().Utf8Value().c_str(), &w->dtype) ||
      !dtype_is_float(w->dtype))
    return fail(env, ErrorCode::dtype, "weight dtype must be float32, float16 or bfloat16");
  if (!get_i64(env, info[2], "rows", 0, int64_t(1) << 40, &w->rows) || !get_i64(env, info[3], "cols", 0, int64_t(1) << 40, &w->cols))
    return false;
  if (b.bytes < uint64_t(w->rows) * uint64_t(w->cols) * dtype_size(w->dtype))
    return fail(env, ErrorCode::shape, "weight buffer too small for its shape");
  w->data = b.data;
  keep->push_back(info[0]);
  return true;
}

// { sparsity, n, m } -> Pattern (m = 0: unstructured).
bool get_pattern(Napi::Env env, const Napi::Object& o, Pattern* p) {
  int64_t n = 0, m = 0;
  if (!get_num(env, o.Get("sparsity"), "sparsity", &p->sparsity) || !get_i64(env, o.Get("n"), "n", 0, 1 << 20, &n) ||
      !get_i64(env, o.Get("m"), "m", 0, 1 << 20, &m))
    return false;
  p->n = int(n);
  p->m = int(m);
  return true;
}

// Gives a HostBuffer to a JS ArrayBuffer without copying; V8 is told about the memory.
Napi::ArrayBuffer adopt_host(Napi::Env env, HostBuffer&& buf) {
  if (buf.empty()) return Napi::ArrayBuffer::New(env, 0);
  const size_t size = buf.size();
  uint8_t* data = buf.release();
  Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(size));
  return Napi::ArrayBuffer::New(env, data, size, [](Napi::Env env, void* p, size_t* size) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -int64_t(*size));
    std::free(p);
    delete size;
  }, new size_t(size));
}

// Result buffers made by V8 on the JS thread before the solver runs (magnitude and Wanda write
// into them). V8 frees such memory itself when it collects the buffer, whereas an external
// buffer's finalizer (adopt_host) only runs on a later turn of the event loop: a loop of
// synchronous calls would keep every earlier result alive and take fresh pages for each call,
// and on the VMs we measured first-touching fresh pages costs more than the pruning itself.
struct JsOutputs {
  Napi::Reference<Napi::ArrayBuffer> weight, mask;
};

// Plain 4 KiB pages, on purpose (no MADV_HUGEPAGE): on the VMs we measured (free page reporting
// hands freed 2 MiB blocks back to the host), first-touching 225 MB of huge pages the host has
// to fault back in costs ~0.6 s of CPU against ~0.13 s with 4 KiB pages; huge pages only win
// (~0.03 s) when the memory was freed moments before. The solver's workers touch the pages first.
Napi::ArrayBuffer new_output(Napi::Env env, size_t bytes, HostBuffer* view) {
  Napi::ArrayBuffer b = Napi::ArrayBuffer::New(env, bytes);  // untouched pages until the solver writes them
  if (env.IsExceptionPending()) return b;
  view->wrap(static_cast<uint8_t*>(b.Data()), bytes);
  return b;
}

// Makes w's output buffers and points out at them; false (an error thrown) if V8 has no memory.
// in_place: the weight is written into w's own memory (`w_data`) and only the mask is made.
bool make_js_outputs(Napi::Env env, const WeightView& w, void* w_data, bool in_place, PruneOutput* out,
                     std::shared_ptr<JsOutputs>* js) {
  const size_t total = size_t(w.rows) * size_t(w.cols);
  auto o = std::make_shared<JsOutputs>();
  if (in_place) {
    out->weight.wrap(static_cast<uint8_t*>(w_data), total * dtype_size(w.dtype));
  } else {
    Napi::ArrayBuffer wb = new_output(env, total * dtype_size(w.dtype), &out->weight);
    if (!env.IsExceptionPending()) o->weight = Napi::Persistent(wb);
  }
  if (!env.IsExceptionPending()) {
    Napi::ArrayBuffer mb = new_output(env, total, &out->mask);
    if (!env.IsExceptionPending()) o->mask = Napi::Persistent(mb);
  }
  if (env.IsExceptionPending()) {
    env.GetAndClearPendingException();
    out->weight.reset();
    out->mask.reset();
    return fail(env, ErrorCode::memory, "out of memory for the " + std::to_string(w.rows) + "x" + std::to_string(w.cols) + " result");
  }
  *js = std::move(o);
  return true;
}

Napi::Object result_to_js(Napi::Env env, PruneOutput& r, const JsOutputs* js) {
  Napi::Object o = Napi::Object::New(env);
  // In place (js without a weight buffer): the weight is the caller's w, nothing to return.
  o.Set("weight", !js ? Napi::Value(adopt_host(env, std::move(r.weight))) : js->weight.IsEmpty() ? env.Null() : Napi::Value(js->weight.Value()));
  o.Set("mask", js ? js->mask.Value() : adopt_host(env, std::move(r.mask)));
  o.Set("pruned", double(r.pruned));
  o.Set("loss", r.loss);
  o.Set("alpha", r.alpha);
  o.Set("dampingUsed", r.damping_used);
  o.Set("retries", r.retries);
  o.Set("deadColumns", double(r.dead_columns));
  if (!r.scale.empty()) {
    std::vector<uint8_t> s(r.scale.size() * 4), z(r.zero.size() * 4);
    std::memcpy(s.data(), r.scale.data(), s.size());
    std::memcpy(z.data(), r.zero.data(), z.size());
    o.Set("scale", adopt_bytes(env, std::move(s)));
    o.Set("zero", adopt_bytes(env, std::move(z)));
  }
  if (!r.perm.empty()) {
    std::vector<uint8_t> b(r.perm.size() * 4);
    std::memcpy(b.data(), r.perm.data(), b.size());
    o.Set("perm", adopt_bytes(env, std::move(b)));
  }
  if (r.retained_before >= 0) {
    o.Set("retainedBefore", r.retained_before);
    o.Set("retainedAfter", r.retained_after);
  }
  if (r.swaps >= 0) o.Set("swaps", double(r.swaps));
  if (r.iters >= 0) {
    o.Set("iterations", r.iters);
    o.Set("rho", r.rho);
  }
  if (!r.group_scale.empty()) {
    std::vector<uint8_t> s(r.group_scale.size() * 2);
    std::memcpy(s.data(), r.group_scale.data(), s.size());
    o.Set("groupScale", adopt_bytes(env, std::move(s)));
    o.Set("groupZero", adopt_bytes(env, std::vector<uint8_t>(r.group_zero)));
  }
  return o;
}

// Where a solver's outputs go: JS ArrayBuffers made before it runs (JsOutputs; with in_place the
// weight is w itself), or (w == nullptr) buffers the solver allocates.
struct OutputPlan {
  const WeightView* w = nullptr;
  void* w_data = nullptr;  // w's memory, writable (in_place)
  bool in_place = false;
};

// Runs `solve` now (sync) or on a libuv thread (async), then converts the result.
Napi::Value finish(Napi::Env env, bool async, std::function<Status(PruneOutput*)> solve, const std::vector<Napi::Value>& keep,
                   const OutputPlan& plan = {}) {
  auto out = std::make_shared<PruneOutput>();
  std::shared_ptr<JsOutputs> js;
  if (plan.w && !make_js_outputs(env, *plan.w, plan.w_data, plan.in_place, out.get(), &js)) return env.Undefined();
  if (!async) {
    Status st = solve(out.get());
    if (!st.ok()) {
      throw_status(env, st);
      return env.Undefined();
    }
    return result_to_js(env, *out, js.get());
  }
  return PromiseWorker::Start(
      env, [solve, out] { return solve(out.get()); },
      [out, js](Napi::Env env) -> Napi::Value { return result_to_js(env, *out, js.get()); }, keep);
}

// ---- calibration ---------------------------------------------------------------------------

Napi::Value CalibCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t k;
  if (!get_i64(env, info[0], "k", 1, int64_t(1) << 20, &k)) return env.Undefined();
  auto stats = std::make_shared<CalibrationStats>(k, info[1].ToBoolean());
  Status st = stats->init();
  if (!st.ok()) {
    throw_status(env, st);
    return env.Undefined();
  }
  auto* h = new StatsHolder{stats, 0};
  auto ext = Napi::External<StatsHolder>::New(env, h, [](Napi::Env env, StatsHolder* h) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -h->reported);
    delete h;
  });
  report_memory(env, h);
  return ext;
}

struct AddCall {
  std::shared_ptr<CalibrationStats> stats;
  JsBuffer x;
  DType dtype;
  int64_t rows;
};

bool get_add_call(const Napi::CallbackInfo& info, AddCall* c) {
  Napi::Env env = info.Env();
  if (!get_stats(env, info[0], &c->stats)) return false;
  c->x = buffer_of(info[1]);
  if (!c->x.ok) return fail(env, ErrorCode::argument, "x must be a TypedArray");
  if (!info[2].IsString() || !dtype_from_name(info[2].As<Napi::String>().Utf8Value().c_str(), &c->dtype) || !dtype_is_float(c->dtype))
    return fail(env, ErrorCode::dtype, "x dtype must be float32, float16 or bfloat16");
  if (!get_i64(env, info[3], "rows", 0, int64_t(1) << 40, &c->rows)) return false;
  if (c->x.bytes < uint64_t(c->rows) * uint64_t(c->stats->k()) * dtype_size(c->dtype))
    return fail(env, ErrorCode::shape, "x buffer too small for its shape");
  return true;
}

Napi::Value CalibAdd(const Napi::CallbackInfo& info) {
  AddCall c;
  if (!get_add_call(info, &c)) return info.Env().Undefined();
  Status st = c.stats->add(c.x.data, c.dtype, c.rows);
  if (!st.ok()) throw_status(info.Env(), st);
  return info.Env().Undefined();
}

Napi::Value CalibAddAsync(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<AddCall>();
  if (!get_add_call(info, c.get())) return info.Env().Undefined();
  return PromiseWorker::Start(info.Env(), [c] { return c->stats->add(c->x.data, c->dtype, c->rows); }, nullptr, {info[1]});
}

Napi::Value CalibMerge(const Napi::CallbackInfo& info) {
  std::shared_ptr<CalibrationStats> a, b;
  if (!get_stats(info.Env(), info[0], &a) || !get_stats(info.Env(), info[1], &b)) return info.Env().Undefined();
  Status st = a->merge(*b);
  if (!st.ok()) throw_status(info.Env(), st);
  return info.Env().Undefined();
}

Napi::Value CalibInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<CalibrationStats> s;
  if (!get_stats(env, info[0], &s)) return env.Undefined();
  std::lock_guard<std::mutex> lk(s->mutex());
  Napi::Object o = Napi::Object::New(env);
  o.Set("k", double(s->k()));
  o.Set("hessian", s->has_hessian());
  o.Set("tokens", s->tokens());
  o.Set("batches", double(s->batches()));
  o.Set("bytes", double(s->bytes()));
  return o;
}

// Copies out Σx² (which = 'sumsq'), Σx (which = 'sum') or H = 2·S/tokens, symmetric (which = 'hessian'), as float64.
Napi::Value CalibRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<CalibrationStats> s;
  if (!get_stats(env, info[0], &s)) return env.Undefined();
  const std::string which = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  const bool hess = which == "hessian";
  std::lock_guard<std::mutex> lk(s->mutex());
  if (s->released()) {
    fail(env, ErrorCode::argument, "CalibrationStats was disposed");
    return env.Undefined();
  }
  const int64_t k = s->k();
  if (hess && !s->has_hessian()) {
    fail(env, ErrorCode::argument, "this CalibrationStats keeps no Hessian (create it with { hessian: true })");
    return env.Undefined();
  }
  std::vector<uint8_t> bytes(size_t(hess ? k * k : k) * 8);
  double* d = reinterpret_cast<double*>(bytes.data());
  if (!hess) {
    std::memcpy(d, which == "sum" ? s->sum() : s->sumsq(), size_t(k) * 8);
  } else {
    const double f = s->tokens() > 0 ? 2.0 / s->tokens() : 0.0;
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j <= i; ++j) d[i * k + j] = d[j * k + i] = f * s->xtx()[i * k + j];
  }
  return adopt_bytes(env, std::move(bytes));
}

Napi::Value CalibDispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) return env.Undefined();
  StatsHolder* h = info[0].As<Napi::External<StatsHolder>>().Data();
  if (h->stats) {
    h->stats->release();  // waits for a running add/solver to finish with it
    h->stats.reset();
  }
  report_memory(env, h);
  return env.Undefined();
}

// ---- solvers -------------------------------------------------------------------------------

// The arguments every solver shares: (w, dtype, rows, cols, [stats,] options with the pattern).
struct SolverCall {
  WeightView w;
  void* w_data = nullptr;  // w.data, writable (for inPlace)
  Pattern p;
  std::shared_ptr<CalibrationStats> stats;
  std::vector<Napi::Value> keep;
  Napi::Object o;
};

bool get_solver_call(const Napi::CallbackInfo& info, bool with_stats, SolverCall* c) {
  Napi::Env env = info.Env();
  if (!get_weight(info, &c->w, &c->keep) || (with_stats && !get_stats(env, info[4], &c->stats))) return false;
  c->w_data = const_cast<void*>(c->w.data);  // get_weight's buffer is a writable JS TypedArray
  const Napi::Value ov = info[with_stats ? 5 : 4];
  if (!ov.IsObject()) return fail(env, ErrorCode::argument, "options must be an object");
  c->o = ov.As<Napi::Object>();
  return get_pattern(env, c->o, &c->p);
}

Napi::Value Magnitude(const Napi::CallbackInfo& info, bool async) {
  SolverCall c;
  if (!get_solver_call(info, false, &c)) return info.Env().Undefined();
  const bool per_row = c.o.Get("perRow").ToBoolean();
  return finish(info.Env(), async, [w = c.w, p = c.p, per_row](PruneOutput* out) { return prune_magnitude(w, p, per_row, out); },
                c.keep, {&c.w, c.w_data, c.o.Get("inPlace").ToBoolean()});
}

Napi::Value Wanda(const Napi::CallbackInfo& info, bool async) {
  SolverCall c;
  if (!get_solver_call(info, true, &c)) return info.Env().Undefined();
  const bool alpha = c.o.Get("alphaSearch").ToBoolean();
  return finish(info.Env(), async,
                [w = c.w, p = c.p, stats = c.stats, alpha](PruneOutput* out) { return prune_wanda(w, *stats, p, alpha, out); }, c.keep,
                {&c.w, c.w_data, c.o.Get("inPlace").ToBoolean()});
}

// sparsegpt(w, dtype, rows, cols, stats, { sparsity, n, m, blockSize, damping, quantizeBits }, ctrl: Int32Array(3))
Napi::Value SparseGpt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SolverCall c;
  if (!get_solver_call(info, true, &c)) return env.Undefined();
  SparseGptOptions opt;
  int64_t bits = 0;
  if (!get_i64(env, c.o.Get("blockSize"), "blockSize", 1, int64_t(1) << 30, &opt.block_size) ||
      !get_num(env, c.o.Get("damping"), "damping", &opt.damping) || !get_i64(env, c.o.Get("quantizeBits"), "quantizeBits", 0, 8, &bits))
    return env.Undefined();
  opt.quant_bits = int(bits);
  Napi::Value qg = c.o.Get("quantizeGroup");
  if (!qg.IsUndefined()) {
    int64_t g;
    if (!get_i64(env, qg, "quantizeGroup", 0, 1 << 20, &g)) return env.Undefined();
    opt.quant_group = int(g);
    opt.quant_asym = !c.o.Get("quantizeSymmetric").ToBoolean();
  }
  Control control;
  if (info[6].IsTypedArray() && info[6].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    JsBuffer cb = buffer_of(info[6]);
    if (cb.bytes < 12) return fail(env, ErrorCode::argument, "control must be an Int32Array(3)"), env.Undefined();
    control.ctrl = static_cast<int32_t*>(cb.data);
    c.keep.push_back(info[6]);
  }
  return finish(env, true,
                [w = c.w, p = c.p, stats = c.stats, opt, control](PruneOutput* out) { return prune_sparsegpt(w, *stats, p, opt, control, out); },
                c.keep);
}

// The control cell (an Int32Array(3)) at info[i], if given.
bool get_control(const Napi::CallbackInfo& info, size_t i, SolverCall* c, Control* control) {
  if (info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    JsBuffer cb = buffer_of(info[i]);
    if (cb.bytes < 12) return fail(info.Env(), ErrorCode::argument, "control must be an Int32Array(3)");
    control->ctrl = static_cast<int32_t*>(cb.data);
    c->keep.push_back(info[i]);
  }
  return true;
}

// ria(w, dtype, rows, cols, stats, { sparsity, n, m, a, permute, refine, reconstruct, damping }, ctrl)
Napi::Value Ria(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SolverCall c;
  if (!get_solver_call(info, true, &c)) return env.Undefined();
  RiaOptions opt;
  if (!get_num(env, c.o.Get("a"), "a", &opt.a)) return env.Undefined();
  opt.permute = c.o.Get("permute").ToBoolean();
  opt.refine = c.o.Get("refine").ToBoolean();
  opt.reconstruct = c.o.Get("reconstruct").ToBoolean();
  if (opt.reconstruct && !get_num(env, c.o.Get("damping"), "damping", &opt.damping)) return env.Undefined();
  Control control;
  if (!get_control(info, 6, &c, &control)) return env.Undefined();
  return finish(env, true, [w = c.w, p = c.p, stats = c.stats, opt, control](PruneOutput* out) {
    double ret[2];
    Status st = prune_ria(w, *stats, p, opt, control, out, &out->perm, ret);
    if (p.nm()) {
      out->retained_before = ret[0];
      out->retained_after = ret[1];
    }
    return st;
  }, c.keep);
}

// dsnot(w, dtype, rows, cols, stats, { sparsity, n, m, initial, maxCycles, updateThreshold, powOfVar, sameSign, checkError, damping }, ctrl)
Napi::Value Dsnot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SolverCall c;
  if (!get_solver_call(info, true, &c)) return env.Undefined();
  DsnotOptions opt;
  int64_t cycles;
  if (!get_i64(env, c.o.Get("maxCycles"), "maxCycles", 0, 1 << 30, &cycles) ||
      !get_num(env, c.o.Get("updateThreshold"), "updateThreshold", &opt.update_threshold) ||
      !get_num(env, c.o.Get("powOfVar"), "powOfVar", &opt.pow_of_var) || !get_num(env, c.o.Get("damping"), "damping", &opt.damping))
    return env.Undefined();
  opt.max_cycles = int(cycles);
  const std::string initial = c.o.Get("initial").ToString().Utf8Value();
  opt.initial = initial == "sparsegpt"            ? DsnotOptions::Initial::sparsegpt
                : initial == "sparsegpt-saliency" ? DsnotOptions::Initial::sparsegpt_saliency
                                                  : DsnotOptions::Initial::wanda;
  opt.same_sign = c.o.Get("sameSign").ToBoolean();
  opt.check_error = c.o.Get("checkError").ToBoolean();
  Control control;
  if (!get_control(info, 6, &c, &control)) return env.Undefined();
  return finish(env, true, [w = c.w, p = c.p, stats = c.stats, opt, control](PruneOutput* out) {
    int64_t swaps = 0;
    Status st = prune_dsnot(w, *stats, p, opt, control, out, &swaps);
    out->swaps = swaps;
    return st;
  }, c.keep);
}

// alps(w, dtype, rows, cols, stats, { sparsity, n, m, rho, maxIter, updateIter, switchIter, cgIter, cgRtol, damping }, ctrl)
Napi::Value Alps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SolverCall c;
  if (!get_solver_call(info, true, &c)) return env.Undefined();
  AlpsOptions opt;
  int64_t mi, ui, si, ci;
  if (!get_num(env, c.o.Get("rho"), "rho", &opt.rho) || !get_i64(env, c.o.Get("maxIter"), "maxIter", 0, 1 << 20, &mi) ||
      !get_i64(env, c.o.Get("updateIter"), "updateIter", 1, 1 << 20, &ui) ||
      !get_i64(env, c.o.Get("switchIter"), "switchIter", 0, 1 << 20, &si) || !get_i64(env, c.o.Get("cgIter"), "cgIter", 0, 1 << 20, &ci) ||
      !get_num(env, c.o.Get("cgRtol"), "cgRtol", &opt.cg_rtol) || !get_num(env, c.o.Get("damping"), "damping", &opt.damping))
    return env.Undefined();
  opt.max_iter = int(mi);
  opt.update_iter = int(ui);
  opt.switch_iter = int(si);
  opt.cg_iter = int(ci);
  Control control;
  if (!get_control(info, 6, &c, &control)) return env.Undefined();
  return finish(env, true, [w = c.w, p = c.p, stats = c.stats, opt, control](PruneOutput* out) {
    int iters = 0;
    double rho = 0;
    Status st = prune_alps(w, *stats, p, opt, control, out, &iters, &rho);
    out->iters = iters;
    out->rho = rho;
    return st;
  }, c.keep);
}

Napi::Value SolverKernel(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), linalg_kernels(active_isa()).name);
}

// symmetricEigen(a: Float64Array (n*n, symmetric), n, ctrl?) -> Promise<{ values, vectors }> (ArrayBuffers of float64)
Napi::Value SymmetricEigen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n;
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    fail(env, ErrorCode::argument, "symmetricEigen: a must be a Float64Array");
    return env.Undefined();
  }
  if (!get_i64(env, info[1], "n", 0, 1 << 20, &n)) return env.Undefined();
  JsBuffer a = buffer_of(info[0]);
  if (a.bytes / 8 != uint64_t(n) * uint64_t(n)) {
    fail(env, ErrorCode::shape, "symmetricEigen: a must hold n * n values");
    return env.Undefined();
  }
  SolverCall c;
  Control control;
  if (!get_control(info, 2, &c, &control)) return env.Undefined();
  c.keep.push_back(info[0]);
  auto values = std::make_shared<std::vector<uint8_t>>();
  auto vectors = std::make_shared<std::vector<uint8_t>>();
  const double* src = static_cast<const double*>(a.data);
  return PromiseWorker::Start(
      env,
      [=]() {
        values->resize(size_t(n) * 8);
        vectors->resize(size_t(n) * size_t(n) * 8);
        return symmetric_eigen(src, n, reinterpret_cast<double*>(values->data()), reinterpret_cast<double*>(vectors->data()), control);
      },
      [=](Napi::Env e) {
        Napi::Object o = Napi::Object::New(e);
        o.Set("values", adopt_bytes(e, std::move(*values)));
        o.Set("vectors", adopt_bytes(e, std::move(*vectors)));
        return o;
      },
      c.keep);
}

}  // namespace

void register_solvers(Napi::Env env, Napi::Object exports) {
  exports.Set("calibCreate", Napi::Function::New(env, CalibCreate));
  exports.Set("calibAdd", Napi::Function::New(env, CalibAdd));
  exports.Set("calibAddAsync", Napi::Function::New(env, CalibAddAsync));
  exports.Set("calibMerge", Napi::Function::New(env, CalibMerge));
  exports.Set("calibInfo", Napi::Function::New(env, CalibInfo));
  exports.Set("calibRead", Napi::Function::New(env, CalibRead));
  exports.Set("calibDispose", Napi::Function::New(env, CalibDispose));
  exports.Set("pruneRia", Napi::Function::New(env, Ria));
  exports.Set("pruneDsnot", Napi::Function::New(env, Dsnot));
  exports.Set("pruneAlps", Napi::Function::New(env, Alps));
  exports.Set("pruneMagnitude", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Magnitude(i, false); }));
  exports.Set("pruneMagnitudeAsync", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Magnitude(i, true); }));
  exports.Set("pruneWanda", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Wanda(i, false); }));
  exports.Set("pruneWandaAsync", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Wanda(i, true); }));
  exports.Set("pruneSparseGpt", Napi::Function::New(env, SparseGpt));
  exports.Set("solverKernelName", Napi::Function::New(env, SolverKernel));
  exports.Set("symmetricEigen", Napi::Function::New(env, SymmetricEigen));
}

}  // namespace sk::addon
