// The streaming half of safetensors.h: tensor bytes go straight from the caller's memory to the
// temp file, so writing never holds more than one tensor (which the caller already holds).
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

#include "../core/sizes.h"
#include "json.h"
#include "safetensors.h"

#ifdef _WIN32
#include <io.h>
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace sk::st {

namespace {

std::atomic<uint64_t> g_tmp_counter{0};

// Temp files that exist now, so a signal handler can remove them (remove_unfinished_temp_files).
// Leaked on purpose: it must outlive every static destructor that might still abort a writer.
std::mutex g_tmp_mu;
std::set<std::string>& live_temps() {
  static auto* s = new std::set<std::string>();
  return *s;
}
void track(const std::string& p) {
  std::lock_guard<std::mutex> lock(g_tmp_mu);
  live_temps().insert(p);
}
void untrack(const std::string& p) {
  std::lock_guard<std::mutex> lock(g_tmp_mu);
  live_temps().erase(p);
}
void remove_temp(const std::string& p) {
  std::remove(p.c_str());
  untrack(p);
}

// Only a regular file (or nothing) may be replaced: renaming over a FIFO, socket, device node or
// directory entry would destroy something that is not a checkpoint (a symlink is judged by its target).
Status check_destination(const std::string& path) {
#ifndef _WIN32
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) return Status::Ok();  // absent (or unreachable: the rename will say)
  if (S_ISREG(sb.st_mode)) return Status::Ok();
  const char* kind = S_ISDIR(sb.st_mode) ? "a directory" : S_ISFIFO(sb.st_mode) ? "a FIFO" : S_ISSOCK(sb.st_mode) ? "a socket"
                     : S_ISCHR(sb.st_mode) ? "a character device" : S_ISBLK(sb.st_mode) ? "a block device" : "not a regular file";
  return Status::Error(ErrorCode::io, "refusing to write '" + path + "': it is " + kind + ", and only a regular file is ever replaced");
#else
  (void)path;
  return Status::Ok();
#endif
}

int process_id() {
#ifdef _WIN32
  return int(GetCurrentProcessId());
#else
  return int(getpid());
#endif
}

std::FILE* create_exclusive(const std::string& path) {
#ifdef _WIN32
  std::FILE* f = std::fopen(path.c_str(), "w+bx");
  if (f) track(path);
  return f;
#else
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return nullptr;
  std::FILE* f = fdopen(fd, "w+b");  // read back by copy_data_behind
  if (!f) {
    ::close(fd);
    ::unlink(path.c_str());
    return nullptr;
  }
  track(path);
  return f;
#endif
}

bool seek(std::FILE* f, uint64_t pos) {
#ifdef _WIN32
  return _fseeki64(f, int64_t(pos), SEEK_SET) == 0;
#else
  return fseeko(f, off_t(pos), SEEK_SET) == 0;
#endif
}

// Flushes and syncs so the rename below publishes complete data even after a crash.
Status close_synced(std::FILE* f, const std::string& path) {
  if (std::fflush(f) != 0) {
    int e = errno;
    std::fclose(f);
    return io_error("cannot write", path, e);
  }
#ifdef _WIN32
  _commit(_fileno(f));
#else
  fsync(fileno(f));
#endif
  if (std::fclose(f) != 0) return io_error("cannot close", path, errno);
  return Status::Ok();
}


void put_u64le(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}

}  // namespace

Status replace_file(const std::string& from, const std::string& to) {
#ifdef _WIN32
  if (!MoveFileExA(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING)) return Status::Error(ErrorCode::io, "cannot rename to '" + to + "'");
#else
  if (std::rename(from.c_str(), to.c_str()) != 0) return io_error("cannot rename the temp file to", to, errno);
#endif
  untrack(from);
  return Status::Ok();
}

Writer::~Writer() { abort(); }

Status Writer::create(const std::string& path, uint64_t reserve, std::unique_ptr<Writer>* out) {
  if (path.empty()) return Status::Error(ErrorCode::argument, "safetensors writer: empty path");
  SK_RETURN_IF_ERROR(check_destination(path));
  std::unique_ptr<Writer> w(new Writer());
  w->path_ = path;
  w->reserve_ = (std::min<uint64_t>(reserve, kMaxHeaderBytes) + 7) / 8 * 8;
  if (w->reserve_ < 8) w->reserve_ = 8;
  w->tmp_ = path + ".tmp-" + std::to_string(process_id()) + "-" + std::to_string(g_tmp_counter++);
  w->f_ = create_exclusive(w->tmp_);
  if (!w->f_) return io_error("cannot create", w->tmp_, errno);
  if (!seek(w->f_, 8 + w->reserve_)) {
    int e = errno;
    w->abort();
    return io_error("cannot seek in", w->tmp_, e);
  }
  *out = std::move(w);
  return Status::Ok();
}

Status Writer::write_all(std::FILE* f, const void* p, uint64_t n, const std::string& what) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const size_t chunk = size_t(std::min<uint64_t>(n, uint64_t(1) << 30));
    const size_t w = std::fwrite(c, 1, chunk, f);
    if (w != chunk) return io_error("cannot write " + what + " to", tmp_, errno);
    c += chunk;
    n -= chunk;
  }
  return Status::Ok();
}

Status Writer::append(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
                      const void* data, uint64_t bytes) {
  if (done_ || !f_) return Status::Error(ErrorCode::argument, "safetensors writer: already finished or aborted");
  if (name == "__metadata__") return Status::Error(ErrorCode::argument, "safetensors writer: '__metadata__' is reserved");
  if (!json::valid_utf8(name.data(), name.size()))
    return Status::Error(ErrorCode::argument, "safetensors writer: tensor name is not valid UTF-8");
  const int bits = dtype_bits(dtype);
  if (bits == 0) return Status::Error(ErrorCode::dtype, "safetensors writer: tensor '" + name + "': unknown dtype '" + dtype + "'");
  if (shape.size() > size_t(kMaxRank)) return Status::Error(ErrorCode::shape, "safetensors writer: tensor '" + name + "': rank too high");
  uint64_t total_bits = uint64_t(bits);
  for (int64_t d : shape) {
    if (d < 0) return Status::Error(ErrorCode::shape, "safetensors writer: tensor '" + name + "': negative dimension");
    if (!mul_checked(total_bits, uint64_t(d), &total_bits))
      return Status::Error(ErrorCode::shape, "safetensors writer: tensor '" + name + "': shape is too large (element count overflows)");
  }
  if (total_bits % 8 != 0 || total_bits / 8 != bytes)
    return Status::Error(ErrorCode::shape, "safetensors writer: tensor '" + name + "': " + std::to_string(bytes) +
                                               " bytes given, dtype " + dtype + " x shape needs " + std::to_string(total_bits / 8));
  if (!names_.insert(name).second)
    return Status::Error(ErrorCode::argument, "safetensors writer: tensor '" + name + "' written twice");
  Status st = write_all(f_, data, bytes, "tensor '" + name + "'");
  if (!st.ok()) { abort(); return st; }
  TensorEntry e;
  e.name = name;
  e.dtype = dtype;
  e.shape = shape;
  e.begin = data_bytes_;
  e.end = data_bytes_ + bytes;
  data_bytes_ = e.end;
  entries_.push_back(std::move(e));
  return Status::Ok();
}

// The header outgrew its reservation: write a second temp file with the right header, copy the
// data region behind it in chunks, and let it replace the first.
Status Writer::copy_data_behind(const std::string& header) {
  const std::string tmp2 = tmp_ + "b";
  std::FILE* g = create_exclusive(tmp2);
  if (!g) return io_error("cannot create", tmp2, errno);
  uint8_t len[8];
  put_u64le(len, header.size());
  Status st = write_all(g, len, 8, "the header length");
  if (st.ok()) st = write_all(g, header.data(), header.size(), "the header");
  std::vector<char> buf(size_t(1) << 22);
  if (st.ok() && (std::fflush(f_) != 0 || !seek(f_, 8 + reserve_))) st = io_error("cannot seek in", tmp_, errno);
  for (uint64_t left = data_bytes_; st.ok() && left > 0;) {
    const size_t chunk = size_t(std::min<uint64_t>(left, buf.size()));
    if (std::fread(buf.data(), 1, chunk, f_) != chunk) { st = io_error("cannot read back", tmp_, errno); break; }
    st = write_all(g, buf.data(), chunk, "data");
    left -= chunk;
  }
  if (st.ok()) st = close_synced(g, tmp2);
  else std::fclose(g);
  std::fclose(f_);
  f_ = nullptr;
  remove_temp(tmp_);
  if (!st.ok()) { remove_temp(tmp2); return st; }
  tmp_ = tmp2;
  return Status::Ok();
}

Status Writer::finish(const std::vector<std::pair<std::string, std::string>>& metadata) {
  if (done_ || !f_) return Status::Error(ErrorCode::argument, "safetensors writer: already finished or aborted");
  for (const auto& kv : metadata)
    if (!json::valid_utf8(kv.first.data(), kv.first.size()) || !json::valid_utf8(kv.second.data(), kv.second.size()))
      return Status::Error(ErrorCode::argument, "safetensors writer: metadata is not valid UTF-8");
  std::string header = serialize_header(entries_, metadata);
  if (header.size() > kMaxHeaderBytes) {
    abort();
    return Status::Error(ErrorCode::argument, "safetensors writer: header of " + std::to_string(header.size()) +
                                                  " bytes exceeds the format's limit");
  }
  Status st;
  if (header.size() <= reserve_) {
    header.append(size_t(reserve_ - header.size()), ' ');
    uint8_t len[8];
    put_u64le(len, header.size());
    if (!seek(f_, 0)) st = io_error("cannot seek in", tmp_, errno);
    if (st.ok()) st = write_all(f_, len, 8, "the header length");
    if (st.ok()) st = write_all(f_, header.data(), header.size(), "the header");
    if (st.ok()) {
      std::FILE* f = f_;
      f_ = nullptr;
      st = close_synced(f, tmp_);
    }
  } else {
    st = copy_data_behind(header);
  }
  if (st.ok()) st = check_destination(path_);  // again: something may have appeared there meanwhile
  if (st.ok()) st = replace_file(tmp_, path_);
  if (!st.ok()) { abort(); return st; }
  done_ = true;
  return Status::Ok();
}

void Writer::abort() {
  if (done_) return;
  if (f_) std::fclose(f_);
  f_ = nullptr;
  if (!tmp_.empty()) remove_temp(tmp_);
  done_ = true;
}

void remove_unfinished_temp_files() {
  std::lock_guard<std::mutex> lock(g_tmp_mu);
  for (const auto& p : live_temps()) std::remove(p.c_str());
  live_temps().clear();
}

}  // namespace sk::st
