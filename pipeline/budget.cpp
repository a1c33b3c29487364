// The memory model of the streaming estimate: what one pass's tables may take.
#include "pipeline/budget.h"

#include "errors/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace ibzoo::pipeline {

namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;
// Allocator rounding, fragmentation, small buffers: the CUDA caching allocator's
// blocks and the CUDA context need more room than the host's malloc.
constexpr std::int64_t kSlackDevice = 1024 * kMiB;
constexpr std::int64_t kSlackHost = 64 * kMiB;

std::int64_t meminfo_field(const std::string& path, const std::string& key, std::int64_t scale) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    std::istringstream fields(line.substr(key.size()));
    std::int64_t value = 0;
    fields >> value;
    return value * scale;
  }
  return 0;
}

}  // namespace

std::optional<std::int64_t> parse_memory_size(const std::string& text) {
  if (text == "auto") return std::nullopt;
  const auto bad = [&] {
    return UsageError("memory size must be \"auto\" or a number with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, "
                      "TiB, or K, M, G, T for the binary units), e.g. 24GiB or 3000MiB; got '" + text + "'");
  };
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw bad();
  }
  auto unit = text.substr(used);
  unit.erase(0, unit.find_first_not_of(' '));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else if (unit == "TB") scale = 1e12;
  else if (unit == "K" || unit == "KiB") scale = 1024.0;
  else if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  else throw bad();
  const double bytes = value * scale;
  if (!std::isfinite(bytes) || bytes < 1 || bytes > 9e18) throw bad();
  return static_cast<std::int64_t>(bytes);
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int i = 0;
  while (std::abs(bytes) >= 1024 && i < 5) {
    bytes /= 1024;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", bytes, units[i]);
  return buf;
}

int bytes_per_value(const std::string& dtype) { return dtype == "float32" ? 4 : 2; }

MemoryPlan plan_memory(const MemoryInputs& in) {
  MemoryPlan plan;
  // One batch's activations: a dozen hidden-wide buffers and the MLP's (gated) width,
  // plus one layer's attention scores. On the device a whole batch at once (attention
  // in fused kernels); on the host one sequence at a time (stages/accumulate.cpp).
  const double tokens = static_cast<double>(in.tokens_per_batch);
  const double seq = static_cast<double>(std::min(in.max_tokens, in.tokens_per_batch));
  const double width = static_cast<double>(in.dtype_bytes) *
                       (12.0 * static_cast<double>(in.hidden) + 3.0 * static_cast<double>(in.intermediate));
  const double activations = in.cuda ? tokens * width : seq * width + seq * seq * static_cast<double>(in.n_heads) * 4.0 * 2.0;
  // The estimator's per-batch buffers. Device: p, its mass-grid copy and a weighted copy
  // (bootstrap views), every set's row index per position, and the float64 temporaries
  // of the row entropies at the end of a pass
  // (models/device_tables.cpp: 2^18 rows at a time, four [rows, m] arrays). Host: the
  // mass-grid values and p of one batch; the p of each layer of a pass (and in a team
  // the team's) are the pass's, planned with its tables (stages::pass_bytes_per_layer).
  const double m = static_cast<double>(in.n_bins);
  const double estimator = in.cuda ? std::max(tokens * (m * 20.0 + 8.0 * static_cast<double>(in.n_sets)),
                                              4.0 * 8.0 * m * static_cast<double>(1 << 18))
                                   : tokens * m * 12.0;
  const auto transient = static_cast<std::int64_t>(activations + estimator) + (in.cuda ? kSlackDevice : kSlackHost);
  plan.budget = in.budget.value_or(in.available);
  // A given budget covers everything the rank holds (the weights on the device, the
  // whole process on the host); free or available memory already excludes it.
  plan.reserved = transient + (in.budget ? (in.cuda ? in.weights : in.resident) : 0);
  plan.tables = std::max<std::int64_t>(0, plan.budget - plan.reserved);
  return plan;
}

std::int64_t host_available_bytes() { return meminfo_field("/proc/meminfo", "MemAvailable:", 1024); }

std::int64_t resident_bytes() { return meminfo_field("/proc/self/status", "VmRSS:", 1024); }

}  // namespace ibzoo::pipeline
