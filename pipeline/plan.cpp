// Planning: manifest + corpus sample -> sorted work items with content-hashed ids.
#include "pipeline/plan.h"

#include "analysis/estimator_state.h"
#include "errors/error.h"
#include "io/fs.h"
#include "hf/config.h"
#include "pipeline/budget.h"
#include "stages/pass_plan.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ibzoo::pipeline {

namespace {

// Everything that changes an item's numbers goes into its id; what only changes
// how fast it runs (threads, batch size, ranks, memory budget) or where it lands does not.
nlohmann::json item_spec(const Manifest& m, const ModelSpec& model, const Checkpoint& checkpoint,
                         const Plan& plan) {
  nlohmann::json text = to_json(m)["text"];
  text.erase("documents_per_shard");
  nlohmann::json spec = {{"model", model.id},
                         {"checkpoint", checkpoint.name},
                         {"path", checkpoint.path.string()},
                         {"tokenizer", model.tokenizer.string()},
                         {"corpus_sha256", plan.corpus_sha256},
                         {"n_documents", plan.n_documents},
                         {"text", text},
                         {"estimator", to_json(m)["estimator"]},
                         {"dtype", m.compute.dtype},
                         {"device", m.compute.device},
                         {"format", "sums"}};
  if (m.preference) {
    spec["preference"] = to_json(m)["preference"];
    spec["pairs_sha256"] = plan.pairs_sha256;
    spec["n_pairs"] = plan.n_pairs;
  }
  // Opt-in per-position outputs are part of what the item writes.
  if (m.storage.representations || m.storage.assignments != "none") spec["storage"] = to_json(m)["storage"];
  return spec;
}

}  // namespace

Plan make_plan(const Manifest& manifest, std::int64_t n_documents, const std::string& corpus_sha256,
               std::int64_t n_pairs, const std::string& pairs_sha256) {
  Plan plan;
  plan.n_pairs = n_pairs;
  plan.pairs_sha256 = pairs_sha256;
  plan.manifest_hash = manifest_hash(manifest);
  plan.corpus_sha256 = corpus_sha256;
  plan.n_documents = n_documents;
  for (std::size_t mi = 0; mi < manifest.models.size(); ++mi) {
    const auto& model = manifest.models[mi];
    for (std::size_t ci = 0; ci < model.checkpoints.size(); ++ci) {
      WorkItem item;
      item.model_idx = mi;
      item.checkpoint_idx = ci;
      item.spec = item_spec(manifest, model, model.checkpoints[ci], plan);
      item.id = io::sha256_hex(item.spec.dump()).substr(0, 16);
      plan.items.push_back(std::move(item));
    }
  }
  return plan;
}

nlohmann::json to_json(const Plan& plan, const Manifest& manifest) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& item : plan.items) {
    const auto& model = manifest.models[item.model_idx];
    const auto& checkpoint = model.checkpoints[item.checkpoint_idx];
    items.push_back({{"id", item.id},
                     {"model", model.id},
                     {"family", model.family},
                     {"checkpoint", checkpoint.name},
                     {"step", checkpoint.step}});
  }
  return {{"study", manifest.study},
          {"manifest_hash", plan.manifest_hash},
          {"corpus_sha256", plan.corpus_sha256},
          {"n_documents", plan.n_documents},
          {"n_pairs", plan.n_pairs},
          {"n_items", plan.items.size()},
          {"items", items}};
}

std::pair<int, int> parse_slice(const std::string& text) {
  const auto slash = text.find('/');
  int k = -1;
  int n = 0;
  const bool ok = slash != std::string::npos &&
                  std::from_chars(text.data(), text.data() + slash, k).ptr == text.data() + slash &&
                  std::from_chars(text.data() + slash + 1, text.data() + text.size(), n).ptr ==
                      text.data() + text.size();
  if (!ok || n < 1 || k < 0 || k >= n) {
    throw UsageError("--slice must be K/N with 0 <= K < N (e.g. 3/10), got '" + text + "'");
  }
  return {k, n};
}

}  // namespace ibzoo::pipeline

namespace ibzoo::pipeline {

namespace {

// Parameters of a decoder: embeddings, attention, MLP, norms, and an untied head.
double config_parameters(const hf::ModelConfig& c) {
  const double d = static_cast<double>(c.hidden_size);
  const double hd = static_cast<double>(c.head_dim > 0 ? c.head_dim : c.hidden_size / std::max<std::int64_t>(1, c.n_heads));
  const double q = static_cast<double>(c.n_heads) * hd;
  const double kv = static_cast<double>(c.n_kv_heads > 0 ? c.n_kv_heads : c.n_heads) * hd;
  const double ff = static_cast<double>(c.intermediate_size);
  const double attention = d * (q + 2 * kv) + q * d;
  const double mlp = (c.gated_mlp() ? 3.0 : 2.0) * d * ff;
  const double embed = static_cast<double>(c.vocab_size) * d * (c.tie_word_embeddings ? 1.0 : 2.0);
  return embed + static_cast<double>(c.n_layers) * (attention + mlp + 4 * d);
}

// Labels of one order that can have a table row (global count >= min_count): each takes
// at least min_count of the positions, and there are at most vocab^order of them.
double label_bound(double positions, std::int64_t min_count, double vocab, int order) {
  return std::min(std::floor(positions / static_cast<double>(min_count)), std::pow(vocab, order));
}

void add_to_total(PlanEstimate::Row& total, const PlanEstimate::Row& row) {
  total.n_checkpoints += row.n_checkpoints;
  total.tokens += row.tokens;
  total.positions += row.positions;
  total.flops += row.flops;
  total.gpu_hours += row.gpu_hours;
  total.weight_bytes += row.weight_bytes;
  total.run_dir_bytes += row.run_dir_bytes;
  total.representation_bytes += row.representation_bytes;
  total.assignment_bytes += row.assignment_bytes;
  total.table_rows = std::max(total.table_rows, row.table_rows);
  total.table_bytes_per_layer = std::max(total.table_bytes_per_layer, row.table_bytes_per_layer);
  total.n_passes = std::max(total.n_passes, row.n_passes);
  total.forward_factor = std::max(total.forward_factor, row.forward_factor);
  total.peak_rank_bytes = std::max(total.peak_rank_bytes, row.peak_rank_bytes);
}

// The label pass's summary of this sample when the run directory has one, else null.
const stages::LabelSummary* counted_labels(const PlanEstimate& e) {
  for (const auto& labels : e.options.labels) {
    if (labels.n_documents == e.n_documents && labels.names.size() == static_cast<std::size_t>(e.n_label_sets)) {
      return &labels;
    }
  }
  return nullptr;
}

// Table rows of every text label set per checkpoint: the label pass's counts when the
// run directory has them for this sample, else the bound of each order.
double text_table_rows(const PlanEstimate& e, const Manifest& m, double text_positions, double vocab, bool& counted) {
  const auto& est = m.estimator;
  if (const auto* labels = counted_labels(e)) {
    counted = true;
    double rows = 0;
    for (const auto r : labels->rows) rows += static_cast<double>(r);
    return rows;
  }
  counted = false;
  double rows = 0;
  for (int order : est.orders) {
    rows += 2.0 * (est.null ? 2.0 : 1.0) * label_bound(text_positions, e.min_count_kept, vocab, order);
  }
  return rows;
}

}  // namespace

namespace {

// The sample at full scale: documents, tokens, positions, pairs, label sets, views.
void set_sample(PlanEstimate& estimate, const Manifest& manifest, const EstimateOptions& options) {
  const auto& e = manifest.estimator;
  estimate.n_documents = options.n_documents.value_or(10000);
  estimate.tokens_per_document = options.tokens_per_document.value_or(manifest.text.max_tokens);
  const int max_order = e.orders.empty() ? 1 : *std::max_element(e.orders.begin(), e.orders.end());
  // Positions of a document: i from N-1 to len-N-1 for the largest order N.
  estimate.text_positions_per_document =
      std::max(0.0, static_cast<double>(estimate.tokens_per_document) - 2.0 * max_order + 1.0);
  if (manifest.preference) {
    estimate.n_pairs = options.n_pairs.value_or(manifest.preference->n_pairs > 0 ? manifest.preference->n_pairs
                                                                                  : estimate.n_documents);
    estimate.tokens_per_pair_document = std::min(estimate.tokens_per_document, manifest.preference->max_tokens);
  }
  estimate.throughput_tokens_per_s = options.throughput_tokens_per_s.value_or(manifest.compute.throughput_tokens_per_s);
  estimate.n_label_sets = 2 * static_cast<std::int64_t>(e.orders.size()) * (e.null ? 2 : 1);
  estimate.n_views = estimator_layout(e, e.bins).n_views();
  estimate.min_count_kept = std::max<std::int64_t>(2, e.min_count);
  std::int64_t n_checkpoints_all = 0;
  for (const auto& model : manifest.models) n_checkpoints_all += static_cast<std::int64_t>(model.checkpoints.size());
  estimate.teams = options.n_ranks > 1 && n_checkpoints_all < options.n_ranks;
}

// The memory of a rank: --memory, else compute.memory_budget, else what auto finds.
void set_memory(PlanEstimate& estimate, const Manifest& manifest, const EstimateOptions& options) {
  const auto given = parse_memory_size(manifest.compute.memory_budget);
  if (options.memory_bytes) {
    estimate.memory_bytes = static_cast<double>(*options.memory_bytes);
    estimate.memory_source = "--memory";
  } else if (given) {
    estimate.memory_bytes = static_cast<double>(*given);
    estimate.memory_source = "compute.memory_budget";
  } else if (manifest.compute.device == "cuda") {
    estimate.memory_bytes = 80.0 * (1 << 30);
    estimate.memory_source = "an 80 GiB GPU (compute.memory_budget auto: the GPU's free memory at run time)";
  } else {
    estimate.memory_bytes = static_cast<double>(host_available_bytes()) / options.n_ranks;
    estimate.memory_source = "this host's available memory / ranks (compute.memory_budget auto)";
  }
}

// Per checkpoint, what every model's row scales with.
struct Scale {
  bool cuda = false;
  double m = 0;               // reference points
  double n_sets = 0;          // label sets
  double docs = 0;            // documents of the sample
  double doc_tokens = 0;      // tokens per document
  double text_positions = 0;  // estimator positions of the text
  double pref_positions = 0;  // preference positions (an upper bound)
  double tokens = 0;          // tokens through the model
  double team = 1;            // ranks that share one checkpoint's tables
  double pass_extra = 0;      // a pass's buffers per layer beside its tables (stages::pass_bytes_per_layer)
};

Scale scale_of(const PlanEstimate& estimate, const Manifest& manifest, const EstimateOptions& options) {
  Scale s;
  s.cuda = manifest.compute.device == "cuda";
  s.m = static_cast<double>(manifest.estimator.bins);
  s.n_sets = static_cast<double>(estimate.n_label_sets);
  s.docs = static_cast<double>(estimate.n_documents);
  s.doc_tokens = static_cast<double>(estimate.tokens_per_document);
  const double pairs = static_cast<double>(estimate.n_pairs);
  const double pair_doc_tokens = static_cast<double>(estimate.tokens_per_pair_document);
  // Preference positions: every token of both documents of a pair (an upper bound:
  // without prompt_labelled only the completion tokens are positions).
  s.text_positions = s.docs * estimate.text_positions_per_document;
  s.pref_positions = pairs * 2.0 * pair_doc_tokens;
  s.tokens = s.docs * s.doc_tokens + pairs * 2.0 * pair_doc_tokens;
  s.team = estimate.teams ? static_cast<double>(options.n_ranks) : 1.0;
  s.pass_extra = static_cast<double>(stages::pass_bytes_per_layer(!s.cuda, manifest.compute.tokens_per_batch,
                                                                  manifest.estimator.bins, static_cast<int>(s.team)));
  return s;
}

// Sizes of one model's row: tokens, positions, weights, the run directory, the opt-in outputs.
void set_sizes(PlanEstimate::Row& row, const hf::ModelConfig& config, const Manifest& manifest,
               const PlanEstimate& estimate, const Scale& s) {
  const auto& e = manifest.estimator;
  row.n_layers = config.n_layers;
  row.hidden = config.hidden_size;
  row.vocab = config.vocab_size;
  row.n_layers_estimated = e.layers.empty() ? config.n_layers + 1 : static_cast<std::int64_t>(e.layers.size());
  const double ckpts = static_cast<double>(row.n_checkpoints);
  const double layers_estimated = static_cast<double>(row.n_layers_estimated);
  row.tokens = s.tokens * ckpts;
  row.positions = (s.text_positions + s.pref_positions) * ckpts;
  row.weight_bytes = row.n_parameters * bytes_per_value(config.dtype) * ckpts;
  // state.h5: per layer and view, n and sum_p [m] and 10 integers per label set.
  row.run_dir_bytes = ckpts * layers_estimated * static_cast<double>(estimate.n_views) * 8.0 * (1.0 + s.m + 10.0 * (s.n_sets + 1.0));
  if (manifest.storage.representations) {
    const double stored_layers =
        manifest.storage.layers.empty() ? layers_estimated : static_cast<double>(manifest.storage.layers.size());
    row.representation_bytes = row.tokens * static_cast<double>(config.hidden_size) * stored_layers *
                               (manifest.storage.dtype == "float32" ? 4.0 : 2.0);
  }
  if (manifest.storage.assignments != "none") {
    row.assignment_bytes = row.positions * (layers_estimated * s.m * (assignments_float16(manifest) ? 2.0 : 4.0) + s.n_sets * 4.0 + 8.0);
  }
}

// What the run's memory plan (pipeline/budget.h) is given for this model.
MemoryInputs memory_inputs(const PlanEstimate::Row& row, const hf::ModelConfig& config, const Manifest& manifest,
                           const PlanEstimate& estimate, const Scale& s) {
  MemoryInputs in;
  in.cuda = s.cuda;
  in.budget = static_cast<std::int64_t>(estimate.memory_bytes);
  in.weights = static_cast<std::int64_t>(row.n_parameters * bytes_per_value(manifest.compute.dtype));
  // Host: the sample's labels, positions and tokens, and the weights, beside the tables.
  in.resident = s.cuda ? 0 : in.weights + static_cast<std::int64_t>(s.text_positions * (s.n_sets * 4.0 + 16.0) + s.docs * s.doc_tokens * 8.0);
  in.hidden = config.hidden_size;
  in.intermediate = config.intermediate_size > 0 ? config.intermediate_size : 4 * config.hidden_size;
  in.n_heads = config.n_heads;
  in.tokens_per_batch = manifest.compute.tokens_per_batch;
  in.max_tokens = estimate.tokens_per_document;
  in.dtype_bytes = bytes_per_value(manifest.compute.dtype);
  in.n_bins = manifest.estimator.bins;
  in.n_sets = estimate.n_label_sets;
  return in;
}

// The passes of one checkpoint within `budget` bytes of tables (0: no limit known).
struct Passes {
  std::int64_t row_shares = 1;
  std::int64_t n_groups = 0;
  double pass_layer_bytes = 0;  // one layer's tables in one pass
  std::int64_t size() const { return row_shares * n_groups; }
};

// One layer's tables on one rank when its rows are split `parts` ways (the team, times
// the row shares of a pass): the run's own count (stages::layer_table_bytes) where the
// label pass has run, which on the host gives each row the cells its count needs; else
// every row in 8-byte cells (on the host an upper bound).
class LayerBytes {
 public:
  // rows: every set's rows over the whole sample; labels: the counted rows, or null.
  LayerBytes(const Manifest& manifest, const PlanEstimate& estimate, const Scale& s, double rows,
             const stages::LabelSummary* labels)
      : bound_per_row_(static_cast<double>(estimate.n_views) * (8.0 * s.m + 8.0)), rows_(rows), counted_(labels != nullptr) {
    if (!labels) return;
    layout_ = estimator_layout(manifest.estimator, manifest.estimator.bins);
    layout_.label_sets = labels->names;
    layout_.label_rows = labels->rows;
    if (stages::host_tables(s.cuda, manifest.storage.representations) && labels->row_counts.size() == labels->names.size()) {
      for (const auto& c : labels->row_counts) counts_.emplace_back(c);
    }
  }

  double operator()(double parts) const {
    if (!counted_) return std::ceil(rows_ / parts) * bound_per_row_;
    return static_cast<double>(stages::layer_table_bytes(layout_, counts_, static_cast<int>(parts)));
  }

 private:
  double bound_per_row_;
  double rows_;
  bool counted_;
  analysis::StateLayout layout_;
  analysis::RowCounts counts_;  // views of the summary's counts (host tables), else empty
};

// The fewest row shares whose one layer fits the table budget, then the fewest layer
// groups (stages::plan_passes).
Passes passes_within(const PlanEstimate::Row& row, double budget, const Scale& s, const LayerBytes& layer_bytes) {
  Passes p;
  p.pass_layer_bytes = row.table_bytes_per_layer;
  if (budget > 0) {
    while (p.pass_layer_bytes + s.pass_extra > budget && p.row_shares < analysis::kMaxRowShares) {
      ++p.row_shares;
      p.pass_layer_bytes = layer_bytes(s.team * static_cast<double>(p.row_shares));
    }
  }
  const double with_buffers = p.pass_layer_bytes + s.pass_extra;
  const double per_pass = with_buffers <= budget ? std::floor(budget / std::max(1.0, with_buffers)) : 0;
  p.n_groups = per_pass >= 1 ? static_cast<std::int64_t>(std::ceil(static_cast<double>(row.n_layers_estimated) / per_pass)) : 0;
  return p;
}

// Sets the passes, the forward work they cost (every share repeats the forward passes of
// every group) and the peak memory of a rank. That peak holds the next checkpoint's
// weights too when they load during an item (pipeline/model_cache.h): a rank computes more
// than one checkpoint of the model, alone, and the passes stay the same.
void set_passes(PlanEstimate::Row& row, const MemoryPlan& plan, const PlanEstimate& estimate, const Scale& s,
                const LayerBytes& layer_bytes, double weights) {
  const double layers_estimated = static_cast<double>(row.n_layers_estimated);
  row.table_budget = static_cast<double>(plan.tables);
  const auto p = passes_within(row, row.table_budget, s, layer_bytes);
  row.row_shares = p.row_shares;
  row.n_passes = p.size();
  // Each pass runs the forward up to its last layer: even groups of layers 0..L.
  if (row.n_passes > 1) {
    double depth = 0;
    for (std::int64_t g = 1; g <= p.n_groups; ++g) depth += static_cast<double>(g) / static_cast<double>(p.n_groups);
    row.forward_factor = static_cast<double>(p.row_shares) * depth;
  }
  const double passes_tables = p.n_groups > 0 ? std::ceil(layers_estimated / static_cast<double>(p.n_groups)) * (p.pass_layer_bytes + s.pass_extra)
                                              : layers_estimated * (row.table_bytes_per_layer + s.pass_extra);
  row.peak_rank_bytes = static_cast<double>(plan.reserved) + passes_tables;
  const bool next_loads_ahead = row.n_checkpoints > std::max<std::int64_t>(1, estimate.options.n_ranks) && s.team == 1 &&
                                row.table_budget > weights &&
                                passes_within(row, row.table_budget - weights, s, layer_bytes).size() == row.n_passes;
  if (next_loads_ahead) row.peak_rank_bytes += weights;
}

}  // namespace

analysis::StateLayout estimator_layout(const EstimatorSpec& spec, std::int64_t n_bins) {
  analysis::StateLayout layout;
  layout.n_bins = n_bins;
  layout.n_bootstrap = spec.bootstrap;
  layout.bootstrap_seed = spec.seed;
  layout.n_subset_levels = spec.sample_size_curve ? 4 : 0;
  layout.subset_seed = spec.seed;
  return layout;
}

PlanEstimate estimate_plan(const Manifest& manifest, const EstimateOptions& options) {
  PlanEstimate estimate;
  estimate.options = options;
  set_sample(estimate, manifest, options);
  set_memory(estimate, manifest, options);
  const auto s = scale_of(estimate, manifest, options);
  // Once per tokenizer: token ids (int64) and the base label sets' ids (int32), both
  // stored compressed (an upper bound here).
  estimate.label_bytes = s.docs * s.doc_tokens * 8.0 + s.text_positions * 4.0 * s.n_sets / (manifest.estimator.null ? 2.0 : 1.0);
  for (const auto& model : manifest.models) {
    PlanEstimate::Row row;
    row.model = model.id;
    row.n_checkpoints = static_cast<std::int64_t>(model.checkpoints.size());
    hf::ModelConfig config;
    try {
      config = hf::read_model_config(model.checkpoints.front().path);
    } catch (const Error&) {
      estimate.from_configs = false;
      continue;
    }
    row.n_parameters = model.n_parameters.value_or(config_parameters(config));
    set_sizes(row, config, manifest, estimate, s);
    // Tables: per layer, every label row of every set and view: m int64 sums and a count.
    row.table_rows = text_table_rows(estimate, manifest, s.text_positions, static_cast<double>(config.vocab_size), row.rows_counted);
    const LayerBytes layer_bytes{manifest, estimate, s, row.table_rows, counted_labels(estimate)};
    row.table_bytes_per_layer = layer_bytes(s.team);
    const auto in = memory_inputs(row, config, manifest, estimate, s);
    set_passes(row, plan_memory(in), estimate, s, layer_bytes, static_cast<double>(in.weights));
    // 2 FLOPs per parameter per token, plus causal attention over the document
    // (QK^T and AV: 2 x 2 x d x (document / 2) per token and layer); passes repeat it.
    row.flops = row.tokens * row.forward_factor *
                (2.0 * row.n_parameters + 2.0 * static_cast<double>(config.n_layers) * s.doc_tokens *
                                              static_cast<double>(config.hidden_size));
    row.gpu_hours = row.tokens * row.forward_factor / estimate.throughput_tokens_per_s / 3600.0;
    add_to_total(estimate.total, row);
    estimate.rows.push_back(std::move(row));
  }
  estimate.total.model = "total";
  return estimate;
}

}  // namespace ibzoo::pipeline
