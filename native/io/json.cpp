#include "json.h"

#include <cstdio>

namespace sk::json {

const Value* Value::find(const std::string& key) const {
  for (const auto& f : fields)
    if (f.first == key) return &f.second;
  return nullptr;
}

namespace {

// Length of the UTF-8 sequence starting at s (0 if malformed), reading at most n bytes.
size_t utf8_seq(const unsigned char* s, size_t n) {
  const unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
  else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
  else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

void append_utf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(char(cp));
  } else if (cp < 0x800) {
    out->push_back(char(0xc0 | (cp >> 6)));
    out->push_back(char(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(char(0xe0 | (cp >> 12)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(char(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(char(0xf0 | (cp >> 18)));
    out->push_back(char(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(char(0x80 | (cp & 0x3f)));
  }
}

class Parser {
 public:
  Parser(const char* data, size_t size) : p_(reinterpret_cast<const unsigned char*>(data)), begin_(p_), end_(p_ + size) {}

  Status run(Value* out) {
    ws();
    SK_RETURN_IF_ERROR(value(out, 0));
    ws();
    if (p_ != end_) return err("unexpected data after the JSON value");
    return Status::Ok();
  }

 private:
  const unsigned char* p_;
  const unsigned char* begin_;
  const unsigned char* end_;

  Status err(const std::string& what) const {
    char buf[48];
    std::snprintf(buf, sizeof buf, "header JSON, byte %zu: ", size_t(p_ - begin_));
    return Status::Error(ErrorCode::format, buf + what);
  }
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool literal(const char* word) {
    const unsigned char* q = p_;
    for (; *word; ++word, ++q)
      if (q >= end_ || *q != static_cast<unsigned char>(*word)) return false;
    p_ = q;
    return true;
  }

  Status value(Value* v, int depth) {
    if (p_ >= end_) return err("unexpected end of header, expected a value");
    switch (*p_) {
      case '{': return object(v, depth + 1);
      case '[': return array(v, depth + 1);
      case '"': v->type = Type::string; return string(&v->str);
      case 't': if (literal("true")) { v->type = Type::boolean; v->boolean = true; return Status::Ok(); } break;
      case 'f': if (literal("false")) { v->type = Type::boolean; v->boolean = false; return Status::Ok(); } break;
      case 'n': if (literal("null")) { v->type = Type::null; return Status::Ok(); } break;
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return number(v);
    }
    return err("invalid value");
  }

  Status object(Value* v, int depth) {
    if (depth > kMaxDepth) return err("nesting deeper than " + std::to_string(kMaxDepth));
    v->type = Type::object;
    ++p_;
    ws();
    if (p_ < end_ && *p_ == '}') { ++p_; return Status::Ok(); }
    for (;;) {
      ws();
      if (p_ >= end_ || *p_ != '"') return err("expected a string key");
      std::string key;
      SK_RETURN_IF_ERROR(string(&key));
      // Nested objects are small; the root (one key per tensor, maybe 100k of them) is checked
      // for duplicates by the caller with a hash set instead of this quadratic scan.
      if (depth > 1 && v->find(key)) return err("duplicate key \"" + key + "\"");
      ws();
      if (p_ >= end_ || *p_ != ':') return err("expected ':' after a key");
      ++p_;
      ws();
      v->fields.emplace_back(std::move(key), Value());
      SK_RETURN_IF_ERROR(value(&v->fields.back().second, depth));
      ws();
      if (p_ < end_ && *p_ == ',') { ++p_; continue; }
      if (p_ < end_ && *p_ == '}') { ++p_; return Status::Ok(); }
      return err("expected ',' or '}' in an object");
    }
  }

  Status array(Value* v, int depth) {
    if (depth > kMaxDepth) return err("nesting deeper than " + std::to_string(kMaxDepth));
    v->type = Type::array;
    ++p_;
    ws();
    if (p_ < end_ && *p_ == ']') { ++p_; return Status::Ok(); }
    for (;;) {
      ws();
      v->items.emplace_back();
      SK_RETURN_IF_ERROR(value(&v->items.back(), depth));
      ws();
      if (p_ < end_ && *p_ == ',') { ++p_; continue; }
      if (p_ < end_ && *p_ == ']') { ++p_; return Status::Ok(); }
      return err("expected ',' or ']' in an array");
    }
  }

  Status hex4(uint32_t* out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      if (p_ >= end_) return err("truncated \\u escape");
      const unsigned c = *p_;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return err("bad hex digit in \\u escape");
    }
    *out = v;
    return Status::Ok();
  }

  Status string(std::string* out) {
    ++p_;  // opening quote
    for (;;) {
      if (p_ >= end_) return err("unterminated string");
      const unsigned c = *p_;
      if (c == '"') { ++p_; return Status::Ok(); }
      if (c < 0x20) return err("control character in a string");
      if (c == '\\') {
        ++p_;
        if (p_ >= end_) return err("unterminated escape");
        const unsigned e = *p_++;
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            uint32_t cp = 0;
            SK_RETURN_IF_ERROR(hex4(&cp));
            if (cp >= 0xdc00 && cp <= 0xdfff) return err("lone low surrogate in \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              uint32_t lo = 0;
              if (!(p_ + 1 < end_ && p_[0] == '\\' && p_[1] == 'u')) return err("lone high surrogate in \\u escape");
              p_ += 2;
              SK_RETURN_IF_ERROR(hex4(&lo));
              if (lo < 0xdc00 || lo > 0xdfff) return err("high surrogate not followed by a low one");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            append_utf8(out, cp);
            break;
          }
          default: return err("invalid escape");
        }
        continue;
      }
      const size_t len = utf8_seq(p_, size_t(end_ - p_));
      if (len == 0) return err("invalid UTF-8 in a string");
      out->append(reinterpret_cast<const char*>(p_), len);
      p_ += len;
    }
  }

  Status number(Value* v) {
    const unsigned char* start = p_;
    bool integral = true, negative = false;
    if (*p_ == '-') { negative = true; ++p_; }
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return err("invalid number");
    if (*p_ == '0') {
      ++p_;
      if (p_ < end_ && *p_ >= '0' && *p_ <= '9') return err("leading zero in a number");
    } else {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return err("digit expected after '.'");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return err("digit expected in exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    v->type = Type::number;
    v->str.assign(reinterpret_cast<const char*>(start), size_t(p_ - start));
    if (integral && !negative) {
      uint64_t u = 0;
      bool fits = true;
      for (const unsigned char* q = start; q < p_; ++q) {
        const uint64_t d = *q - '0';
        if (u > (UINT64_MAX - d) / 10) { fits = false; break; }
        u = u * 10 + d;
      }
      v->is_uint = fits;
      v->uint = fits ? u : 0;
    }
    return Status::Ok();
  }
};

}  // namespace

Status parse(const char* data, size_t size, Value* out) {
  *out = Value();
  return Parser(data, size).run(out);
}

bool valid_utf8(const char* s, size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  for (size_t i = 0; i < n;) {
    const size_t len = utf8_seq(p + i, n - i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

void append_quoted(std::string* out, const std::string& s) {
  static const char hex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(char(c));
    } else if (c < 0x20) {
      out->append("\\u00");
      out->push_back(hex[c >> 4]);
      out->push_back(hex[c & 15]);
    } else {
      out->push_back(char(c));
    }
  }
  out->push_back('"');
}

}  // namespace sk::json
