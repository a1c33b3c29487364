// `ibzoo plan MANIFEST`: validate the manifest and print the work items (and, with
// --estimate, the full-scale cost of the study).
#include "analysis/estimator_state.h"
#include "errors/error.h"
#include "io/log.h"
#include "io/mpi.h"
#include "io/run_dir.h"
#include "pipeline/label_pass.h"
#include "pipeline/budget.h"
#include "cli/command.h"
#include "pipeline/preflight.h"
#include "pipeline/run.h"

#include <cstdio>
#include <iostream>

namespace ibzoo::cli {
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

void print_assumptions(const pipeline::PlanEstimate& e, const pipeline::Manifest& m, bool throughput_given) {
  const auto& est = m.estimator;
  std::printf("assumptions:\n");
  std::printf("  throughput: %s/s per GPU, from %s (ibzoo's default, 200k, is transformers with hidden states on\n"
              "    one H100 for a 1B model, DESIGN.md section 5; scale it for bigger models)\n",
              human(e.throughput_tokens_per_s, "tokens").c_str(),
              throughput_given ? "--throughput" : "compute.throughput_tokens_per_s");
  std::printf("  tokens per checkpoint: %lld documents x %lld tokens + %lld preference pairs x 2 documents x %lld tokens\n",
              static_cast<long long>(e.n_documents), static_cast<long long>(e.tokens_per_document),
              static_cast<long long>(e.n_pairs), static_cast<long long>(e.tokens_per_pair_document));
  std::printf("  positions: %.0f per document (tokens - 2 x max order + 1); preference: every token (an upper bound)\n",
              e.text_positions_per_document);
  std::printf("  FLOPs per token: 2 x parameters + 2 x blocks x %lld x d (causal attention), once per layer group\n",
              static_cast<long long>(e.tokens_per_document));
  std::printf("  label tables per layer: views x label rows x (8 m + 8) bytes; %lld view(s), m = %lld, %lld text label sets;\n"
              "    rows: %s\n",
              static_cast<long long>(e.n_views), static_cast<long long>(est.bins), static_cast<long long>(e.n_label_sets),
              e.options.labels.empty()
                  ? ("labels with global count >= " + std::to_string(e.min_count_kept) +
                     ", at most min(positions / count, vocab^order) per order (an upper bound; the label pass counts them)")
                        .c_str()
                  : "counted by the label pass (labels/ in the run directory)");
  std::printf("  memory per rank: %s from %s; %s\n", pipeline::format_bytes(e.memory_bytes).c_str(), e.memory_source.c_str(),
              e.teams ? "fewer checkpoints than ranks: the ranks share each checkpoint's label rows"
                      : "one checkpoint per rank at a time");
  std::printf("  run directory: the sample's tokens and label ids once per tokenizer (<= %s, compressed), a few KB\n"
              "    of exact sums per checkpoint; nothing per position unless storage asks for it\n",
              human_bytes(e.label_bytes).c_str());
}

void print_estimate(const pipeline::PlanEstimate& e, const pipeline::Manifest& m, bool throughput_given) {
  std::printf("estimate (units: K, M, G, T, P = powers of 1000; memory in GiB = 2^30)\n");
  print_assumptions(e, m, throughput_given);
  std::printf("%-24s %5s %8s %6s %5s %9s %9s %8s %9s %9s %9s %10s %12s %6s %11s\n", "model", "ckpts", "params",
              "layers", "d", "tokens", "FLOPs", "GPU-h", "weights", "run dir", "reps", "rows", "tables/layer", "passes",
              "peak/rank");
  auto line = [](const pipeline::PlanEstimate::Row& r) {
    const bool total = r.model == "total";
    std::printf("%-24s %5lld %8s %6s %5s %9s %9s %8.3g %9s %9s %9s %10s %12s %6s %11s\n", r.model.c_str(),
                static_cast<long long>(r.n_checkpoints), total ? "-" : human(r.n_parameters, "").c_str(),
                total ? "-" : std::to_string(r.n_layers_estimated).c_str(),
                total ? "-" : std::to_string(r.hidden).c_str(),
                human(r.tokens, "").c_str(), human(r.flops, "").c_str(), r.gpu_hours,
                human_bytes(r.weight_bytes).c_str(), human_bytes(r.run_dir_bytes).c_str(),
                human_bytes(r.representation_bytes + r.assignment_bytes).c_str(),
                (human(r.table_rows, "") + (r.rows_counted || total ? "" : "<")).c_str(),
                pipeline::format_bytes(r.table_bytes_per_layer).c_str(),
                r.n_passes > 0 ? std::to_string(r.n_passes).c_str() : "none",
                pipeline::format_bytes(r.peak_rank_bytes).c_str());
  };
  for (const auto& r : e.rows) line(r);
  line(e.total);
  std::printf("layers: hidden-state indices estimated; weights: read once per checkpoint; run dir: the checkpoints'\n"
              "state.h5; reps: opt-in per-position outputs; rows: label rows per checkpoint (< = upper bound);\n"
              "tables/layer: one layer's tables on one rank; passes: forward passes over the sample per checkpoint, layer\n"
              "groups x row shares whose tables fit the memory (none: not even %lld shares fit; GPU-h and FLOPs count\n"
              "the repeated passes); peak/rank: memory of one rank.\n", static_cast<long long>(analysis::kMaxRowShares));
  // The stated throughput cannot beat the GPU's arithmetic (DESIGN.md section 5: ~800 TFLOP/s bf16 on an H100).
  constexpr double kGpuFlopsPerS = 800e12;
  for (const auto& r : e.rows) {
    // Per forward pass (the layer groups' repeats cancel out).
    const double implied = r.gpu_hours > 0 ? r.flops / (r.gpu_hours * 3600.0) : 0.0;
    const double flops_per_token = r.tokens > 0 ? r.flops / (r.tokens * r.forward_factor) : 0.0;
    if (implied > kGpuFlopsPerS) {
      std::printf("warning: %s at %s/s needs %s/s, above an H100's ~800 TFLOP/s (bf16): its GPU-hours are too low;\n"
                  "  a realistic throughput is ~40%% of that ceiling, about %s/s\n",
                  r.model.c_str(), human(e.throughput_tokens_per_s, "tokens").c_str(), human(implied, "FLOP").c_str(),
                  human(0.4 * kGpuFlopsPerS / flops_per_token, "tokens").c_str());
    }
    if (r.n_passes == 0) {
      std::printf("warning: %s: one layer's label tables (%s) do not fit the %s left for tables in %lld passes; raise\n"
                  "  the memory, run more ranks per checkpoint, or use fewer documents, orders or bootstrap replicates\n",
                  r.model.c_str(), pipeline::format_bytes(r.table_bytes_per_layer).c_str(), pipeline::format_bytes(r.table_budget).c_str(),
                  static_cast<long long>(analysis::kMaxRowShares));
    }
  }
  bool bounded = false;
  for (const auto& r : e.rows) bounded = bounded || !r.rows_counted;
  if (bounded) {
    std::printf("note: rows marked < are upper bounds (every row needs two positions; real text repeats far fewer\n"
                "  long n-grams), and so are tables/layer, passes and peak/rank; `ibzoo plan --estimate\n"
                "  --count-labels` tokenizes the sample and counts them (the run then reuses the label pass)\n");
  }
  if (!e.from_configs) std::printf("note: some models' config.json could not be read; they are left out of the totals\n");
}

void check_estimate_options(const pipeline::EstimateOptions& o) {
  if (o.n_documents && *o.n_documents < 1) throw UsageError("--documents must be at least 1, got " + std::to_string(*o.n_documents));
  if (o.tokens_per_document && *o.tokens_per_document < 1) {
    throw UsageError("--tokens-per-document must be at least 1, got " + std::to_string(*o.tokens_per_document));
  }
  if (o.n_pairs && *o.n_pairs < 0) throw UsageError("--pairs must be 0 or more, got " + std::to_string(*o.n_pairs));
  if (o.throughput_tokens_per_s && !(*o.throughput_tokens_per_s > 0)) {
    throw UsageError("--throughput must be a positive number of tokens/s, got " + std::to_string(*o.throughput_tokens_per_s));
  }
  if (o.n_ranks < 1) throw UsageError("--ranks must be at least 1, got " + std::to_string(o.n_ranks));
}

// Every problem of every checkpoint, before the corpus is read. An estimate needs only
// config.json (a sweep is often sized before its weights are downloaded): a warning then.
void check_models(const pipeline::Manifest& manifest, bool estimate, io::Communicator& comm) {
  if (!estimate) {
    pipeline::check_models_collective(manifest, comm);
  } else if (comm.rank() == 0) {
    const auto problems = pipeline::describe_problems(manifest, pipeline::preflight(manifest));
    if (!problems.empty()) {
      io::log_warn(problems.substr(0, problems.find(", nothing was run")) +
                   " (the study cannot run yet; the estimate uses config.json only)");
    }
  }
}

void print_plan(const pipeline::Study& study, bool json) {
  if (json) {
    std::cout << to_json(study.plan, study.manifest).dump(2) << "\n";
    return;
  }
  std::printf("study %s: %zu model%s, %lld documents, %lld preference pairs, %zu work items (one per checkpoint); "
              "run directory %s\n",
              study.manifest.study.c_str(), study.manifest.models.size(),
              study.manifest.models.size() == 1 ? "" : "s", static_cast<long long>(study.n_documents),
              static_cast<long long>(study.plan.n_pairs), study.plan.items.size(), study.manifest.run_dir.c_str());
  for (const auto& item : study.plan.items) {
    const auto& model = study.manifest.models[item.model_idx];
    std::printf("  %s  %-24s %s\n", item.id.c_str(), model.id.c_str(), model.checkpoints[item.checkpoint_idx].name.c_str());
  }
}

// The options of --estimate: the command line's, else the study's (and with
// --count-labels, the label pass run first so that every set's rows are counted).
pipeline::EstimateOptions estimate_options(const po::variables_map& vm, const pipeline::Study& study,
                                           const io::Communicator& comm) {
  pipeline::EstimateOptions o;
  // The study as written: data.text.n_documents (the sample it asks for), else the corpus.
  const auto asked = study.manifest.text.n_documents;
  o.n_documents = vm.count("documents") ? vm["documents"].as<std::int64_t>() : asked > 0 ? asked : study.n_documents;
  if (!vm.count("documents") && asked > study.n_documents) {
    std::printf("warning: data.text.n_documents asks for %lld documents, the corpus holds %lld; the estimate is for %lld\n",
                static_cast<long long>(asked), static_cast<long long>(study.n_documents), static_cast<long long>(asked));
  }
  if (vm.count("tokens-per-document")) o.tokens_per_document = vm["tokens-per-document"].as<std::int64_t>();
  o.n_pairs = vm.count("pairs") ? vm["pairs"].as<std::int64_t>() : study.plan.n_pairs;
  if (vm.count("throughput")) o.throughput_tokens_per_s = vm["throughput"].as<double>();
  o.n_ranks = vm["ranks"].as<int>();
  if (vm.count("memory")) {
    o.memory_bytes = pipeline::parse_memory_size(vm["memory"].as<std::string>());
    if (!o.memory_bytes) throw UsageError("--memory needs a size such as 80GiB, not auto");
  }
  if (vm.count("count-labels")) {
    const io::RunDir run(study.manifest.run_dir);
    if (const auto refusal = run.foreign_directory_problem(); !refusal.empty()) throw UsageError(refusal);
    std::vector<std::size_t> all(study.plan.items.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    auto texts = pipeline::label_texts(study, run, all, comm);
    texts.finish_writes();
    if (!texts.failed.empty()) throw Error("the label pass failed: " + texts.failed.begin()->second);
  }
  o.labels = stages::read_label_summaries(study.manifest.run_dir);
  check_estimate_options(o);
  return o;
}

int plan_command(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo plan MANIFEST [options]", po::options_description("options"), {"manifest"},
                  "  MANIFEST   the study manifest (YAML, docs/MANIFEST.md)", ""};
  const pipeline::EstimateOptions estimate;
  cli.options.add_options()
      ("run-dir", po::value<std::string>(), "run directory (overrides the manifest's run_dir)")
      ("json", "print the plan as JSON")
      ("estimate", "print tokens, FLOPs, GPU-hours, storage and memory at full scale")
      ("documents", po::value<std::int64_t>(), "documents per checkpoint for --estimate (default: the study's sample)")
      ("tokens-per-document", po::value<std::int64_t>(), "tokens per document for --estimate (default: data.text.max_tokens)")
      ("pairs", po::value<std::int64_t>(), "preference pairs for --estimate (default: the study's)")
      ("throughput", po::value<double>(), "tokens/s per GPU for --estimate (default: compute.throughput_tokens_per_s)")
      ("ranks", po::value<int>()->default_value(estimate.n_ranks), "ranks of the run, for --estimate's memory per rank")
      ("memory", po::value<std::string>(), "memory per rank for --estimate, e.g. 80GiB (default: compute.memory_budget, "
                                           "or 80 GiB for cuda and the available host memory for cpu)")
      ("count-labels", "for --estimate: run the label pass first (tokenizes the sample and counts every label set's "
                       "rows; writes tokens/ and labels/ into the run directory, which the run then reuses)");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  int argc = 0;
  char** argv = nullptr;
  io::MpiSession mpi(&argc, &argv);
  pipeline::RunOptions options;
  options.path_manifest = (*vm)["manifest"].as<std::string>();
  if (vm->count("run-dir")) options.run_dir = (*vm)["run-dir"].as<std::string>();
  auto manifest = pipeline::load_run_manifest(options, mpi.world());
  check_models(manifest, vm->count("estimate") > 0, mpi.world());
  const auto study = pipeline::load_study(std::move(manifest));
  if (mpi.world().rank() != 0) return 0;
  print_plan(study, vm->count("json") > 0);
  if (vm->count("estimate")) {
    const auto o = estimate_options(*vm, study, mpi.world());
    print_estimate(pipeline::estimate_plan(study.manifest, o), study.manifest, vm->count("throughput") > 0);
  }
  return 0;
}

const bool kRegistered = register_command({"plan", "validate a manifest and print its work items", plan_command});

}  // namespace
}  // namespace ibzoo::cli
