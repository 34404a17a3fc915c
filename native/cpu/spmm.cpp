// The spmm driver: picks a kernel, stages activations in the kernel's layout (fp32, or bf16 for the
// vdpbf16ps kernels), then splits rows over the pool in 16-row-aligned blocks (64-byte output
// lines are never shared by threads when the output is row-major fp32, and tiled-csl keeps whole
// 128-row tile bands).
#include "spmm.h"

#include <algorithm>
#include <memory>
#include <new>
#include <vector>

#include "../core/thread_pool.h"
#include "qspmm.h"

namespace sk {

const char* const kSpmmKernelIds[int(SpmmKernelId::count)] = {
#define SK_SPMM_KERNEL(id, what) #id,
#include "spmm_kernel_list.inc"
#undef SK_SPMM_KERNEL
};

SpmmKernel select_spmm_kernel(const MatrixView& a, int64_t n, Isa isa, DType x_dtype, ActivationRounding rounding) {
  // The activations' dtype as the bf16 kernels may see them: staging rounds when it is allowed.
  if (rounding == ActivationRounding::bf16 && dtype_is_float(x_dtype)) x_dtype = DType::bf16;
  if (a.quant.on()) return select_qspmm_kernel(a, n, isa, x_dtype, rounding);
  SpmmKernel k;
  if (a.format != Format::tiled_csl && a.rows > 0 && a.cols > 0) {
    switch (isa) {
      case Isa::avx512:
        if (x_dtype == DType::bf16 && a.dtype == DType::bf16 && cpu_features().avx512bf16) k = select_spmm_avx512_bf16(a, n);
        if (!k.fn) k = select_spmm_avx512(a, n);
        break;
      case Isa::avx2: k = select_spmm_avx2(a, n); break;
      case Isa::portable: k = select_spmm_portable(a, n); break;
    }
  }
  if (!k.fn) k = {spmm_gather, XLayout::k_major, "spmm_gather_portable"};
  return k;
}

namespace {

int64_t padded_k(int64_t cols) { return (cols + 63) / 64 * 64; }

// Copies x into buf: element (k, j) to buf[at(k, j)] when k_major (k-major layouts: fp32 k_major,
// bf16 k_pairs_bf16), else to buf[j * kp + k]; load(i) reads source element i as T.
template <class T, class Load, class At>
void stage_typed(const SpmmArgs& args, int64_t cols, int64_t kp, bool k_major, T* buf, Load load, At at) {
  const int64_t n = args.n;
  // Source element (k, j) lives at b[k*n + j] (spmm) or x[j*cols + k] (linear).
  const int64_t sk = args.b_is_kn ? n : 1, sj = args.b_is_kn ? 1 : cols;
  if (k_major) {
    // 64-column blocks keep both the strided reads (linear) and the strided writes in L1.
    parallel_range((cols + 63) / 64, 4, [&](int64_t b, int64_t e) {
      for (int64_t kb = b * 64; kb < std::min(cols, e * 64); kb += 64) {
        const int64_t ke = std::min(cols, kb + 64);
        for (int64_t j = 0; j < n; ++j)
          for (int64_t k = kb; k < ke; ++k) buf[at(k, j)] = load(size_t(k * sk + j * sj));
      }
    });
  } else {
    parallel_range(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        T* dst = buf + j * kp;
        for (int64_t k = 0; k < cols; ++k) dst[k] = load(size_t(k * sk + j * sj));
      }
    });
  }
}

template <class Load>
void stage_typed(const SpmmArgs& args, int64_t cols, int64_t kp, int64_t ld, XLayout layout, float* buf, Load load) {
  stage_typed(args, cols, kp, layout == XLayout::k_major, buf, load, [ld](int64_t k, int64_t j) { return k * ld + j; });
}

// Calls f(load), load(i) = source activation i as fp32, specialised for the float dtypes.
template <class F> void with_f32_loader(const SpmmArgs& args, F&& f) {
  const void* src = args.b;
  switch (args.b_dtype) {
    case DType::f32: {
      const float* p = static_cast<const float*>(src);
      f([p](size_t i) { return p[i]; });
      break;
    }
    case DType::bf16: {
      const uint16_t* p = static_cast<const uint16_t*>(src);
      f([p](size_t i) { return bf16_to_f32(p[i]); });
      break;
    }
    case DType::f16: {
      const uint16_t* p = static_cast<const uint16_t*>(src);
      f([p](size_t i) { return f16_to_f32(p[i]); });
      break;
    }
    default:
      f([&](size_t i) { return load_as_f32(src, args.b_dtype, i); });
  }
}

// Activations into the bf16 layouts (buf zeroed: the padding multiplies as 0): bf16 copied as
// they are; fp32 / f16 rounded to nearest-even (ActivationRounding::bf16, the caller's opt-in).
void stage_bf16(const SpmmArgs& args, int64_t cols, int64_t kp, int64_t ld, XLayout layout, uint16_t* buf) {
  auto stage = [&](auto load) {
    if (layout == XLayout::k_octs_bf16)
      stage_typed(args, cols, kp, true, buf, load, [ld](int64_t k, int64_t j) { return (k >> 3) * 8 * ld + 8 * j + (k & 7); });
    else if (layout == XLayout::k_major_bf16)
      stage_typed(args, cols, kp, true, buf, load, [ld](int64_t k, int64_t j) { return k * ld + j; });
    else
      stage_typed(args, cols, kp, layout == XLayout::k_pairs_bf16, buf, load,
                  [ld](int64_t k, int64_t j) { return (k >> 1) * 2 * ld + 2 * j + (k & 1); });
  };
  if (args.b_dtype == DType::bf16) {
    const uint16_t* p = static_cast<const uint16_t*>(args.b);
    stage([p](size_t i) { return p[i]; });
  } else {
    with_f32_loader(args, [&](auto load) { stage([load](size_t i) { return f32_to_bf16(load(i)); }); });
  }
}

// buf: zeroed, 64-byte aligned (whole cache lines per x row: the outer-product kernels load one
// random x row per nonzero, and a row straddling two lines cost them ~45% more here).
void stage_activations(const SpmmArgs& args, int64_t cols, int64_t kp, int64_t ld, XLayout layout, float* buf) {
  with_f32_loader(args, [&](auto load) { stage_typed(args, cols, kp, ld, layout, buf, load); });
}

// Per calling thread, reused across calls: fresh multi-megabyte allocations each call cost more
// in page faults than the kernel itself at small sizes. Buffers over kKeepBytes are released.
constexpr size_t kKeepBytes = size_t(64) << 20;
struct Scratch {
  std::unique_ptr<uint8_t[]> x, ws, prep;
  size_t x_cap = 0, ws_cap = 0, prep_cap = 0;
  // `bytes` of 64-byte-aligned memory, reused while big enough.
  static uint8_t* grow(std::unique_ptr<uint8_t[]>& p, size_t& cap, size_t bytes) {
    if (bytes + 64 > cap) {
      p.reset(new uint8_t[bytes + 64]);
      cap = bytes + 64;
    }
    return p.get() + (64 - reinterpret_cast<uintptr_t>(p.get()) % 64) % 64;
  }
  float* activations(size_t floats) {
    float* f = reinterpret_cast<float*>(grow(x, x_cap, floats * sizeof(float)));
    std::fill(f, f + floats, 0.f);
    return f;
  }
  uint8_t* workspace(size_t bytes) { return grow(ws, ws_cap, bytes); }
  uint8_t* prepared(size_t bytes) { return grow(prep, prep_cap, bytes); }
  void trim() {
    if (x_cap > kKeepBytes) { x.reset(); x_cap = 0; }
    if (ws_cap > kKeepBytes) { ws.reset(); ws_cap = 0; }
    if (prep_cap > kKeepBytes) { prep.reset(); prep_cap = 0; }
  }
};
thread_local Scratch t_scratch;

}  // namespace

// Rows per kernel call when an epilogue follows at N > 1 (at N = 1 the kernel takes the task's
// whole range: cpu/spmm.h RowEpilogue).
constexpr int64_t kEpilogueRows = 96;  // a multiple of the blocked kernels' 12- and 16-row steps

Status spmm_cpu(const MatrixView& a, const SpmmArgs& args, const RowEpilogue* epilogue) {
  if (a.rows == 0 || args.n == 0) return Status::Ok();
  const SpmmKernel k = select_spmm_kernel(a, args.n, active_isa(), args.b_dtype, args.activations);
  const int64_t kp = padded_k(a.format == Format::nm ? nm_padded_cols(a.cols, a.m) : a.cols);
  // Row partition: blocks of `align` rows, a few tasks per thread so uneven sparse rows balance.
  const int64_t align = a.format == Format::tiled_csl ? kTileRows : 16;
  const int64_t blocks = (a.rows + align - 1) / align;
  int64_t tasks = std::min<int64_t>(blocks, int64_t(get_num_threads()) * 4);
  const int64_t step = (blocks + tasks - 1) / tasks;
  tasks = (blocks + step - 1) / step;
  const int64_t ld = (args.n + k.n_align - 1) / k.n_align * k.n_align;
  const size_t ws_need = !k.needs_workspace ? 0 : k.workspace ? k.workspace(step * align, ld, kp) : spmm_workspace_bytes(step * align, ld, kp);
  const size_t ws_bytes = (ws_need + 63) / 64 * 64;
  Scratch& scratch = t_scratch;
  float* xbuf = nullptr;
  std::unique_ptr<float[]> bias_buf;
  float* bias = nullptr;  // the bias in float32, where the call needs a copy
  uint8_t* ws = nullptr;
  uint8_t* prep = nullptr;
  try {
    const bool bf16 = is_bf16_layout(k.layout);
    const bool kmaj = k.layout != XLayout::n_major && k.layout != XLayout::n_major_bf16;
    const int64_t elems = kmaj ? kp * ld : kp * args.n;
    // (bf16: 64 bytes of slack, the pairs kernel's unaligned x loads reach 2 bytes past a row)
    xbuf = scratch.activations(size_t(bf16 ? (elems + 1) / 2 + 16 : elems));
    if (bf16) {
      uint16_t* b16 = reinterpret_cast<uint16_t*>(xbuf);
      if (!stage_bf16_avx512(args, a.cols, kp, ld, k.layout, b16)) stage_bf16(args, a.cols, kp, ld, k.layout, b16);
    }
    else stage_activations(args, a.cols, kp, ld, k.layout, xbuf);
    // A float32 bias is read where it is; other dtypes need a copy, filled by each task for its
    // own rows.
    if (args.bias && args.bias_dtype != DType::f32) {
      bias_buf.reset(new float[size_t(a.rows)]);
      bias = bias_buf.get();
    }
    if (ws_bytes) ws = scratch.workspace(ws_bytes * size_t(tasks));
    if (k.prepare) prep = scratch.prepared(k.prepare_bytes(a, args.n, kp));
  } catch (const std::bad_alloc&) {
    scratch.trim();
    return Status::Error(ErrorCode::memory, "out of host memory staging activations");
  }
  OutputSpec out = args.out;
  out.bias = bias ? bias : static_cast<const float*>(args.bias);
  if (k.prepare) k.prepare(a, Activations{xbuf, args.n, kp, ld}, prep);
  parallel_for(tasks, [&](int64_t t) {
    const int64_t r0 = t * step * align, r1 = std::min(a.rows, (t + 1) * step * align);
    const bool bf16 = is_bf16_layout(k.layout);
    Activations x{bf16 ? nullptr : xbuf, args.n, kp, ld, ws_bytes ? ws + size_t(t) * ws_bytes : nullptr,
                  bf16 ? reinterpret_cast<const uint16_t*>(xbuf) : nullptr, prep};
    if (bias)
      for (int64_t r = r0; r < r1; ++r) bias[r] = load_as_f32(args.bias, args.bias_dtype, size_t(r));
    if (!epilogue) return k.fn(a, x, r0, r1, out);
    // N = 1: the whole range, then the epilogue once (cpu/spmm.h). N > 1: in slices of a few
    // aligned rows, so the epilogue finds the rows the kernel just wrote still in L1 and its reads
    // interleave with the kernel's weight stream.
    const int64_t slice = args.n == 1 ? r1 - r0 : std::max<int64_t>(align, kEpilogueRows / align * align);
    for (int64_t s = r0; s < r1; s += slice) {
      const int64_t e = std::min(r1, s + slice);
      k.fn(a, x, s, e, out);
      epilogue->fn(epilogue->ctx, s, e);
    }
  });
  scratch.trim();
  return Status::Ok();
}

}  // namespace sk
