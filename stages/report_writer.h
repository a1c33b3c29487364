// Inside stages/ only: the report's writer, shared by report.cpp (the page, its
// sections and tables, gnuplot), report_figures.cpp (the plane, trajectories, maps,
// profiles, benchmarks, back-off) and report_dynamics.cpp (training dynamics and the
// two-phase check), and the small formatting helpers they use.
#pragma once

#include "stages/report.h"

#include "analysis/dynamics.h"
#include "io/csv.h"
#include "io/metrics_csv.h"

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace ibzoo::stages::report_parts {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string html_escape(const std::string& s);

std::string base64(const std::string& data);

// gnuplot string literal in single quotes ('' escapes a quote).
std::string gp_quote(const std::string& s);

// Data-file string field in double quotes (gnuplot reads "a b" as one column).
std::string dat_quote(const std::string& s);

std::string num(double v);

// For people: 4 significant digits (the CSV files keep all 17).
std::string short_num(double v);

std::string count_of(std::size_t n, const std::string& noun);

// The y-axis unit of every entropy and information in metrics.csv.
constexpr const char* kUnit = " / log m";

// Integer ticks for an axis of layer indices 0..max_layer (about 12 labels at most).
std::string layer_tics(int max_layer);

// A table cell: numbers with a fractional part are shortened, the full value kept as a tooltip.
std::string html_cell(const std::string& cell);

bool is_layer_index(const std::string& layer);

// The metrics indexed for plotting.
struct Metrics {
  std::map<std::string, std::string> family;                          // model -> family
  std::map<std::string, std::map<std::int64_t, std::string>> steps;   // model -> step -> checkpoint
  // (model, checkpoint, layer, label_set, metric) -> value
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, double> values;

  double get(const std::string& model, const std::string& ckpt, const std::string& layer, const std::string& label,
             const std::string& metric) const {
    const auto it = values.find({model, ckpt, layer, label, metric});
    return it == values.end() ? kNaN : it->second;
  }
  std::string final_checkpoint(const std::string& model) const { return steps.at(model).rbegin()->second; }
};

Metrics index_metrics(const std::vector<io::MetricRow>& rows);

class ReportWriter {
 public:
  ReportWriter(const ReportJob& job) : job_(job), dir_(job.path_run / "report"), fig_dir_(dir_ / "figures") {}

  ReportResult run();

 private:
  void note(const std::string& text);
  void section(const std::string& title, const std::string& body);

  std::optional<io::CsvTable> optional_table(const fs::path& path, const std::string& what);
  std::string table_section(const fs::path& path, const std::string& what);

  static std::string html_table(const io::CsvTable& t);

  // Writes the script (PNG, then SVG) and runs gnuplot. Returns the <figure> HTML or "".
  std::string render(const std::string& name, const std::string& body, const std::string& caption, int width = 900,
                     int height = 600);
  static std::string shell_quote(const std::string& s);

  void write_data(const std::string& name, const std::string& text);
  std::string data_path(const std::string& name) const;

  std::vector<analysis::PlanePoint> plane_points(const std::string& model) const;
  std::string info_plane();

  // Where the numbers come from: versions, manifest, estimator settings, models, data, dates.
  std::string provenance();

  // The layer-mean value of a metric at every checkpoint of a model, by step.
  double mean_value(const std::string& model, const std::string& ckpt, const std::string& label,
                    const std::string& metric) const;

  // Complexity, expressivity and optimality against the training step, per model, with
  // the turning point, the shuffled null (dashed) and bootstrap bands where they exist.
  std::string trajectories();

  // Complexity at every (layer, checkpoint) of each model with several checkpoints.
  std::string layer_checkpoint_maps();
  std::string dynamics_table();

  // The integer layers of a model that have I(X;Z) rows, ascending.
  std::vector<int> layers_of(const std::string& model) const;

  // One layer of a model over its checkpoints, with the checkpoint's held-out loss.
  analysis::LayerSeries layer_series(const std::string& model, int layer) const;
  bool has_eval_loss(const std::string& model) const;

  // A colour per layer along the viridis scale (dark = embeddings, yellow = last layer).
  static std::string layer_colour(std::size_t idx, std::size_t n);

  static constexpr const char* kStepPalette =
      "set palette defined (0 '#440154', 1 '#3b528b', 2 '#21918c', 3 '#5ec962', 4 '#fde725')\n"
      "set cblabel 'log10(training step + 1)'\n";

  // Per model with at least 3 checkpoints: the dynamics of every layer, the information
  // plane per layer, and the two-phase checks (also written to report/phases_*.csv).
  std::string two_phases();

  std::string layer_dynamics(const std::string& model, const std::vector<analysis::LayerSeries>& series,
                             const std::vector<analysis::PhaseCheck>& checks);
  std::string layer_planes(const std::string& model, const std::vector<analysis::LayerSeries>& series);

  static std::string mark(bool ok);

  std::string phase_table(const std::string& model, const std::vector<analysis::LayerSeries>& series,
                          const std::vector<analysis::PhaseCheck>& checks, const analysis::PhaseVerdict& verdict);
  static std::string yes_no(bool b);

  void add_phase_rows(const std::string& model, const std::vector<analysis::LayerSeries>& series,
                      const std::vector<analysis::PhaseCheck>& checks, const analysis::PhaseVerdict& verdict,
                      std::vector<std::vector<std::string>>& layer_rows, std::vector<std::vector<std::string>>& model_rows);

  // Task scores against optimality over checkpoints: per target, one line per model
  // through its checkpoints in step order, points coloured by step (model_table.csv).
  std::string tasks_vs_optimality();
  std::string layer_profiles();

  std::string optimality_vs_benchmarks();
  std::string one_benchmark(const io::CsvTable& t, std::size_t x_col, std::size_t y_col);

  static std::string safe_name(const std::string& s);
  std::string backoff();

  std::string page() const;
  const ReportJob& job_;
  fs::path dir_;
  fs::path fig_dir_;
  Metrics metrics_;
  std::optional<io::CsvTable> model_table_;
  std::vector<std::string> figures_;
  std::vector<std::string> notes_;
  std::string body_;
};

}  // namespace ibzoo::stages::report_parts
