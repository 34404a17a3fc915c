#include "host_buffer.h"

#include <mutex>

namespace sk {

namespace {
std::mutex g_mu;
HostBuffer g_cached;
}  // namespace

HostBuffer take_scratch(size_t bytes) {
  {
    std::lock_guard<std::mutex> lk(g_mu);
    if (g_cached.size() >= bytes && g_cached.size() <= 2 * bytes) return std::move(g_cached);
  }
  HostBuffer b;
  b.allocate(bytes);
  return b;
}

void give_back_scratch(HostBuffer&& buf) {
  if (buf.size() > kMaxCachedScratch) return;
  std::lock_guard<std::mutex> lk(g_mu);
  if (buf.size() >= g_cached.size()) g_cached = std::move(buf);
}

void release_scratch() {
  std::lock_guard<std::mutex> lk(g_mu);
  g_cached.reset();
}

}  // namespace sk
