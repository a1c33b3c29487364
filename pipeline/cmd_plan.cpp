// `ibzoo plan MANIFEST`: validate the manifest and print the work items (and, with
// --estimate, the full-scale cost of the study).
#include "analysis/error.h"
#include "io/mpi.h"
#include "pipeline/command.h"
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

void print_estimate(const PlanEstimate& e, const Manifest& m, std::int64_t docs, std::int64_t tokens_per_doc) {
  std::printf("full-scale estimate: %lld documents x %lld tokens per checkpoint, throughput %s/s (compute.throughput_tokens_per_s)\n",
              static_cast<long long>(docs), static_cast<long long>(tokens_per_doc),
              human(m.compute.throughput_tokens_per_s, "tok").c_str());
  std::printf("%-28s %6s %10s %6s %6s %12s %12s %10s %12s %12s %12s %14s\n", "model", "ckpts", "params", "layers",
              "d", "tokens", "FLOPs", "GPU-h", "weights", "state", "reps", "peak/rank");
  auto line = [](const PlanEstimate::Row& r) {
    std::printf("%-28s %6lld %10s %6lld %6lld %12s %12s %10.3g %12s %12s %12s %14s\n", r.model.c_str(),
                static_cast<long long>(r.n_checkpoints), human(r.n_parameters, "").c_str(),
                static_cast<long long>(r.n_layers), static_cast<long long>(r.hidden), human(r.tokens, "").c_str(),
                human(r.flops, "").c_str(), r.gpu_hours, human(r.weight_bytes, "B").c_str(),
                human(r.state_bytes, "B").c_str(), human(r.representation_bytes, "B").c_str(),
                human(r.peak_rank_bytes, "B").c_str());
  };
  for (const auto& r : e.rows) line(r);
  line(e.total);
  std::printf("state: an upper bound on the estimator state written by the items (every label with a row in\n"
              "every item it occurs in; n-gram rows bounded by half the positions); peak/rank includes one item's state.\n");
  if (!e.from_configs) std::printf("note: some models' config.json could not be read; they are left out of the totals\n");
}

int plan_command(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo plan MANIFEST [options]", po::options_description("options"), {"manifest"}};
  cli.options.add_options()
      ("run-dir", po::value<std::string>(), "run directory (overrides the manifest's run_dir)")
      ("json", "print the plan as JSON")
      ("estimate", "print tokens, FLOPs, GPU-hours, storage and memory at full scale")
      ("documents", po::value<std::int64_t>()->default_value(10000), "documents per checkpoint for --estimate")
      ("tokens-per-document", po::value<std::int64_t>()->default_value(512), "tokens per document for --estimate");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  int argc = 0;
  char** argv = nullptr;
  io::MpiSession mpi(&argc, &argv);
  RunOptions options;
  options.path_manifest = (*vm)["manifest"].as<std::string>();
  if (vm->count("run-dir")) options.run_dir = (*vm)["run-dir"].as<std::string>();
  const auto study = load_study(options, mpi.world());
  if (mpi.world().rank() != 0) return 0;
  if (vm->count("json")) {
    std::cout << to_json(study.plan, study.manifest).dump(2) << "\n";
  } else {
    std::printf("study %s: %zu models, %lld documents in %lld shards, %lld preference pairs in %lld shards, "
                "%zu work items; run directory %s\n",
                study.manifest.study.c_str(), study.manifest.models.size(), static_cast<long long>(study.n_documents),
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
    const auto docs = (*vm)["documents"].as<std::int64_t>();
    const auto tokens = (*vm)["tokens-per-document"].as<std::int64_t>();
    print_estimate(estimate_plan(study.manifest, docs, tokens), study.manifest, docs, tokens);
  }
  return 0;
}

const bool kRegistered = register_command({"plan", "validate a manifest and print its work items", plan_command});

}  // namespace
}  // namespace ibzoo::pipeline
