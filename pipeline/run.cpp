// Orchestration: reads like the data-flow diagram. Stages do the work; this file
// decides who does what, in which order, and what is skipped on a rerun.
#include "pipeline/run.h"

#include "analysis/calibration.h"
#include "analysis/error.h"
#include "analysis/reference_points.h"
#include "io/corpus.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/log.h"
#include "io/metrics_csv.h"
#include "io/metrics_h5.h"
#include "io/run_dir.h"
#include "models/model.h"
#include "pipeline/analyze.h"
#include "pipeline/progress_setup.h"
#include "pipeline/run_identity.h"
#include "pipeline/work_queue.h"
#include "stages/extract.h"
#include "stages/pack.h"
#include "stages/prepare.h"
#include "stages/reduce.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <map>
#include <random>
#include <optional>
#include <thread>

#include <unistd.h>

namespace ibzoo::pipeline {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal); }

// Slurm sends USR1 (or TERM) before a time limit or preemption: finish the item
// being written, then stop, so that nothing half-written is left behind.
void install_stop_handlers() {
  std::signal(SIGUSR1, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

fs::path reference_points_path(const io::RunDir& run, std::int64_t dim) {
  return run.root() / "reference_points" / ("d" + std::to_string(dim) + ".h5");
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

int threads_per_rank(const ComputeSpec& compute, int local_ranks) {
  if (compute.threads > 0) return compute.threads;
  const auto hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, hw / std::max(1, local_ranks));
}

// The first of `vars` that is set to an integer (launchers name the same fact differently).
std::optional<int> first_int_env(std::initializer_list<const char*> vars) {
  for (const char* var : vars) {
    if (const char* v = std::getenv(var)) {
      try {
        return std::stoi(v);
      } catch (const std::exception&) {
      }
    }
  }
  return std::nullopt;
}

int local_rank_count(const io::Communicator& comm) {
  const auto n = first_int_env({"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"});
  return n ? std::max(1, *n) : comm.size();
}

// This rank's index among the ranks of its node (mpirun, srun, MPICH), else 0.
int node_local_rank() {
  return std::max(0, first_int_env({"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}).value_or(0));
}

std::string join_ints(const std::vector<std::size_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

std::vector<std::size_t> parse_ints(const std::string& s) {
  std::vector<std::size_t> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto comma = s.find(',', pos);
    out.push_back(static_cast<std::size_t>(std::stoull(s.substr(pos, comma - pos))));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// Everything an extract needs that is shared by the items of one checkpoint.
class ModelCache {
 public:
  ModelCache(const Manifest& manifest, int threads) : manifest_(manifest), threads_(threads) {}

  ~ModelCache() {
    if (prefetcher_.joinable()) prefetcher_.join();
  }

  // Starts reading `next`'s weight files into the page cache in the background
  // while `current` computes (one prefetch at a time).
  void prefetch(const Checkpoint& next, const Checkpoint& current) {
    if (next.path == current.path || next.path == prefetched_) return;
    if (prefetcher_.joinable()) prefetcher_.join();
    prefetched_ = next.path;
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(next.path, ec)) {
      if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
    }
    prefetcher_ = std::thread([files = std::move(files)] {
      for (const auto& f : files) io::prefetch_file(f);
    });
  }

  const models::Model& get(const Checkpoint& checkpoint) {
    if (!model_ || path_ != checkpoint.path) {
      model_.reset();
      models::RunOptions options;
      options.device = models::parse_device(manifest_.compute.device);
      options.dtype = models::parse_dtype(manifest_.compute.dtype);
      options.threads = threads_;
      options.final_norm = manifest_.estimator.final_norm;
      // One rank per GPU: the node's ranks take its GPUs round-robin.
      if (options.device == models::Device::Cuda && models::cuda_device_count() > 0) {
        options.cuda_device_idx = node_local_rank() % models::cuda_device_count();
        if (!gpu_logged_) {
          io::log_info("using GPU " + std::to_string(options.cuda_device_idx) + " of " +
                       std::to_string(models::cuda_device_count()) + " on this node");
          gpu_logged_ = true;
        }
      }
      model_ = models::Model::load(checkpoint.path, options);
      path_ = checkpoint.path;
    }
    return *model_;
  }

 private:
  const Manifest& manifest_;
  int threads_;
  bool gpu_logged_ = false;
  fs::path path_;
  fs::path prefetched_;
  std::thread prefetcher_;
  std::unique_ptr<models::Model> model_;
};

stages::EstimatorSetup make_estimator(const EstimatorSpec& spec, std::int64_t dim) {
  analysis::ReferencePoints points;
  if (spec.reference_points) {
    const auto colon = spec.reference_points->rfind(':');
    const auto file = io::H5File::open_read(spec.reference_points->substr(0, colon));
    const auto dataset = spec.reference_points->substr(colon + 1);
    auto w = file.read_f32(dataset);
    if (w.shape.size() != 2 || w.shape[1] != dim) {
      throw CorruptDataError(file.path().string() + ": " + dataset + " must be [m, " + std::to_string(dim) +
                             "] reference points for this model's width");
    }
    analysis::normalise_rows(w.data, w.shape[0], w.shape[1]);
    points = {w.shape[0], w.shape[1], std::move(w.data)};
  } else {
    points = analysis::generate_reference_points(spec.seed, spec.bins, dim);
  }
  const auto calibration = analysis::parse_calibration(spec.calibration == "fixed" ? "given" : spec.calibration);
  const double eps = analysis::calibrate_eps(calibration, points.n_points, dim, spec.eps);
  analysis::StateLayout layout;
  layout.n_bins = points.n_points;
  layout.n_bootstrap = spec.bootstrap;
  layout.bootstrap_seed = spec.seed;
  layout.n_subset_levels = spec.sample_size_curve ? 4 : 0;
  layout.subset_seed = spec.seed;
  const auto checksum = analysis::checksum(points);
  return {analysis::SoftAssigner(std::move(points), eps), layout, spec.calibration, checksum};
}

class Extractor {
 public:
  Extractor(const Study& study, const io::RunDir& run, int threads, std::int64_t tokens_per_batch, int world_size)
      : study_(study), run_(run), threads_(threads), tokens_per_batch_(tokens_per_batch), world_size_(world_size),
        models_(study.manifest, threads) {}

  void prefetch(const WorkItem& next, const WorkItem& current) {
    const auto checkpoint = [&](const WorkItem& item) -> const Checkpoint& {
      return study_.manifest.models[item.model_idx].checkpoints[item.checkpoint_idx];
    };
    models_.prefetch(checkpoint(next), checkpoint(current));
  }

  // Runs one item: its positions, or -1 when it failed (recorded instead of thrown).
  std::int64_t run_item(const WorkItem& item) {
    const auto& m = study_.manifest;
    const auto& model_spec = m.models[item.model_idx];
    const auto& checkpoint = model_spec.checkpoints[item.checkpoint_idx];
    const std::string tag = "item " + item.id + " (" + model_spec.id + "/" + checkpoint.name + " shard " +
                            std::to_string(item.shard_idx) + ")";
    try {
      const auto& text = item.preference ? prepared_preference(model_spec) : prepared(model_spec);
      const auto& model = models_.get(checkpoint);
      const auto& setup = estimator(model.hidden_size());
      stages::ExtractJob job;
      job.item_id = item.id;
      job.run = run_;
      job.doc_begin = item.doc_begin;
      job.doc_end = item.doc_end;
      job.layers = stages::resolve_layers(m.estimator.layers, model.n_layers(), model_spec.id);
      job.tokens_per_batch = tokens_per_batch_;
      job.threads = threads_;
      job.storage = {m.storage.representations, m.storage.layers, m.storage.dtype == "float16", m.storage.chunk_tokens,
                     m.storage.compression};
      job.assignments_float16 = assignments_float16(m);
      job.provenance = provenance(item, model_spec, checkpoint, text, model);
      const auto result = stages::extract(job, text, model, setup);
      io::log_info(tag + ": " + std::to_string(result.n_positions) + " positions in " +
                   std::to_string(static_cast<int>(result.wall_s * 1000)) + " ms");
      return result.n_positions;
    } catch (const std::exception& e) {
      io::log_error(tag + " failed: " + e.what());
      run_.record_failure(item.id, e.what());
      return -1;
    }
  }

 private:
  const stages::PreparedText& prepared(const ModelSpec& model) {
    const auto key = model.tokenizer.string();
    auto it = texts_.find(key);
    if (it != texts_.end()) return it->second;
    const auto& m = study_.manifest;
    stages::PrepareJob job;
    job.path_tokenizer = model.tokenizer;
    job.documents = study_.documents;
    job.corpus_sha256 = study_.corpus_sha256;
    job.max_tokens = m.text.max_tokens;
    job.min_tokens = m.text.min_tokens;
    job.bos = m.text.bos;
    job.special_tokens_as_labels = m.text.special_tokens_as_labels;
    job.orders = m.estimator.orders;
    job.min_count = m.estimator.min_count;
    job.null = m.estimator.null;
    job.seed = m.estimator.seed;
    job.cache_dir = run_.tokens();
    return texts_.emplace(key, stages::prepare_text(job)).first->second;
  }

  const stages::PreparedText& prepared_preference(const ModelSpec& model) {
    const auto key = model.tokenizer.string();
    auto it = preference_texts_.find(key);
    if (it != preference_texts_.end()) return it->second;
    const auto& m = study_.manifest;
    stages::PreferenceJob job;
    job.path_tokenizer = model.tokenizer;
    job.pairs = study_.pairs;
    job.pairs_sha256 = study_.pairs_sha256;
    job.max_tokens = m.preference->max_tokens;
    job.bos = m.text.bos;
    job.prompt_labelled = m.preference->prompt_labelled;
    job.min_count = m.estimator.min_count;
    return preference_texts_.emplace(key, stages::prepare_preference(job)).first->second;
  }

  const stages::EstimatorSetup& estimator(std::int64_t dim) {
    auto it = setups_.find(dim);
    if (it != setups_.end()) return it->second;
    it = setups_.emplace(dim, make_estimator(study_.manifest.estimator, dim)).first;
    // W is stored with the results, once per width.
    const auto path = reference_points_path(run_, dim);
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      const auto& s = it->second;
      io::write_reference_points(path, {dim, s.assigner.n_bins(), s.assigner.points().w, s.assigner.eps(), s.calibration,
                                        s.w_checksum, static_cast<std::int64_t>(study_.manifest.estimator.seed)});
    }
    return it->second;
  }

  const nlohmann::json& weight_hashes(const Checkpoint& checkpoint) {
    const auto key = checkpoint.path.string();
    auto it = weights_.find(key);
    if (it != weights_.end()) return it->second;
    nlohmann::json hashes = nlohmann::json::object();
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(checkpoint.path)) {
      const auto name = entry.path().filename().string();
      if (entry.path().extension() == ".safetensors" || name == "config.json" || name == "model.safetensors.index.json") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) hashes[f.filename().string()] = io::sha256_file(f);
    return weights_.emplace(key, std::move(hashes)).first->second;
  }

  nlohmann::json provenance(const WorkItem& item, const ModelSpec& model_spec, const Checkpoint& checkpoint,
                            const stages::PreparedText& text, const models::Model& model) {
    const auto& m = study_.manifest;
    return {{"ibzoo_version", io::version_string()},
            {"git_hash", io::git_hash()},
            {"manifest", m.source.string()},
            {"manifest_hash", study_.plan.manifest_hash},
            {"model", model_spec.id},
            {"family", model_spec.family},
            {"checkpoint", checkpoint.name},
            {"step", checkpoint.step},
            {"model_path", checkpoint.path.string()},
            {"weights", weight_hashes(checkpoint)},
            {"tokenizer", model_spec.tokenizer.string()},
            {"tokenizer_sha256", text.tokenizer_sha256},
            {"corpus_sha256", study_.corpus_sha256},
            {"text_id", text.id},
            {"kind", item.preference ? "preference" : "text"},
            {"documents", {item.doc_begin, item.doc_end}},
            {"n_parameters", model_spec.n_parameters ? *model_spec.n_parameters : static_cast<double>(model.n_parameters())},
            {"dtype", m.compute.dtype},
            {"device", m.compute.device},
            {"final_norm", m.estimator.final_norm ? "apply" : "skip"},
            {"weighting", m.estimator.weighting},
            {"min_count", m.estimator.min_count},
            {"world_size", world_size_},
            {"tokens_per_batch", tokens_per_batch_},
            {"threads", threads_},
            {"spec", item.spec}};
  }

  const Study& study_;
  const io::RunDir& run_;
  int threads_;
  std::int64_t tokens_per_batch_;
  int world_size_;
  ModelCache models_;
  std::map<std::string, stages::PreparedText> texts_;
  std::map<std::string, stages::PreparedText> preference_texts_;  // by tokenizer
  std::map<std::int64_t, stages::EstimatorSetup> setups_;
  std::map<std::string, nlohmann::json> weights_;
};

// Rank 0 decides which items are still to do (done markers), every rank gets the same list.
std::vector<std::size_t> pending_items(const Study& study, const io::RunDir& run,
                                       const std::optional<std::pair<int, int>>& slice, io::Communicator& comm,
                                       std::int64_t& n_done) {
  std::string text;
  if (comm.rank() == 0) {
    const auto n = study.plan.items.size();
    std::size_t begin = 0, end = n;
    if (slice) {
      begin = n * static_cast<std::size_t>(slice->first) / static_cast<std::size_t>(slice->second);
      end = n * static_cast<std::size_t>(slice->first + 1) / static_cast<std::size_t>(slice->second);
    }
    std::vector<std::size_t> pending;
    std::int64_t done = 0;
    for (std::size_t i = begin; i < end; ++i) {
      std::string why;
      if (run.is_done(study.plan.items[i].id, &why)) {
        ++done;
        continue;
      }
      if (!why.empty()) io::log_warn(why + "; recomputing item " + study.plan.items[i].id);
      pending.push_back(i);
    }
    text = std::to_string(done) + ";" + join_ints(pending);
  }
  comm.broadcast(text);
  const auto semi = text.find(';');
  n_done = std::stoll(text.substr(0, semi));
  return parse_ints(text.substr(semi + 1));
}

// Test hook (docs/SCALE.md): IBZOO_TEST_ITEM_DELAY_MS=INDEX:MS[,INDEX:MS...] makes the
// rank that computes plan item INDEX sleep MS milliseconds first, to give items uneven
// costs in the scheduling tests. Only delays; results do not change.
std::map<std::size_t, int> test_item_delays() {
  std::map<std::size_t, int> delays;
  const char* env = std::getenv("IBZOO_TEST_ITEM_DELAY_MS");
  if (!env || !*env) return delays;
  const std::string text = env;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto comma = std::min(text.find(',', pos), text.size());
    const auto part = text.substr(pos, comma - pos);
    const auto colon = part.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      std::size_t used_index = 0, used_ms = 0;
      const auto index = std::stoull(part.substr(0, colon), &used_index);
      const auto ms = std::stoi(part.substr(colon + 1), &used_ms);
      if (used_index != colon || used_ms != part.size() - colon - 1 || ms < 0) throw std::invalid_argument("trailing");
      delays[static_cast<std::size_t>(index)] = ms;
    } catch (const std::exception&) {
      throw UsageError("IBZOO_TEST_ITEM_DELAY_MS must be INDEX:MS[,INDEX:MS...] (plan index, milliseconds), got '" +
                       text + "'; unset it outside the scheduling tests");
    }
    pos = comma + 1;
  }
  return delays;
}

// Collective. Rank 0 names this invocation's claim attempt ("<scope>.<UTC time>.<random>",
// scope "all" or "sliceKofN"), removes the claim directories of earlier attempts of the
// same scope (and of any scope, once a week old), creates the new one and broadcasts its name.
std::string start_attempt(const io::RunDir& run, const std::optional<std::pair<int, int>>& slice,
                          io::Communicator& comm) {
  std::string attempt;
  if (comm.rank() == 0) {
    const auto scope = slice ? "slice" + std::to_string(slice->first) + "of" + std::to_string(slice->second) : "all";
    const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    std::random_device random;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(random()));
    attempt = scope + "." + stamp + "." + suffix;
    const auto removed = run.remove_stale_attempts(attempt, scope, std::chrono::hours(24 * 7));
    if (!removed.empty()) {
      io::log_info("extract: removed " + std::to_string(removed.size()) + " claim director" +
                   (removed.size() == 1 ? "y" : "ies") + " of earlier attempts under " + run.claims().string());
    }
    run.begin_attempt(attempt);
  }
  comm.broadcast(attempt);
  return attempt;
}

std::string owner_tag(int rank) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return "rank " + std::to_string(rank) + " host " + host + " pid " + std::to_string(getpid());
}

void log_steals(const WorkQueue& queue) {
  if (queue.stolen_from().empty()) return;
  std::string from;
  std::size_t n = 0;
  for (const auto& [victim, count] : queue.stolen_from()) {
    from += (from.empty() ? "" : ", ") + std::to_string(count) + " from rank " + std::to_string(victim);
    n += count;
  }
  io::log_info("extract: stole " + std::to_string(n) + " item(s) from other ranks' slices (" + from + ")");
}

void run_extract(const Study& study, const io::RunDir& run, const RunOptions& options, io::Communicator& comm,
                 RunSummary& summary) {
  const auto pending = pending_items(study, run, options.slice, comm, summary.n_done_before);
  if (comm.rank() == 0) {
    io::log_info("extract: " + std::to_string(pending.size()) + " items to compute, " +
                 std::to_string(summary.n_done_before) + " already done, on " + std::to_string(comm.size()) + " ranks");
  }
  // Cost of an item: its share of documents times its model's size (known from the
  // manifest, else 1). The slices start cost-balanced and keep checkpoints together;
  // claims and stealing (pipeline/work_queue.h) even out what the estimate gets wrong.
  std::vector<double> cost(study.plan.items.size(), 1.0);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < cost.size(); ++i) {
    const auto& item = study.plan.items[i];
    const auto& model = study.manifest.models[item.model_idx];
    // A preference pair is two documents.
    cost[i] = static_cast<double>(item.doc_end - item.doc_begin) * (item.preference ? 2.0 : 1.0) *
              model.n_parameters.value_or(1.0);
    ids.push_back(item.id);
  }
  const auto delays = test_item_delays();
  const auto attempt = start_attempt(run, options.slice, comm);
  io::StudyProgress progress(extract_progress_options(pending, cost, summary.n_done_before, run.root(), attempt,
                                                      options.slice, options.progress, options.progress_interval),
                             comm);
  auto slices = balanced_slices(pending, cost, comm.size());
  WorkQueue queue(run, attempt, std::move(slices), std::move(ids), cost, comm.rank(), owner_tag(comm.rank()));

  const int threads = threads_per_rank(study.manifest.compute, local_rank_count(comm));
  const auto tokens_per_batch = options.tokens_per_batch.value_or(study.manifest.compute.tokens_per_batch);
  Extractor extractor(study, run, threads, tokens_per_batch, comm.size());
  std::int64_t computed = 0, failed = 0;
  for (;;) {
    if (g_stop_signal.load() != 0) {
      io::log_warn("stopping after the current item (signal " + std::to_string(g_stop_signal.load()) + ")");
      summary.interrupted = true;
      break;
    }
    const auto next = queue.next();
    if (!next) break;
    const auto& item = study.plan.items[next->item_idx];
    progress.start_item(item_label(study.manifest, item));
    if (next->stolen) {
      io::log_info("extract: stealing item " + item.id + " (plan index " + std::to_string(next->item_idx) +
                   ") from the end of rank " + std::to_string(next->owner) + "'s slice; " +
                   std::to_string(next->left_in_owner) + " unclaimed item(s) left there");
    }
    // Checkpoint k+1's weights come off the disk while checkpoint k computes.
    if (const auto after = queue.peek()) extractor.prefetch(study.plan.items[*after], item);
    if (const auto d = delays.find(next->item_idx); d != delays.end()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(d->second));
    }
    const auto n_positions = extractor.run_item(item);
    (n_positions >= 0 ? computed : failed)++;
    progress.end_item(std::max<std::int64_t>(n_positions, 0), cost[next->item_idx], n_positions < 0);
  }
  progress.finish();
  log_steals(queue);
  summary.n_computed = comm.allreduce_sum(computed);
  summary.n_failed = comm.allreduce_sum(failed);
  summary.interrupted = comm.allreduce_max(summary.interrupted ? 1 : 0) != 0;
}

// Groups of items per (model, checkpoint), in plan order.
struct Group {
  std::size_t model_idx = 0;
  std::size_t checkpoint_idx = 0;
  std::vector<std::string> item_ids;
  std::vector<std::string> preference_item_ids;
};

std::vector<Group> groups_of(const Plan& plan) {
  std::vector<Group> groups;
  for (const auto& item : plan.items) {
    if (groups.empty() || groups.back().model_idx != item.model_idx || groups.back().checkpoint_idx != item.checkpoint_idx) {
      groups.push_back({item.model_idx, item.checkpoint_idx, {}, {}});
    }
    (item.preference ? groups.back().preference_item_ids : groups.back().item_ids).push_back(item.id);
  }
  return groups;
}

void check_all_done(const Study& study, const io::RunDir& run) {
  std::vector<std::string> missing;
  for (const auto& item : study.plan.items) {
    if (!run.is_done(item.id)) missing.push_back(item.id);
  }
  if (missing.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < missing.size() && i < 10; ++i) list += " " + missing[i];
  throw Error("reduce: " + std::to_string(missing.size()) + " of " + std::to_string(study.plan.items.size()) +
              " items are not finished (" + list + (missing.size() > 10 ? " ..." : "") + "); run `ibzoo run " +
              study.manifest.source.string() + " --stage extract` or see `ibzoo status " + run.root().string() + "`");
}

nlohmann::json rows_to_json(const std::vector<io::MetricRow>& rows) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) j.push_back({r.model, r.family, r.checkpoint, r.step, r.layer, r.label_set, r.metric, r.value});
  return j;
}

io::MetricRow row_from_json(const nlohmann::json& j) {
  return {j[0], j[1], j[2], j[3].get<std::int64_t>(), j[4], j[5], j[6], j[7].is_null() ? std::nan("") : j[7].get<double>()};
}

nlohmann::json summary_to_json(const stages::GroupSummary& s) {
  return {{"model", s.model}, {"family", s.family}, {"checkpoint", s.checkpoint}, {"step", s.step},
          {"n_parameters", s.n_parameters}, {"n_positions", s.n_positions}, {"entropy", s.entropy},
          {"complexity", s.complexity}, {"expressivity", s.expressivity}, {"optimality", s.optimality},
          {"optimality_ratio_of_means", s.optimality_ratio_of_means}, {"complexity_null", s.complexity_null},
          {"expressivity_null", s.expressivity_null}, {"preference", s.preference}, {"weights", s.weights}};
}

double json_number(const nlohmann::json& v) { return v.is_null() ? std::nan("") : v.get<double>(); }

stages::GroupSummary summary_from_json(const nlohmann::json& j) {
  stages::GroupSummary s;
  s.model = j["model"];
  s.family = j["family"];
  s.checkpoint = j["checkpoint"];
  s.step = j["step"];
  s.n_parameters = json_number(j["n_parameters"]);
  s.n_positions = j["n_positions"];
  s.entropy = json_number(j["entropy"]);
  s.complexity = json_number(j["complexity"]);
  s.expressivity = json_number(j["expressivity"]);
  s.optimality = json_number(j["optimality"]);
  s.optimality_ratio_of_means = json_number(j["optimality_ratio_of_means"]);
  s.complexity_null = json_number(j["complexity_null"]);
  s.expressivity_null = json_number(j["expressivity_null"]);
  s.preference = json_number(j["preference"]);
  s.weights = j["weights"];
  return s;
}

// Two checkpoints whose weight files are byte-identical: a known hazard of public checkpoint series.
void warn_identical_weights(const std::vector<stages::GroupSummary>& summaries) {
  std::map<std::string, std::string> seen;
  for (const auto& s : summaries) {
    if (s.weights.is_null() || s.weights.empty()) continue;
    nlohmann::json w = s.weights;
    w.erase("config.json");
    const auto key = w.dump();
    const auto name = s.model + "/" + s.checkpoint;
    auto [it, inserted] = seen.emplace(key, name);
    if (!inserted) io::log_warn("checkpoints " + it->second + " and " + name + " have identical weight files (sha256); their results will coincide");
  }
}

// Rank 0 decides which groups reduce with the label space partitioned across all
// ranks (the bound of their label tables, stages::state_bytes, exceeds the per-rank
// budget, or forced); every rank gets the same answer.
std::vector<bool> partitioned_groups(const std::vector<Group>& groups, const io::RunDir& run,
                                     const RunOptions& options, io::Communicator& comm) {
  std::string text(groups.size(), '0');
  if (comm.rank() == 0 && comm.size() > 1) {
    for (std::size_t g = 0; g < groups.size(); ++g) {
      bool big = options.reduce_partition == ReducePartition::kAlways;
      if (options.reduce_partition == ReducePartition::kAuto) {
        const auto bytes = stages::state_bytes(run, groups[g].item_ids) + stages::state_bytes(run, groups[g].preference_item_ids);
        big = bytes > options.reduce_memory_bytes;
        // Fewer checkpoints than ranks: round robin would leave ranks idle, so every
        // checkpoint is shared by all ranks instead (same result, bitwise).
        if (!big && groups.size() < static_cast<std::size_t>(comm.size())) {
          big = true;
          if (g == 0) {
            io::log_info("reduce: " + std::to_string(groups.size()) + " checkpoint(s) for " + std::to_string(comm.size()) +
                         " ranks: partitioning the label rows of each over all ranks");
          }
        } else if (big) {
          io::log_info("reduce: group " + std::to_string(g) + " has " + std::to_string(bytes >> 20) +
                       " MiB of label tables (upper bound), over the " + std::to_string(options.reduce_memory_bytes >> 20) +
                       " MiB per-rank budget: partitioning its label rows over " + std::to_string(comm.size()) + " ranks");
        }
      }
      text[g] = big ? '1' : '0';
    }
  }
  comm.broadcast(text);
  std::vector<bool> out;
  for (char c : text) out.push_back(c == '1');
  return out;
}

// storage.layout per_checkpoint: every checkpoint's items' reps.h5 into one shared file
// (text and preference items apart), all ranks together; already packed ones are skipped.
void pack_representations(const Study& study, const io::RunDir& run, const std::vector<Group>& groups,
                          const io::Communicator& comm) {
  std::map<std::string, const WorkItem*> by_id;
  for (const auto& item : study.plan.items) by_id[item.id] = &item;
  for (const auto& group : groups) {
    const auto& model = study.manifest.models[group.model_idx];
    const auto& checkpoint = model.checkpoints[group.checkpoint_idx];
    for (const bool preference : {false, true}) {
      const auto& ids = preference ? group.preference_item_ids : group.item_ids;
      if (ids.empty()) continue;
      stages::PackJob job;
      job.run = run;
      job.model = model.id;
      job.checkpoint = checkpoint.name + (preference ? ".preference" : "");
      job.item_ids = ids;
      for (const auto& id : ids) job.documents.emplace_back(by_id.at(id)->doc_begin, by_id.at(id)->doc_end);
      stages::pack_representations(job, comm);
    }
  }
}

void run_reduce(const Study& study, const io::RunDir& run, const RunOptions& options, io::Communicator& comm) {
  if (comm.rank() == 0) check_all_done(study, run);
  comm.barrier();
  const auto groups = groups_of(study.plan);
  if (study.manifest.storage.representations && study.manifest.storage.layout == "per_checkpoint") {
    pack_representations(study, run, groups, comm);
  }
  const auto partitioned = partitioned_groups(groups, run, options, comm);
  nlohmann::json mine = nlohmann::json::array();
  io::Progress progress("reduce", static_cast<std::int64_t>(groups.size()));
  const auto reduce_group = [&](std::size_t g, const io::Communicator* partition) {
    const auto& group = groups[g];
    const auto& model = study.manifest.models[group.model_idx];
    const auto& checkpoint = model.checkpoints[group.checkpoint_idx];
    stages::ReduceJob job;
    job.run = run;
    job.model = model.id;
    job.family = model.family;
    job.checkpoint = checkpoint.name;
    job.step = checkpoint.step;
    job.item_ids = group.item_ids;
    job.preference_item_ids = group.preference_item_ids;
    job.weighting = study.manifest.estimator.weighting;
    job.n_parameters = model.n_parameters.value_or(0.0);
    job.threads = threads_per_rank(study.manifest.compute, local_rank_count(comm));
    const auto result = stages::reduce(job, partition);
    if (partition && comm.rank() != 0) return;  // every rank of a partitioned reduce has the same result
    mine.push_back({{"group", g}, {"rows", rows_to_json(result.rows)}, {"summary", summary_to_json(result.summary)}});
  };
  // Small groups: one rank each, round robin. Large groups: all ranks together, in group order.
  for (std::size_t g = static_cast<std::size_t>(comm.rank()); g < groups.size(); g += static_cast<std::size_t>(comm.size())) {
    if (!partitioned[g]) reduce_group(g, nullptr);
    // This round's groups over all ranks (fewer than the ranks in the last round).
    const auto round_begin = g - static_cast<std::size_t>(comm.rank());
    progress.advance(static_cast<std::int64_t>(std::min(static_cast<std::size_t>(comm.size()), groups.size() - round_begin)));
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (partitioned[g]) reduce_group(g, &comm);
  }
  progress.finish();
  const auto gathered = comm.allgather(mine.dump());
  if (comm.rank() != 0) return;

  std::vector<nlohmann::json> by_group(groups.size());
  for (const auto& text : gathered) {
    for (auto& g : nlohmann::json::parse(text)) by_group[g["group"].get<std::size_t>()] = g;
  }
  std::vector<io::MetricRow> rows;
  std::vector<stages::GroupSummary> summaries;
  for (const auto& g : by_group) {
    for (const auto& r : g["rows"]) rows.push_back(row_from_json(r));
    summaries.push_back(summary_from_json(g["summary"]));
  }
  warn_identical_weights(summaries);
  // The three files change together or not at all (a full disk leaves the earlier ones).
  io::StagedFiles staged(run.results());
  io::write_metrics_csv(staged.path("metrics.csv"), rows);
  stages::write_summary_csv(staged.path("summary.csv"), summaries);
  std::vector<io::ReferencePointsRecord> points;
  if (fs::exists(run.root() / "reference_points")) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(run.root() / "reference_points")) {
      if (e.path().extension() == ".h5") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) points.push_back(io::read_reference_points(f));
  }
  io::write_metrics_h5(staged.path("metrics.h5"), rows, points, to_json(study.manifest).dump());
  staged.commit();
  io::log_info("reduce: " + std::to_string(rows.size()) + " metric rows for " + std::to_string(groups.size()) +
               " checkpoints -> " + (run.results() / "metrics.csv").string());
}

}  // namespace

Stage parse_stage(const std::string& text) {
  if (text == "all") return Stage::kAll;
  if (text == "extract") return Stage::kExtract;
  if (text == "reduce") return Stage::kReduce;
  if (text == "analyze") return Stage::kAnalyze;
  throw UsageError("--stage must be all, extract, reduce or analyze, got '" + text + "'");
}

ReducePartition parse_reduce_partition(const std::string& text) {
  if (text == "auto") return ReducePartition::kAuto;
  if (text == "always") return ReducePartition::kAlways;
  if (text == "never") return ReducePartition::kNever;
  throw UsageError("--reduce-partition must be auto, always or never, got '" + text + "'");
}

Manifest load_manifest_collective(const fs::path& path, io::Communicator& comm) {
  std::string text;
  if (comm.rank() == 0) {
    try {
      text = "ok:" + to_json(load_manifest(path)).dump();
    } catch (const ManifestError& e) {
      text = std::string("manifest:") + e.what();
    } catch (const std::exception& e) {
      text = std::string("error:") + e.what();
    }
  }
  comm.broadcast(text);
  if (text.rfind("ok:", 0) == 0) return manifest_from_json(nlohmann::json::parse(text.substr(3)));
  const bool manifest_error = text.rfind("manifest:", 0) == 0;
  const auto message = text.substr(text.find(':') + 1);
  if (comm.rank() != 0) throw ManifestError("the manifest was rejected on rank 0");
  if (manifest_error) throw ManifestError(message);
  throw Error(message);
}

Manifest load_run_manifest(const RunOptions& options, io::Communicator& comm) {
  auto manifest = load_manifest_collective(options.path_manifest, comm);
  if (options.run_dir) manifest.run_dir = fs::weakly_canonical(fs::absolute(*options.run_dir));
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
  auto manifest = load_run_manifest(options, comm);
  // Refused before the corpus is read (it can be gigabytes, on every rank); held to the end.
  const auto claim = claim_run_dir(manifest, {options.slice, options.stage == Stage::kAll || options.stage == Stage::kExtract,
                                              "ibzoo run " + options.path_manifest.string()}, comm);
  const io::RunDir run(manifest.run_dir);
  const auto study = load_study(std::move(manifest));
  RunSummary summary;
  summary.n_items = static_cast<std::int64_t>(study.plan.items.size());
  if (comm.rank() == 0) {
    fs::create_directories(run.root() / "items");
    io::write_file_atomic(run.root() / "manifest.json", to_json(study.manifest).dump(2) + "\n");
    io::write_file_atomic(run.root() / "plan.json", to_json(study.plan, study.manifest).dump(2) + "\n");
  }
  comm.barrier();

  if (options.stage == Stage::kAll || options.stage == Stage::kExtract) {
    run_extract(study, run, options, comm, summary);
    if (summary.interrupted) return summary;
    if (summary.n_failed > 0) {
      throw Error(std::to_string(summary.n_failed) + " item(s) failed (see " + run.root().string() +
                  "/items/*/error.json or `ibzoo status " + run.root().string() + "`); the others are done and kept");
    }
  }
  if (options.stage == Stage::kAll || options.stage == Stage::kReduce) run_reduce(study, run, options, comm);
  if ((options.stage == Stage::kAll || options.stage == Stage::kAnalyze) && comm.rank() == 0) {
    analyze(study.manifest, run);
  }
  comm.barrier();
  return summary;
}

}  // namespace ibzoo::pipeline
