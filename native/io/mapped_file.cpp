#include "mapped_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace sk {

Status io_error(const std::string& what, const std::string& path, int err) {
  return Status::Error(ErrorCode::io, what + " '" + path + "': " + std::strerror(err));
}

#ifdef _WIN32

Status MappedFile::open(const std::string& path, std::shared_ptr<MappedFile>* out) {
  HANDLE f = CreateFileA(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (f == INVALID_HANDLE_VALUE) return Status::Error(ErrorCode::io, "cannot open '" + path + "'");
  LARGE_INTEGER size;
  if (!GetFileSizeEx(f, &size)) {
    CloseHandle(f);
    return Status::Error(ErrorCode::io, "cannot stat '" + path + "'");
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = size_t(size.QuadPart);
  if (m->size_ > 0) {
    m->mapping_ = CreateFileMappingA(f, nullptr, PAGE_WRITECOPY, 0, 0, nullptr);
    if (m->mapping_) m->data_ = static_cast<uint8_t*>(MapViewOfFile(m->mapping_, FILE_MAP_COPY, 0, 0, 0));
  }
  CloseHandle(f);
  if (m->size_ > 0 && !m->data_) return Status::Error(ErrorCode::io, "cannot map '" + path + "'");
  *out = std::move(m);
  return Status::Ok();
}

MappedFile::~MappedFile() {
  if (data_) UnmapViewOfFile(data_);
  if (mapping_) CloseHandle(mapping_);
}

void MappedFile::will_need(size_t, size_t) const {}
void MappedFile::dont_need(size_t, size_t) const {}

#else

Status MappedFile::open(const std::string& path, std::shared_ptr<MappedFile>* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return io_error("cannot stat", path, e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Error(ErrorCode::io, "'" + path + "' is not a regular file");
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = size_t(st.st_size);
  if (m->size_ > 0) {
    void* p = mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return io_error("cannot map", path, e);
    }
    m->data_ = static_cast<uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file open
  *out = std::move(m);
  return Status::Ok();
}

MappedFile::~MappedFile() {
  if (data_) munmap(data_, size_);
}

void MappedFile::will_need(size_t offset, size_t bytes) const {
  if (!data_ || bytes == 0 || offset >= size_) return;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t start = offset / page * page;
  const size_t end = offset + bytes < size_ ? offset + bytes : size_;
  madvise(data_ + start, end - start, MADV_WILLNEED);
}

void MappedFile::dont_need(size_t offset, size_t bytes) const {
  if (!data_ || bytes == 0 || offset >= size_) return;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t start = (offset + page - 1) / page * page;  // only pages wholly inside the range:
  const size_t end = std::min(offset + bytes, size_) / page * page;  // neighbours keep theirs
  if (end > start) madvise(data_ + start, end - start, MADV_DONTNEED);
}

#endif

}  // namespace sk
