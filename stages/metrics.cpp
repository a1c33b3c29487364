// Data flow: accumulate -> merge -> [metrics: exact sums -> estimates -> rows] -> analysis.
#include "stages/metrics.h"

#include "errors/check.h"
#include "errors/error.h"
#include "analysis/estimator_state.h"
#include "analysis/soft_entropy.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/state_h5.h"
#include "stages/labels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>

namespace ibzoo::stages {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double value_or_nan(const std::optional<double>& v) { return v ? *v : kNaN; }

class RowWriter {
 public:
  RowWriter(const CheckpointInfo& job, std::vector<io::MetricRow>& rows) : job_(job), rows_(rows) {}
  void add(const std::string& layer, const std::string& label_set, const std::string& metric, double value) {
    rows_.push_back({job_.model, job_.family, job_.checkpoint, job_.step, layer, label_set, metric, value});
  }

 private:
  const CheckpointInfo& job_;
  std::vector<io::MetricRow>& rows_;
};

std::optional<std::size_t> set_index(const std::vector<std::string>& names, const std::string& name) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return i;
  }
  return std::nullopt;
}

std::optional<double> mi_of(const analysis::LayerEstimate& e, const std::string& name) {
  const auto idx = set_index(e.label_sets, name);
  return idx ? e.full.sets[*idx].mutual_information : std::nullopt;
}

void layer_rows(RowWriter& out, const LayerResult& lr) {
  const auto layer = std::to_string(lr.layer);
  const auto& e = lr.estimate;
  out.add(layer, "", "n_samples", static_cast<double>(e.full.n_samples));
  out.add(layer, "", "entropy", value_or_nan(e.full.entropy));
  if (e.entropy_interval) {
    out.add(layer, "", "entropy_ci_low", e.entropy_interval->low);
    out.add(layer, "", "entropy_ci_high", e.entropy_interval->high);
  }
  for (std::size_t s = 0; s < e.label_sets.size(); ++s) {
    const auto& name = e.label_sets[s];
    if (name.find(".null") != std::string::npos) continue;
    out.add(layer, name, "mutual_information", value_or_nan(e.full.sets[s].mutual_information));
    out.add(layer, name, "regularity", value_or_nan(e.full.sets[s].regularity));
    if (const auto null_mi = mi_of(e, null_name(name))) out.add(layer, name, "null_mutual_information", *null_mi);
    if (s < e.mi_intervals.size() && e.mi_intervals[s]) {
      out.add(layer, name, "mi_ci_low", e.mi_intervals[s]->low);
      out.add(layer, name, "mi_ci_high", e.mi_intervals[s]->high);
    }
    for (std::size_t level = 0; level < e.subsets.size(); ++level) {
      const auto tag = "_subset_" + std::to_string(level + 1);
      out.add(layer, name, "mutual_information" + tag, value_or_nan(e.subsets[level].sets[s].mutual_information));
      if (s == 0) out.add(layer, "", "n_samples" + tag, static_cast<double>(e.subsets[level].n_samples));
    }
  }
  const auto ix = mi_of(e, "in1");
  const auto iy = mi_of(e, "out1");
  const bool guarded = !ix || !iy || *ix < analysis::kDefaultMinMi;
  out.add(layer, "", "optimality", guarded ? kNaN : *iy / *ix);
  if (e.full.entropy) {
    const std::array<std::optional<double>, 4> by_order = {mi_of(e, "in1"), mi_of(e, "in2"), mi_of(e, "in3"), mi_of(e, "in4")};
    if (const auto shares = analysis::backoff_shares(*e.full.entropy, by_order)) {
      out.add(layer, "", "backoff_token", shares->token);
      out.add(layer, "", "backoff_bigram", shares->bigram);
      out.add(layer, "", "backoff_trigram", shares->trigram);
      out.add(layer, "", "backoff_quadgram", shares->quadgram);
      out.add(layer, "", "backoff_residual", shares->residual);
    }
  }
}

// The preference set's rows of one layer (label set `pref`).
void preference_rows(RowWriter& out, const LayerResult& lr) {
  const auto layer = std::to_string(lr.layer);
  const auto& e = lr.estimate;
  const auto idx = set_index(e.label_sets, kPreferenceSet);
  IBZOO_CHECK(idx.has_value(), "preference state without a 'pref' label set");
  out.add(layer, kPreferenceSet, "n_samples", static_cast<double>(e.full.n_samples));
  out.add(layer, kPreferenceSet, "mutual_information", value_or_nan(e.full.sets[*idx].mutual_information));
  out.add(layer, kPreferenceSet, "regularity", value_or_nan(e.full.sets[*idx].regularity));
  if (*idx < e.mi_intervals.size() && e.mi_intervals[*idx]) {
    out.add(layer, kPreferenceSet, "mi_ci_low", e.mi_intervals[*idx]->low);
    out.add(layer, kPreferenceSet, "mi_ci_high", e.mi_intervals[*idx]->high);
  }
  for (std::size_t level = 0; level < e.subsets.size(); ++level) {
    out.add(layer, kPreferenceSet, "mutual_information_subset_" + std::to_string(level + 1),
            value_or_nan(e.subsets[level].sets[*idx].mutual_information));
  }
}

// Mean over layers 1..L of every per-layer metric (the embedding layer is excluded,
// as in the reference), plus optimality aggregated both ways.
void mean_rows(RowWriter& out, const std::vector<io::MetricRow>& layer_rows_all, const std::vector<LayerResult>& layers,
               GroupSummary& summary) {
  std::map<std::pair<std::string, std::string>, std::vector<double>> values;
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& r : layer_rows_all) {
    if (r.layer == "0" || r.layer.empty() || r.metric == "optimality") continue;
    const auto key = std::make_pair(r.label_set, r.metric);
    if (!values.count(key)) order.push_back(key);
    values[key].push_back(r.value);
  }
  for (const auto& key : order) {
    double sum = 0;
    for (double v : values[key]) sum += v;
    out.add("mean", key.first, key.second, sum / static_cast<double>(values[key].size()));
  }
  std::vector<std::optional<double>> mi_x, mi_y;
  for (const auto& lr : layers) {
    if (lr.layer == 0) continue;
    mi_x.push_back(mi_of(lr.estimate, "in1"));
    mi_y.push_back(mi_of(lr.estimate, "out1"));
  }
  const auto opt = analysis::optimality(mi_x, mi_y);
  summary.optimality = opt.mean_of_ratios_guarded ? kNaN : opt.mean_of_ratios;
  summary.optimality_ratio_of_means = opt.ratio_of_means_guarded ? kNaN : opt.ratio_of_means;
  out.add("mean", "", "optimality", summary.optimality);
  out.add("mean", "", "optimality_ratio_of_means", summary.optimality_ratio_of_means);
  auto mean_of = [&](const std::string& set, const std::string& metric) {
    const auto it = values.find({set, metric});
    if (it == values.end() || it->second.empty()) return kNaN;
    double sum = 0;
    for (double v : it->second) sum += v;
    return sum / static_cast<double>(it->second.size());
  };
  summary.entropy = mean_of("", "entropy");
  summary.complexity = mean_of("in1", "mutual_information");
  summary.expressivity = mean_of("out1", "mutual_information");
  summary.complexity_null = mean_of("in1", "null_mutual_information");
  summary.expressivity_null = mean_of("out1", "null_mutual_information");
  summary.preference = mean_of(kPreferenceSet, "mutual_information");
}

// The checkpoint's training losses (from its trainer_state.json, recorded in the
// item's provenance by accumulate): model-scope rows after n_parameters.
void training_rows(CheckpointMetrics& result, const CheckpointInfo& info, const nlohmann::json& training) {
  if (!training.is_object()) return;
  RowWriter out(info, result.rows);
  if (training.contains("eval_loss") && training["eval_loss"].is_number()) {
    result.summary.eval_loss = training["eval_loss"].get<double>();
    out.add("", "", "eval_loss", result.summary.eval_loss);
  }
  if (training.contains("train_loss") && training["train_loss"].is_number()) {
    out.add("", "", "train_loss", training["train_loss"].get<double>());
  }
}

}  // namespace

CheckpointMetrics checkpoint_metrics(const CheckpointInfo& info, const std::vector<LayerResult>& text,
                                     const std::vector<LayerResult>& preference) {
  IBZOO_CHECK(preference.empty() || preference.size() == text.size(), "preference layers " << preference.size());
  CheckpointMetrics result;
  auto& summary = result.summary;
  summary.model = info.model;
  summary.family = info.family;
  summary.checkpoint = info.checkpoint;
  summary.step = info.step;
  summary.n_parameters = info.n_parameters;
  summary.n_positions = text.empty() ? 0 : text.front().estimate.full.n_samples;
  RowWriter out(info, result.rows);
  for (std::size_t i = 0; i < text.size(); ++i) {
    layer_rows(out, text[i]);
    if (!preference.empty()) preference_rows(out, preference[i]);
  }
  const auto per_layer = result.rows;
  mean_rows(out, per_layer, text, summary);
  out.add("", "", "n_parameters", summary.n_parameters);
  return result;
}

CheckpointMetrics item_metrics(const io::RunDir& run, const std::string& item_id, const CheckpointInfo& info,
                               analysis::Weighting weighting, double confidence) {
  const auto provenance = nlohmann::json::parse(io::read_file(run.item_dir(item_id) / "provenance.json", 64 << 20));
  auto with_params = info;
  if (with_params.n_parameters <= 0 && provenance.contains("n_parameters")) {
    with_params.n_parameters = provenance["n_parameters"].get<double>();
  }
  const auto file = io::H5File::open_read(run.item_state(item_id));
  const auto estimates = [&](const std::string& part) {
    std::vector<LayerResult> layers;
    if (!io::has_sums(file, part)) return layers;
    const auto sums = io::read_sums(file, part);
    for (std::size_t l = 0; l < sums.layers.size(); ++l) {
      layers.push_back({sums.layers[l], analysis::estimate(sums.per_layer[l], weighting, confidence)});
    }
    return layers;
  };
  const auto text = estimates("text");
  const auto preference = estimates("preference");
  if (!preference.empty() && preference.size() != text.size()) {
    throw CorruptDataError(run.item_state(item_id).string() + ": /preference has " + std::to_string(preference.size()) +
                           " layers, /text " + std::to_string(text.size()) + "; delete the item's directory to recompute it");
  }
  auto result = checkpoint_metrics(with_params, text, preference);
  if (provenance.contains("weights")) result.summary.weights = provenance["weights"];
  training_rows(result, with_params, provenance.value("training", nlohmann::json()));
  return result;
}

void write_summary_csv(const std::filesystem::path& path, const std::vector<GroupSummary>& summaries) {
  std::ostringstream os;
  os << "model,family,checkpoint,step,n_parameters,n_positions,entropy,complexity,expressivity,optimality,"
        "optimality_ratio_of_means,complexity_null,expressivity_null,preference,eval_loss\n";
  for (const auto& s : summaries) {
    os << s.model << ',' << s.family << ',' << s.checkpoint << ',' << s.step << ',' << io::format_value(s.n_parameters)
       << ',' << s.n_positions << ',' << io::format_value(s.entropy) << ',' << io::format_value(s.complexity) << ','
       << io::format_value(s.expressivity) << ',' << io::format_value(s.optimality) << ','
       << io::format_value(s.optimality_ratio_of_means) << ',' << io::format_value(s.complexity_null) << ','
       << io::format_value(s.expressivity_null) << ',' << io::format_value(s.preference) << ','
       << io::format_value(s.eval_loss) << '\n';
  }
  io::write_file_atomic(path, os.str());
}

}  // namespace ibzoo::stages
