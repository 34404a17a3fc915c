// Storage dtypes and the scalar conversions every layer shares.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sk {

enum class DType : uint8_t { f32 = 0, f16 = 1, bf16 = 2, i8 = 3, u8 = 4, i32 = 5 };

constexpr int kNumDTypes = 6;

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // the JS-facing name: "float32", "bfloat16", ...
bool dtype_from_name(const char* name, DType* out);
inline bool dtype_is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

inline float bits_to_f32(uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; }
inline uint32_t f32_to_bits(float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; }

inline float bf16_to_f32(uint16_t h) { return bits_to_f32(uint32_t(h) << 16); }

// Round to nearest, ties to even; NaN stays a (quiet) NaN rather than rounding into Inf.
inline uint16_t f32_to_bf16(float f) {
  uint32_t b = f32_to_bits(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t((b >> 16) | 0x40);
  b += 0x7fffu + ((b >> 16) & 1u);
  return uint16_t(b >> 16);
}

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13));
  if (exp == 0) {
    if (man == 0) return bits_to_f32(sign);
    // Subnormal half: value = man * 2^-24, exact in float.
    float v = float(man) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

// Round to nearest, ties to even, with overflow to Inf and gradual underflow.
inline uint16_t f32_to_f16(float f) {
  uint32_t b = f32_to_bits(f);
  uint16_t sign = uint16_t((b >> 16) & 0x8000u);
  uint32_t abs = b & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);          // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);         // rounds to >= 65520: Inf
  if (abs < 0x38800000u) {                                        // below 2^-14: subnormal or zero
    if (abs < 0x33000000u) return sign;                            // below half of 2^-24
    uint32_t exp = abs >> 23;
    uint32_t man = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - exp;                                   // 14 + (113 - exp) - 1 ... bring to 2^-24 units
    uint32_t q = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return uint16_t(sign | q);
  }
  uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u);
  return uint16_t(sign | ((r - 0x38000000u) >> 13));
}

// Reads element i of a float-typed buffer as float32.
// f rounded (nearest even) to a float dtype's precision: a 16-bit dtype's value as float32.
inline float round_to_dtype(float f, DType t) {
  return t == DType::bf16 ? bf16_to_f32(f32_to_bf16(f)) : t == DType::f16 ? f16_to_f32(f32_to_f16(f)) : f;
}

inline float load_as_f32(const void* p, DType t, size_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::bf16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::i8: return float(static_cast<const int8_t*>(p)[i]);
    case DType::u8: return float(static_cast<const uint8_t*>(p)[i]);
    case DType::i32: return float(static_cast<const int32_t*>(p)[i]);
  }
  return 0.f;
}

void store_from_f32(void* p, DType t, size_t i, float v);

}  // namespace sk
