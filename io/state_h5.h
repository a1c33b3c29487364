// The estimator's files: an item's state.h5 (the exact sums of every layer of one
// checkpoint, a few KB) and the opt-in per-position soft assignments
// (assignments.h5). docs/RUN_LAYOUT.md documents both with the rest of the run.
//
// state.h5 (format 3): one group per part of the item ("text", "preference"):
//   /                        attrs: format = 3, item, n_positions, n_tokens (what accumulate adds)
//   /<part>/                 attrs: n_bins, n_bootstrap, bootstrap_seed, n_subset_levels,
//                                   subset_seed (the StateLayout)
//   /<part>/label_sets       string [S]
//   /<part>/label_rows       int64 [S]: table rows of each set over the whole sample
//   /<part>/layers           int64 [L]: hidden-state indices, ascending
//   /<part>/sums             int64 [L, F]: analysis::LayerSums::to_flat() of each layer
//
// assignments.h5 (format 2, storage.assignments float32|float16): every position's
// soft assignment at every estimated layer with its label ids; an output for users,
// never read back by the estimate.
//   /                       attrs: format = 2 and the layout as above
//   /label_sets, /label_rows
//   /labels                 int32 [S, n]: row id, -1 (singleton) or -2 (dropped)
//   /doc_ids                int64 [n]
//   /layer_NNN/p            float32 or float16 [n, m], chunked by 1024 rows
#pragma once

#include "analysis/estimator_state.h"
#include "io/h5.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::io {

std::string layer_group(int layer_idx);

// --- Format 3: the sums of one part of an item -----------------------------------

inline constexpr std::int64_t kSumsFormat = 3;

struct PartSums {
  std::vector<int> layers;                        // ascending
  std::vector<analysis::LayerSums> per_layer;     // one per layer, all with the same layout
};
// Writes /<part> (and the root's format attribute).
void write_sums(H5File& file, const std::string& part, const PartSums& sums);
bool has_sums(const H5File& file, const std::string& part);
// Throws CorruptDataError naming the file and the dataset when anything is missing,
// inconsistent or of another format.
PartSums read_sums(const H5File& file, const std::string& part);

// --- Format 2: soft assignments per position (opt-in output) ---------------------

inline constexpr std::int64_t kAssignmentsFormat = 2;

void write_assignments_header(H5File& file, const analysis::StateLayout& layout);
// An empty, growable /layer_NNN/p [0, n_bins], float32 or IEEE float16; append_assignments
// adds rows in order, float32 values to a float32 dataset, half bit patterns to a float16 one.
void create_assignments(H5File& file, int layer, std::int64_t n_bins, bool float16);
void append_assignments(H5File& file, int layer, std::span<const float> p, std::int64_t n_rows);
void append_assignments(H5File& file, int layer, std::span<const std::uint16_t> p_half, std::int64_t n_rows);
// labels: [S][n] in the header's set order; doc_ids: [n].
void write_positions(H5File& file, const std::vector<std::vector<std::int32_t>>& labels, std::span<const std::int64_t> doc_ids);

struct ItemAssignments {
  analysis::StateLayout layout;
  std::vector<int> layers;                           // layers with /layer_NNN/p, ascending
  std::int64_t n_positions = 0;
  std::vector<std::vector<std::int32_t>> labels;     // [S][n]; empty unless read with positions
  std::vector<std::int64_t> doc_ids;                 // [n]; empty unless read with positions
};
// Reads and checks the header (and, with_positions, the labels and doc ids). Throws
// CorruptDataError naming the file and the dataset.
ItemAssignments read_assignments(const H5File& file, bool with_positions);
// Rows [row_begin, row_begin + n_rows) of /layer_NNN/p.
std::vector<float> read_assignment_rows(const H5File& file, int layer, std::int64_t n_bins, std::int64_t row_begin,
                                        std::int64_t n_rows);

}  // namespace ibzoo::io
