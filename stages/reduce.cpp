// Data flow: extract -> [reduce: exact merge of item states -> metrics] -> analysis.
#include "stages/reduce.h"

#include "analysis/check.h"
#include "analysis/error.h"
#include "analysis/estimator_state.h"
#include "analysis/soft_entropy.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/state_h5.h"
#include "stages/prepare.h"

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

struct LayerResult {
  int layer = 0;
  analysis::LayerEstimate estimate;
};

// Layers present in the first item's state file (either format).
std::vector<int> layers_of(const io::H5File& file) {
  if (io::is_assignments_file(file)) return io::read_assignments(file, false).layers;
  std::vector<int> layers;
  for (const auto& name : file.list("/")) {
    if (name.rfind("layer_", 0) == 0) layers.push_back(std::stoi(name.substr(6)));
  }
  return layers;
}

constexpr std::int64_t kReadRows = 16384;  // positions read at a time from a format-2 item

// Adds a format-2 item's positions at `layer` to `total` (created with the item's
// layout when empty), in the item's position order, keeping the rows of `share`.
void add_item_assignments(const io::H5File& file, int layer, const analysis::RowShare& share, int threads,
                          std::optional<analysis::EstimatorState>& total, std::vector<std::int64_t>& label_rows) {
  const auto item = io::read_assignments(file, true);
  if (std::find(item.layers.begin(), item.layers.end(), layer) == item.layers.end()) {
    throw CorruptDataError(file.path().string() + ": has no soft assignments for layer " + std::to_string(layer) +
                           ", which the checkpoint's first item has (items of one checkpoint must estimate the same layers)");
  }
  if (!total) {
    total.emplace(item.layout);
    total->reserve_rows(item.label_rows, share);
    label_rows = item.label_rows;
  } else if (!(total->layout() == item.layout) || (!label_rows.empty() && label_rows != item.label_rows)) {
    throw CorruptDataError(file.path().string() + ": its estimator layout (bins, label sets, bootstrap, subsets, label rows) differs from "
                           "the checkpoint's first item; the items were computed with different settings: delete the "
                           "checkpoint's items to recompute them");
  }
  const auto m = item.layout.n_bins;
  for (std::int64_t begin = 0; begin < item.n_positions; begin += kReadRows) {
    const auto rows = std::min(kReadRows, item.n_positions - begin);
    const auto p = io::read_assignment_rows(file, layer, m, begin, rows);
    std::vector<std::span<const std::int32_t>> labels;
    for (const auto& ids : item.labels) labels.emplace_back(ids.data() + begin, static_cast<std::size_t>(rows));
    const std::span<const std::int64_t> docs(item.doc_ids.data() + begin, static_cast<std::size_t>(rows));
    total->add_assignments(p.data(), rows, labels, docs, threads, share);
  }
}

// The merged state of one layer over `item_ids` (in order), keeping the rows of
// `share`: format-2 items add their positions, format-1 items their tables.
analysis::EstimatorState merged_layer(const io::RunDir& run, const std::vector<std::string>& item_ids, int layer,
                                      const analysis::RowShare& share, int threads) {
  std::optional<analysis::EstimatorState> total;
  std::vector<std::int64_t> label_rows;  // the first format-2 item's, when it started the state
  for (const auto& id : item_ids) {
    const auto file = io::H5File::open_read(run.item_state(id));
    if (io::is_assignments_file(file)) {
      add_item_assignments(file, layer, share, threads, total, label_rows);
      continue;
    }
    auto state = analysis::EstimatorState::from_vectors(io::read_state(file, io::layer_group(layer)), share);
    if (total) {
      total->add(state);
    } else {
      total = std::move(state);
    }
  }
  return std::move(*total);
}

analysis::LayerEstimate estimate_layer(const io::RunDir& run, const std::vector<std::string>& item_ids, int layer,
                                       analysis::Weighting weighting, int threads, const io::Communicator* partition) {
  const analysis::RowShare share = partition ? analysis::RowShare{partition->size(), partition->rank()} : analysis::RowShare{};
  const auto state = merged_layer(run, item_ids, layer, share, threads);
  auto sums = state.conditional_sums(weighting);
  if (partition) sums = allreduce_sums(*partition, sums);
  return state.estimate(weighting, sums);
}

class RowWriter {
 public:
  RowWriter(const ReduceJob& job, std::vector<io::MetricRow>& rows) : job_(job), rows_(rows) {}
  void add(const std::string& layer, const std::string& label_set, const std::string& metric, double value) {
    rows_.push_back({job_.model, job_.family, job_.checkpoint, job_.step, layer, label_set, metric, value});
  }

 private:
  const ReduceJob& job_;
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

}  // namespace

analysis::ConditionalSums allreduce_sums(const io::Communicator& comm, const analysis::ConditionalSums& mine) {
  const auto flat = mine.to_flat();
  const std::string bytes(reinterpret_cast<const char*>(flat.data()), flat.size() * sizeof(std::int64_t));
  const auto all = comm.allgather(bytes);
  const auto n_views = static_cast<std::int64_t>(mine.views.size());
  const auto n_sets = mine.views.empty() ? std::int64_t{0} : static_cast<std::int64_t>(mine.views.front().size());
  std::optional<analysis::ConditionalSums> total;
  for (const auto& part : all) {
    std::vector<std::int64_t> values(part.size() / sizeof(std::int64_t));
    std::memcpy(values.data(), part.data(), values.size() * sizeof(std::int64_t));
    auto sums = analysis::ConditionalSums::from_flat(values, n_views, n_sets);
    total = total ? analysis::add_sums(*total, sums) : std::move(sums);
  }
  return std::move(*total);
}

std::int64_t state_bytes(const io::RunDir& run, const std::vector<std::string>& item_ids) {
  if (item_ids.empty()) return 0;
  // Format 2: the merged tables of a layer hold at most every set's rows over the
  // sample, in every view (8 m bytes of sums + ~56 of bookkeeping per row).
  try {
    const auto file = io::H5File::open_read(run.item_state(item_ids.front()));
    if (io::is_assignments_file(file)) {
      const auto header = io::read_assignments(file, false);
      std::int64_t rows = 0;
      for (const auto r : header.label_rows) rows += r;
      return header.layout.n_views() * rows * (8 * header.layout.n_bins + 56);
    }
  } catch (const Error&) {
    // unreadable here: the reduce reports it; fall back to the file sizes
  }
  std::int64_t bytes = 0;
  for (const auto& id : item_ids) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(run.item_state(id), ec);
    if (!ec) bytes += static_cast<std::int64_t>(size);
  }
  return bytes;
}

ReduceResult reduce(const ReduceJob& job, const io::Communicator* partition) {
  IBZOO_CHECK(!job.item_ids.empty(), "reduce of " << job.model << "/" << job.checkpoint << " without items");
  ReduceResult result;
  auto& summary = result.summary;
  summary.model = job.model;
  summary.family = job.family;
  summary.checkpoint = job.checkpoint;
  summary.step = job.step;
  summary.n_parameters = job.n_parameters;

  const auto first_dir = job.run.item_dir(job.item_ids.front());
  const auto provenance = nlohmann::json::parse(io::read_file(first_dir / "provenance.json", 64 << 20));
  if (summary.n_parameters <= 0 && provenance.contains("n_parameters")) {
    summary.n_parameters = provenance["n_parameters"].get<double>();
  }
  if (provenance.contains("weights")) summary.weights = provenance["weights"];

  const auto first = io::H5File::open_read(job.run.item_state(job.item_ids.front()));
  std::vector<LayerResult> layers;
  const auto weighting = analysis::parse_weighting(job.weighting);
  std::vector<LayerResult> preference;
  for (int layer : layers_of(first)) {
    layers.push_back({layer, estimate_layer(job.run, job.item_ids, layer, weighting, job.threads, partition)});
    if (!job.preference_item_ids.empty()) {
      preference.push_back({layer, estimate_layer(job.run, job.preference_item_ids, layer, weighting, job.threads, partition)});
    }
  }
  summary.n_positions = layers.empty() ? 0 : layers.front().estimate.full.n_samples;

  RowWriter out(job, result.rows);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    layer_rows(out, layers[i]);
    if (!preference.empty()) preference_rows(out, preference[i]);
  }
  const auto per_layer = result.rows;
  mean_rows(out, per_layer, layers, summary);
  out.add("", "", "n_parameters", summary.n_parameters);
  return result;
}

void write_summary_csv(const std::filesystem::path& path, const std::vector<GroupSummary>& summaries) {
  std::ostringstream os;
  os << "model,family,checkpoint,step,n_parameters,n_positions,entropy,complexity,expressivity,optimality,"
        "optimality_ratio_of_means,complexity_null,expressivity_null,preference\n";
  for (const auto& s : summaries) {
    os << s.model << ',' << s.family << ',' << s.checkpoint << ',' << s.step << ',' << io::format_value(s.n_parameters)
       << ',' << s.n_positions << ',' << io::format_value(s.entropy) << ',' << io::format_value(s.complexity) << ','
       << io::format_value(s.expressivity) << ',' << io::format_value(s.optimality) << ','
       << io::format_value(s.optimality_ratio_of_means) << ',' << io::format_value(s.complexity_null) << ','
       << io::format_value(s.expressivity_null) << ',' << io::format_value(s.preference) << '\n';
  }
  io::write_file_atomic(path, os.str());
}

}  // namespace ibzoo::stages
