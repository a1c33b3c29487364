// The report's figures of the metrics: the information plane, the trajectories over
// training, layer x checkpoint maps, per-layer profiles, optimality against benchmarks
// and the back-off decomposition (report_writer.h).
#include "stages/report_writer.h"

#include "analysis/dynamics.h"
#include "errors/error.h"
#include "analysis/regression.h"
#include "io/csv.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/metrics_csv.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>
#include <sstream>

namespace ibzoo::stages::report_parts {

std::vector<analysis::PlanePoint> ReportWriter::plane_points(const std::string& model) const {
  std::vector<analysis::PlanePoint> pts;
  for (const auto& [step, ckpt] : metrics_.steps.at(model)) {
    const double x = metrics_.get(model, ckpt, "mean", "in1", "mutual_information");
    const double y = metrics_.get(model, ckpt, "mean", "out1", "mutual_information");
    if (std::isfinite(x) && std::isfinite(y)) pts.push_back({step, x, y});
  }
  return pts;
}

std::string ReportWriter::info_plane() {
  std::string dat, turns, plot;
  double top = 0;
  int block = 0;
  for (const auto& [model, steps] : metrics_.steps) {
    const auto pts = plane_points(model);
    if (pts.empty()) continue;
    const auto t = analysis::analyse_trajectory(pts, job_.smoothing_window);
    dat += "# " + model + "\n";
    for (const auto& p : t.points) {
      dat += num(p.complexity) + " " + num(p.expressivity) + " " + std::to_string(p.step) + "\n";
      top = std::max({top, p.complexity, p.expressivity});
    }
    dat += "\n\n";
    if (t.has_turning_point) {
      const auto& p = t.points[t.turning_idx];
      turns += num(p.complexity) + " " + num(p.expressivity) + " " + dat_quote(model) + "\n";
    }
    plot += std::string(block ? ", " : "") + data_path("info_plane") + " index " + std::to_string(block) +
            " using 1:2 with linespoints pt 7 ps 0.8 title " + gp_quote(model) + ", " + data_path("info_plane") +
            " index " + std::to_string(block) + " every ::0::0 using 1:2 with points pt 6 ps 2 lc rgb 'gray40' notitle";
    ++block;
  }
  if (block == 0) {
    note("No information-plane data: metrics.csv has no layer-mean mutual_information rows for in1 and out1.");
    return "";
  }
  write_data("info_plane", dat);
  if (!turns.empty()) {
    write_data("info_plane_turns", turns);
    plot += ", " + data_path("info_plane_turns") + " using 1:2 with points pt 3 ps 2.5 lc rgb 'black' title 'turning point'";
  }
  const double lim = top * 1.05 + 1e-9;
  std::ostringstream b;
  b << "set title 'Information plane (layer mean): open circle = first checkpoint, line follows training steps'\n"
    << "set xlabel 'complexity I(X;Z)" << kUnit << "'\nset ylabel 'expressivity I(Y;Z)" << kUnit << "'\n"
    << "set xrange [0:" << num(lim) << "]\nset yrange [0:" << num(lim) << "]\nset key outside right\nset grid\n"
    << "plot x with lines dt 2 lc rgb 'black' title 'bound I(Y;Z) = I(X;Z)', " << plot << "\n";
  return render("info_plane", b.str(), "Information plane: each model's trajectory over its checkpoints; the "
                                       "dashed diagonal is the bound. Informations are divided by log m (m = "
                                       "reference points), as in metrics.csv.");
}

double ReportWriter::mean_value(const std::string& model, const std::string& ckpt, const std::string& label,
                                const std::string& metric) const {
  return metrics_.get(model, ckpt, "mean", label, metric);
}

namespace {

// Checkpoint schedules are often log-spaced (Pythia: 0, 1, 2, 4, ..., 143000): a log axis of step + 1 then.
bool log_step_axis(const Metrics& metrics, const std::vector<std::string>& models) {
  std::int64_t max_step = 0, min_positive = 0;
  for (const auto& model : models) {
    for (const auto& [step, ckpt] : metrics.steps.at(model)) {
      max_step = std::max(max_step, step);
      if (step > 0 && (min_positive == 0 || step < min_positive)) min_positive = step;
    }
  }
  return min_positive > 0 && max_step >= 100 * min_positive;
}

// The three panels (complexity, expressivity, optimality) of trajectories.dat (`d`): a
// line per model, its shuffled null dashed and its bootstrap band filled where there
// are any, the turning points (`turns`, if not "") on the first.
void trajectory_panels(std::ostringstream& b, const std::vector<std::string>& models, const std::string& d,
                       const std::string& x, bool any_band, bool any_null, const std::string& turns) {
  const std::vector<std::tuple<int, int, int, int, std::string>> panels = {
      {2, 5, 7, 8, std::string("complexity I(X;Z)") + kUnit}, {3, 6, 9, 10, std::string("expressivity I(Y;Z)") + kUnit},
      {4, 0, 0, 0, "optimality I(Y;Z)/I(X;Z)"}};
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const auto& [col, null_col, lo, hi, title] = panels[p];
    b << "set title " << gp_quote(title) << "\nplot ";
    for (std::size_t m = 0; m < models.size(); ++m) {
      const auto lc = std::to_string(m + 1);
      if (lo && any_band) {
        b << d << " index " << m << " using " << x << ":" << lo << ":" << hi << " with filledcurves lc " << lc << " notitle, ";
      }
      b << d << " index " << m << " using " << x << ":" << col << " with linespoints pt 7 ps 0.6 lc " << lc << " title "
        << gp_quote(models[m]);
      if (null_col && any_null) {
        b << ", " << d << " index " << m << " using " << x << ":" << null_col << " with lines dt 2 lc " << lc << " notitle";
      }
      b << (m + 1 < models.size() ? ", " : "");
    }
    if (p == 0 && !turns.empty()) {
      b << ", " << turns << " using " << x << ":2 with points pt 9 ps 2 lc rgb 'black' title 'turning point'";
    }
    b << "\n";
  }
}

}  // namespace

std::string ReportWriter::trajectories() {
  std::string dat, turns;
  std::vector<std::string> models;
  bool any_null = false, any_band = false;
  for (const auto& [model, steps] : metrics_.steps) {
    if (steps.size() < 2) continue;
    std::string block;
    for (const auto& [step, ckpt] : steps) {
      block += std::to_string(step);
      for (const auto& [label, metric] : std::vector<std::pair<std::string, std::string>>{
               {"in1", "mutual_information"}, {"out1", "mutual_information"}, {"", "optimality"},
               {"in1", "null_mutual_information"}, {"out1", "null_mutual_information"}, {"in1", "mi_ci_low"},
               {"in1", "mi_ci_high"}, {"out1", "mi_ci_low"}, {"out1", "mi_ci_high"}}) {
        const double v = mean_value(model, ckpt, label, metric);
        any_null = any_null || (metric == "null_mutual_information" && std::isfinite(v));
        any_band = any_band || (metric == "mi_ci_low" && std::isfinite(v));
        block += " " + num(v);
      }
      block += "\n";
    }
    dat += "# " + model + "\n" + block + "\n\n";
    const auto t = analysis::analyse_trajectory(plane_points(model), job_.smoothing_window);
    if (t.has_turning_point) {
      const auto& p = t.points[t.turning_idx];
      turns += std::to_string(p.step) + " " + num(p.complexity) + " " + std::to_string(models.size()) + "\n";
    }
    models.push_back(model);
  }
  if (models.empty()) {
    note("No trajectories over training: every model has a single checkpoint.");
    return "";
  }
  write_data("trajectories", dat);
  if (!turns.empty()) write_data("trajectory_turns", turns);
  const auto d = data_path("trajectories");
  const bool log_x = log_step_axis(metrics_, models);
  const std::string x = log_x ? "($1+1)" : "1";
  std::ostringstream b;
  b << "set multiplot layout 1,3 title 'Layer-mean metrics over training (dashed: shuffled-label null; band: bootstrap "
       "95% interval; triangle: turning point)'\nset grid\nset key top left font ',8'\n"
       "set style fill transparent solid 0.2 noborder\n"
    << (log_x ? "set logscale x\nset xlabel 'training step + 1 (log scale)'\n" : "set xlabel 'training step'\n");
  trajectory_panels(b, models, d, x, any_band, any_null, turns.empty() ? std::string() : data_path("trajectory_turns"));
  b << "unset multiplot\n";
  return render("trajectories", b.str(),
                "Metric by training step for each model with several checkpoints (layer mean; informations / log m). "
                "The turning point is where complexity, smoothed over " + std::to_string(job_.smoothing_window) +
                    " checkpoints, peaks before it falls.",
                1300, 460);
}

std::string ReportWriter::layer_checkpoint_maps() {
  std::string html;
  std::size_t drawn = 0, skipped = 0;
  for (const auto& [model, steps] : metrics_.steps) {
    if (steps.size() < 2) continue;
    if (drawn == 8) {
      ++skipped;
      continue;
    }
    std::set<int> layers;
    for (const auto& [key, v] : metrics_.values) {
      if (std::get<0>(key) == model && is_layer_index(std::get<2>(key)) && std::get<3>(key) == "in1" &&
          std::get<4>(key) == "mutual_information") {
        layers.insert(std::stoi(std::get<2>(key)));
      }
    }
    const int max_layer = layers.empty() ? -1 : *layers.rbegin();
    std::string dat, tics;
    std::size_t c = 0;
    const std::size_t every = std::max<std::size_t>(1, (steps.size() + 9) / 10);
    for (const auto& [step, ckpt] : steps) {
      for (int l : layers) {
        dat += std::to_string(c) + " " + std::to_string(l) + " " +
               num(metrics_.get(model, ckpt, std::to_string(l), "in1", "mutual_information")) + "\n";
      }
      dat += "\n";
      if (c % every == 0) tics += std::string(tics.empty() ? "" : ", ") + gp_quote(std::to_string(step)) + " " + std::to_string(c);
      ++c;
    }
    if (max_layer < 0) continue;
    const std::string name = "layer_checkpoint_" + safe_name(model);
    write_data(name, dat);
    std::ostringstream b;
    b << "set title " << gp_quote("Complexity I(X;Z)" + std::string(kUnit) + " by layer and checkpoint: " + model)
      << "\nset xlabel 'checkpoint (training step)'\nset ylabel 'layer'\nset xtics (" << tics
      << ") rotate by -30\nset ytics " << std::max(1, (max_layer + 11) / 12) << " format '%.0f'\nset xrange [-0.5:"
      << c - 1 << ".5]\nset yrange [-0.5:" << max_layer << ".5]\nset cblabel " << gp_quote(std::string("I(X;Z)") + kUnit)
      << "\nset palette rgb 33,13,10\nplot " << data_path(name) << " using 1:2:3 with image notitle\n";
    html += render(name, b.str(), "Complexity of every layer (rows) at every checkpoint (columns) of " + model + ".",
                   900, 520);
    ++drawn;
  }
  if (skipped) note("Layer x checkpoint maps: drawn for the first 8 models only (" + count_of(skipped, "more model") + " not drawn).");
  if (drawn == 0) note("No layer x checkpoint map: no model has several checkpoints with per-layer rows.");
  return html;
}

std::string ReportWriter::layer_profiles() {
  const std::vector<std::tuple<std::string, std::string, std::string>> panels = {
      {"entropy", "", "H(Z) / log m (efficiency)"},
      {"mutual_information", "in1", "complexity I(X;Z) / log m"},
      {"mutual_information", "out1", "expressivity I(Y;Z) / log m"},
      {"optimality", "", "optimality I(Y;Z)/I(X;Z) (no unit)"}};
  std::string dat;
  std::vector<std::string> models;
  int max_layer = 0;
  for (const auto& [model, steps] : metrics_.steps) {
    const auto ckpt = metrics_.final_checkpoint(model);
    std::set<int> layers;
    for (const auto& [key, v] : metrics_.values) {
      if (std::get<0>(key) == model && std::get<1>(key) == ckpt && is_layer_index(std::get<2>(key))) {
        layers.insert(std::stoi(std::get<2>(key)));
      }
    }
    if (layers.empty()) continue;
    max_layer = std::max(max_layer, *layers.rbegin());
    dat += "# " + model + " " + ckpt + "\n";
    for (int l : layers) {
      dat += std::to_string(l);
      for (const auto& [metric, label, title] : panels) {
        dat += " " + num(metrics_.get(model, ckpt, std::to_string(l), label, metric));
      }
      dat += "\n";
    }
    dat += "\n\n";
    models.push_back(model);
  }
  if (models.empty()) {
    note("No per-layer rows (integer layer) in metrics.csv: the layer profiles are not drawn.");
    return "";
  }
  write_data("layer_profiles", dat);
  std::ostringstream b;
  b << "set multiplot layout 2,2 title 'Per-layer profiles at each model''s final checkpoint'\nset grid\n"
    << "set xlabel 'layer'\nset key top left font ',8'\n" << layer_tics(max_layer);
  for (std::size_t p = 0; p < panels.size(); ++p) {
    b << "set title " << gp_quote(std::get<2>(panels[p])) << "\nplot ";
    for (std::size_t m = 0; m < models.size(); ++m) {
      b << (m ? ", " : "") << data_path("layer_profiles") << " index " << m << " using 1:" << p + 2
        << " with linespoints pt 7 ps 0.6 title " << gp_quote(models[m]);
    }
    b << "\n";
  }
  b << "unset multiplot\n";
  return render("layer_profiles", b.str(), "Per-layer H, I(X;Z), I(Y;Z) and optimality (final checkpoints).",
                1100, 800);
}

std::string ReportWriter::optimality_vs_benchmarks() {
  if (!model_table_) return "";
  const auto& t = *model_table_;
  const auto x_col = t.column("optimality");
  const auto fam_col = t.column("family");
  const auto ckpt_col = t.column("checkpoint");
  const auto first_target = t.column("preference");
  if (!x_col || !fam_col || !ckpt_col || !first_target) {
    note("model_table.csv lacks the optimality/family columns; no benchmark figures.");
    return "";
  }
  std::string html;
  for (std::size_t c = *first_target + 1; c < t.header.size(); ++c) html += one_benchmark(t, *x_col, c);
  if (t.header.size() == *first_target + 1) note("No benchmark scores in model_table.csv: no optimality-vs-benchmark figures.");
  return html;
}

std::string ReportWriter::one_benchmark(const io::CsvTable& t, std::size_t x_col, std::size_t y_col) {
  const std::string target = t.header[y_col];
  const std::string name = "optimality_vs_" + safe_name(target);
  std::vector<double> xs, ys;
  std::string points;
  // Per-checkpoint observations (several rows of one model): label each point with its step.
  std::set<std::string> distinct;
  for (const auto& row : t.rows) distinct.insert(row[0]);
  const bool per_checkpoint = distinct.size() < t.rows.size();
  const auto step_col = t.column("step");
  for (const auto& row : t.rows) {
    const double x = std::strtod(row[x_col].c_str(), nullptr), y = std::strtod(row[y_col].c_str(), nullptr);
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    xs.push_back(x);
    ys.push_back(y);
    const std::string label = per_checkpoint && step_col ? row[0] + " @" + row[*step_col] : row[0];
    points += num(x) + " " + num(y) + " " + dat_quote(label) + "\n";
  }
  if (xs.size() < 3) {
    note("Benchmark '" + target + "': fewer than 3 models with optimality and a score; no figure.");
    return "";
  }
  const Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXd>(xs.data(), static_cast<Eigen::Index>(xs.size()));
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(ys.data(), static_cast<Eigen::Index>(ys.size()));
  const auto fit = analysis::fit_simple(x, y);
  // Labels only where they stay readable.
  std::string plot = data_path(name) + " index 0 using 1:2 with points pt 7 ps 1.2 title 'models'" +
                     (xs.size() <= 30 ? ", " + data_path(name) + " index 0 using 1:2:3 with labels offset 0,1 font ',8' notitle"
                                      : std::string());
  std::string band;
  if (fit.valid) {
    const double lo = x.minCoeff(), hi = x.maxCoeff();
    for (int i = 0; i <= 50; ++i) {
      const double x0 = lo + (hi - lo) * i / 50.0;
      const auto [b_lo, b_hi] = analysis::confidence_band(fit, x0);
      band += num(x0) + " " + num(b_lo) + " " + num(b_hi) + " " + num(fit.intercept + fit.slope * x0) + "\n";
    }
    plot = data_path(name) + " index 1 using 1:2:3 with filledcurves fc rgb '#c6dbef' fs transparent solid 0.6 title '95% band', " +
           data_path(name) + " index 1 using 1:4 with lines lw 2 lc rgb '#08519c' title 'OLS fit', " + plot;
  }
  write_data(name, points + "\n\n" + band);
  std::ostringstream b;
  b << "set title " << gp_quote("Optimality vs " + target) << "\nset xlabel 'optimality I(Y;Z)/I(X;Z) (layer mean)'\n"
    << "set ylabel " << gp_quote(target) << "\nset offsets graph 0.08, graph 0.08, graph 0.08, graph 0.05\n"
    << "set grid\nset key top left\nplot " << plot << "\n";
  return render(name, b.str(),
                "Optimality against " + target + " with the OLS fit and its 95% confidence band" +
                    (per_checkpoint ? "; one point per scored (model, checkpoint), labelled with its step." : "."),
                800, 560);
}

std::string ReportWriter::safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string ReportWriter::backoff() {
  const std::vector<std::string> parts = {"backoff_token", "backoff_bigram", "backoff_trigram", "backoff_quadgram",
                                          "backoff_residual"};
  std::string dat;
  for (const auto& [model, steps] : metrics_.steps) {
    const auto ckpt = metrics_.final_checkpoint(model);
    std::string line = dat_quote(model);
    bool any = false;
    for (const auto& p : parts) {
      const double v = metrics_.get(model, ckpt, "mean", "", p);
      any = any || std::isfinite(v);
      line += " " + num(std::isfinite(v) ? v : 0.0);
    }
    if (any) dat += line + "\n";
  }
  if (dat.empty()) {
    note("No back-off shares (backoff_* rows at layer mean) in metrics.csv: the decomposition is not drawn.");
    return "";
  }
  write_data("backoff", dat);
  std::ostringstream b;
  b << "set title 'Back-off decomposition of H(Z) (layer mean, final checkpoint)'\nset ylabel 'share of H(Z)'\n"
    << "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.85 border -1\n"
    << "set boxwidth 0.7\nset yrange [0:*]\nset key outside right\nset xtics rotate by -30\nplot ";
  const std::vector<std::string> titles = {"token", "bigram", "trigram", "quadgram", "residual"};
  for (std::size_t i = 0; i < titles.size(); ++i) {
    b << (i ? ", " : "") << data_path("backoff") << " using " << i + 2 << (i ? "" : ":xtic(1)") << " title "
      << gp_quote(titles[i]);
  }
  b << "\n";
  return render("backoff", b.str(), "Back-off decomposition: token, bigram, trigram, quadgram and residual shares.");
}

}  // namespace ibzoo::stages::report_parts
