#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sk {

namespace {

thread_local bool t_inside_task = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

int default_num_threads() {
  if (const char* env = std::getenv("SPARSEKIT_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : int(hc);
}

// Workers, and a caller waiting for them, poll for a while (spin_ns(): SPARSEKIT_SPIN_US, default
// 200 us) before they sleep on a condition variable: a decode step's products come back to back,
// and waking a sleeping worker on a VM takes an IPI to an idle vCPU, a sizeable part of a short
// product (docs/kernels.md, Threading). The poll yields the core now and then (spin_until), so it
// gives way to any other runnable thread.
int64_t spin_ns() {
  if (const char* env = std::getenv("SPARSEKIT_SPIN_US")) {
    const long us = std::atol(env);
    if (us >= 0) return int64_t(us < 1000000 ? us : 1000000) * 1000;
  }
  return 200 * 1000;
}

// Polls ready() for up to `ns`; true once it holds. It gives the core away (sched_yield) once
// every kYieldEveryNs, not every few pauses: a yield costs ~1.2 us on the VMs we run on (against
// ~20 ns per pause), so a poller that yielded every 16 pauses spent most of its time in the
// kernel and saw a new job late (docs/kernels.md, Threading).
constexpr int64_t kYieldEveryNs = 50 * 1000;
template <class F> bool spin_until(int64_t ns, F ready) {
  if (ns <= 0) return ready();
  auto now = std::chrono::steady_clock::now();
  const auto end = now + std::chrono::nanoseconds(ns);
  auto next_yield = now + std::chrono::nanoseconds(kYieldEveryNs);
  for (int i = 1;; ++i) {
    if (ready()) return true;
    if ((i & 15) == 0) {
      now = std::chrono::steady_clock::now();
      if (now >= end) return ready();
      if (now >= next_yield) {
        std::this_thread::yield();
        next_yield = now + std::chrono::nanoseconds(kYieldEveryNs);
        continue;
      }
    }
    cpu_relax();
  }
}

class Pool {
 public:
  explicit Pool(int threads) : num_threads_(threads), spin_(spin_ns()) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int num_threads() const { return num_threads_; }

  // Only one run() at a time: callers hold run_mu_ (see parallel_for).
  // A worker takes part in a job only if it joins before the caller closes it: the caller runs
  // tasks itself, closes the job once none is left to claim, and waits only for the workers that
  // joined. A worker still asleep, or slow to see the job, then costs a short product nothing
  // (when every worker had to acknowledge every job, the caller waited for it even after doing all
  // the tasks itself).
  void run(int64_t num_tasks, const std::function<void(int64_t)>& fn) {
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &fn;
      num_tasks_ = num_tasks;
      next_.store(0, std::memory_order_relaxed);
      left_.store(0, std::memory_order_relaxed);
      joined_.store(0, std::memory_order_release);  // a worker that joins sees the job's fields
      generation_.fetch_add(1, std::memory_order_release);  // publishes the job to spinning workers
      wake = sleeping_ > 0;
    }
    if (wake) cv_.notify_all();
    work();
    const int joined = joined_.fetch_or(kClosed, std::memory_order_acq_rel) & ~kClosed;
    const auto done = [this, joined] { return left_.load(std::memory_order_acquire) == joined; };
    if (!spin_until(spin_, done)) {
      std::unique_lock<std::mutex> lk(mu_);
      done_cv_.wait(lk, done);
    }
    job_ = nullptr;
  }

 private:
  void work() {
    t_inside_task = true;
    for (;;) {
      int64_t t = next_.fetch_add(1);
      if (t >= num_tasks_) break;
      (*job_)(t);
    }
    t_inside_task = false;
  }
  void worker_loop() {
    uint64_t seen = 0;
    const auto changed = [&] { return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
    for (;;) {
      if (!spin_until(spin_, changed)) {
        std::unique_lock<std::mutex> lk(mu_);
        ++sleeping_;
        cv_.wait(lk, changed);
        --sleeping_;
      }
      if (stop_.load(std::memory_order_acquire)) return;
      seen = generation_.load(std::memory_order_acquire);
      // Join unless the caller has closed the job. A worker that saw an older generation may join
      // a newer job here: it then works on that one (its fields are published before joined_ is
      // reset), and may join it twice; every join is matched by one leave.
      int j = joined_.load(std::memory_order_relaxed);
      while (!(j & kClosed) && !joined_.compare_exchange_weak(j, j + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      }
      if (j & kClosed) continue;
      work();
      left_.fetch_add(1, std::memory_order_acq_rel);
      // Under mu_, so that a caller that stopped spinning either sees the count before it sleeps
      // or is asleep when notified.
      { std::lock_guard<std::mutex> lk(mu_); }
      done_cv_.notify_one();
    }
  }

  static constexpr int kClosed = 1 << 30;
  int num_threads_;
  int64_t spin_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t num_tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> joined_{kClosed};  // workers that joined the current job, | kClosed once it is closed
  std::atomic<int> left_{0};          // joined workers that finished it
  int sleeping_ = 0;  // workers waiting on cv_ (under mu_)
};

std::mutex g_run_mu;  // serializes whole parallel_for calls and pool replacement
std::unique_ptr<Pool> g_pool;
int g_requested = 0;
// Readable without g_run_mu so that code running inside a task can ask for it.
std::atomic<int> g_effective{0};

int effective_threads() { return g_requested > 0 ? g_requested : default_num_threads(); }

Pool& pool_locked() {
  if (!g_pool) g_pool = std::make_unique<Pool>(effective_threads());
  return *g_pool;
}

}  // namespace

void parallel_for(int64_t num_tasks, const std::function<void(int64_t)>& fn) {
  if (num_tasks <= 0) return;
  if (t_inside_task || num_tasks == 1) {
    for (int64_t t = 0; t < num_tasks; ++t) fn(t);
    return;
  }
  std::lock_guard<std::mutex> lk(g_run_mu);
  Pool& p = pool_locked();
  if (p.num_threads() == 1) {
    // Serially, as a task: a parallel_for nested in fn must not wait for g_run_mu, held here.
    struct InTask {
      bool was = t_inside_task;
      InTask() { t_inside_task = true; }
      ~InTask() { t_inside_task = was; }
    } in_task;
    for (int64_t t = 0; t < num_tasks; ++t) fn(t);
    return;
  }
  p.run(num_tasks, fn);
}

void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  // A few chunks per thread balance uneven rows without much scheduling overhead.
  int64_t threads = get_num_threads();
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, threads * 4);
  int64_t step = (n + chunks - 1) / chunks;
  chunks = (n + step - 1) / step;
  parallel_for(chunks, [&](int64_t c) {
    int64_t b = c * step;
    fn(b, std::min(n, b + step));
  });
}

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lk(g_run_mu);
  g_requested = n;
  g_pool.reset();
  g_effective.store(effective_threads());
}

int get_num_threads() {
  int n = g_effective.load();
  if (n == 0) {
    n = default_num_threads();
    int expected = 0;
    g_effective.compare_exchange_strong(expected, n);
  }
  return n;
}

}  // namespace sk
