// native/io without Node: JSON edge cases, writer -> reader round trip, header validation errors,
// and a bounded fuzz loop (random byte flips, truncations, splices) over valid files that must
// only ever produce Ok or ERR_FORMAT, never a crash or an out-of-range entry.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../io/json.h"
#include "../io/safetensors.h"
#include "check.h"

using namespace sk;

static bool parses(const std::string& s) {
  json::Value v;
  return json::parse(s.data(), s.size(), &v).ok();
}

static void test_json() {
  CHECK(parses("{}"), "empty object");
  CHECK(parses(" {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\"]} \n"), "all value kinds");
  CHECK(!parses("{\"a\":1,}"), "trailing comma");
  CHECK(!parses("{\"a\":01}"), "leading zero");
  CHECK(!parses("{\"a\":1} x"), "trailing garbage");
  CHECK(!parses("{\"a\":\"\\ud800\"}"), "lone surrogate");
  CHECK(!parses("{\"a\":\"\x01\"}"), "control char");
  CHECK(!parses("{\"a\":\"\xc0\xaf\"}"), "overlong UTF-8");
  CHECK(!parses("{\"a\":{\"b\":1,\"b\":2}}"), "duplicate nested key");
  CHECK(!parses(std::string(100, '[') + std::string(100, ']')), "too deep");
  json::Value v;
  CHECK(json::parse("18446744073709551615", 20, &v).ok() && v.is_uint && v.uint == UINT64_MAX, "max uint64");
  CHECK(json::parse("18446744073709551616", 20, &v).ok() && !v.is_uint, "uint64 overflow is not an integer");
  std::string q;
  json::append_quoted(&q, "a\"b\\c\n\xc3\xa9");
  CHECK(q == "\"a\\\"b\\\\c\\u000a\xc3\xa9\"", "escape: %s", q.c_str());
}

static std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

static std::vector<uint8_t> make_file(const std::string& path, uint64_t reserve) {
  std::unique_ptr<st::Writer> w;
  CHECK(st::Writer::create(path, reserve, &w).ok(), "create");
  std::vector<float> a(6 * 5);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.5f - 3.f;
  std::vector<uint16_t> b(7, 0x3c00);
  std::vector<int8_t> c(3, -5);
  CHECK(w->append("layer.weight", "F32", {6, 5}, a.data(), a.size() * 4).ok(), "append a");
  CHECK(w->append("b\"quoted\xc3\xa9", "F16", {7}, b.data(), b.size() * 2).ok(), "append b");
  CHECK(w->append("empty", "BF16", {0, 4}, nullptr, 0).ok(), "append empty");
  CHECK(w->append("c", "I8", {1, 3}, c.data(), 3).ok(), "append c");
  CHECK(!w->append("c", "I8", {1, 3}, c.data(), 3).ok(), "duplicate name refused");
  CHECK(w->finish({{"format", "pt"}, {"note", "x\ny"}}).ok(), "finish");
  return read_file(path);
}

static void test_round_trip(const std::string& dir) {
  for (uint64_t reserve : {uint64_t(8), uint64_t(4096)}) {  // 8: header outgrows it, copy path
    const std::string path = dir + "/rt.safetensors";
    std::vector<uint8_t> bytes = make_file(path, reserve);
    CHECK(!bytes.empty(), "file written");
    std::FILE* leftover = std::fopen((path + ".tmp-0-0").c_str(), "rb");
    CHECK(leftover == nullptr, "no temp file left");
    st::File f;
    Status s = st::open(path, &f);
    CHECK(s.ok(), "open: %s", s.message.c_str());
    if (!s.ok()) continue;
    const auto& h = f.header;
    CHECK(h.tensors.size() == 4 && h.metadata.size() == 2, "entries %zu", h.tensors.size());
    CHECK(h.data_offset % 8 == 0, "data region aligned");
    CHECK(h.tensors[1].name == "b\"quoted\xc3\xa9", "name round trip");
    CHECK(h.metadata[1].second == "x\ny", "metadata round trip");
    const float* a = reinterpret_cast<const float*>(f.map->data() + h.data_offset + h.tensors[0].begin);
    CHECK(a[7] == 0.5f, "tensor bytes");
    CHECK(h.tensors[2].begin == h.tensors[2].end, "empty tensor");
  }
}

static std::vector<uint8_t> with_header(const std::string& json, size_t data_bytes) {
  std::vector<uint8_t> out(8 + json.size() + data_bytes, 0);
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(uint64_t(json.size()) >> (8 * i));
  std::memcpy(out.data() + 8, json.data(), json.size());
  return out;
}

static std::string error_of(const std::vector<uint8_t>& f) {
  st::Header h;
  Status s = st::parse_header(f.data(), f.size(), &h);
  return s.ok() ? "ok" : s.message;
}

static void test_validation() {
  auto has = [](const std::string& msg, const char* part) { return msg.find(part) != std::string::npos; };
  std::string e;
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
  CHECK(e == "ok", "valid: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8));
  CHECK(has(e, "'w'") && has(e, "needs 12"), "size mismatch: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"v\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8));
  CHECK(has(e, "overlap"), "overlap: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12));
  CHECK(has(e, "gap"), "gap: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16));
  CHECK(has(e, "after the last tensor"), "trailing: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4));
  CHECK(has(e, "past the"), "out of range: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
  CHECK(has(e, "unknown dtype 'Q4'"), "dtype: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}", 8));
  CHECK(has(e, "overflow") || has(e, "needs"), "shape overflow: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8));
  CHECK(has(e, "non-negative"), "negative: %s", e.c_str());
  e = error_of(with_header("{\"__metadata__\":{\"a\":1}}", 0));
  CHECK(has(e, "must be a string"), "metadata: %s", e.c_str());
  e = error_of(with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", 8));
  CHECK(has(e, "twice"), "duplicate: %s", e.c_str());
  std::vector<uint8_t> huge = with_header("{}", 0);
  huge[5] = 1;  // header length ~ 2^40
  e = error_of(huge);
  CHECK(has(e, "exceeds"), "huge header: %s", e.c_str());
  std::vector<uint8_t> shortf(5, 0);
  e = error_of(shortf);
  CHECK(has(e, "too short"), "short: %s", e.c_str());
}

static void test_fuzz(const std::vector<uint8_t>& valid) {
  std::mt19937_64 rng(1234);
  int ok = 0, rejected = 0, bad_code = 0, bad_range = 0;
  for (int it = 0; it < 20000; ++it) {
    std::vector<uint8_t> f = valid;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const int kind = int(rng() % 4);
      if (f.empty()) break;
      // Header bytes get most of the edits: corrupting tensor data is not a header problem.
      const size_t hdr = std::min<size_t>(f.size(), 8 + 400);
      const size_t pos = size_t(rng() % (rng() % 3 ? hdr : f.size()));
      if (kind == 0) f[pos] ^= uint8_t(1u << (rng() % 8));
      else if (kind == 1) f[pos] = "0123456789{}[]\",: -e.\\"[rng() % 23];
      else if (kind == 2) f.resize(pos);
      else f.insert(f.begin() + long(pos), uint8_t(rng()));
    }
    st::Header h;
    Status s = st::parse_header(f.data(), f.size(), &h);
    if (s.ok()) {
      ++ok;
      for (const auto& t : h.tensors)
        if (t.end < t.begin || h.data_offset + t.end > f.size()) ++bad_range;
    } else {
      ++rejected;
      if (s.code != ErrorCode::format) ++bad_code;
    }
  }
  CHECK(bad_code == 0, "fuzz: %d errors were not ERR_FORMAT", bad_code);
  CHECK(bad_range == 0, "fuzz: %d accepted files with out-of-range entries", bad_range);
  CHECK(rejected > 10000, "fuzz: corruptions mostly rejected (%d ok, %d rejected)", ok, rejected);
}

// replace_file: a failed rename is an ERR_IO naming the destination (nothing appears there); a
// good one moves the temp file over an existing destination.
static void test_replace_file(const std::string& dir) {
  const std::string tmp = dir + "/r.tmp", dest = dir + "/r.safetensors";
  Status st = st::replace_file(dir + "/missing.tmp", dest);
  CHECK(!st.ok() && st.code == ErrorCode::io && st.message.find(dest) != std::string::npos, "failed rename reported (%s)", st.message.c_str());
  CHECK(::access(dest.c_str(), F_OK) != 0, "nothing at the destination after a failed rename");
  for (const char* content : {"old", "new"}) {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    std::fputs(content, f);
    std::fclose(f);
    CHECK(st::replace_file(tmp, dest).ok(), "rename over the destination");
  }
  std::vector<uint8_t> got = read_file(dest);
  CHECK(std::string(got.begin(), got.end()) == "new" && ::access(tmp.c_str(), F_OK) != 0, "the temp file replaced the destination");
  std::remove(dest.c_str());
}

int main() {
  char tmpl[] = "/tmp/sparsekit-io-test-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (!dir) { std::printf("cannot create temp dir\n"); return 1; }
  test_json();
  test_round_trip(dir);
  test_validation();
  test_replace_file(dir);
  std::vector<uint8_t> valid = read_file(std::string(dir) + "/rt.safetensors");
  test_fuzz(valid);
  std::remove((std::string(dir) + "/rt.safetensors").c_str());
  rmdir(dir);
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
