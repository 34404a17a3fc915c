// Quantized values: spec checks, round-to-nearest packing, dequantizing unpack, validation.
#include "quant.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../core/sizes.h"
#include "../core/thread_pool.h"

namespace sk {

namespace {

std::string s(int64_t v) { return std::to_string(v); }
Status bad(const std::string& msg) { return Status::Error(ErrorCode::format, msg); }

bool group_allowed(int g) { return g == 32 || g == 64 || g == 128 || g == 256; }

}  // namespace

Status check_quant_spec(Format f, int64_t rows, int64_t cols, int n, int m, const QuantSpec& q) {
  if (q.bits != 4 && q.bits != 8)
    return Status::Error(ErrorCode::argument, "quantize.bits: expected 4 or 8, got " + s(q.bits));
  if (!group_allowed(q.group))
    return Status::Error(ErrorCode::argument, "quantize.groupSize: expected 32, 64, 128 or 256, got " + s(q.group));
  if (f != Format::dense && f != Format::bitmap && f != Format::nm)
    return Status::Error(ErrorCode::argument, std::string("quantize: the ") + format_name(f) +
                                                  " format has no quantized form (dense, bitmap and nm do)");
  uint64_t elems;
  if (!matrix_elements(rows, cols, &elems))
    return Status::Error(ErrorCode::shape, "shape [" + s(rows) + ", " + s(cols) + "] is out of range");
  if (cols % q.group != 0)
    return Status::Error(ErrorCode::shape, "quantize.groupSize: " + s(q.group) + " does not divide the " + s(cols) +
                                               " columns (groups run along K and must be whole)");
  if (f == Format::nm) {
    if (m < 1 || m > 16 || n < 1 || n > m)
      return Status::Error(ErrorCode::argument, "n:m must satisfy 1 <= n <= m <= 16, got " + s(n) + ":" + s(m));
    if (q.group % m != 0)
      return Status::Error(ErrorCode::argument, "quantize.groupSize: " + s(q.group) + " is not a multiple of m = " + s(m));
  }
  return Status::Ok();
}

Status check_matrix_header(const MatrixView& a) {
  if (!a.quant.on()) return check_shape_and_type(a.format, a.dtype, a.rows, a.cols, a.n, a.m);
  if (a.dtype != DType::u8)
    return Status::Error(ErrorCode::dtype, std::string("quantized values are uint8 codes, got dtype ") + dtype_name(a.dtype));
  return check_quant_spec(a.format, a.rows, a.cols, a.n, a.m, a.quant);
}

int64_t quant_stored_count(const MatrixView& a) {
  uint64_t count = 0;
  switch (a.format) {
    case Format::dense: return matrix_elements(a.rows, a.cols, &count) ? int64_t(count) : -1;
    case Format::nm: return a.rows >= 0 && a.cols >= 0 && a.m > 0 && mul_checked(uint64_t(a.rows), uint64_t(a.cols / a.m * a.n), &count) && count <= uint64_t(kMaxElements) ? int64_t(count) : -1;
    case Format::bitmap: return a.part(Part::row_ptr).bytes >= uint64_t(a.rows + 1) * 4 ? a.as<int32_t>(Part::row_ptr)[a.rows] : -1;
    default: return -1;
  }
}

Status quant_fit_group(float lo, float hi, int bits, bool asym, uint16_t* scale_bits, uint8_t* zero) {
  float scale;
  int z;
  if (asym) {
    scale = (hi - lo) / float(quant_max_code(bits));
  } else {
    scale = std::max(-lo, hi) / float(quant_sym_zero(bits) - 1);
  }
  if (!(scale > 0.f)) scale = 1.f;  // an all-zero group: any positive scale reproduces it
  uint16_t h = f32_to_f16(scale);
  if ((h & 0x7fffu) >= 0x7c00u)
    return Status::Error(ErrorCode::numeric, "quantize: a group's range (" + std::to_string(lo) + " .. " + std::to_string(hi) +
                                                 ") needs a scale beyond float16");
  if ((h & 0x7fffu) == 0) h = 1;  // underflow: the smallest subnormal keeps the scale positive
  const float sf = f16_to_f32(h);
  if (asym) {
    z = int(std::nearbyint(-lo / sf));
    z = std::min(std::max(z, 0), quant_max_code(bits));
  } else {
    z = quant_sym_zero(bits);
  }
  *scale_bits = h;
  *zero = uint8_t(z);
  return Status::Ok();
}

Status check_quant_grid(const uint16_t* scales, const uint8_t* zeros, int64_t count, int bits, const char* what) {
  for (int64_t i = 0; i < count; ++i) {
    const uint16_t h = scales[i];
    if ((h & 0x7c00u) == 0x7c00u) return bad(std::string(what) + ": scales[" + s(i) + "] is not finite (float16 bits 0x" +
                                             [&] { char b[8]; std::snprintf(b, sizeof b, "%04x", h); return std::string(b); }() + ")");
    if ((h & 0x7fffu) == 0) return bad(std::string(what) + ": scales[" + s(i) + "] is zero");
    if (h & 0x8000u) return bad(std::string(what) + ": scales[" + s(i) + "] is negative (" + std::to_string(f16_to_f32(h)) + ")");
  }
  if (zeros)
    for (int64_t i = 0; i < count; ++i)
      if (zeros[i] > quant_max_code(bits))
        return bad(std::string(what) + ": zeros[" + s(i) + "] = " + s(zeros[i]) + " does not fit in " + s(bits) + " bits");
  return Status::Ok();
}

Status check_quant_part_sizes(const MatrixView& a, int64_t stored) {
  if (stored < 0) return bad("the stored count overflows");
  uint64_t ugroups;
  if (a.rows < 0 || !mul_checked(uint64_t(a.rows), uint64_t(quant_groups_per_row(a.cols, a.quant.group)), &ugroups) || ugroups > uint64_t(kMaxElements))
    return bad("the group count overflows");
  const int64_t groups = int64_t(ugroups);
  auto expect = [&](Part p, int64_t want) -> Status {
    const uint64_t got = a.part(p).bytes;
    if (got != uint64_t(want) || (want > 0 && a.part(p).data == nullptr))
      return bad(std::string(format_name(a.format)) + " part '" + part_name(p) + "' must hold " + s(want) + " bytes, got " +
                 std::to_string(got));
    return Status::Ok();
  };
  SK_RETURN_IF_ERROR(expect(Part::values, quant_code_bytes(stored, a.quant.bits)));
  SK_RETURN_IF_ERROR(expect(Part::scales, groups * 2));
  if (a.quant.asym) return expect(Part::zeros, groups);
  if (a.part(Part::zeros).bytes != 0) return bad("a symmetric quantized matrix has no part 'zeros'");
  return Status::Ok();
}

Status validate_quant_parts(const MatrixView& a, int64_t stored) {
  const int64_t groups = a.rows * quant_groups_per_row(a.cols, a.quant.group);
  SK_RETURN_IF_ERROR(check_quant_grid(a.as<uint16_t>(Part::scales), a.quant.asym ? a.as<uint8_t>(Part::zeros) : nullptr, groups,
                                      a.quant.bits, "part"));
  if (a.quant.bits == 4 && stored % 2 == 1 && (a.as<uint8_t>(Part::values)[stored / 2] >> 4) != 0)
    return bad("values: the unused high nibble of the last byte must be zero");
  return Status::Ok();
}

Status pack_quantized(const void* dense, DType dtype, int64_t rows, int64_t cols, const PackOptions& opt, PackedMatrix* out) {
  const QuantSpec q = opt.quant;
  SK_RETURN_IF_ERROR(check_quant_spec(opt.format, rows, cols, opt.n, opt.m, q));
  if (!dtype_is_float(dtype))
    return Status::Error(ErrorCode::dtype, std::string("weights must be float32, float16 or bfloat16, got ") + dtype_name(dtype));
  PackOptions plain = opt;
  plain.quant = QuantSpec{};
  PackedMatrix fp;
  SK_RETURN_IF_ERROR(pack(dense, dtype, rows, cols, plain, &fp));
  MatrixView v = fp.view();
  const size_t es = dtype_size(dtype);
  const char* vals = static_cast<const char*>(v.part(Part::values).data);
  const int64_t gpr = quant_groups_per_row(cols, q.group), groups = rows * gpr;
  const int64_t stored = stored_count(v);

  std::vector<uint16_t> scales(static_cast<size_t>(groups));
  std::vector<uint8_t> zeros(static_cast<size_t>(groups));
  std::atomic<int64_t> bad_value{-1};
  if (opt.scales) {
    SK_RETURN_IF_ERROR(check_quant_grid(opt.scales, q.asym ? opt.zeros : nullptr, groups, q.bits, "options.quant"));
    for (int64_t i = 0; i < groups; ++i) {
      scales[size_t(i)] = opt.scales[i];
      zeros[size_t(i)] = q.asym ? opt.zeros[i] : uint8_t(quant_sym_zero(q.bits));
    }
  } else {
    std::atomic<bool> failed{false};
    Status fit_error;
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      std::vector<float> lo(static_cast<size_t>(gpr)), hi(static_cast<size_t>(gpr));
      for (int64_t r = b; r < e; ++r) {
        std::fill(lo.begin(), lo.end(), 0.f);
        std::fill(hi.begin(), hi.end(), 0.f);
        for_each_code(v, r, r + 1, [&](int64_t, int64_t c, int64_t vi) {
          const float w = load_as_f32(vals, dtype, size_t(vi));
          if (!std::isfinite(w)) { int64_t none = -1; bad_value.compare_exchange_strong(none, r * cols + c); return; }
          const size_t g = size_t(c / q.group);
          lo[g] = std::min(lo[g], w);
          hi[g] = std::max(hi[g], w);
        });
        for (int64_t g = 0; g < gpr; ++g) {
          Status st = quant_fit_group(lo[size_t(g)], hi[size_t(g)], q.bits, q.asym, &scales[size_t(r * gpr + g)], &zeros[size_t(r * gpr + g)]);
          if (!st.ok() && !failed.exchange(true)) fit_error = st;
        }
      }
    });
    if (bad_value.load() >= 0)
      return Status::Error(ErrorCode::numeric, "quantize: the weight at row " + s(bad_value.load() / cols) + ", column " +
                                                   s(bad_value.load() % cols) + " is not finite");
    if (failed.load()) return fit_error;
  }

  std::vector<uint8_t> codes(static_cast<size_t>(stored));
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    for_each_code(v, b, e, [&](int64_t r, int64_t c, int64_t vi) {
      const size_t g = size_t(r * gpr + c / q.group);
      codes[size_t(vi)] = uint8_t(quant_round(load_as_f32(vals, dtype, size_t(vi)), f16_to_f32(scales[g]), zeros[g], q.bits));
    });
  });
  (void)es;

  *out = PackedMatrix();
  out->format = opt.format;
  out->dtype = DType::u8;
  out->rows = rows;
  out->cols = cols;
  out->n = fp.n;
  out->m = fp.m;
  out->quant = q;
  out->parts[int(Part::masks)] = std::move(fp.parts[int(Part::masks)]);
  out->parts[int(Part::row_ptr)] = std::move(fp.parts[int(Part::row_ptr)]);
  auto& pv = out->parts[int(Part::values)];
  if (q.bits == 8) {
    pv = std::move(codes);
  } else {
    pv.assign(size_t(quant_code_bytes(stored, 4)), 0);
    for (int64_t i = 0; i < stored; ++i) pv[size_t(i / 2)] |= uint8_t(codes[size_t(i)] << ((i & 1) * 4));
  }
  auto& ps = out->parts[int(Part::scales)];
  ps.resize(size_t(groups) * 2);
  std::memcpy(ps.data(), scales.data(), ps.size());
  if (q.asym) out->parts[int(Part::zeros)] = std::move(zeros);
  derive_quant_aux(out);
  return Status::Ok();
}

void derive_quant_aux(PackedMatrix* pm) {
  pm->aux.clear();
  const MatrixView v = pm->view();
  const int64_t count = quant_code_sums_count(v);
  if (count == 0) return;
  pm->aux.assign(size_t(count) * sizeof(int16_t), 0);
  int16_t* sums = reinterpret_cast<int16_t*>(pm->aux.data());
  const uint8_t* codes = v.as<uint8_t>(Part::values);
  const uint8_t* zeros = v.quant.asym ? v.as<uint8_t>(Part::zeros) : nullptr;
  const int G = v.quant.group, zero = quant_sym_zero(4);
  const int64_t gpr = quant_groups_per_row(v.cols, G);
  parallel_range(v.rows, 64, [&](int64_t b, int64_t e) {
    for_each_code(v, b, e, [&](int64_t r, int64_t c, int64_t vi) {
      const int64_t g = r * gpr + c / G;
      sums[g] = int16_t(sums[g] + int(quant_code(codes, 4, vi)) - (zeros ? int(zeros[g]) : zero));
    });
  });
}

Status unpack_quantized(const MatrixView& a, float* out) {
  std::memset(out, 0, size_t(a.rows * a.cols) * sizeof(float));
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = a.quant.asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  const int64_t gpr = quant_groups_per_row(a.cols, a.quant.group);
  const int sym_zero = quant_sym_zero(a.quant.bits);
  parallel_range(a.rows, 64, [&](int64_t b, int64_t e) {
    for_each_code(a, b, e, [&](int64_t r, int64_t c, int64_t vi) {
      const int64_t g = r * gpr + c / a.quant.group;
      const int z = zeros ? zeros[g] : sym_zero;
      out[r * a.cols + c] = float(int(quant_code(codes, a.quant.bits, vi)) - z) * f16_to_f32(scales[g]);
    });
  });
  return Status::Ok();
}

}  // namespace sk
