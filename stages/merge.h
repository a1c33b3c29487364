// Merge: one checkpoint's exact sums from every rank of its team (each rank holds
// the scalar sums of the positions it ran and the row terms of its share of the
// label rows) added into the checkpoint's sums. Integer additions: the result is
// bitwise the same for any team size and any order.
// Collective over `team`: every rank calls it with its layers' sums (same layouts).
#pragma once

#include "analysis/estimator_state.h"
#include "io/mpi.h"

#include <vector>

namespace ibzoo::stages {

std::vector<analysis::LayerSums> merge_sums(const io::Communicator& team, const std::vector<analysis::LayerSums>& mine);

}  // namespace ibzoo::stages
