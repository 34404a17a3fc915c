// cuSPARSELt through dlopen (host code only; a .cu so that nvcc supplies the CUDA runtime).
// Only the entry points used are declared, with the signatures of NVIDIA's cusparseLt.h; enum
// values and descriptor parameters come from sp24_route.h.
#include "cusparselt.h"

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "dynlib.h"
#include "sp24_route.h"

namespace sk::cuda {

namespace {

// cusparseLt.h declares its handle, descriptors and plan as fixed-size opaque byte arrays that the
// caller allocates: `typedef struct { uint8_t data[1024]; } cusparseLtHandle_t;` in 0.1-0.3 and
// data[11024] since 0.4 (the same for all five types). The library writes at most its own size,
// so a larger buffer is safe across versions while a smaller one would be memory corruption:
// reserve 16 KiB, 16-byte aligned.
struct alignas(16) Opaque {
  uint8_t data[16384];
};
static_assert(sizeof(Opaque) >= 11024, "cuSPARSELt opaque structs are 11024 bytes since 0.4");

struct Splt {
  LibState st;
  int (*GetProperty)(int, int*) = nullptr;
  int (*Init)(Opaque*) = nullptr;
  int (*DenseDescriptorInit)(const Opaque*, Opaque*, int64_t, int64_t, int64_t, uint32_t, int, int) = nullptr;
  int (*StructuredDescriptorInit)(const Opaque*, Opaque*, int64_t, int64_t, int64_t, uint32_t, int, int, int) = nullptr;
  int (*MatDescriptorDestroy)(const Opaque*) = nullptr;
  int (*MatmulDescriptorInit)(const Opaque*, Opaque*, int, int, const Opaque*, const Opaque*, const Opaque*, const Opaque*,
                              int) = nullptr;
  int (*MatmulAlgSelectionInit)(const Opaque*, Opaque*, const Opaque*, int) = nullptr;
  int (*MatmulAlgSelectionDestroy)(const Opaque*) = nullptr;  // 0.8 and newer; optional
  int (*MatmulPlanInit)(const Opaque*, Opaque*, const Opaque*, const Opaque*) = nullptr;
  int (*MatmulPlanDestroy)(const Opaque*) = nullptr;
  int (*MatmulGetWorkspace)(const Opaque*, const Opaque*, size_t*) = nullptr;
  int (*PruneCheck2)(const Opaque*, const Opaque*, int, int, const void*, int*, cudaStream_t) = nullptr;
  int (*CompressedSize2)(const Opaque*, const Opaque*, size_t*, size_t*) = nullptr;
  int (*Compress2)(const Opaque*, const Opaque*, int, int, const void*, void*, void*, cudaStream_t) = nullptr;
  int (*Matmul)(const Opaque*, const Opaque*, const void*, const void*, const void*, const void*, const void*, void*, void*,
                cudaStream_t*, int32_t) = nullptr;
};

Splt& splt() {
  static Splt s;
  static std::once_flag once;
  std::call_once(once, [] {
    DynLib lib = open_library({"libcusparseLt.so.0"}, "SPARSEKIT_CUSPARSELT_PATH", {"cusparselt", "cu13", "cu12"});
    if (!lib.handle) { s.st.why = "libcusparseLt: " + lib.why; return; }
    std::string missing;
    lib.bind(s.GetProperty, "cusparseLtGetProperty", &missing);
    lib.bind(s.Init, "cusparseLtInit", &missing);
    lib.bind(s.DenseDescriptorInit, "cusparseLtDenseDescriptorInit", &missing);
    lib.bind(s.StructuredDescriptorInit, "cusparseLtStructuredDescriptorInit", &missing);
    lib.bind(s.MatDescriptorDestroy, "cusparseLtMatDescriptorDestroy", &missing);
    lib.bind(s.MatmulDescriptorInit, "cusparseLtMatmulDescriptorInit", &missing);
    lib.bind(s.MatmulAlgSelectionInit, "cusparseLtMatmulAlgSelectionInit", &missing);
    lib.bind(s.MatmulPlanInit, "cusparseLtMatmulPlanInit", &missing);
    lib.bind(s.MatmulPlanDestroy, "cusparseLtMatmulPlanDestroy", &missing);
    lib.bind(s.MatmulGetWorkspace, "cusparseLtMatmulGetWorkspace", &missing);
    lib.bind(s.PruneCheck2, "cusparseLtSpMMAPruneCheck2", &missing);
    lib.bind(s.CompressedSize2, "cusparseLtSpMMACompressedSize2", &missing);
    lib.bind(s.Compress2, "cusparseLtSpMMACompress2", &missing);
    lib.bind(s.Matmul, "cusparseLtMatmul", &missing);
    s.MatmulAlgSelectionDestroy = reinterpret_cast<int (*)(const Opaque*)>(lib.symbol("cusparseLtMatmulAlgSelectionDestroy", nullptr));
    if (!missing.empty()) { s.st.why = lib.path + " lacks " + missing; return; }
    int major = 0, minor = 0, patch = 0;  // MAJOR_VERSION = 0, MINOR_VERSION = 1, PATCH_LEVEL = 2
    if (s.GetProperty(0, &major) != 0 || s.GetProperty(1, &minor) != 0 || s.GetProperty(2, &patch) != 0) {
      s.st.why = lib.path + ": cusparseLtGetProperty failed";
      return;
    }
    s.st.version = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
    s.st.path = lib.path;
    // 0.6 renumbered cusparseComputeType (the values in sp24_route.h); 0.8 is what we were written
    // against (CUDA 13 builds, cusparseLtMatmulAlgSelectionDestroy).
    if (major == 0 && minor < 8) { s.st.why = lib.path + " is version " + s.st.version + ", sparsekit needs 0.8 or newer"; return; }
    s.st.loaded = true;
  });
  return s;
}

std::string fail(const char* what, int status) { return std::string(what) + " failed (cusparseStatus_t " + std::to_string(status) + ")"; }

// One library handle per device (the handle is tied to the device current at cusparseLtInit).
constexpr int kMaxDevices = 64;
const Opaque* handle_for(int device, std::string* err) {
  static std::unique_ptr<Opaque> handles[kMaxDevices];
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (device < 0 || device >= kMaxDevices) { *err = "device id out of range"; return nullptr; }
  if (!handles[device]) {
    auto h = std::make_unique<Opaque>();
    if (int rc = splt().Init(h.get())) { *err = fail("cusparseLtInit", rc); return nullptr; }
    handles[device] = std::move(h);  // kept for the process lifetime, like the streams
  }
  return handles[device].get();
}

struct Plan {
  Opaque mat_b, mat_c, matmul, alg, plan;
  bool b = false, c = false, alg_ok = false, plan_ok = false;
  void* workspace = nullptr;
  ~Plan() {
    Splt& s = splt();
    if (plan_ok) s.MatmulPlanDestroy(&plan);
    if (alg_ok && s.MatmulAlgSelectionDestroy) s.MatmulAlgSelectionDestroy(&alg);
    if (c) s.MatDescriptorDestroy(&mat_c);
    if (b) s.MatDescriptorDestroy(&mat_b);
    if (workspace) cudaFree(workspace);
  }
};

}  // namespace

struct LtWeight {
  int device = 0, dtype = 1;
  int64_t M = 0, K = 0;
  const Opaque* handle = nullptr;
  Opaque mat_a;
  bool a = false;
  void* compressed = nullptr;
  std::mutex mu;
  std::map<LtPlanKey, std::unique_ptr<Plan>> plans;
  ~LtWeight() {
    cudaSetDevice(device);
    plans.clear();
    if (a) splt().MatDescriptorDestroy(&mat_a);
    if (compressed) cudaFree(compressed);
  }
};

const LibState& cusparselt_state() { return splt().st; }

std::string lt_compress(int device, int dtype, const void* w, int64_t M, int64_t K, cudaStream_t stream, LtWeight** out,
                        uint64_t* bytes) {
  *out = nullptr;
  *bytes = 0;
  Splt& s = splt();
  if (!s.st.loaded) return "cuSPARSELt is not available: " + s.st.why;
  std::string why = lt_weight_ineligible(M, K, dtype);
  if (!why.empty()) return why;
  auto lw = std::make_unique<LtWeight>();
  lw->device = device;
  lw->dtype = dtype;
  lw->M = M;
  lw->K = K;
  lw->handle = handle_for(device, &why);
  if (!lw->handle) return why;
  const LtMatmulParams p = lt_matmul_params(M, K, lt::kDenseMultiple, dtype, dtype);
  if (int rc = s.StructuredDescriptorInit(lw->handle, &lw->mat_a, p.a.rows, p.a.cols, p.a.ld, lt::kAlignment, p.a.value_type,
                                          p.a.order, lt::kSparsity50))
    return fail("cusparseLtStructuredDescriptorInit", rc);
  lw->a = true;
  // The weight must be 2:4 along K in cuSPARSELt's reading too, or the product would be silently
  // wrong: check on the device before compressing.
  int* d_valid = nullptr;
  if (cudaMalloc(&d_valid, sizeof(int)) != cudaSuccess) { cudaGetLastError(); return "cudaMalloc (prune check flag) failed"; }
  int valid = 1;
  int rc = s.PruneCheck2(lw->handle, &lw->mat_a, 1, p.op_a, w, d_valid, stream);
  cudaError_t e = rc ? cudaSuccess : cudaMemcpyAsync(&valid, d_valid, sizeof(int), cudaMemcpyDeviceToHost, stream);
  if (!rc && e == cudaSuccess) e = cudaStreamSynchronize(stream);
  cudaFree(d_valid);
  if (rc) return fail("cusparseLtSpMMAPruneCheck2", rc);
  if (e != cudaSuccess) return std::string("prune check copy: ") + cudaGetErrorString(e);
  if (valid != 0) return "cusparseLtSpMMAPruneCheck2 rejects the weight as not 2:4 along K (our kernel runs it)";
  size_t csize = 0, cbuf = 0;
  if ((rc = s.CompressedSize2(lw->handle, &lw->mat_a, &csize, &cbuf))) return fail("cusparseLtSpMMACompressedSize2", rc);
  void* buffer = nullptr;
  if (cudaMalloc(&lw->compressed, csize) != cudaSuccess || (cbuf && cudaMalloc(&buffer, cbuf) != cudaSuccess)) {
    cudaGetLastError();
    if (lw->compressed) { cudaFree(lw->compressed); lw->compressed = nullptr; }
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return "out of device memory for the cuSPARSELt copy: " + std::to_string(csize + cbuf) + " bytes with " +
           std::to_string(free_b) + " free";
  }
  rc = s.Compress2(lw->handle, &lw->mat_a, 1, p.op_a, w, lw->compressed, buffer, stream);
  e = rc ? cudaSuccess : cudaStreamSynchronize(stream);
  if (buffer) cudaFree(buffer);
  if (rc) return fail("cusparseLtSpMMACompress2", rc);
  if (e != cudaSuccess) return std::string("cuSPARSELt compression: ") + cudaGetErrorString(e);
  *bytes = csize;
  *out = lw.release();
  return "";
}

std::string lt_matmul(LtWeight* w, const void* x, int64_t n, int out_dtype, void* y, cudaStream_t stream) {
  Splt& s = splt();
  Plan* plan = nullptr;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    auto& slot = w->plans[lt_plan_key(n, w->dtype, out_dtype)];
    if (!slot) {
      auto pl = std::make_unique<Plan>();
      const LtMatmulParams p = lt_matmul_params(w->M, w->K, n, w->dtype, out_dtype);
      int rc = s.DenseDescriptorInit(w->handle, &pl->mat_b, p.b.rows, p.b.cols, p.b.ld, lt::kAlignment, p.b.value_type, p.b.order);
      if (rc) { w->plans.erase(lt_plan_key(n, w->dtype, out_dtype)); return fail("cusparseLtDenseDescriptorInit (x)", rc); }
      pl->b = true;
      rc = s.DenseDescriptorInit(w->handle, &pl->mat_c, p.c.rows, p.c.cols, p.c.ld, lt::kAlignment, p.c.value_type, p.c.order);
      if (!rc) pl->c = true;
      if (!rc) rc = s.MatmulDescriptorInit(w->handle, &pl->matmul, p.op_a, p.op_b, &w->mat_a, &pl->mat_b, &pl->mat_c, &pl->mat_c,
                                           p.compute_type);
      if (!rc && !(rc = s.MatmulAlgSelectionInit(w->handle, &pl->alg, &pl->matmul, lt::kAlgDefault))) pl->alg_ok = true;
      if (!rc && !(rc = s.MatmulPlanInit(w->handle, &pl->plan, &pl->matmul, &pl->alg))) pl->plan_ok = true;
      size_t ws = 0;
      if (!rc) rc = s.MatmulGetWorkspace(w->handle, &pl->plan, &ws);
      if (rc) { w->plans.erase(lt_plan_key(n, w->dtype, out_dtype)); return fail("cuSPARSELt plan setup", rc); }
      if (ws && cudaMalloc(&pl->workspace, ws) != cudaSuccess) {
        cudaGetLastError();
        w->plans.erase(lt_plan_key(n, w->dtype, out_dtype));
        return "out of device memory for the cuSPARSELt workspace (" + std::to_string(ws) + " bytes)";
      }
      slot = std::move(pl);
    }
    plan = slot.get();
  }
  const float alpha = 1.f, beta = 0.f;  // CUSPARSE_COMPUTE_32F takes float scalars
  cudaStream_t streams[1] = {stream};
  if (int rc = s.Matmul(w->handle, &plan->plan, &alpha, w->compressed, x, &beta, y, y, plan->workspace, streams, 1))
    return fail("cusparseLtMatmul", rc);
  return "";
}

void lt_release(LtWeight* w) { delete w; }

}  // namespace sk::cuda
