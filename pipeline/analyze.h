// The analysis stage of a run (rank 0 only): joins the manifest's benchmark scores
// with results/metrics.csv, writes results/correlations.csv and results/regression.csv,
// and renders report/index.html.
#pragma once

#include "io/run_dir.h"
#include "pipeline/manifest.h"

namespace ibzoo::pipeline {

void analyze(const Manifest& manifest, const io::RunDir& run);

}  // namespace ibzoo::pipeline
