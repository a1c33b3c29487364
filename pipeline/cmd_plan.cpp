// `ibzoo plan MANIFEST`: validate the manifest and print the work items (and, with
// --estimate, the full-scale cost of the study).
#include "analysis/error.h"
#include "io/log.h"
#include "io/mpi.h"
#include "pipeline/command.h"
#include "pipeline/preflight.h"
#include "pipeline/run.h"

#include <cstdio>
#include <iostream>

namespace ibzoo::pipeline {
namespace {

std::string human(double v, const char* unit) {
  const char* prefixes[] = {"", "K", "M", "G", "T", "P", "E"};
  int i = 0;
  while (v >= 1000 && i < 6) {
    v /= 1000;
    ++i;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g %s%s", v, prefixes[i], unit);
  return buf;
}

std::string human_bytes(double v) { return human(v, "B"); }

void print_assumptions(const PlanEstimate& e, const Manifest& m, bool throughput_given) {
  const auto& o = e.options;
  const auto& est = m.estimator;
  std::printf("assumptions:\n");
  std::printf("  throughput: %s/s per GPU, from %s (ibzoo's default, 200k, is transformers with hidden states on\n"
              "    one H100 for a 1B model, DESIGN.md section 5; scale it for bigger models)\n",
              human(e.throughput_tokens_per_s, "tokens").c_str(),
              throughput_given ? "--throughput" : "compute.throughput_tokens_per_s");
  std::printf("  tokens per checkpoint: %lld documents x %lld tokens + %lld preference pairs x 2 documents x %lld tokens\n",
              static_cast<long long>(o.n_documents), static_cast<long long>(o.tokens_per_document),
              static_cast<long long>(e.n_pairs), static_cast<long long>(e.tokens_per_pair_document));
  std::printf("  positions: %.0f per document (tokens - 2 x max order + 1); preference: every token (an upper bound)\n",
              e.text_positions_per_document);
  std::printf("  FLOPs per token: 2 x parameters + 2 x blocks x %lld x d (causal attention)\n",
              static_cast<long long>(o.tokens_per_document));
  const bool half = assignments_float16(m);
  std::printf("  state.h5 bytes per position: estimated layers x m x %d (%s p, storage.assignments %s) + label sets x 4\n"
              "    (int32 ids) + 8 (int64 doc id); m = %lld, %lld text label sets, 1 preference set\n",
              half ? 2 : 4, half ? "float16" : "float32", m.storage.assignments.c_str(),
              static_cast<long long>(est.bins), static_cast<long long>(e.n_label_sets));
  std::printf("  reduce tables per (checkpoint, layer): views x sum over label sets of kept labels x (8 m + 56) bytes;\n"
              "    %lld view(s); kept labels: global count >= %lld, at most min(positions / %lld, vocab^order) per\n"
              "    order (an upper bound: a real corpus repeats far fewer long n-grams)\n",
              static_cast<long long>(e.n_views), static_cast<long long>(e.min_count_kept),
              static_cast<long long>(e.min_count_kept));
  std::printf("  reduce/rank: one layer's tables at a time, split over %d rank(s) when a checkpoint's state exceeds\n"
              "    --reduce-memory-mb %lld (the run's rule), plus one item's layer as read\n",
              o.n_ranks, static_cast<long long>(o.reduce_memory_bytes >> 20));
  std::printf("  extract/rank: weights in %s + one batch's activations (%lld tokens) + one item's state + the\n"
              "    sample's label ids, positions and tokens (every rank holds them)\n",
              m.compute.dtype.c_str(), static_cast<long long>(m.compute.tokens_per_batch));
}

void print_estimate(const PlanEstimate& e, const Manifest& m, bool throughput_given) {
  std::printf("full-scale estimate (units: K, M, G, T, P = powers of 1000)\n");
  print_assumptions(e, m, throughput_given);
  std::printf("%-24s %5s %8s %6s %5s %9s %9s %8s %9s %9s %9s %12s %11s %11s\n", "model", "ckpts", "params",
              "layers", "d", "tokens", "FLOPs", "GPU-h", "weights", "state", "reps", "tables/layer", "extract/rk",
              "reduce/rk");
  auto line = [](const PlanEstimate::Row& r) {
    const bool total = r.model == "total";
    std::printf("%-24s %5lld %8s %6s %5s %9s %9s %8.3g %9s %9s %9s %12s %11s %11s\n", r.model.c_str(),
                static_cast<long long>(r.n_checkpoints), total ? "-" : human(r.n_parameters, "").c_str(),
                total ? "-" : std::to_string(r.n_layers_estimated).c_str(),
                total ? "-" : std::to_string(r.hidden).c_str(),
                human(r.tokens, "").c_str(), human(r.flops, "").c_str(), r.gpu_hours,
                human_bytes(r.weight_bytes).c_str(), human_bytes(r.state_bytes).c_str(),
                human_bytes(r.representation_bytes).c_str(), human_bytes(r.reduce_table_bytes).c_str(),
                human_bytes(r.extract_peak_bytes).c_str(),
                (human_bytes(r.reduce_peak_bytes) + (r.reduce_partitioned ? "*" : "")).c_str());
  };
  for (const auto& r : e.rows) line(r);
  line(e.total);
  std::printf("layers: hidden-state indices estimated; weights: read once per checkpoint; state: the items' state.h5;\n"
              "reps: storage.representations; tables/layer, extract/rk, reduce/rk: per checkpoint, peak of one rank\n"
              "(total row: the maximum); * = the reduce partitions the label space over the ranks.\n");
  for (const auto& r : e.rows) {
    std::printf("kept labels per checkpoint, %s:", r.model.c_str());
    for (std::size_t k = 0; k < r.labels_per_order.size(); ++k) {
      std::printf(" order %zu <= %s", k + 1, human(r.labels_per_order[k], "").c_str());
    }
    std::printf("\n");
  }
  // The stated throughput cannot beat the GPU's arithmetic (DESIGN.md section 5: ~800 TFLOP/s bf16 on an H100).
  constexpr double kGpuFlopsPerS = 800e12;
  for (const auto& r : e.rows) {
    const double implied = r.gpu_hours > 0 ? r.flops / (r.gpu_hours * 3600.0) : 0.0;
    if (implied > kGpuFlopsPerS) {
      std::printf("warning: %s at %s/s needs %s/s, above an H100's ~800 TFLOP/s (bf16): its GPU-hours are too low;\n"
                  "  a realistic throughput is ~40%% of that ceiling, about %s/s\n",
                  r.model.c_str(), human(e.throughput_tokens_per_s, "tokens").c_str(), human(implied, "FLOP").c_str(),
                  human(0.4 * kGpuFlopsPerS / (r.flops / r.tokens), "tokens").c_str());
    }
  }
  if (!e.from_configs) std::printf("note: some models' config.json could not be read; they are left out of the totals\n");
}

void check_estimate_options(const EstimateOptions& o) {
  if (o.n_documents < 1) throw UsageError("--documents must be at least 1, got " + std::to_string(o.n_documents));
  if (o.tokens_per_document < 1) {
    throw UsageError("--tokens-per-document must be at least 1, got " + std::to_string(o.tokens_per_document));
  }
  if (o.n_pairs && *o.n_pairs < 0) throw UsageError("--pairs must be 0 or more, got " + std::to_string(*o.n_pairs));
  if (o.throughput_tokens_per_s && !(*o.throughput_tokens_per_s > 0)) {
    throw UsageError("--throughput must be a positive number of tokens/s, got " + std::to_string(*o.throughput_tokens_per_s));
  }
  if (o.n_ranks < 1) throw UsageError("--ranks must be at least 1, got " + std::to_string(o.n_ranks));
  if (o.reduce_memory_bytes < 1) throw UsageError("--reduce-memory-mb must be at least 1");
}

int plan_command(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo plan MANIFEST [options]", po::options_description("options"), {"manifest"}};
  cli.options.add_options()
      ("run-dir", po::value<std::string>(), "run directory (overrides the manifest's run_dir)")
      ("json", "print the plan as JSON")
      ("estimate", "print tokens, FLOPs, GPU-hours, storage and memory at full scale")
      ("documents", po::value<std::int64_t>()->default_value(10000), "documents per checkpoint for --estimate")
      ("tokens-per-document", po::value<std::int64_t>()->default_value(512), "tokens per document for --estimate")
      ("pairs", po::value<std::int64_t>(), "preference pairs for --estimate (default: data.preference.n_pairs, or --documents)")
      ("throughput", po::value<double>(), "tokens/s per GPU for --estimate (default: compute.throughput_tokens_per_s)")
      ("ranks", po::value<int>()->default_value(1), "ranks of the run, for --estimate's reduce memory")
      ("reduce-memory-mb", po::value<std::int64_t>()->default_value(4096), "the run's --reduce-memory-mb, for --estimate");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  int argc = 0;
  char** argv = nullptr;
  io::MpiSession mpi(&argc, &argv);
  RunOptions options;
  options.path_manifest = (*vm)["manifest"].as<std::string>();
  if (vm->count("run-dir")) options.run_dir = (*vm)["run-dir"].as<std::string>();
  auto manifest = load_run_manifest(options, mpi.world());
  // Every problem of every checkpoint, before the corpus is read. An estimate needs only
  // config.json (a sweep is often sized before its weights are downloaded): a warning then.
  if (!vm->count("estimate")) {
    check_models_collective(manifest, mpi.world());
  } else if (mpi.world().rank() == 0) {
    const auto problems = describe_problems(manifest, preflight(manifest));
    if (!problems.empty()) {
      io::log_warn(problems.substr(0, problems.find(", nothing was run")) +
                   " (the study cannot run yet; the estimate uses config.json only)");
    }
  }
  const auto study = load_study(std::move(manifest));
  if (mpi.world().rank() != 0) return 0;
  if (vm->count("json")) {
    std::cout << to_json(study.plan, study.manifest).dump(2) << "\n";
  } else {
    std::printf("study %s: %zu model%s, %lld documents in %lld shards, %lld preference pairs in %lld shards, "
                "%zu work items; run directory %s\n",
                study.manifest.study.c_str(), study.manifest.models.size(),
                study.manifest.models.size() == 1 ? "" : "s", static_cast<long long>(study.n_documents),
                static_cast<long long>(study.plan.n_shards), static_cast<long long>(study.plan.n_pairs),
                static_cast<long long>(study.plan.n_preference_shards), study.plan.items.size(),
                study.manifest.run_dir.c_str());
    for (const auto& item : study.plan.items) {
      const auto& model = study.manifest.models[item.model_idx];
      std::printf("  %s  %-24s %-28s shard %lld (%s %lld-%lld)\n", item.id.c_str(), model.id.c_str(),
                  model.checkpoints[item.checkpoint_idx].name.c_str(), static_cast<long long>(item.shard_idx),
                  item.preference ? "preference pairs" : "documents", static_cast<long long>(item.doc_begin),
                  static_cast<long long>(item.doc_end - 1));
    }
  }
  if (vm->count("estimate")) {
    EstimateOptions o;
    o.n_documents = (*vm)["documents"].as<std::int64_t>();
    o.tokens_per_document = (*vm)["tokens-per-document"].as<std::int64_t>();
    if (vm->count("pairs")) o.n_pairs = (*vm)["pairs"].as<std::int64_t>();
    if (vm->count("throughput")) o.throughput_tokens_per_s = (*vm)["throughput"].as<double>();
    o.n_ranks = (*vm)["ranks"].as<int>();
    o.reduce_memory_bytes = (*vm)["reduce-memory-mb"].as<std::int64_t>() << 20;
    check_estimate_options(o);
    print_estimate(estimate_plan(study.manifest, o), study.manifest, vm->count("throughput") > 0);
  }
  return 0;
}

const bool kRegistered = register_command({"plan", "validate a manifest and print its work items", plan_command});

}  // namespace
}  // namespace ibzoo::pipeline
