#include "safetensors.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "../core/sizes.h"
#include "json.h"

namespace sk::st {

namespace {

struct DTypeInfo {
  const char* name;
  int bits;
};
// Every dtype the safetensors spec names; sizes in bits because of the sub-byte float formats.
constexpr DTypeInfo kDTypes[] = {
    {"BOOL", 8},    {"U8", 8},       {"I8", 8},       {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16},    {"F16", 16},     {"BF16", 16},    {"I32", 32},    {"U32", 32},    {"F32", 32},    {"F64", 64},
    {"I64", 64},    {"U64", 64},     {"C64", 64},     {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6},
};

Status bad(const std::string& tensor, const std::string& problem) {
  return Status::Error(ErrorCode::format, "safetensors: tensor '" + tensor + "': " + problem);
}

std::string shown(const std::string& name) {
  // Names come from untrusted files: cut absurd ones so messages stay readable.
  return name.size() <= 200 ? name : name.substr(0, 200) + "...";
}

Status parse_entry(const std::string& name, const json::Value& v, TensorEntry* e) {
  const std::string n = shown(name);
  if (v.type != json::Type::object) return bad(n, "entry must be an object with dtype, shape and data_offsets");
  for (const auto& f : v.fields)
    if (f.first != "dtype" && f.first != "shape" && f.first != "data_offsets")
      return bad(n, "unexpected field '" + shown(f.first) + "' (expected dtype, shape, data_offsets)");
  const json::Value* dt = v.find("dtype");
  const json::Value* sh = v.find("shape");
  const json::Value* off = v.find("data_offsets");
  if (!dt || dt->type != json::Type::string) return bad(n, "missing or non-string 'dtype'");
  const int bits = dtype_bits(dt->str);
  if (bits == 0) return bad(n, "unknown dtype '" + shown(dt->str) + "'");
  if (!sh || sh->type != json::Type::array) return bad(n, "missing or non-array 'shape'");
  if (sh->items.size() > size_t(kMaxRank)) return bad(n, "shape has more than " + std::to_string(kMaxRank) + " dimensions");
  if (!off || off->type != json::Type::array || off->items.size() != 2) return bad(n, "'data_offsets' must be [begin, end]");
  e->name = name;
  e->dtype = dt->str;
  // numel * bits, checked for overflow at every step (a hostile shape must not wrap around).
  uint64_t total_bits = uint64_t(bits);
  bool overflow = false;
  for (const auto& d : sh->items) {
    if (d.type != json::Type::number || !d.is_uint || d.uint > (uint64_t(1) << 62))
      return bad(n, "shape entries must be non-negative integers, got " + (d.type == json::Type::number ? d.str : std::string("a non-number")));
    e->shape.push_back(int64_t(d.uint));
    if (!mul_checked(total_bits, d.uint, &total_bits)) overflow = true;
  }
  for (const auto& o : off->items)
    if (o.type != json::Type::number || !o.is_uint) return bad(n, "data_offsets must be non-negative integers");
  e->begin = off->items[0].uint;
  e->end = off->items[1].uint;
  if (e->end < e->begin) return bad(n, "data_offsets end " + std::to_string(e->end) + " < begin " + std::to_string(e->begin));
  // A zero in the shape makes the size 0 whatever the other dims were.
  bool has_zero = false;
  for (int64_t d : e->shape) has_zero |= d == 0;
  if (has_zero) { overflow = false; total_bits = 0; }
  if (overflow) return bad(n, "shape is too large (element count overflows)");
  if (total_bits % 8 != 0) return bad(n, "shape does not fill whole bytes for dtype " + e->dtype);
  const uint64_t want = total_bits / 8;
  if (e->end - e->begin != want)
    return bad(n, "data_offsets span " + std::to_string(e->end - e->begin) + " bytes but dtype " + e->dtype + " x shape needs " +
                      std::to_string(want));
  return Status::Ok();
}

}  // namespace

int dtype_bits(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.bits;
  return 0;
}

bool to_sk_dtype(const std::string& name, DType* out) {
  static const std::pair<const char*, DType> map[] = {{"F32", DType::f32}, {"F16", DType::f16}, {"BF16", DType::bf16},
                                                      {"I8", DType::i8},   {"U8", DType::u8},   {"I32", DType::i32}};
  for (const auto& m : map)
    if (name == m.first) { *out = m.second; return true; }
  return false;
}

const char* from_sk_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
    case DType::i32: return "I32";
  }
  return "?";
}

Status parse_header(const uint8_t* file, uint64_t file_size, Header* out) {
  *out = Header();
  if (file_size < 8)
    return Status::Error(ErrorCode::format, "safetensors: file is " + std::to_string(file_size) +
                                                " bytes, too short for the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[i];
  if (n > kMaxHeaderBytes)
    return Status::Error(ErrorCode::format, "safetensors: header length " + std::to_string(n) + " exceeds the " +
                                                std::to_string(kMaxHeaderBytes) + "-byte limit");
  if (n > file_size - 8)
    return Status::Error(ErrorCode::format, "safetensors: header length " + std::to_string(n) + " runs past the end of the " +
                                                std::to_string(file_size) + "-byte file");
  const char* text = reinterpret_cast<const char*>(file + 8);
  if (n < 2 || text[0] != '{') return Status::Error(ErrorCode::format, "safetensors: header must be a JSON object starting with '{'");
  json::Value root;
  {
    Status st = json::parse(text, size_t(n), &root);
    if (!st.ok()) return Status::Error(ErrorCode::format, "safetensors: " + st.message);
  }
  out->data_offset = 8 + n;
  const uint64_t data_size = file_size - out->data_offset;
  std::unordered_set<std::string> seen;
  seen.reserve(root.fields.size());
  for (auto& f : root.fields) {
    if (!seen.insert(f.first).second) return bad(shown(f.first), "appears twice in the header");
    if (f.first == "__metadata__") {
      if (f.second.type != json::Type::object) return Status::Error(ErrorCode::format, "safetensors: __metadata__ must be an object");
      for (auto& kv : f.second.fields) {
        if (kv.second.type != json::Type::string)
          return Status::Error(ErrorCode::format, "safetensors: __metadata__ value of '" + shown(kv.first) + "' must be a string");
        out->metadata.emplace_back(kv.first, std::move(kv.second.str));
      }
      continue;
    }
    TensorEntry e;
    SK_RETURN_IF_ERROR(parse_entry(f.first, f.second, &e));
    if (e.end > data_size)
      return bad(shown(e.name), "data_offsets end " + std::to_string(e.end) + " is past the " + std::to_string(data_size) +
                                    "-byte data region");
    out->tensors.push_back(std::move(e));
  }
  // The entries must tile the data region: sorted by begin, each starts where the previous ended.
  std::vector<size_t> order(out->tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto& t = out->tensors;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return t[a].begin != t[b].begin ? t[a].begin < t[b].begin : t[a].end < t[b].end;
  });
  uint64_t pos = 0;
  const TensorEntry* prev = nullptr;
  for (size_t i : order) {
    const TensorEntry& e = t[i];
    if (e.begin < pos)
      return bad(shown(e.name), "bytes [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlap tensor '" +
                                    shown(prev->name) + "'");
    if (e.begin > pos)
      return bad(shown(e.name), "gap of " + std::to_string(e.begin - pos) + " unused bytes before it (data_offsets begin " +
                                    std::to_string(e.begin) + ", expected " + std::to_string(pos) + ")");
    pos = e.end;
    prev = &e;
  }
  if (pos != data_size)
    return Status::Error(ErrorCode::format, "safetensors: " + std::to_string(data_size - pos) +
                                                " bytes after the last tensor are not described by the header");
  return Status::Ok();
}

Status open(const std::string& path, File* out) {
  SK_RETURN_IF_ERROR(MappedFile::open(path, &out->map));
  Status st = parse_header(out->map->data(), out->map->size(), &out->header);
  if (!st.ok()) {
    out->map.reset();
    return Status::Error(st.code, "'" + path + "': " + st.message);
  }
  return Status::Ok();
}

std::string serialize_header(const std::vector<TensorEntry>& tensors,
                             const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (i) h += ',';
      json::append_quoted(&h, metadata[i].first);
      h += ':';
      json::append_quoted(&h, metadata[i].second);
    }
    h += '}';
  }
  for (const auto& e : tensors) {
    if (h.size() > 1) h += ',';
    json::append_quoted(&h, e.name);
    h += ":{\"dtype\":";
    json::append_quoted(&h, e.dtype);
    h += ",\"shape\":[";
    for (size_t i = 0; i < e.shape.size(); ++i) {
      if (i) h += ',';
      h += std::to_string(e.shape[i]);
    }
    h += "],\"data_offsets\":[" + std::to_string(e.begin) + ',' + std::to_string(e.end) + "]}";
  }
  h += '}';
  // Pad so the data region starts 8-byte aligned (trailing spaces are valid JSON whitespace).
  while (h.size() % 8 != 0) h += ' ';
  return h;
}

}  // namespace sk::st
