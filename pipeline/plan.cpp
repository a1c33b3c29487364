// Planning: manifest + corpus sample -> sorted work items with content-hashed ids.
#include "pipeline/plan.h"

#include "analysis/error.h"
#include "io/fs.h"
#include "io/hf_config.h"

#include <algorithm>

#include <charconv>

namespace ibzoo::pipeline {

namespace {

// Everything that changes an item's numbers goes into its id; what only changes
// how fast it runs (threads, batch size, ranks) or where it lands does not.
nlohmann::json item_spec(const Manifest& m, const ModelSpec& model, const Checkpoint& checkpoint,
                         std::int64_t doc_begin, std::int64_t doc_end, const std::string& corpus_sha256) {
  nlohmann::json text = to_json(m)["text"];
  text.erase("documents_per_shard");
  nlohmann::json storage = to_json(m)["storage"];
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

}  // namespace

PlanEstimate estimate_plan(const Manifest& manifest, std::int64_t n_documents, std::int64_t tokens_per_document) {
  PlanEstimate estimate;
  const auto& e = manifest.estimator;
  const double m = static_cast<double>(e.bins);
  const double tokens_per_checkpoint = static_cast<double>(n_documents) * static_cast<double>(tokens_per_document);
  const int max_order = e.orders.empty() ? 1 : e.orders.back();
  const double positions = static_cast<double>(n_documents) *
                           static_cast<double>(std::max<std::int64_t>(0, tokens_per_document - 2 * max_order + 1));
  const double n_sets = 2.0 * static_cast<double>(e.orders.size()) * (e.null ? 2.0 : 1.0);
  const double views = 1.0 + static_cast<double>(e.bootstrap) + (e.sample_size_curve ? 4.0 : 0.0);
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
    row.n_parameters = model.n_parameters.value_or(config_parameters(config));
    const double ckpts = static_cast<double>(row.n_checkpoints);
    row.tokens = tokens_per_checkpoint * ckpts;
    // 2 FLOPs per parameter per token, plus causal attention over the document.
    const double attention = 2.0 * static_cast<double>(config.n_layers) * static_cast<double>(tokens_per_document) *
                             static_cast<double>(config.hidden_size);
    row.flops = row.tokens * (2.0 * row.n_parameters + attention);
    row.gpu_hours = row.tokens / manifest.compute.throughput_tokens_per_s / 3600.0;
    row.weight_bytes = row.n_parameters * bytes_per_value(config.dtype) * ckpts;
    // Label rows: unigram sets are bounded by the vocabulary, higher orders by half the positions.
    double rows_per_layer = 0;
    for (int order : e.orders) {
      const double bound = order == 1 ? static_cast<double>(config.vocab_size) : positions / 2.0;
      rows_per_layer += 2.0 * std::min(bound, positions / 2.0) * (e.null ? 2.0 : 1.0);
    }
    const double layers = static_cast<double>(e.layers.empty() ? config.n_layers + 1 : static_cast<std::int64_t>(e.layers.size()));
    const double state_per_checkpoint = layers * views * rows_per_layer * (8.0 * m + 56.0);
    row.state_bytes = state_per_checkpoint * ckpts;
    if (manifest.storage.representations) {
      const double stored_layers =
          manifest.storage.layers.empty() ? layers : static_cast<double>(manifest.storage.layers.size());
      row.representation_bytes = row.tokens * static_cast<double>(config.hidden_size) * stored_layers *
                                 (manifest.storage.dtype == "float32" ? 4.0 : 2.0);
    }
    const double batch = static_cast<double>(manifest.compute.tokens_per_batch);
    const double activations = batch * static_cast<double>(config.hidden_size) * 4.0 * 8.0 +
                               batch * static_cast<double>(tokens_per_document) * static_cast<double>(config.n_heads) * 4.0;
    const double labels = positions * n_sets * 4.0 + positions * 8.0 * 6.0;
    // A rank holds one item's state at a time: the checkpoint's share of one shard.
    const double item_share = std::min(1.0, static_cast<double>(manifest.text.documents_per_shard) /
                                                static_cast<double>(std::max<std::int64_t>(1, n_documents)));
    row.peak_rank_bytes = row.n_parameters * bytes_per_value(manifest.compute.dtype) + activations + labels +
                          state_per_checkpoint * item_share;
    estimate.total.n_checkpoints += row.n_checkpoints;
    estimate.total.tokens += row.tokens;
    estimate.total.flops += row.flops;
    estimate.total.gpu_hours += row.gpu_hours;
    estimate.total.weight_bytes += row.weight_bytes;
    estimate.total.state_bytes += row.state_bytes;
    estimate.total.representation_bytes += row.representation_bytes;
    estimate.total.peak_rank_bytes = std::max(estimate.total.peak_rank_bytes, row.peak_rank_bytes);
    estimate.rows.push_back(row);
  }
  estimate.total.model = "total";
  return estimate;
}

}  // namespace ibzoo::pipeline
