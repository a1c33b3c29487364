// parallel_for: the stages' one way of spreading independent tasks over threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ibzoo::stages {

// Calls fn(k) for k in [0, n) on up to `threads` threads (the caller's among them),
// taking the next k as each finishes; rethrows the first exception once all are done.
template <typename Fn>
void parallel_for(std::size_t n, int threads, const Fn& fn) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto worker = [&] {
    for (std::size_t k = next++; k < n; k = next++) {
      try {
        fn(k);
      } catch (...) {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  const auto n_workers = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, threads)));
  for (std::size_t t = 1; t < n_workers; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace ibzoo::stages
