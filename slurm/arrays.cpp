// Slices of the plan and the arrays that run them.
#include "slurm/arrays.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/text.h"

#include <algorithm>
#include <map>

namespace ibzoo::slurm {

namespace fs = std::filesystem;
using io::join;

std::pair<std::size_t, std::size_t> slice_bounds(std::size_t n_items, int k, int n) {
  const auto nn = static_cast<std::size_t>(n);
  const auto kk = static_cast<std::size_t>(k);
  return {kk * n_items / nn, (kk + 1) * n_items / nn};
}

int count_slices(std::size_t n_items, int items_per_task) {
  const auto per = static_cast<std::size_t>(std::max(items_per_task, 1));
  return static_cast<int>((n_items + per - 1) / per);
}

std::vector<int> unfinished_slices(const fs::path& path_run, const std::vector<std::string>& item_ids,
                                   int n_slices) {
  std::vector<int> slices;
  for (int k = 0; k < n_slices; ++k) {
    const auto [first, last] = slice_bounds(item_ids.size(), k, n_slices);
    for (auto i = first; i < last; ++i) {
      if (!fs::exists(path_run / "items" / item_ids[i] / "DONE")) {
        slices.push_back(k);
        break;
      }
    }
  }
  return slices;
}

std::string compress_ranges(const std::vector<int>& sorted) {
  std::string out;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(sorted[i]);
    if (j > i) out += "-" + std::to_string(sorted[j]);
    i = j + 1;
  }
  return out;
}

std::vector<ArrayChunk> split_into_arrays(const std::vector<int>& slices, int max_array_size,
                                          int array_throttle) {
  std::map<int, ArrayChunk> by_offset;
  for (const int s : slices) {
    const int offset = (s / max_array_size) * max_array_size;
    auto& chunk = by_offset[offset];
    chunk.offset = offset;
    chunk.indices.push_back(s - offset);
  }
  std::vector<ArrayChunk> chunks;
  for (auto& [offset, chunk] : by_offset) {
    std::sort(chunk.indices.begin(), chunk.indices.end());
    chunk.array_spec = compress_ranges(chunk.indices);
    if (array_throttle > 0) chunk.array_spec += "%" + std::to_string(array_throttle);
    chunks.push_back(chunk);
  }
  return chunks;
}

// ---------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------

}  // namespace ibzoo::slurm
