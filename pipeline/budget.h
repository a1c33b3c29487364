// How much memory the estimator's label tables of one pass may take on one rank
// (compute.memory_budget, docs/MANIFEST.md): the budget (given, or "auto": the
// device's free memory after the model is loaded, or the host's available memory
// shared by the node's ranks) less what the rank needs beside the tables (the
// weights, one batch's activations, the estimator's per-batch buffers and, on the
// host, what the process already holds: the sample, its labels, libraries).
// Pure arithmetic: `plan --estimate` and the run use the same function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ibzoo::pipeline {

// "auto" -> nullopt; "24GiB", "3000MiB", "512MB", "2G", "1e9" (bytes) -> bytes.
// Throws UsageError naming the text for anything else.
std::optional<std::int64_t> parse_memory_size(const std::string& text);
std::string format_bytes(double bytes);  // "3.1 GiB"

struct MemoryInputs {
  bool cuda = false;
  std::optional<std::int64_t> budget;    // compute.memory_budget; nullopt: auto
  std::int64_t available = 0;            // auto: device free bytes after the load (cuda) or host available / local ranks
  std::int64_t weights = 0;              // bytes of the loaded weights (cuda, given budget)
  std::int64_t resident = 0;             // host: bytes the process holds now (weights, sample, labels, libraries)
  std::int64_t hidden = 0, intermediate = 0, n_heads = 0;
  std::int64_t tokens_per_batch = 0, max_tokens = 0;
  int dtype_bytes = 4;
  std::int64_t n_bins = 100, n_sets = 1;
};

struct MemoryPlan {
  std::int64_t budget = 0;       // the rank's budget (given or found)
  std::int64_t reserved = 0;     // for everything but the tables
  std::int64_t tables = 0;       // left for one pass's tables (>= 0)
};

MemoryPlan plan_memory(const MemoryInputs& in);

// Bytes of one weight or activation value in compute.dtype: 4 for float32, else 2.
int bytes_per_value(const std::string& dtype);

// Host memory available to this process now (MemAvailable, /proc/meminfo), and the
// resident set of this process (VmRSS); 0 when unknown.
std::int64_t host_available_bytes();
std::int64_t resident_bytes();

}  // namespace ibzoo::pipeline
