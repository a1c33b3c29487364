// Planning: manifest + corpus sample -> sorted work items with content-hashed ids.
#include "pipeline/plan.h"

#include "analysis/error.h"
#include "io/fs.h"
#include "io/hf_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ibzoo::pipeline {

namespace {

// Everything that changes an item's numbers goes into its id; what only changes
// how fast it runs (threads, batch size, ranks) or where it lands does not.
nlohmann::json item_spec(const Manifest& m, const ModelSpec& model, const Checkpoint& checkpoint,
                         std::int64_t doc_begin, std::int64_t doc_end, const std::string& corpus_sha256) {
  nlohmann::json text = to_json(m)["text"];
  text.erase("documents_per_shard");
  nlohmann::json storage = to_json(m)["storage"];
  // "auto" follows compute.dtype, which is in the id already; leaving it out keeps the
  // ids of runs made before the key existed.
  if (storage["assignments"] == "auto") storage.erase("assignments");
  storage.erase("layout");  // where the rows land, not what they are
  return {{"model", model.id},
          {"checkpoint", checkpoint.name},
          {"path", checkpoint.path.string()},
          {"tokenizer", model.tokenizer.string()},
          {"corpus_sha256", corpus_sha256},
          {"documents", {doc_begin, doc_end}},
          {"text", text},
          {"preference", to_json(m)["preference"]},
          {"estimator", to_json(m)["estimator"]},
          {"storage", storage},
          {"dtype", m.compute.dtype},
          {"device", m.compute.device}};
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
  const auto per_shard = manifest.text.documents_per_shard;
  plan.n_shards = (n_documents + per_shard - 1) / per_shard;
  plan.n_preference_shards = (n_pairs + per_shard - 1) / per_shard;
  for (std::size_t mi = 0; mi < manifest.models.size(); ++mi) {
    const auto& model = manifest.models[mi];
    for (std::size_t ci = 0; ci < model.checkpoints.size(); ++ci) {
      for (std::int64_t s = 0; s < plan.n_shards; ++s) {
        WorkItem item;
        item.model_idx = mi;
        item.checkpoint_idx = ci;
        item.shard_idx = s;
        item.doc_begin = s * per_shard;
        item.doc_end = std::min(n_documents, item.doc_begin + per_shard);
        item.spec = item_spec(manifest, model, model.checkpoints[ci], item.doc_begin, item.doc_end, corpus_sha256);
        item.id = io::sha256_hex(item.spec.dump()).substr(0, 16);
        plan.items.push_back(std::move(item));
      }
      for (std::int64_t s = 0; s < plan.n_preference_shards; ++s) {
        WorkItem item;
        item.model_idx = mi;
        item.checkpoint_idx = ci;
        item.shard_idx = plan.n_shards + s;
        item.preference = true;
        item.doc_begin = s * per_shard;
        item.doc_end = std::min(n_pairs, item.doc_begin + per_shard);
        item.spec = item_spec(manifest, model, model.checkpoints[ci], item.doc_begin, item.doc_end, corpus_sha256);
        item.spec.erase("documents");
        item.spec["kind"] = "preference";
        item.spec["pairs"] = {item.doc_begin, item.doc_end};
        item.spec["pairs_sha256"] = pairs_sha256;
        item.id = io::sha256_hex(item.spec.dump()).substr(0, 16);
        plan.items.push_back(std::move(item));
      }
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
                     {"step", checkpoint.step},
                     {"shard", item.shard_idx},
                     {"kind", item.preference ? "preference" : "text"},
                     {"doc_begin", item.doc_begin},
                     {"doc_end", item.doc_end}});
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

double bytes_per_value(const std::string& dtype) { return dtype == "float32" ? 4.0 : 2.0; }

// Parameters of a decoder: embeddings, attention, MLP, norms, and an untied head.
double config_parameters(const io::ModelConfig& c) {
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

// Per position of an item's state.h5: float32 soft assignments [positions, m] of every
// estimated layer, int32 label ids [sets, positions], int64 document ids [positions].
// p_bytes: 4 (float32) or 2 (float16) per stored assignment value.
double state_bytes_per_position(double n_layers_estimated, double m, double n_sets, double p_bytes) {
  return n_layers_estimated * m * p_bytes + n_sets * 4.0 + 8.0;
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
  total.state_bytes += row.state_bytes;
  total.representation_bytes += row.representation_bytes;
  total.reduce_table_bytes = std::max(total.reduce_table_bytes, row.reduce_table_bytes);
  total.reduce_partitioned = total.reduce_partitioned || row.reduce_partitioned;
  total.extract_peak_bytes = std::max(total.extract_peak_bytes, row.extract_peak_bytes);
  total.reduce_peak_bytes = std::max(total.reduce_peak_bytes, row.reduce_peak_bytes);
  total.peak_rank_bytes = std::max(total.peak_rank_bytes, row.peak_rank_bytes);
}

}  // namespace

PlanEstimate estimate_plan(const Manifest& manifest, const EstimateOptions& options) {
  PlanEstimate estimate;
  estimate.options = options;
  const auto& e = manifest.estimator;
  const double m = static_cast<double>(e.bins);
  const double docs = static_cast<double>(options.n_documents);
  const double doc_tokens = static_cast<double>(options.tokens_per_document);
  const int max_order = e.orders.empty() ? 1 : *std::max_element(e.orders.begin(), e.orders.end());
  // Positions of a document: i from N-1 to len-N-1 for the largest order N.
  estimate.text_positions_per_document = std::max(0.0, doc_tokens - 2.0 * max_order + 1.0);
  if (manifest.preference) {
    const auto listed = manifest.preference->n_pairs > 0 ? manifest.preference->n_pairs : options.n_documents;
    estimate.n_pairs = options.n_pairs.value_or(listed);
    estimate.tokens_per_pair_document = std::min(options.tokens_per_document, manifest.preference->max_tokens);
  }
  estimate.throughput_tokens_per_s = options.throughput_tokens_per_s.value_or(manifest.compute.throughput_tokens_per_s);
  estimate.n_label_sets = 2 * static_cast<std::int64_t>(e.orders.size()) * (e.null ? 2 : 1);
  estimate.n_views = 1 + e.bootstrap + (e.sample_size_curve ? 4 : 0);
  estimate.min_count_kept = std::max<std::int64_t>(2, e.min_count);

  const double n_sets = static_cast<double>(estimate.n_label_sets);
  const double pairs = static_cast<double>(estimate.n_pairs);
  const double pair_doc_tokens = static_cast<double>(estimate.tokens_per_pair_document);
  // Per checkpoint. Preference positions: every token of both documents of a pair (an
  // upper bound: without prompt_labelled only the completion tokens are positions).
  const double text_positions = docs * estimate.text_positions_per_document;
  const double pref_positions = pairs * 2.0 * pair_doc_tokens;
  const double tokens_per_checkpoint = docs * doc_tokens + pairs * 2.0 * pair_doc_tokens;
  // One item: documents_per_shard documents, or as many pairs.
  const double shard = static_cast<double>(manifest.text.documents_per_shard);
  const double text_item_positions = std::min(shard, docs) * estimate.text_positions_per_document;
  const double pref_item_positions = std::min(shard, pairs) * 2.0 * pair_doc_tokens;

  for (const auto& model : manifest.models) {
    PlanEstimate::Row row;
    row.model = model.id;
    row.n_checkpoints = static_cast<std::int64_t>(model.checkpoints.size());
    io::ModelConfig config;
    try {
      config = io::read_model_config(model.checkpoints.front().path);
    } catch (const Error&) {
      estimate.from_configs = false;
      continue;
    }
    row.n_layers = config.n_layers;
    row.hidden = config.hidden_size;
    row.vocab = config.vocab_size;
    row.n_layers_estimated = e.layers.empty() ? config.n_layers + 1 : static_cast<std::int64_t>(e.layers.size());
    row.n_parameters = model.n_parameters.value_or(config_parameters(config));
    const double ckpts = static_cast<double>(row.n_checkpoints);
    const double layers_estimated = static_cast<double>(row.n_layers_estimated);
    const double d = static_cast<double>(config.hidden_size);
    row.tokens = tokens_per_checkpoint * ckpts;
    row.positions = (text_positions + pref_positions) * ckpts;
    // 2 FLOPs per parameter per token, plus causal attention over the document
    // (QK^T and AV: 2 x 2 x d x (document / 2) per token and layer).
    row.flops = row.tokens * (2.0 * row.n_parameters + 2.0 * static_cast<double>(config.n_layers) * doc_tokens * d);
    row.gpu_hours = row.tokens / estimate.throughput_tokens_per_s / 3600.0;
    row.weight_bytes = row.n_parameters * bytes_per_value(config.dtype) * ckpts;

    const double p_bytes = assignments_float16(manifest) ? 2.0 : 4.0;
    const double text_state_per_position = state_bytes_per_position(layers_estimated, m, n_sets, p_bytes);
    const double pref_state_per_position = state_bytes_per_position(layers_estimated, m, 1.0, p_bytes);
    const double state_per_checkpoint =
        text_positions * text_state_per_position + pref_positions * pref_state_per_position;
    row.state_bytes = state_per_checkpoint * ckpts;
    if (manifest.storage.representations) {
      const double stored_layers =
          manifest.storage.layers.empty() ? layers_estimated : static_cast<double>(manifest.storage.layers.size());
      row.representation_bytes = row.tokens * d * stored_layers * (manifest.storage.dtype == "float32" ? 4.0 : 2.0);
    }

    // Reduce: per layer, a row of 8m + 56 bytes for every kept label of every set and view.
    double rows_per_layer = pairs > 0 ? 2.0 : 0.0;  // pref: chosen and rejected
    for (int order = 1; order <= max_order; ++order) {
      row.labels_per_order.push_back(
          label_bound(text_positions, estimate.min_count_kept, static_cast<double>(config.vocab_size), order));
    }
    for (int order : e.orders) {
      rows_per_layer += 2.0 * (e.null ? 2.0 : 1.0) * row.labels_per_order[static_cast<std::size_t>(order - 1)];
    }
    row.reduce_table_bytes = static_cast<double>(estimate.n_views) * rows_per_layer * (8.0 * m + 56.0);
    row.reduce_partitioned =
        options.n_ranks > 1 && state_per_checkpoint > static_cast<double>(options.reduce_memory_bytes);
    // The reduce holds a layer's rows widened to float32.
    const double item_layer_read = std::max(text_item_positions * state_bytes_per_position(1.0, m, n_sets, 4.0),
                                            pref_item_positions * state_bytes_per_position(1.0, m, 1.0, 4.0));
    row.reduce_peak_bytes =
        row.reduce_table_bytes / (row.reduce_partitioned ? static_cast<double>(options.n_ranks) : 1.0) + item_layer_read;

    // Extract: weights in the compute dtype, one batch's activations (8 d-wide float32
    // buffers per token and one layer's attention scores), the item's state held until
    // it is written, and every rank's copy of the sample's labels (ids, positions, tokens).
    const double batch = static_cast<double>(manifest.compute.tokens_per_batch);
    const double activations = batch * d * 4.0 * 8.0 + batch * doc_tokens * static_cast<double>(config.n_heads) * 4.0;
    const double item_state = std::max(text_item_positions * text_state_per_position,
                                       pref_item_positions * pref_state_per_position);
    const double sample_labels = text_positions * (n_sets * 4.0 + 16.0) + pref_positions * (4.0 + 16.0);
    row.extract_peak_bytes =
        row.n_parameters * bytes_per_value(manifest.compute.dtype) + activations + item_state + sample_labels;
    row.peak_rank_bytes = std::max(row.extract_peak_bytes, row.reduce_peak_bytes);
    add_to_total(estimate.total, row);
    estimate.rows.push_back(std::move(row));
  }
  estimate.total.model = "total";
  return estimate;
}

}  // namespace ibzoo::pipeline
