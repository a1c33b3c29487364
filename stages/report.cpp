// Report stage: metrics + regress outputs -> gnuplot figures and one self-contained
// index.html. The last stage; it only reads results and writes <run>/report/.
#include "stages/report.h"

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

namespace ibzoo::stages {

namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::string& data) {
  static constexpr char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const auto b0 = static_cast<unsigned char>(data[i]);
    const auto b1 = i + 1 < data.size() ? static_cast<unsigned char>(data[i + 1]) : 0u;
    const auto b2 = i + 2 < data.size() ? static_cast<unsigned char>(data[i + 2]) : 0u;
    const unsigned v = (static_cast<unsigned>(b0) << 16) | (static_cast<unsigned>(b1) << 8) | b2;
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += i + 1 < data.size() ? kTable[(v >> 6) & 63] : '=';
    out += i + 2 < data.size() ? kTable[v & 63] : '=';
  }
  return out;
}

// gnuplot string literal in single quotes ('' escapes a quote).
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Data-file string field in double quotes (gnuplot reads "a b" as one column).
std::string dat_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? '\'' : c;
  return out + "\"";
}

std::string num(double v) { return std::isfinite(v) ? io::format_value(v) : "NaN"; }

// For people: 4 significant digits (the CSV files keep all 17).
std::string short_num(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string count_of(std::size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// The y-axis unit of every entropy and information in metrics.csv.
constexpr const char* kUnit = " / log m";

// Integer ticks for an axis of layer indices 0..max_layer (about 12 labels at most).
std::string layer_tics(int max_layer) {
  const int step = std::max(1, (max_layer + 11) / 12);
  return "set xtics " + std::to_string(step) + " format '%.0f'\nset mxtics 1\nset xrange [-0.3:" +
         std::to_string(max_layer) + ".3]\n";
}

// A table cell: numbers with a fractional part are shortened, the full value kept as a tooltip.
std::string html_cell(const std::string& cell) {
  char* end = nullptr;
  const double v = std::strtod(cell.c_str(), &end);
  const bool numeric = !cell.empty() && end == cell.c_str() + cell.size() && cell.find('.') != std::string::npos;
  if (!numeric) return "<td>" + html_escape(cell) + "</td>";
  return "<td title=\"" + html_escape(cell) + "\">" + short_num(v) + "</td>";
}

bool is_layer_index(const std::string& layer) {
  return !layer.empty() && std::all_of(layer.begin(), layer.end(), [](char c) { return c >= '0' && c <= '9'; });
}

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

Metrics index_metrics(const std::vector<io::MetricRow>& rows) {
  Metrics m;
  for (const auto& r : rows) {
    m.family[r.model] = r.family;
    m.steps[r.model][r.step] = r.checkpoint;
    m.values[{r.model, r.checkpoint, r.layer, r.label_set, r.metric}] = r.value;
  }
  return m;
}

class ReportWriter {
 public:
  ReportWriter(const ReportJob& job) : job_(job), dir_(job.path_run / "report"), fig_dir_(dir_ / "figures") {}

  ReportResult run() {
    const fs::path results = job_.path_run / "results";
    const auto metrics_path = results / "metrics.csv";
    if (!fs::exists(metrics_path)) {
      throw MissingInputError(metrics_path.string() + " does not exist; run the pipeline (or its reduce stage) "
                              "first, or give the right run directory");
    }
    fs::create_directories(fig_dir_);
    metrics_ = index_metrics(io::read_metrics_csv(metrics_path));
    model_table_ = optional_table(results / "model_table.csv", "per-model table (model_table.csv, from ibzoo regress)");
    section("Provenance", provenance());
    section("Information plane", info_plane());
    section("Trajectories over training", trajectories());
    section("Training dynamics", dynamics_table());
    section("Two phases, layer by layer", two_phases());
    section("Task scores against optimality over training", tasks_vs_optimality());
    section("Layer x checkpoint", layer_checkpoint_maps());
    section("Per-layer profiles", layer_profiles());
    section("Optimality against benchmarks", optimality_vs_benchmarks());
    section("Back-off decomposition", backoff());
    section("Correlations", table_section(results / "correlations.csv", "correlations (correlations.csv, from ibzoo regress)"));
    section("Cross-validated regression",
            table_section(results / "regression.csv", "regression results (regression.csv, from ibzoo regress)"));
    section("Models", model_table_ ? html_table(*model_table_) : std::string());
    section("Benchmark scores and their sources", table_section(results / "scores.csv", "score sources (scores.csv, from ibzoo regress)"));
    section("Run summary", table_section(results / "summary.csv", "run summary (results/summary.csv)"));
    ReportResult result{dir_ / "index.html", figures_, notes_};
    io::write_file_atomic(result.path_index, page());
    io::log_info("report: " + std::to_string(figures_.size()) + " figures, " + std::to_string(notes_.size()) +
                 " notes -> " + result.path_index.string());
    return result;
  }

 private:
  void note(const std::string& text) { notes_.push_back(text); }

  void section(const std::string& title, const std::string& body) {
    std::string id;  // a link target: "Trajectories over training" -> #trajectories-over-training
    for (char c : title) id += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
    body_ += "<section id=\"" + id + "\"><h2>" + html_escape(title) + "</h2>\n";
    body_ += body.empty() ? "<p class=\"missing\">Nothing to show (see the notes above).</p>\n" : body;
    body_ += "</section>\n";
  }

  std::optional<io::CsvTable> optional_table(const fs::path& path, const std::string& what) {
    if (!fs::exists(path)) {
      note("No " + what + ": " + path.filename().string() + " is absent.");  // what: a noun phrase, no article
      return std::nullopt;
    }
    return io::read_csv(path);
  }

  std::string table_section(const fs::path& path, const std::string& what) {
    const auto t = optional_table(path, what);
    return t ? html_table(*t) : std::string();
  }

  static std::string html_table(const io::CsvTable& t) {
    std::string out = "<div class=\"scroll\"><table>\n<tr>";
    for (const auto& h : t.header) out += "<th>" + html_escape(h) + "</th>";
    out += "</tr>\n";
    const auto p_col = t.column("p");
    for (const auto& row : t.rows) {
      bool significant = false;
      if (p_col) {
        char* end = nullptr;
        const double p = std::strtod(row[*p_col].c_str(), &end);
        significant = end != row[*p_col].c_str() && p < 0.05;
      }
      out += significant ? "<tr class=\"sig\">" : "<tr>";
      for (const auto& cell : row) out += html_cell(cell);
      out += "</tr>\n";
    }
    return out + "</table></div>\n";
  }

  // Writes the script (PNG, then SVG) and runs gnuplot. Returns the <figure> HTML or "".
  std::string render(const std::string& name, const std::string& body, const std::string& caption, int width = 900,
                     int height = 600) {
    const auto gp = fig_dir_ / (name + ".gp");
    // gnuplot writes the figures under temporary names; they replace the old ones only
    // when it has finished (a full disk leaves the earlier figures as they were).
    const auto png_final = fig_dir_ / (name + ".png");
    const auto svg_final = fig_dir_ / (name + ".svg");
    const auto png = io::temp_path_for(png_final);
    const auto svg = io::temp_path_for(svg_final);
    std::ostringstream s;
    s << "set encoding utf8\nset termoption noenhanced\n";
    s << "set terminal pngcairo size " << width << "," << height << " font 'DejaVu Sans,10' noenhanced\n";
    s << "set output " << gp_quote(png.string()) << "\n" << body << "unset output\n";
    s << "set terminal svg size " << width << "," << height << " font 'DejaVu Sans,10' noenhanced\n";
    s << "set output " << gp_quote(svg.string()) << "\n" << body << "unset output\n";
    io::write_file_atomic(gp, s.str());
    const auto log = fig_dir_ / (name + ".log");
    const std::string command = job_.gnuplot + " " + shell_quote(gp.string()) + " > " + shell_quote(log.string()) + " 2>&1";
    const int status = std::system(command.c_str());
    std::error_code ec;
    if (status != 0 || !fs::exists(png, ec) || fs::file_size(png, ec) == 0) {
      fs::remove(png, ec);
      fs::remove(svg, ec);
      std::string detail = status == 127 * 256 ? "gnuplot was not found ('" + job_.gnuplot + "')"
                                               : "gnuplot failed (see " + log.string() + ")";
      note("Figure '" + name + "' could not be rendered: " + detail + ".");
      return "";
    }
    const auto png_bytes = io::read_file(png);
    io::commit_file(png, png_final);
    if (fs::exists(svg, ec)) io::commit_file(svg, svg_final);
    figures_.push_back(name);
    return "<figure><img alt=\"" + html_escape(caption) + "\" src=\"data:image/png;base64," +
           base64(png_bytes) + "\"><figcaption>" + html_escape(caption) + " <a href=\"figures/" +
           html_escape(name) + ".svg\">SVG</a></figcaption></figure>\n";
  }

  static std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }

  void write_data(const std::string& name, const std::string& text) {
    io::write_file_atomic(fig_dir_ / (name + ".dat"), text);
  }

  std::string data_path(const std::string& name) const { return gp_quote((fig_dir_ / (name + ".dat")).string()); }

  std::vector<analysis::PlanePoint> plane_points(const std::string& model) const {
    std::vector<analysis::PlanePoint> pts;
    for (const auto& [step, ckpt] : metrics_.steps.at(model)) {
      const double x = metrics_.get(model, ckpt, "mean", "in1", "mutual_information");
      const double y = metrics_.get(model, ckpt, "mean", "out1", "mutual_information");
      if (std::isfinite(x) && std::isfinite(y)) pts.push_back({step, x, y});
    }
    return pts;
  }

  std::string info_plane() {
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

  // Where the numbers come from: versions, manifest, estimator settings, models, data, dates.
  std::string provenance() {
    const auto root = job_.path_run;
    const auto read_json = [](const fs::path& p) -> nlohmann::json {
      if (!fs::exists(p)) return nullptr;
      try {
        return nlohmann::json::parse(io::read_file(p));
      } catch (const std::exception&) {
        return nullptr;
      }
    };
    const auto manifest = read_json(root / "manifest.json");
    const auto plan = read_json(root / "plan.json");
    nlohmann::json item = nullptr;
    if (fs::is_directory(root / "items")) {
      std::vector<fs::path> dirs;
      for (const auto& e : fs::directory_iterator(root / "items")) dirs.push_back(e.path());
      std::sort(dirs.begin(), dirs.end());
      for (const auto& d : dirs) {
        if ((item = read_json(d / "provenance.json")).is_object()) break;
      }
    }
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
    std::vector<std::pair<std::string, std::string>> rows = {{"report rendered", std::string(date) + " by ibzoo " + io::version_string()}};
    auto str = [](const nlohmann::json& j, const char* key) {
      if (!j.is_object() || !j.contains(key)) return std::string("?");
      return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
    };
    if (item.is_object()) {
      rows.push_back({"run computed by", "ibzoo " + str(item, "ibzoo_version") + " (git " + str(item, "git_hash") +
                                             "), " + str(item, "device") + ", " + str(item, "dtype") + ", world size " +
                                             str(item, "world_size")});
    }
    if (plan.is_object()) {
      rows.push_back({"study", str(plan, "study") + ": " + str(plan, "n_items") + " work items"});
      rows.push_back({"manifest hash", str(plan, "manifest_hash")});
    }
    if (manifest.is_object()) {
      rows.push_back({"manifest", str(manifest, "source")});
      const auto& e = manifest.value("estimator", nlohmann::json::object());
      rows.push_back({"estimator", "m = " + str(e, "bins") + " reference points (seed " + str(e, "seed") + "), calibration " +
                                       str(e, "calibration") +
                                       (item.is_object() ? " (eps = " + str(item, "eps") + ")" : std::string()) +
                                       ", orders " + str(e, "orders") + ", weighting " + str(e, "weighting") +
                                       ", min_count " + str(e, "min_count") + ", layers " +
                                       (e.value("layers", nlohmann::json::array()).empty() ? "all" : str(e, "layers")) +
                                       ", final norm " + (e.value("final_norm", true) ? "applied" : "skipped") +
                                       ", shuffled null " + (e.value("null", true) ? "on" : "off") + ", bootstrap " +
                                       str(e, "bootstrap")});
      const auto& t = manifest.value("text", nlohmann::json::object());
      rows.push_back({"data sample", str(t, "files") + ": " + (plan.is_object() ? str(plan, "n_documents") : "?") +
                                         " documents (n_documents " + str(t, "n_documents") + ", sampling " +
                                         str(t, "sampling") + ", seed " + str(t, "seed") + "), " + str(t, "min_tokens") +
                                         "-" + str(t, "max_tokens") + " tokens each, BOS " + str(t, "bos") +
                                         "; corpus sha256 " + (plan.is_object() ? str(plan, "corpus_sha256") : "?")});
    } else {
      note("No provenance of the run: manifest.json is absent from the run directory.");
    }
    std::string html = "<table class=\"prov\">\n";
    for (const auto& [k, v] : rows) html += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>\n";
    html += "</table>\n";
    if (manifest.is_object() && manifest.contains("models")) {
      html += "<table><tr><th>model</th><th>family</th><th>checkpoints</th><th>steps</th><th>source</th></tr>\n";
      for (const auto& m : manifest["models"]) {
        const auto& ck = m.value("checkpoints", nlohmann::json::array());
        std::string steps = ck.empty() ? "" : str(ck.front(), "step") + (ck.size() > 1 ? " .. " + str(ck.back(), "step") : "");
        std::string from = ck.empty() ? "" : ck.front().contains("repo") ? "hub " + str(ck.front(), "repo") : str(ck.front(), "path");
        html += "<tr><td>" + html_escape(str(m, "id")) + "</td><td>" + html_escape(str(m, "family")) + "</td><td>" +
                std::to_string(ck.size()) + "</td><td>" + html_escape(steps) + "</td><td>" + html_escape(from) +
                "</td></tr>\n";
      }
      html += "</table>\n<details><summary>The normalised manifest (manifest.json)</summary><pre>" +
              html_escape(manifest.dump(2)) + "</pre></details>\n";
    }
    return html;
  }

  // The layer-mean value of a metric at every checkpoint of a model, by step.
  double mean_value(const std::string& model, const std::string& ckpt, const std::string& label,
                    const std::string& metric) const {
    return metrics_.get(model, ckpt, "mean", label, metric);
  }

  // Complexity, expressivity and optimality against the training step, per model, with
  // the turning point, the shuffled null (dashed) and bootstrap bands where they exist.
  std::string trajectories() {
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
    // Checkpoint schedules are often log-spaced (Pythia: 0, 1, 2, 4, ..., 143000): a log axis of step + 1 then.
    std::int64_t max_step = 0, min_positive = 0;
    for (const auto& model : models) {
      for (const auto& [step, ckpt] : metrics_.steps.at(model)) {
        max_step = std::max(max_step, step);
        if (step > 0 && (min_positive == 0 || step < min_positive)) min_positive = step;
      }
    }
    const bool log_x = min_positive > 0 && max_step >= 100 * min_positive;
    const std::string x = log_x ? "($1+1)" : "1";
    std::ostringstream b;
    b << "set multiplot layout 1,3 title 'Layer-mean metrics over training (dashed: shuffled-label null; band: bootstrap "
         "95% interval; triangle: turning point)'\nset grid\nset key top left font ',8'\n"
         "set style fill transparent solid 0.2 noborder\n"
      << (log_x ? "set logscale x\nset xlabel 'training step + 1 (log scale)'\n" : "set xlabel 'training step'\n");
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
        b << ", " << data_path("trajectory_turns") << " using " << x << ":2 with points pt 9 ps 2 lc rgb 'black' title 'turning point'";
      }
      b << "\n";
    }
    b << "unset multiplot\n";
    return render("trajectories", b.str(),
                  "Metric by training step for each model with several checkpoints (layer mean; informations / log m). "
                  "The turning point is where complexity, smoothed over " + std::to_string(job_.smoothing_window) +
                      " checkpoints, peaks before it falls.",
                  1300, 460);
  }

  // Complexity at every (layer, checkpoint) of each model with several checkpoints.
  std::string layer_checkpoint_maps() {
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

  std::string dynamics_table() {
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

  // The integer layers of a model that have I(X;Z) rows, ascending.
  std::vector<int> layers_of(const std::string& model) const {
    std::set<int> layers;
    for (const auto& [key, v] : metrics_.values) {
      if (std::get<0>(key) == model && is_layer_index(std::get<2>(key)) && std::get<3>(key) == "in1" &&
          std::get<4>(key) == "mutual_information") {
        layers.insert(std::stoi(std::get<2>(key)));
      }
    }
    return {layers.begin(), layers.end()};
  }

  // One layer of a model over its checkpoints, with the checkpoint's held-out loss.
  analysis::LayerSeries layer_series(const std::string& model, int layer) const {
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

  bool has_eval_loss(const std::string& model) const {
    for (const auto& [step, ckpt] : metrics_.steps.at(model)) {
      if (std::isfinite(metrics_.get(model, ckpt, "", "", "eval_loss"))) return true;
    }
    return false;
  }

  // A colour per layer along the viridis scale (dark = embeddings, yellow = last layer).
  static std::string layer_colour(std::size_t idx, std::size_t n) {
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

  static constexpr const char* kStepPalette =
      "set palette defined (0 '#440154', 1 '#3b528b', 2 '#21918c', 3 '#5ec962', 4 '#fde725')\n"
      "set cblabel 'log10(training step + 1)'\n";

  // Per model with at least 3 checkpoints: the dynamics of every layer, the information
  // plane per layer, and the two-phase checks (also written to report/phases_*.csv).
  std::string two_phases() {
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

  std::string layer_dynamics(const std::string& model, const std::vector<analysis::LayerSeries>& series,
                             const std::vector<analysis::PhaseCheck>& checks) {
    const std::string name = "dynamics_" + safe_name(model);
    std::string dat, turns;
    for (std::size_t k = 0; k < series.size(); ++k) {
      const auto& s = series[k];
      const auto& ckpts = metrics_.steps.at(model);
      dat += "# layer " + std::to_string(s.layer) + "\n";
      std::size_t i = 0;
      for (const auto& [step, ckpt] : ckpts) {
        dat += std::to_string(step) + " " + num(s.complexity[i]) + " " +
               num(metrics_.get(model, ckpt, std::to_string(s.layer), "out1", "mutual_information")) + " " +
               num(s.optimality[i]) + "\n";
        ++i;
      }
      dat += "\n\n";
      if (checks[k].turning.found) {
        const auto t = checks[k].peak_idx;
        turns += std::to_string(s.steps[t]) + " " + num(s.complexity[t]) + " " + num(s.optimality[t]) + "\n";
      }
    }
    // The losses: one block after the layers.
    dat += "# losses\n";
    for (const auto& [step, ckpt] : metrics_.steps.at(model)) {
      dat += std::to_string(step) + " " + num(metrics_.get(model, ckpt, "", "", "eval_loss")) + " " +
             num(metrics_.get(model, ckpt, "", "", "train_loss")) + "\n";
    }
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

  std::string layer_planes(const std::string& model, const std::vector<analysis::LayerSeries>& series) {
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

  static std::string mark(bool ok) { return ok ? "<td class=\"ok\">yes</td>" : "<td class=\"no\">no</td>"; }

  std::string phase_table(const std::string& model, const std::vector<analysis::LayerSeries>& series,
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

  static std::string yes_no(bool b) { return b ? "true" : "false"; }

  void add_phase_rows(const std::string& model, const std::vector<analysis::LayerSeries>& series,
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

  // Task scores against optimality over checkpoints: per target, one line per model
  // through its checkpoints in step order, points coloured by step (model_table.csv).
  std::string tasks_vs_optimality() {
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

  std::string layer_profiles() {
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

  std::string optimality_vs_benchmarks() {
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

  std::string one_benchmark(const io::CsvTable& t, std::size_t x_col, std::size_t y_col) {
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

  static std::string safe_name(const std::string& s) {
    std::string out;
    for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return out;
  }

  std::string backoff() {
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

  std::string page() const {
    std::string notes;
    for (const auto& n : notes_) notes += "<li>" + html_escape(n) + "</li>\n";
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>ibzoo report: " +
           html_escape(job_.path_run.filename().string()) +
           "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
           "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}"
           "tr.sig{background:#fff3c4}.scroll{max-height:500px;overflow:auto}img{max-width:100%}"
           "table.prov th{text-align:left}table.prov td{text-align:left}pre{font-size:11px;max-height:400px;overflow:auto}"
           ".missing{color:#a33}figcaption{font-size:13px;color:#444}td.ok{background:#dff0d8}td.no{background:#f8d7da}"
           "tr.upper td:first-child{font-weight:bold}</style>\n</head>\n<body>\n"
           "<h1>ibzoo report</h1>\n<p>Run: <code>" + html_escape(job_.path_run.string()) + "</code>. " +
           count_of(metrics_.steps.size(), "model") + ". Entropies and informations are divided by log m (m "
           "reference points), so they lie in [0, 1]; optimality is a ratio. docs/ANALYSIS.md defines every "
           "statistic.</p>\n" +
           (notes.empty() ? std::string() : "<h2>Notes</h2>\n<ul class=\"missing\">\n" + notes + "</ul>\n") + body_ +
           // For the browser test: how many figures decoded, and how many are blank (fewer than 1% of the
           // pixels differ from the top-left one).
           "<script>window.addEventListener('load',function(){var imgs=document.images,bad=0,blank=0;"
           "for(var i=0;i<imgs.length;i++){var im=imgs[i];if(!im.complete||im.naturalWidth===0){bad++;continue;}"
           "var c=document.createElement('canvas');c.width=im.naturalWidth;c.height=im.naturalHeight;"
           "var x=c.getContext('2d');x.drawImage(im,0,0);var d=x.getImageData(0,0,c.width,c.height).data,n=0;"
           "for(var k=0;k<d.length;k+=4){if(d[k]!==d[0]||d[k+1]!==d[1]||d[k+2]!==d[2])n++;}"
           "if(n<0.01*c.width*c.height)blank++;}"
           "document.body.setAttribute('data-images',imgs.length);document.body.setAttribute('data-broken-images',bad);"
           "document.body.setAttribute('data-blank-images',blank);});</script>\n</body></html>\n";
  }

  const ReportJob& job_;
  fs::path dir_;
  fs::path fig_dir_;
  Metrics metrics_;
  std::optional<io::CsvTable> model_table_;
  std::vector<std::string> figures_;
  std::vector<std::string> notes_;
  std::string body_;
};

}  // namespace

ReportResult report(const ReportJob& job) { return ReportWriter(job).run(); }

}  // namespace ibzoo::stages
