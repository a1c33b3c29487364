// Report stage: metrics + regress outputs -> gnuplot figures and one self-contained
// index.html. The last stage; it only reads results and writes <run>/report/. This file:
// the page, its sections and tables, and gnuplot; the figures are in report_figures.cpp
// and report_dynamics.cpp (report_writer.h).
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

namespace ibzoo::stages {

namespace report_parts {

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

std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string dat_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? '\'' : c;
  return out + "\"";
}

std::string num(double v) { return std::isfinite(v) ? io::format_value(v) : "NaN"; }

std::string short_num(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string count_of(std::size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string layer_tics(int max_layer) {
  const int step = std::max(1, (max_layer + 11) / 12);
  return "set xtics " + std::to_string(step) + " format '%.0f'\nset mxtics 1\nset xrange [-0.3:" +
         std::to_string(max_layer) + ".3]\n";
}

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

Metrics index_metrics(const std::vector<io::MetricRow>& rows) {
  Metrics m;
  for (const auto& r : rows) {
    m.family[r.model] = r.family;
    m.steps[r.model][r.step] = r.checkpoint;
    m.values[{r.model, r.checkpoint, r.layer, r.label_set, r.metric}] = r.value;
  }
  return m;
}

ReportResult ReportWriter::run() {
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

void ReportWriter::note(const std::string& text) { notes_.push_back(text); }
                        
                        void ReportWriter::section(const std::string& title, const std::string& body) {
  std::string id;  // a link target: "Trajectories over training" -> #trajectories-over-training
  for (char c : title) id += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  body_ += "<section id=\"" + id + "\"><h2>" + html_escape(title) + "</h2>\n";
  body_ += body.empty() ? "<p class=\"missing\">Nothing to show (see the notes above).</p>\n" : body;
  body_ += "</section>\n";
}

std::optional<io::CsvTable> ReportWriter::optional_table(const fs::path& path, const std::string& what) {
  if (!fs::exists(path)) {
    note("No " + what + ": " + path.filename().string() + " is absent.");  // what: a noun phrase, no article
    return std::nullopt;
  }
  return io::read_csv(path);
}

std::string ReportWriter::table_section(const fs::path& path, const std::string& what) {
  const auto t = optional_table(path, what);
  return t ? html_table(*t) : std::string();
}

std::string ReportWriter::html_table(const io::CsvTable& t) {
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

std::string ReportWriter::render(const std::string& name, const std::string& body, const std::string& caption, int width,
                                 int height) {
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

std::string ReportWriter::shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void ReportWriter::write_data(const std::string& name, const std::string& text) {
  io::write_file_atomic(fig_dir_ / (name + ".dat"), text);
}

std::string ReportWriter::data_path(const std::string& name) const { return gp_quote((fig_dir_ / (name + ".dat")).string()); }
                                    
                                    namespace {

nlohmann::json read_json_or_null(const fs::path& p) {
  if (!fs::exists(p)) return nullptr;
  try {
    return nlohmann::json::parse(io::read_file(p));
  } catch (const std::exception&) {
    return nullptr;
  }
}

// The first work item's provenance.json (items/ in name order), or null.
nlohmann::json first_item_provenance(const fs::path& root) {
  nlohmann::json item = nullptr;
  if (fs::is_directory(root / "items")) {
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root / "items")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) {
      if ((item = read_json_or_null(d / "provenance.json")).is_object()) break;
    }
  }
  return item;
}

// A field as text: strings as they are, anything else as JSON, "?" when absent.
std::string field(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return std::string("?");
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

using Rows = std::vector<std::pair<std::string, std::string>>;

// The manifest's estimator settings and data sample, as provenance rows.
void add_manifest_rows(Rows& rows, const nlohmann::json& manifest, const nlohmann::json& plan, const nlohmann::json& item) {
  const auto str = field;
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
}

// The manifest's models (family, checkpoints, steps, source) and the manifest itself.
std::string models_html(const nlohmann::json& manifest) {
  const auto str = field;
  std::string html = "<table><tr><th>model</th><th>family</th><th>checkpoints</th><th>steps</th><th>source</th></tr>\n";
  for (const auto& m : manifest["models"]) {
    const auto& ck = m.value("checkpoints", nlohmann::json::array());
    std::string steps = ck.empty() ? "" : str(ck.front(), "step") + (ck.size() > 1 ? " .. " + str(ck.back(), "step") : "");
    std::string from = ck.empty() ? "" : ck.front().contains("repo") ? "hub " + str(ck.front(), "repo") : str(ck.front(), "path");
    html += "<tr><td>" + html_escape(str(m, "id")) + "</td><td>" + html_escape(str(m, "family")) + "</td><td>" +
            std::to_string(ck.size()) + "</td><td>" + html_escape(steps) + "</td><td>" + html_escape(from) +
            "</td></tr>\n";
  }
  return html + "</table>\n<details><summary>The normalised manifest (manifest.json)</summary><pre>" +
         html_escape(manifest.dump(2)) + "</pre></details>\n";
}

}  // namespace

std::string ReportWriter::provenance() {
  const auto root = job_.path_run;
  const auto manifest = read_json_or_null(root / "manifest.json");
  const auto plan = read_json_or_null(root / "plan.json");
  const auto item = first_item_provenance(root);
  const auto str = field;
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  Rows rows = {{"report rendered", std::string(date) + " by ibzoo " + io::version_string()}};
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
    add_manifest_rows(rows, manifest, plan, item);
  } else {
    note("No provenance of the run: manifest.json is absent from the run directory.");
  }
  std::string html = "<table class=\"prov\">\n";
  for (const auto& [k, v] : rows) html += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>\n";
  html += "</table>\n";
  if (manifest.is_object() && manifest.contains("models")) html += models_html(manifest);
  return html;
}

std::string ReportWriter::page() const {
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

}  // namespace report_parts

ReportResult report(const ReportJob& job) { return report_parts::ReportWriter(job).run(); }

}  // namespace ibzoo::stages
