// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {string: string}}), then the data region. Reading maps the file and validates
// the whole header before any tensor byte is touched; writing streams tensor by tensor into a
// temp file that is renamed over the destination only when complete.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/dtype.h"
#include "../core/status.h"
#include "mapped_file.h"

namespace sk::st {

// Largest header accepted (the reference implementation's limit): bounds memory for hostile files.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr int kMaxRank = 32;

// Bits per element of a safetensors dtype name ("F32", "BF16", "F8_E4M3", "F4", ...); 0 if unknown.
int dtype_bits(const std::string& name);
// The sparsekit DType for a safetensors dtype name, if sparsekit computes with it.
bool to_sk_dtype(const std::string& name, DType* out);
const char* from_sk_dtype(DType t);  // "F32", "F16", "BF16", "I8", "U8", "I32"

struct TensorEntry {
  std::string name;
  std::string dtype;          // the safetensors name, kept even when sparsekit cannot compute with it
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data region
};

struct Header {
  std::vector<TensorEntry> tensors;  // in header order
  std::vector<std::pair<std::string, std::string>> metadata;
  uint64_t data_offset = 0;  // 8 + N: where the data region starts in the file
};

// Validates a complete file image: length prefix, JSON, every entry, and that the entries tile
// the data region exactly (no gap, no overlap, nothing after the last one). ERR_FORMAT names the
// tensor and the problem.
Status parse_header(const uint8_t* file, uint64_t file_size, Header* out);

// An opened file: the mapping plus its validated header. Tensors handed out share the mapping.
struct File {
  std::shared_ptr<MappedFile> map;
  Header header;
};
Status open(const std::string& path, File* out);

// Renames the finished temp file `from` over `to` (atomic on POSIX; replaces a regular file);
// ERR_IO naming `to` when the rename fails. Writer::finish() calls it.
Status replace_file(const std::string& from, const std::string& to);

// Streams tensors into `<path>.tmp-<pid>-<n>` and renames it over `path` in finish(). Only a
// regular file (or nothing) at `path` is ever replaced: create() and finish() refuse a directory,
// FIFO, socket or device there with ERR_IO. The header
// is written last into `reserve` bytes left at the start; if it outgrows them, finish() rewrites
// the file once behind a header of the right size. Not thread-safe: one call at a time.
class Writer {
 public:
  ~Writer();  // an unfinished writer removes its temp file
  static Status create(const std::string& path, uint64_t reserve, std::unique_ptr<Writer>* out);
  Status append(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
                const void* data, uint64_t bytes);
  Status finish(const std::vector<std::pair<std::string, std::string>>& metadata);
  void abort();
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  Writer() = default;
  Status write_all(std::FILE* f, const void* p, uint64_t n, const std::string& what);
  Status copy_data_behind(const std::string& header);
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  uint64_t reserve_ = 0, data_bytes_ = 0;
  std::vector<TensorEntry> entries_;
  std::unordered_set<std::string> names_;
  bool done_ = false;
};

// Removes every temp file a Writer of this process has open now (for a signal handler that is
// about to exit: the writers themselves are left to the exit). Safe to call from the JS thread
// while writer calls run on worker threads.
void remove_unfinished_temp_files();

// The header JSON for these entries, padded with spaces to a multiple of 8 bytes.
std::string serialize_header(const std::vector<TensorEntry>& tensors,
                             const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace sk::st
