// Estimator state in HDF5: one group per layer inside an item's state.h5.
//   /layer_NNN/                         attrs: n_bins, n_bootstrap, bootstrap_seed,
//                                              n_subset_levels, subset_seed
//   /layer_NNN/label_sets               string [S]
//   /layer_NNN/view_VVV/n               int64 [1]
//   /layer_NNN/view_VVV/sum_p           float64 [m]
//   /layer_NNN/view_VVV/set_SS/ids      int64 [k]
//   /layer_NNN/view_VVV/set_SS/counts   int64 [k]
//   /layer_NNN/view_VVV/set_SS/sums     float64 [k, m]
//   /layer_NNN/view_VVV/set_SS/singletons  float64 [4]: entropy_weighted, weight, labels, entropy
// docs/RUN_LAYOUT.md documents it with the rest of the run directory.
#pragma once

#include "analysis/estimator_state.h"
#include "io/h5.h"

#include <string>

namespace ibzoo::io {

std::string layer_group(int layer_idx);
void write_state(H5File& file, const std::string& group, const analysis::StateVectors& state);
// Throws CorruptDataError naming the file and the dataset when anything is missing or inconsistent.
analysis::StateVectors read_state(const H5File& file, const std::string& group);

}  // namespace ibzoo::io
