// One process-wide pool of worker threads. parallel_for calls from several threads (e.g. several
// libuv workers running async calls) take turns instead of oversubscribing the cores.
#pragma once
#include <cstdint>
#include <functional>

namespace sk {

// Runs fn(task) for task in [0, num_tasks) on the pool; the calling thread takes part.
// A call made from inside a task runs serially on that thread (no nested parallelism).
void parallel_for(int64_t num_tasks, const std::function<void(int64_t task)>& fn);

// Splits [0, n) into chunks of at least `grain` and runs fn(begin, end) for each.
void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

void set_num_threads(int n);  // n <= 0 restores the default (SPARSEKIT_NUM_THREADS or all cores)
int get_num_threads();

}  // namespace sk
