#include "dtype.h"
#include "status.h"

namespace sk {

namespace {
struct DTypeInfo { const char* name; size_t size; };
constexpr DTypeInfo kInfo[kNumDTypes] = {
    {"float32", 4}, {"float16", 2}, {"bfloat16", 2}, {"int8", 1}, {"uint8", 1}, {"int32", 4}};
}  // namespace

size_t dtype_size(DType t) { return kInfo[int(t)].size; }
const char* dtype_name(DType t) { return kInfo[int(t)].name; }

bool dtype_from_name(const char* name, DType* out) {
  for (int i = 0; i < kNumDTypes; ++i) {
    if (std::strcmp(name, kInfo[i].name) == 0) { *out = DType(i); return true; }
  }
  return false;
}

void store_from_f32(void* p, DType t, size_t i, float v) {
  switch (t) {
    case DType::f32: static_cast<float*>(p)[i] = v; break;
    case DType::f16: static_cast<uint16_t*>(p)[i] = f32_to_f16(v); break;
    case DType::bf16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(v); break;
    // Integer targets saturate and round half away from zero, NaN becomes 0.
    case DType::i8: {
      float r = v != v ? 0.f : (v < -128.f ? -128.f : (v > 127.f ? 127.f : v));
      static_cast<int8_t*>(p)[i] = int8_t(r < 0 ? r - 0.5f : r + 0.5f);
      break;
    }
    case DType::u8: {
      float r = v != v ? 0.f : (v < 0.f ? 0.f : (v > 255.f ? 255.f : v));
      static_cast<uint8_t*>(p)[i] = uint8_t(r + 0.5f);
      break;
    }
    case DType::i32: {
      double d = v != v ? 0.0 : double(v);
      d = d < -2147483648.0 ? -2147483648.0 : (d > 2147483647.0 ? 2147483647.0 : d);
      static_cast<int32_t*>(p)[i] = int32_t(d < 0 ? d - 0.5 : d + 0.5);
      break;
    }
  }
}

const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::ok: return "OK";
    case ErrorCode::shape: return "ERR_SHAPE";
    case ErrorCode::dtype: return "ERR_DTYPE";
    case ErrorCode::format: return "ERR_FORMAT";
    case ErrorCode::device: return "ERR_DEVICE";
    case ErrorCode::numeric: return "ERR_NUMERIC";
    case ErrorCode::argument: return "ERR_ARGUMENT";
    case ErrorCode::aborted: return "ERR_ABORTED";
    case ErrorCode::memory: return "ERR_MEMORY";
    case ErrorCode::internal: return "ERR_INTERNAL";
    case ErrorCode::io: return "ERR_IO";
  }
  return "ERR_INTERNAL";
}

}  // namespace sk
