// Estimator state in HDF5: one group per layer inside an item's state.h5.
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
// docs/RUN_LAYOUT.md documents it with the rest of the run directory.
#pragma once

#include "analysis/estimator_state.h"
#include "io/h5.h"

#include <string>

namespace ibzoo::io {

std::string layer_group(int layer_idx);
// Lossless: a count-1 row goes to the pool only when every value is exactly a float32.
void write_state(H5File& file, const std::string& group, const analysis::StateVectors& state);
// Throws CorruptDataError naming the file and the dataset when anything is missing or inconsistent.
// With a share, only the table rows of that share are returned (the rest is not expanded).
analysis::StateVectors read_state(const H5File& file, const std::string& group,
                                  const analysis::RowShare& share = analysis::RowShare{});

}  // namespace ibzoo::io
