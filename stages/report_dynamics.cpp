// The report's training dynamics: the turning-point table, each layer's dynamics and
// information plane, the two-phase check (report/phases_*.csv) and task scores against
// optimality over checkpoints (report_writer.h).
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

std::string ReportWriter::dynamics_table() {
  std::string rows;
  for (const auto& [model, steps] : metrics_.steps) {
    const auto pts = plane_points(model);
    if (pts.empty()) continue;
    const auto t = analysis::analyse_trajectory(pts, job_.smoothing_window);
    const std::size_t last = t.points.size() - 1;
    rows += "<tr><td>" + html_escape(model) + "</td><td>" + std::to_string(t.points.size()) + "</td><td>" +
            (t.has_turning_point ? std::to_string(t.turning_step) : std::string("none")) + "</td><td>" +
            short_num(t.gap[last]) + "</td><td>" + short_num(t.perpendicular[last]) + "</td><td>" +
            short_num(t.optimality[last]) +
            "</td></tr>\n";
  }
  if (rows.empty()) return "";
  return "<p>Turning point: the step of the largest complexity after a centred moving average over " +
         std::to_string(job_.smoothing_window) +
         " checkpoints, when complexity falls afterwards. Distances are at the final checkpoint.</p>\n"
         "<table><tr><th>model</th><th>checkpoints</th><th>turning step</th><th>I(X;Z) - I(Y;Z)</th>"
         "<th>distance to diagonal</th><th>optimality</th></tr>\n" + rows + "</table>\n";
}

std::vector<int> ReportWriter::layers_of(const std::string& model) const {
  std::set<int> layers;
  for (const auto& [key, v] : metrics_.values) {
    if (std::get<0>(key) == model && is_layer_index(std::get<2>(key)) && std::get<3>(key) == "in1" &&
        std::get<4>(key) == "mutual_information") {
      layers.insert(std::stoi(std::get<2>(key)));
    }
  }
  return {layers.begin(), layers.end()};
}

analysis::LayerSeries ReportWriter::layer_series(const std::string& model, int layer) const {
  analysis::LayerSeries s;
  s.layer = layer;
  const auto l = std::to_string(layer);
  for (const auto& [step, ckpt] : metrics_.steps.at(model)) {
    s.steps.push_back(step);
    s.complexity.push_back(metrics_.get(model, ckpt, l, "in1", "mutual_information"));
    s.complexity_ci_low.push_back(metrics_.get(model, ckpt, l, "in1", "mi_ci_low"));
    s.complexity_ci_high.push_back(metrics_.get(model, ckpt, l, "in1", "mi_ci_high"));
    s.complexity_null.push_back(metrics_.get(model, ckpt, l, "in1", "null_mutual_information"));
    s.optimality.push_back(metrics_.get(model, ckpt, l, "", "optimality"));
    s.heldout_loss.push_back(metrics_.get(model, ckpt, "", "", "eval_loss"));
  }
  return s;
}

bool ReportWriter::has_eval_loss(const std::string& model) const {
  for (const auto& [step, ckpt] : metrics_.steps.at(model)) {
    if (std::isfinite(metrics_.get(model, ckpt, "", "", "eval_loss"))) return true;
  }
  return false;
}

std::string ReportWriter::layer_colour(std::size_t idx, std::size_t n) {
  static constexpr int kStops[6][3] = {{68, 1, 84}, {65, 68, 135}, {42, 120, 142}, {34, 168, 132}, {122, 209, 81}, {253, 231, 37}};
  const double t = n <= 1 ? 0.0 : 5.0 * static_cast<double>(idx) / static_cast<double>(n - 1);
  const auto lo = std::min<std::size_t>(4, static_cast<std::size_t>(t));
  const double f = t - static_cast<double>(lo);
  char buf[16];
  int rgb[3];
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<int>(std::lround(kStops[lo][c] + f * (kStops[lo + 1][c] - kStops[lo][c])));
  std::snprintf(buf, sizeof buf, "'#%02x%02x%02x'", rgb[0], rgb[1], rgb[2]);
  return buf;
}

std::string ReportWriter::two_phases() {
  std::string html;
  std::vector<std::vector<std::string>> layer_rows, model_rows;
  for (const auto& [model, steps] : metrics_.steps) {
    if (steps.size() < 3) continue;
    const auto layers = layers_of(model);
    if (layers.empty()) continue;
    std::vector<analysis::LayerSeries> series;
    std::vector<analysis::PhaseCheck> checks;
    for (int l : layers) {
      series.push_back(layer_series(model, l));
      checks.push_back(analysis::check_phases(series.back(), {job_.smoothing_window, job_.min_fall}));
    }
    const auto verdict = analysis::judge_phases(checks);
    html += "<h3>" + html_escape(model) + "</h3>\n";
    html += layer_dynamics(model, series, checks);
    html += layer_planes(model, series);
    html += phase_table(model, series, checks, verdict);
    add_phase_rows(model, series, checks, verdict, layer_rows, model_rows);
  }
  if (html.empty()) {
    note("No per-layer dynamics: no model has 3 or more checkpoints with per-layer rows.");
    return "";
  }
  io::write_csv(dir_ / "phases_layers.csv",
                {"model", "layer", "upper", "peak_step", "peak", "peak_ci_low", "best_step", "at_best", "best_ci_high",
                 "fall", "null_level", "loss_at_peak", "loss_at_best", "optimality_at_peak", "optimality_at_best",
                 "falls_enough", "loss_improves", "beyond_interval", "beyond_null", "optimality_rises", "compresses"},
                layer_rows);
  io::write_csv(dir_ / "phases_models.csv",
                {"model", "layers", "upper_layers", "upper_layers_compress", "last_layer_optimality_rises", "both_phases"},
                model_rows);
  return "<p>For every model with three or more checkpoints: each layer's complexity I(X;Z), expressivity "
         "I(Y;Z) and optimality against the training step, with the checkpoint's held-out loss (from its "
         "trainer_state.json) beside them; diamonds mark each layer's turning point (the most prominent peak of "
         "I(X;Z) after a moving average over " + std::to_string(job_.smoothing_window) +
         " checkpoints), the dotted line the checkpoint with the lowest held-out loss. The table checks, layer by "
         "layer, that I(X;Z) falls by at least " + short_num(job_.min_fall) +
         " from the peak to that checkpoint while the held-out loss improves, that the fall exceeds the bootstrap "
         "intervals (the peak's lower bound above the best checkpoint's upper bound) and the shuffled-label null, "
         "and that optimality rises (docs/ANALYSIS.md section 4). Also in report/phases_layers.csv and "
         "report/phases_models.csv.</p>\n" + html;
}

namespace {

// The data of a model's dynamics figure: a block per layer (step, I(X;Z), I(Y;Z),
// optimality), then one of the losses; and the layers' turning points.
std::pair<std::string, std::string> dynamics_data(const Metrics& metrics, const std::string& model,
                                                  const std::vector<analysis::LayerSeries>& series,
                                                  const std::vector<analysis::PhaseCheck>& checks) {
  std::string dat, turns;
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const auto& ckpts = metrics.steps.at(model);
    dat += "# layer " + std::to_string(s.layer) + "\n";
    std::size_t i = 0;
    for (const auto& [step, ckpt] : ckpts) {
      dat += std::to_string(step) + " " + num(s.complexity[i]) + " " +
             num(metrics.get(model, ckpt, std::to_string(s.layer), "out1", "mutual_information")) + " " +
             num(s.optimality[i]) + "\n";
      ++i;
    }
    dat += "\n\n";
    if (checks[k].turning.found) {
      const auto t = checks[k].peak_idx;
      turns += std::to_string(s.steps[t]) + " " + num(s.complexity[t]) + " " + num(s.optimality[t]) + "\n";
    }
  }
  dat += "# losses\n";
  for (const auto& [step, ckpt] : metrics.steps.at(model)) {
    dat += std::to_string(step) + " " + num(metrics.get(model, ckpt, "", "", "eval_loss")) + " " +
           num(metrics.get(model, ckpt, "", "", "train_loss")) + "\n";
  }
  return {dat, turns};
}

}  // namespace

std::string ReportWriter::layer_dynamics(const std::string& model, const std::vector<analysis::LayerSeries>& series,
                                         const std::vector<analysis::PhaseCheck>& checks) {
  const std::string name = "dynamics_" + safe_name(model);
  const auto [dat, turns] = dynamics_data(metrics_, model, series, checks);
  write_data(name, dat);
  const bool any_turn = !turns.empty();
  if (any_turn) write_data(name + "_turns", turns);
  const bool loss = has_eval_loss(model);
  const auto& first = checks.front();
  const auto d = data_path(name);
  const auto& steps = metrics_.steps.at(model);
  const bool log_x = steps.rbegin()->first >= 100 * std::max<std::int64_t>(1, std::next(steps.begin())->first);
  std::ostringstream b;
  b << "set multiplot layout 2,2 title " << gp_quote(model + ": every layer over training (colour: layer, dark = embeddings; "
                                                     "diamonds: turning points; dotted: lowest held-out loss)")
    << "\nset grid\nset key outside right top font ',8'\n"
    << (log_x ? "set logscale x\nset xlabel 'training step + 1 (log scale)'\n" : "set xlabel 'training step'\n");
  const std::string x = log_x ? "($1+1)" : "1";
  if (first.has_best) {
    const double best = static_cast<double>(series.front().steps[first.best_idx]) + (log_x ? 1.0 : 0.0);
    b << "set arrow 1 from " << num(best) << ", graph 0 to " << num(best) << ", graph 1 nohead dt 3 lw 1.5 lc rgb 'gray30'\n";
  }
  const std::vector<std::tuple<int, std::string, int>> panels = {
      {2, std::string("complexity I(X;Z)") + kUnit, 2}, {3, std::string("expressivity I(Y;Z)") + kUnit, 0},
      {4, "optimality I(Y;Z)/I(X;Z)", 3}};
  for (const auto& [col, title, turn_col] : panels) {
    b << "set title " << gp_quote(title) << "\nplot ";
    for (std::size_t k = 0; k < series.size(); ++k) {
      b << (k ? ", " : "") << d << " index " << k << " using " << x << ":" << col << " with linespoints pt 7 ps 0.4 lc rgb "
        << layer_colour(k, series.size()) << " title " << gp_quote("layer " + std::to_string(series[k].layer));
    }
    if (any_turn && turn_col) {
      b << ", " << data_path(name + "_turns") << " using " << x << ":" << turn_col
        << " with points pt 13 ps 1.4 lc rgb 'black' title 'turning point'";
    }
    b << "\n";
  }
  b << "set title 'loss (nats / token)'\n";
  if (loss) {
    b << "plot " << d << " index " << series.size() << " using " << x << ":2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#c0392b' title 'held-out', "
      << d << " index " << series.size() << " using " << x << ":3 with lines dt 2 lc rgb '#555555' title 'train (since the previous checkpoint)'\n";
  } else {
    b << "unset key\nset label 1 'no held-out loss: the checkpoints have no trainer_state.json' at graph 0.5, graph 0.5 center\n"
      << "plot [1:2] [0:1] NaN notitle\nunset label 1\n";
    note("Model '" + model + "': no held-out loss (eval_loss rows) in metrics.csv; its checkpoints have no trainer_state.json.");
  }
  b << "unset multiplot\n";
  return render(name, b.str(),
                model + ": I(X;Z), I(Y;Z) and optimality of every layer against the training step, and the "
                        "held-out loss; each layer's turning point and the lowest held-out loss are marked.",
                1300, 900);
}

std::string ReportWriter::layer_planes(const std::string& model, const std::vector<analysis::LayerSeries>& series) {
  const std::string name = "plane_" + safe_name(model);
  std::string dat, labels;
  double top = 0.0;
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    std::size_t i = 0;
    std::string last;
    for (const auto& [step, ckpt] : metrics_.steps.at(model)) {
      const double y = metrics_.get(model, ckpt, std::to_string(s.layer), "out1", "mutual_information");
      if (std::isfinite(s.complexity[i]) && std::isfinite(y)) {
        dat += num(s.complexity[i]) + " " + num(y) + " " + num(std::log10(static_cast<double>(step) + 1.0)) + "\n";
        top = std::max({top, s.complexity[i], y});
        last = num(s.complexity[i]) + " " + num(y);
      }
      ++i;
    }
    dat += "\n\n";
    if (!last.empty()) labels += last + " " + dat_quote("L" + std::to_string(s.layer)) + "\n";
  }
  if (top <= 0.0) return "";
  write_data(name, dat);
  write_data(name + "_labels", labels);
  const auto d = data_path(name);
  std::ostringstream b;
  b << "set title " << gp_quote(model + ": the information plane per layer (colour: training step; label at the last checkpoint)")
    << "\nset xlabel " << gp_quote(std::string("complexity I(X;Z)") + kUnit) << "\nset ylabel "
    << gp_quote(std::string("expressivity I(Y;Z)") + kUnit) << "\nset grid\nset key top left\n" << kStepPalette
    << "set xrange [0:" << num(top * 1.05) << "]\nset yrange [0:" << num(top * 1.05) << "]\nset size ratio -1\nplot x with lines dt 2 lc rgb 'gray40' title 'bound I(Y;Z) = I(X;Z)'";
  for (std::size_t k = 0; k < series.size(); ++k) {
    b << ", " << d << " index " << k << " using 1:2 with lines lc rgb '#b0b0b0' notitle, " << d << " index " << k
      << " using 1:2:3 with points pt 7 ps 0.9 lc palette notitle";
  }
  b << ", " << data_path(name + "_labels") << " using 1:2:3 with labels offset 1.2,0.6 font ',9' notitle\n";
  return render(name, b.str(),
                model + ": each layer's trajectory in the information plane, points coloured by log10(step + 1); "
                        "the dashed diagonal is the bound.",
                900, 800);
}

std::string ReportWriter::mark(bool ok) { return ok ? "<td class=\"ok\">yes</td>" : "<td class=\"no\">no</td>"; }
                               
                               std::string ReportWriter::phase_table(const std::string& model, const std::vector<analysis::LayerSeries>& series,
                               const std::vector<analysis::PhaseCheck>& checks, const analysis::PhaseVerdict& verdict) {
  std::string rows;
  for (std::size_t k = 0; k < checks.size(); ++k) {
    const auto& c = checks[k];
    const auto& s = series[k];
    const bool upper = std::find(verdict.upper_layers.begin(), verdict.upper_layers.end(), c.layer) != verdict.upper_layers.end();
    rows += std::string(upper ? "<tr class=\"upper\">" : "<tr>") + "<td>" + std::to_string(c.layer) + (upper ? " (upper)" : "") + "</td>";
    if (!c.turning.found || !c.has_best) {
      rows += "<td colspan=\"13\">" + std::string(!c.turning.found ? "no turning point" : "no held-out loss") + "</td></tr>\n";
      continue;
    }
    rows += "<td>" + std::to_string(s.steps[c.peak_idx]) + "</td><td>" + short_num(c.peak) + " [" + short_num(c.peak_ci_low) +
            ", ...]</td><td>" + std::to_string(s.steps[c.best_idx]) + "</td><td>" + short_num(c.at_best) + " [..., " +
            short_num(c.best_ci_high) + "]</td><td>" + short_num(c.fall) + "</td><td>" + short_num(c.null_level) + "</td><td>" +
            short_num(c.loss_at_peak) + " &rarr; " + short_num(c.loss_at_best) + "</td><td>" + short_num(c.optimality_at_peak) +
            " &rarr; " + short_num(c.optimality_at_best) + "</td>" + mark(c.falls_enough) + mark(c.loss_improves) +
            mark(c.beyond_interval) + mark(c.beyond_null) + mark(c.optimality_rises) + "</tr>\n";
  }
  std::string upper;
  for (int l : verdict.upper_layers) upper += (upper.empty() ? "" : ", ") + std::to_string(l);
  return "<table class=\"phases\"><tr><th>layer</th><th>peak step</th><th>I(X;Z) at peak [CI low]</th>"
         "<th>best-loss step</th><th>I(X;Z) there [CI high]</th><th>fall</th><th>null</th><th>held-out loss</th>"
         "<th>optimality</th><th>fall &ge; " + short_num(job_.min_fall) + "</th><th>loss improves</th>"
         "<th>beyond CI</th><th>beyond null</th><th>optimality rises</th></tr>\n" + rows + "</table>\n<p><b>" +
         html_escape(model) + ": " + (verdict.both_phases() ? "both phases" : "not both phases") + "</b> (upper layers " +
         (upper.empty() ? "none" : upper) + ": " + (verdict.upper_layers_compress ? "all compress" : "not all compress") +
         "; last layer " + std::to_string(verdict.last_layer) + ": optimality " +
         (verdict.last_layer_optimality_rises ? "rises" : "does not rise") + ").</p>\n";
}

std::string ReportWriter::yes_no(bool b) { return b ? "true" : "false"; }
                                 
                                 void ReportWriter::add_phase_rows(const std::string& model, const std::vector<analysis::LayerSeries>& series,
                                 const std::vector<analysis::PhaseCheck>& checks, const analysis::PhaseVerdict& verdict,
                                 std::vector<std::vector<std::string>>& layer_rows, std::vector<std::vector<std::string>>& model_rows) {
  for (std::size_t k = 0; k < checks.size(); ++k) {
    const auto& c = checks[k];
    const auto& s = series[k];
    const bool upper = std::find(verdict.upper_layers.begin(), verdict.upper_layers.end(), c.layer) != verdict.upper_layers.end();
    const bool ready = c.turning.found && c.has_best;
    const auto value = [&](double v) { return ready ? io::format_value(v) : std::string("nan"); };
    layer_rows.push_back({model, std::to_string(c.layer), yes_no(upper),
                          c.turning.found ? std::to_string(s.steps[c.peak_idx]) : "", value(c.peak), value(c.peak_ci_low),
                          c.has_best ? std::to_string(s.steps[c.best_idx]) : "", value(c.at_best), value(c.best_ci_high),
                          value(c.fall), value(c.null_level), value(c.loss_at_peak), value(c.loss_at_best),
                          value(c.optimality_at_peak), value(c.optimality_at_best), yes_no(c.falls_enough),
                          yes_no(c.loss_improves), yes_no(c.beyond_interval), yes_no(c.beyond_null),
                          yes_no(c.optimality_rises), yes_no(c.compresses())});
  }
  std::string upper;
  for (int l : verdict.upper_layers) upper += (upper.empty() ? "" : " ") + std::to_string(l);
  model_rows.push_back({model, std::to_string(checks.size()), upper, yes_no(verdict.upper_layers_compress),
                        yes_no(verdict.last_layer_optimality_rises), yes_no(verdict.both_phases())});
}

std::string ReportWriter::tasks_vs_optimality() {
  if (!model_table_) return "";
  const auto& t = *model_table_;
  const auto x_col = t.column("optimality");
  const auto step_col = t.column("step");
  const auto first_target = t.column("preference");
  if (!x_col || !step_col || !first_target || t.header.size() == *first_target + 1) return "";
  std::map<std::string, std::vector<const std::vector<std::string>*>> by_model;
  for (const auto& row : t.rows) by_model[row[0]].push_back(&row);
  std::vector<std::size_t> targets;
  for (std::size_t c = *first_target + 1; c < t.header.size(); ++c) {
    if (t.header[c] == "aggregate") targets.insert(targets.begin(), c);
    else targets.push_back(c);
  }
  if (targets.size() > 4) targets.resize(4);
  std::string dat;
  std::vector<std::string> models;
  for (auto& [model, rows] : by_model) {
    if (rows.size() < 2) continue;
    std::sort(rows.begin(), rows.end(), [&](const auto* a, const auto* b) {
      return std::strtoll((*a)[*step_col].c_str(), nullptr, 10) < std::strtoll((*b)[*step_col].c_str(), nullptr, 10);
    });
    dat += "# " + model + "\n";
    for (const auto* r : rows) {
      const double step = std::strtod((*r)[*step_col].c_str(), nullptr);
      dat += (*r)[*x_col] == "nan" ? std::string("NaN") : (*r)[*x_col];
      for (auto c : targets) dat += " " + ((*r)[c] == "nan" ? std::string("NaN") : (*r)[c]);
      dat += " " + num(std::log10(step + 1.0)) + "\n";
    }
    dat += "\n\n";
    models.push_back(model);
  }
  if (models.empty()) {
    note("No task scores per checkpoint (model_table.csv has one observation per model): no scores-against-optimality trajectories.");
    return "";
  }
  write_data("tasks_vs_optimality", dat);
  const auto d = data_path("tasks_vs_optimality");
  const auto z = std::to_string(targets.size() + 2);
  std::ostringstream b;
  b << "set multiplot layout " << (targets.size() > 2 ? 2 : 1) << "," << std::min<std::size_t>(2, targets.size())
    << " title 'Task scores against optimality over training (lines: models in step order; colour: step)'\n"
    << "set grid\nset key bottom right font ',8'\nset xlabel 'optimality I(Y;Z)/I(X;Z) (layer mean)'\n" << kStepPalette;
  for (std::size_t k = 0; k < targets.size(); ++k) {
    b << "set title " << gp_quote(t.header[targets[k]]) << "\nset ylabel " << gp_quote(t.header[targets[k]]) << "\nplot ";
    for (std::size_t m = 0; m < models.size(); ++m) {
      b << (m ? ", " : "") << d << " index " << m << " using 1:" << k + 2 << " with lines lw 1.5 lc " << m + 1 << " title "
        << gp_quote(models[m]) << ", " << d << " index " << m << " using 1:" << k + 2 << ":" << z
        << " with points pt 7 ps 0.8 lc palette notitle";
    }
    b << "\n";
  }
  b << "unset multiplot\n";
  return render("tasks_vs_optimality", b.str(),
                "Each task's score (and their aggregate) against the model's optimality at every scored checkpoint, "
                "one line per model in step order, points coloured by log10(step + 1).",
                1200, targets.size() > 2 ? 900 : 480);
}

}  // namespace ibzoo::stages::report_parts
