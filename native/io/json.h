// A small strict JSON (RFC 8259) parser and string escaper for safetensors headers.
// Strict means: UTF-8 validated, no lone surrogates, no control characters in strings, no
// duplicate object keys, bounded nesting depth, nothing but whitespace after the value. It
// lives in the native core (not in TS) because the header decides which bytes of the mapping
// are read: the code that validates it must be the code that maps, and it must be fuzzable
// without Node.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../core/status.h"

namespace sk::json {

enum class Type { null, boolean, number, string, array, object };

struct Value {
  Type type = Type::null;
  bool boolean = false;
  std::string str;          // string: the decoded UTF-8; number: its literal text
  bool is_uint = false;     // number: a non-negative integer literal (no '.', no exponent) that fits uint64
  uint64_t uint = 0;
  std::vector<Value> items;                           // array
  std::vector<std::pair<std::string, Value>> fields;  // object, in file order

  const Value* find(const std::string& key) const;
};

constexpr int kMaxDepth = 64;

// Parses [data, data + size). Errors are ERR_FORMAT with the byte offset and what was expected.
Status parse(const char* data, size_t size, Value* out);

// Appends `s` as a JSON string literal (quotes included). `s` must be valid UTF-8; it is written
// as-is except for '"', '\\' and control characters.
void append_quoted(std::string* out, const std::string& s);

// True if [s, s + n) is well-formed UTF-8 (shortest forms, no surrogates, <= U+10FFFF).
bool valid_utf8(const char* s, size_t n);

}  // namespace sk::json
