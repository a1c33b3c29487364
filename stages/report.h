// Report stage: turns a run's results into one self-contained HTML page with
// gnuplot figures. The last stage of the data flow (after regress). Not collective.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::stages {

struct ReportJob {
  std::filesystem::path path_run;   // the run directory
  std::string gnuplot = "gnuplot";  // the gnuplot executable (looked up on PATH)
  std::size_t smoothing_window = 3; // for the turning point (analysis::analyse_trajectory)
  double min_fall = 0.05;           // the fall of a layer's I(X;Z) that counts as compression (analysis::check_phases)
  bool operator==(const ReportJob&) const = default;
};

struct ReportResult {
  std::filesystem::path path_index;   // <run>/report/index.html
  std::vector<std::string> figures;   // names of the figures rendered (PNG + SVG each)
  std::vector<std::string> notes;     // what is missing, as said on the page
};

// Reads <run>/results/metrics.csv (required) and, when present, correlations.csv,
// regression.csv, model_table.csv, scores.csv (from regress) and summary.csv in
// <run>/results, and <run>/{manifest,plan}.json and an item's provenance.json for the
// provenance section. Writes <run>/report/figures/<name>.{gp,dat,png,svg,log},
// <run>/report/index.html (PNG figures embedded as base64 data URIs; no external
// resource) and, for models with at least 3 checkpoints, the two-phase checks of every
// layer (analysis::check_phases) in <run>/report/phases_layers.csv and each model's
// verdict in <run>/report/phases_models.csv. Figures: the information plane
// (trajectories over checkpoints, the bound, turning points), metric-by-step
// trajectories (turning point, shuffled null, bootstrap band), per model the dynamics of
// every layer (I(X;Z), I(Y;Z), optimality and the held-out loss against the step, each
// layer's turning point) and its information plane per layer coloured by step, task
// scores against optimality over checkpoints, layer x checkpoint heat maps, per-layer
// profiles, optimality against each benchmark (per checkpoint when the scores are) with
// the OLS fit and its 95% band, and the back-off decomposition. docs/ANALYSIS.md section 5.
// Whatever is missing (no benchmarks, one checkpoint, no held-out loss, gnuplot absent or
// failing) is stated on the page, not an error.
// Throws MissingInputError (no metrics.csv), CorruptDataError, WriteError.
ReportResult report(const ReportJob& job);

}  // namespace ibzoo::stages
