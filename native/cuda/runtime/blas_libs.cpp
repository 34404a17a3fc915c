#include "blas_libs.h"

#include <map>
#include <mutex>
#include <tuple>

#include "dynlib.h"

namespace sk::cuda {

namespace {

// ---- cuBLASLt ---------------------------------------------------------------------------------
using LtHandle = void*;
using LtDesc = void*;
using LtLayout = void*;
using LtPref = void*;
struct LtAlgo { uint64_t data[8]; };
struct LtHeuristic { LtAlgo algo; size_t workspaceSize; int state; float wavesCount; int reserved[4]; };
constexpr int kComputeF32 = 68;                      // CUBLAS_COMPUTE_32F
constexpr int kR32F = 0, kR16F = 2, kR16BF = 14;     // cudaDataType_t
constexpr int kDescTransA = 3, kDescTransB = 4;      // CUBLASLT_MATMUL_DESC_TRANSA / _TRANSB
constexpr int kPrefMaxWorkspace = 1;                 // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
constexpr int kOpN = 0, kOpT = 1;

struct Lt {
  LibState st;
  size_t (*GetVersion)();
  int (*Create)(LtHandle*);
  int (*MatmulDescCreate)(LtDesc*, int, int);
  int (*MatmulDescDestroy)(LtDesc);
  int (*MatmulDescSetAttribute)(LtDesc, int, const void*, size_t);
  int (*MatrixLayoutCreate)(LtLayout*, int, uint64_t, uint64_t, int64_t);
  int (*MatrixLayoutDestroy)(LtLayout);
  int (*MatmulPreferenceCreate)(LtPref*);
  int (*MatmulPreferenceDestroy)(LtPref);
  int (*MatmulPreferenceSetAttribute)(LtPref, int, const void*, size_t);
  int (*MatmulAlgoGetHeuristic)(LtHandle, LtDesc, LtLayout, LtLayout, LtLayout, LtLayout, LtPref, int, LtHeuristic*, int*);
  int (*Matmul)(LtHandle, LtDesc, const void*, const void*, LtLayout, const void*, LtLayout, const void*, const void*,
                LtLayout, void*, LtLayout, const LtAlgo*, void*, size_t, void*);
};

Lt& lt() {
  static Lt l;
  static std::once_flag once;
  std::call_once(once, [] {
    DynLib lib = open_library({"libcublasLt.so.13", "libcublasLt.so.12"}, "SPARSEKIT_CUBLASLT_PATH", {"cublas", "cu13", "cu12"});
    if (!lib.handle) { l.st.why = "libcublasLt: " + lib.why; return; }
    std::string missing;
    lib.bind(l.GetVersion, "cublasLtGetVersion", &missing);
    lib.bind(l.Create, "cublasLtCreate", &missing);
    lib.bind(l.MatmulDescCreate, "cublasLtMatmulDescCreate", &missing);
    lib.bind(l.MatmulDescDestroy, "cublasLtMatmulDescDestroy", &missing);
    lib.bind(l.MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute", &missing);
    lib.bind(l.MatrixLayoutCreate, "cublasLtMatrixLayoutCreate", &missing);
    lib.bind(l.MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy", &missing);
    lib.bind(l.MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate", &missing);
    lib.bind(l.MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy", &missing);
    lib.bind(l.MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute", &missing);
    lib.bind(l.MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic", &missing);
    lib.bind(l.Matmul, "cublasLtMatmul", &missing);
    if (!missing.empty()) { l.st.why = lib.path + " lacks " + missing; return; }
    const size_t v = l.GetVersion();  // major * 10000 + minor * 100 + patch
    l.st.version = std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
    l.st.path = lib.path;
    if (v < 120000) { l.st.why = lib.path + " is version " + l.st.version + ", sparsekit needs 12.0 or newer"; return; }
    l.st.loaded = true;
  });
  return l;
}

int cuda_type(int dtype) { return dtype == 0 ? kR32F : dtype == 1 ? kR16F : kR16BF; }

}  // namespace

const LibState& cublaslt_state() { return lt().st; }

namespace {

constexpr int kMaxDevices = 64;

// The handle of each device, created with that device current and kept for the process, like
// the streams.
LtHandle handle_for(int device, std::string* err) {
  static LtHandle handles[kMaxDevices] = {};
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (device < 0 || device >= kMaxDevices) { *err = "device id out of range"; return nullptr; }
  if (!handles[device]) {
    if (int rc = lt().Create(&handles[device])) {
      handles[device] = nullptr;
      *err = "cublasLtCreate failed (cublasStatus_t " + std::to_string(rc) + ")";
    }
  }
  return handles[device];
}

// The first heuristic result per device and problem.
using AlgoKey = std::tuple<int, int, int, int64_t, int64_t, int64_t, size_t>;  // device, dtype, out, M, K, N, workspace
std::mutex algo_mu;
std::map<AlgoKey, LtAlgo>& algo_cache() {
  static std::map<AlgoKey, LtAlgo> m;
  return m;
}

}  // namespace

std::string cublaslt_linear(int device, int dtype, int out_dtype, const void* w, const void* x, void* y, int64_t M,
                            int64_t K, int64_t N, void* workspace, size_t workspace_bytes, void* stream) {
  Lt& l = lt();
  if (!l.st.loaded) return "cuBLASLt is not available: " + l.st.why;
  std::string err;
  LtHandle handle = handle_for(device, &err);
  if (!handle) return err;
  // Column-major view: Y^T (M x N, ld M) = op(W^T as K x M, ld K)^T * (X^T as K x N, ld K).
  LtDesc desc = nullptr;
  LtLayout a = nullptr, b = nullptr, c = nullptr;
  LtPref pref = nullptr;
  const int ta = kOpT, tb = kOpN;
  const uint64_t ws = workspace_bytes;
  const AlgoKey key{device, dtype, out_dtype, M, K, N, workspace_bytes};
  LtAlgo algo{};
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(algo_mu);
    auto it = algo_cache().find(key);
    if (it != algo_cache().end()) { algo = it->second; cached = true; }
  }
  LtHeuristic heur{};
  int found = 0;
  const float alpha = 1.f, beta = 0.f;
  if (l.MatmulDescCreate(&desc, kComputeF32, kR32F) || l.MatmulDescSetAttribute(desc, kDescTransA, &ta, sizeof ta) ||
      l.MatmulDescSetAttribute(desc, kDescTransB, &tb, sizeof tb) ||
      l.MatrixLayoutCreate(&a, cuda_type(dtype), uint64_t(K), uint64_t(M), K) ||
      l.MatrixLayoutCreate(&b, cuda_type(dtype), uint64_t(K), uint64_t(N), K) ||
      l.MatrixLayoutCreate(&c, cuda_type(out_dtype), uint64_t(M), uint64_t(N), M))
    err = "cuBLASLt descriptor setup failed";
  else if (!cached && (l.MatmulPreferenceCreate(&pref) || l.MatmulPreferenceSetAttribute(pref, kPrefMaxWorkspace, &ws, sizeof ws)))
    err = "cuBLASLt preference setup failed";
  else if (!cached && (l.MatmulAlgoGetHeuristic(handle, desc, a, b, c, c, pref, 1, &heur, &found) || found == 0))
    err = "cuBLASLt has no algorithm for this shape";
  if (err.empty() && !cached) {
    algo = heur.algo;
    std::lock_guard<std::mutex> lock(algo_mu);
    algo_cache()[key] = algo;
  }
  if (err.empty() && l.Matmul(handle, desc, &alpha, w, a, x, b, &beta, y, c, y, c, &algo, workspace, workspace_bytes, stream))
    err = "cublasLtMatmul failed";
  if (pref) l.MatmulPreferenceDestroy(pref);
  for (LtLayout p : {a, b, c})
    if (p) l.MatrixLayoutDestroy(p);
  if (desc) l.MatmulDescDestroy(desc);
  return err;
}

}  // namespace sk::cuda
