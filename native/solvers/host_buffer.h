// Large uninitialised host buffers for solver outputs and scratch. Big buffers ask for transparent
// huge pages and are populated by one madvise(MADV_POPULATE_WRITE) call instead of one page fault
// per 4 KiB page, about ten times faster on the VMs we measured (docs/solvers.md, "Measurements
// behind the code"). Both calls are hints; older kernels ignore them. That holds for memory the
// guest still has; memory the host took back (free page reporting) populates slower in huge pages
// than in 4 KiB pages, so outputs use allocate(bytes, false).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace sk {

// Asks for transparent huge pages on the 2 MiB-aligned part of [p, p + bytes) (a hint; memory
// not yet touched then faults in 2 MiB at a time: 512x fewer faults).
inline void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  HostBuffer(HostBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), owned_(std::exchange(o.owned_, true)) {}
  HostBuffer& operator=(HostBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      owned_ = std::exchange(o.owned_, true);
    }
    return *this;
  }
  ~HostBuffer() { reset(); }

  // Throws std::bad_alloc (PromiseWorker turns it into ERR_MEMORY). populate = false gives plain
  // lazily-faulted 4 KiB pages instead, for outputs written once by several threads: where the
  // host has taken freed memory back (free page reporting), huge pages cost ~4x more to fault
  // in than 4 KiB ones (docs/solvers.md, "Performance").
  void allocate(size_t bytes, bool populate = true) {
    reset();
    if (bytes == 0) return;
    constexpr size_t kHuge = size_t(2) << 20;
    void* p = nullptr;
    if (populate && bytes >= 2 * kHuge) {
      if (posix_memalign(&p, kHuge, (bytes + kHuge - 1) / kHuge * kHuge) != 0) throw std::bad_alloc();
#if defined(__linux__)
      const size_t len = (bytes + kHuge - 1) / kHuge * kHuge;
      advise_huge_pages(p, len);
      madvise(p, len, 23 /* MADV_POPULATE_WRITE, Linux 5.14 */);
#endif
    } else {
      p = std::malloc(bytes);
      if (!p) throw std::bad_alloc();
    }
    data_ = static_cast<uint8_t*>(p);
    size_ = bytes;
  }
  // Uses `bytes` at p, owned elsewhere (e.g. a JS ArrayBuffer the binding made for the result),
  // without taking ownership: reset() only forgets it.
  void wrap(uint8_t* p, size_t bytes) {
    reset();
    data_ = p;
    size_ = bytes;
    owned_ = false;
  }
  void reset() {
    if (owned_) std::free(data_);
    data_ = nullptr;
    size_ = 0;
    owned_ = true;
  }
  bool owned() const { return owned_; }
  // Hands the memory to a new owner, who must std::free() it (owned buffers only).
  uint8_t* release() {
    size_ = 0;
    return std::exchange(data_, nullptr);
  }

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  template <class T>
  T* as() const { return reinterpret_cast<T*>(data_); }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = true;
};

// A one-slot cache for the solvers' big scratch buffers (SparseGPT's K x K factor): pruning a
// model calls the solver layer after layer with the same K, and on machines where first-touching
// fresh pages is slow that reuse saves a large part of a call. Buffers over kMaxCached bytes are
// never kept.
constexpr size_t kMaxCachedScratch = size_t(512) << 20;
HostBuffer take_scratch(size_t bytes);     // the cached buffer if it fits (and is not > 2x), else new
void give_back_scratch(HostBuffer&& buf);  // keeps it if small enough (replacing a smaller one)
void release_scratch();                    // frees the cached buffer

}  // namespace sk
