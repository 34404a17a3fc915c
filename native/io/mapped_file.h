// A whole file mapped read-only into memory, copy-on-write: pages are read from disk only when
// touched, and a write through a zero-copy view changes this process's copy, never the file (so
// a JS user scribbling on a loaded tensor cannot crash the process or corrupt the checkpoint).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "../core/status.h"

namespace sk {

class MappedFile {
 public:
  static Status open(const std::string& path, std::shared_ptr<MappedFile>* out);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Hints the OS to read [offset, offset + bytes) ahead (best effort, no-op where unsupported).
  void will_need(size_t offset, size_t bytes) const;
  // Drops this process's pages of the whole pages inside [offset, offset + bytes): resident memory
  // goes down, and a later access reads the file again (copy-on-write changes there are lost).
  void dont_need(size_t offset, size_t bytes) const;

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
#ifdef _WIN32
  void* mapping_ = nullptr;
#endif
};

// "<what> '<path>': <strerror(errno)>" as an ERR_IO status.
Status io_error(const std::string& what, const std::string& path, int err);

}  // namespace sk
