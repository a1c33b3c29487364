// Orchestration: reads like the data-flow diagram. Stages do the work; this file
// decides the order, and what a rerun skips.
#include "pipeline/run.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/run_dir.h"
#include "pipeline/accumulate_study.h"
#include "pipeline/analyze.h"
#include "pipeline/budget.h"
#include "pipeline/preflight.h"
#include "pipeline/results.h"
#include "pipeline/run_identity.h"

#include <atomic>
#include <csignal>

namespace ibzoo::pipeline {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal); }

// Slurm sends USR1 (or TERM) before a time limit or preemption: finish the item
// being computed, then stop, so that nothing half-written is left behind.
void install_stop_handlers() {
  std::signal(SIGUSR1, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

io::CorpusSpec corpus_spec(const TextData& t) {
  io::CorpusSpec spec;
  spec.files = t.files;
  spec.jsonl = t.format == "jsonl";
  spec.field = t.field;
  spec.split = t.split == DocumentSplit::kLine   ? io::SplitRule::kLine
               : t.split == DocumentSplit::kFile ? io::SplitRule::kFile
                                                 : io::SplitRule::kParagraph;
  spec.n_documents = t.n_documents;
  spec.reservoir = t.sampling == Sampling::kReservoir;
  spec.seed = t.seed;
  return spec;
}

void write_plan(const Study& study, const io::RunDir& run, io::Communicator& comm) {
  if (comm.rank() == 0) {
    fs::create_directories(run.root() / "items");
    io::write_file_atomic(run.root() / "manifest.json", to_json(study.manifest).dump(2) + "\n");
    io::write_file_atomic(run.root() / "plan.json", to_json(study.plan, study.manifest).dump(2) + "\n");
  }
  comm.barrier();
}

// Rank 0: the normalised manifest, or why it was refused ("manifest" or "error").
io::Outcome<nlohmann::json> load_on_root(const fs::path& path) {
  try {
    return {true, to_json(load_manifest(path)), "", ""};
  } catch (const ManifestError& e) {
    return {false, {}, "manifest", e.what()};
  } catch (const std::exception& e) {
    return {false, {}, "error", e.what()};
  }
}

bool runs(Stage wanted, Stage stage) { return wanted == Stage::kAll || wanted == stage; }

}  // namespace

Stage parse_stage(const std::string& text) {
  if (text == "all") return Stage::kAll;
  if (text == "accumulate" || text == "extract") return Stage::kAccumulate;
  if (text == "metrics" || text == "reduce") return Stage::kMetrics;
  if (text == "analyze") return Stage::kAnalyze;
  throw UsageError("--stage must be all, accumulate, metrics or analyze, got '" + text + "'");
}

Manifest load_manifest_collective(const fs::path& path, io::Communicator& comm) {
  io::Outcome<nlohmann::json> loaded;
  if (comm.rank() == 0) loaded = load_on_root(path);
  comm.broadcast_value(loaded);
  if (loaded.ok) return manifest_from_json(loaded.value);
  if (comm.rank() != 0) throw ManifestError("the manifest was rejected on rank 0");
  if (loaded.error_kind == "manifest") throw ManifestError(loaded.message);
  throw Error(loaded.message);
}

Manifest load_run_manifest(const RunOptions& options, io::Communicator& comm) {
  auto manifest = load_manifest_collective(options.path_manifest, comm);
  if (options.run_dir) manifest.run_dir = fs::weakly_canonical(fs::absolute(*options.run_dir));
  if (options.memory_budget) {
    (void)parse_memory_size(*options.memory_budget);  // UsageError naming the text
    manifest.compute.memory_budget = *options.memory_budget;
  }
  return manifest;
}

Study load_study(Manifest manifest) {
  Study study;
  study.manifest = std::move(manifest);
  const auto corpus = io::read_corpus(corpus_spec(study.manifest.text));
  study.documents = corpus.documents;
  study.n_documents = static_cast<std::int64_t>(corpus.documents.size());
  study.corpus_sha256 = corpus.sha256;
  if (study.manifest.preference) {
    study.pairs = io::read_preference_pairs(study.manifest.preference->file, study.manifest.preference->n_pairs);
    std::string joined;
    for (const auto& p : study.pairs) joined += io::sha256_hex(nlohmann::json{p.prompt, p.chosen, p.rejected}.dump());
    study.pairs_sha256 = io::sha256_hex(joined);
  }
  study.plan = make_plan(study.manifest, study.n_documents, study.corpus_sha256,
                         static_cast<std::int64_t>(study.pairs.size()), study.pairs_sha256);
  return study;
}

Study load_study(const RunOptions& options, io::Communicator& comm) { return load_study(load_run_manifest(options, comm)); }

RunSummary run_study(const RunOptions& options, io::Communicator& comm) {
  install_stop_handlers();
  auto manifest = load_run_manifest(options, comm);                       // manifest
  // The run directory is this study's (or new), and this run holds it until it returns;
  // checked before the corpus is read, which can be gigabytes (pipeline/run_identity.h).
  const auto claim = claim_run_dir(manifest, {options.slice, runs(options.stage, Stage::kAccumulate),
                                              "ibzoo run " + options.path_manifest.string()}, comm);
  const io::RunDir run(manifest.run_dir);
  const auto study = load_study(std::move(manifest));                      // plan
  write_plan(study, run, comm);
  RunSummary summary;
  summary.n_items = static_cast<std::int64_t>(study.plan.items.size());
  if (runs(options.stage, Stage::kAccumulate)) {
    const auto pending = pending_items(study, run, options.slice, comm, summary.n_done_before);
    if (!pending.empty()) {
      check_models_collective(study.manifest, comm);  // every checkpoint's files, all problems at once
      const auto models = start_models(study, pending, options, comm);  // the first loads beside the labels
      auto texts = label_texts(study, run, pending, comm);                    // labels
      accumulate_items(study, texts, pending, *models, run, options, comm, g_stop_signal, summary);  // accumulate + merge
      texts.finish_writes();
    }
    if (summary.interrupted) return summary;
    if (summary.n_failed > 0) {
      throw Error(std::to_string(summary.n_failed) + " item(s) failed (see " + run.root().string() +
                  "/items/*/error.json or `ibzoo status " + run.root().string() + "`); the others are done and kept");
    }
  }
  if (runs(options.stage, Stage::kMetrics) && comm.rank() == 0) write_results(study, run);  // metrics
  comm.barrier();
  if (runs(options.stage, Stage::kAnalyze) && comm.rank() == 0) analyze(study.manifest, run);  // report
  comm.barrier();
  return summary;
}

}  // namespace ibzoo::pipeline
