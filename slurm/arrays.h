// A run's plan as Slurm array tasks: contiguous slices of the sorted items, the slices
// still unfinished, and arrays that keep task indices under MaxArraySize.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::slurm {

// Item range [first, second) of slice `k` of `n` contiguous slices over n_items sorted items.
// Balanced: slice sizes differ by at most one. Must match `ibzoo run --slice K/N`.
std::pair<std::size_t, std::size_t> slice_bounds(std::size_t n_items, int k, int n);

// Number of slices for n_items at items_per_task each: ceil(n_items / items_per_task).
int count_slices(std::size_t n_items, int items_per_task);

// Slices (sorted) with at least one item that has no <run>/items/<id>/DONE marker.
// `item_ids` is the plan in order.
std::vector<int> unfinished_slices(const std::filesystem::path& path_run,
                                   const std::vector<std::string>& item_ids, int n_slices);

// "0-3,5,7-9" for a sorted list of distinct non-negative integers.
std::string compress_ranges(const std::vector<int>& sorted);

// One extraction job array: tasks `indices` (each < max_array_size) of slices offset + index.
struct ArrayChunk {
  int offset = 0;
  std::vector<int> indices;
  std::string array_spec;            // the --array value, e.g. "0-4%2"
  bool operator==(const ArrayChunk&) const = default;
};

// Splits the slices to run into arrays whose task indices stay below max_array_size:
// slice s goes to the array with offset (s / max_array_size) * max_array_size.
std::vector<ArrayChunk> split_into_arrays(const std::vector<int>& slices, int max_array_size,
                                          int array_throttle);

}  // namespace ibzoo::slurm
