// An item's state.h5. Two formats; the reduce reads both.
//
// Format 2 (written by extract): every position's soft assignment, once per layer,
// with the position's label ids; the reduce builds the label tables. Its size is
// n x (layers x m x 4 + S x 4 + 8) bytes, independent of the label sets' row counts,
// and lossless (the assignments are float32 where they are computed).
//   /                       attrs: format = 2, n_bins, n_bootstrap, bootstrap_seed,
//                                  n_subset_levels, subset_seed (the StateLayout),
//                                  and what extract adds (item, n_positions, n_tokens)
//   /label_sets             string [S]
//   /label_rows             int64 [S]: each set's number of table rows over the whole
//                           sample (labels with count >= max(2, min_count)), which
//                           bounds the reduce's tables
//   /labels                 int32 [S, n]: row id, -1 (singleton) or -2 (dropped)
//   /doc_ids                int64 [n]
//   /layer_NNN/p            float32 [n, m], chunked by 1024 rows
// The n positions are in the order extract ran them; the arrays are aligned.
//
// Format 1 (tables, written before format 2 and by tests): one group per layer.
//   /layer_NNN/                         attrs: n_bins, n_bootstrap, bootstrap_seed,
//                                              n_subset_levels, subset_seed
//   /layer_NNN/label_sets               string [S]
//   /layer_NNN/view_VVV/n               int64 [1]
//   /layer_NNN/view_VVV/sum_p           float64 [m]
//   /layer_NNN/view_VVV/set_SS/ids      int64 [k]
//   /layer_NNN/view_VVV/set_SS/counts   int64 [k]
//   /layer_NNN/view_VVV/set_SS/sums     float64 [k_dense, m]: the rows with pool_idx -1
//   /layer_NNN/view_VVV/set_SS/pool_idx int64 [k]: -1 (row in sums) or a row of pool
//   /layer_NNN/pool                     float32 [P, m]: distinct soft-assignment vectors
//     of rows with count 1 (their sums are one float32 assignment, exactly), shared by
//     every label set and view of the layer. Files without pool_idx/pool (written
//     before the pool) read as all rows dense.
//   /layer_NNN/view_VVV/set_SS/singletons  float64 [4]: entropy_weighted, weight, labels, entropy
// docs/RUN_LAYOUT.md documents both with the rest of the run directory.
#pragma once

#include "analysis/estimator_state.h"
#include "io/h5.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::io {

std::string layer_group(int layer_idx);
// Lossless: a count-1 row goes to the pool only when every value is exactly a float32.
void write_state(H5File& file, const std::string& group, const analysis::StateVectors& state);
// Throws CorruptDataError naming the file and the dataset when anything is missing or inconsistent.
// With a share, only the table rows of that share are returned (the rest is not expanded).
analysis::StateVectors read_state(const H5File& file, const std::string& group,
                                  const analysis::RowShare& share = analysis::RowShare{});

// --- Format 2: soft assignments per position -----------------------------------

inline constexpr std::int64_t kAssignmentsFormat = 2;

// Whether the file is format 2.
bool is_assignments_file(const H5File& file);
// The header: layout attributes, label set names and row counts. label_rows: one per set.
void write_assignments_header(H5File& file, const analysis::StateLayout& layout, std::span<const std::int64_t> label_rows);
// An empty, growable /layer_NNN/p [0, n_bins], float32 or IEEE float16
// (storage.assignments, docs/RUN_LAYOUT.md); append_assignments adds rows in order,
// float32 values to a float32 dataset, half bit patterns to a float16 one.
void create_assignments(H5File& file, int layer, std::int64_t n_bins, bool float16);
void append_assignments(H5File& file, int layer, std::span<const float> p, std::int64_t n_rows);
void append_assignments(H5File& file, int layer, std::span<const std::uint16_t> p_half, std::int64_t n_rows);
// labels: [S][n] in the header's set order; doc_ids: [n].
void write_positions(H5File& file, const std::vector<std::vector<std::int32_t>>& labels, std::span<const std::int64_t> doc_ids);

struct ItemAssignments {
  analysis::StateLayout layout;
  std::vector<std::int64_t> label_rows;              // [S]
  std::vector<int> layers;                           // layers with /layer_NNN/p, ascending
  std::int64_t n_positions = 0;
  std::vector<std::vector<std::int32_t>> labels;     // [S][n]; empty unless read with positions
  std::vector<std::int64_t> doc_ids;                 // [n]; empty unless read with positions
};
// Reads and checks the header (and, with_positions, the labels and doc ids): every
// array's shape against n and S, every label id in -2 .. label_rows - 1. Throws
// CorruptDataError naming the file and the dataset.
ItemAssignments read_assignments(const H5File& file, bool with_positions);
// Rows [row_begin, row_begin + n_rows) of /layer_NNN/p.
std::vector<float> read_assignment_rows(const H5File& file, int layer, std::int64_t n_bins, std::int64_t row_begin,
                                        std::int64_t n_rows);

}  // namespace ibzoo::io
