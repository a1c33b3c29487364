// The metrics stage of a study (rank 0): every checkpoint's exact sums (its item's
// state.h5) -> estimates -> results/metrics.csv, metrics.h5 and summary.csv, in plan
// order. No model runs: a rerun of a finished study only rewrites these files.
#pragma once

#include "io/run_dir.h"
#include "pipeline/run.h"

namespace ibzoo::pipeline {

// Throws Error naming the unfinished items (and the command that finishes them)
// when an item has no valid DONE.
void write_results(const Study& study, const io::RunDir& run);

}  // namespace ibzoo::pipeline
