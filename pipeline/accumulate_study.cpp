// Who accumulates which checkpoint, with which model, texts and estimator; the
// stages do the work (stages/labels.h, stages/accumulate.h).
#include "pipeline/accumulate_study.h"
#include "pipeline/test_hooks.h"

#include "analysis/calibration.h"
#include "errors/error.h"
#include "analysis/reference_points.h"
#include "io/fs.h"
#include "io/h5.h"
#include "hf/config.h"
#include "io/log.h"
#include "io/metrics_h5.h"
#include "models/model.h"
#include "pipeline/budget.h"
#include "pipeline/model_cache.h"
#include "pipeline/progress_setup.h"
#include "pipeline/ranks.h"
#include "pipeline/work_queue.h"
#include "stages/accumulate.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <random>
#include <thread>
#include <utility>

#include <unistd.h>

namespace ibzoo::pipeline {

namespace fs = std::filesystem;

namespace {

// " (3 layer groups)", " (2 row shares x 3 layer groups)" or "" for one pass.
std::string passes_note(const stages::AccumulateResult& r) {
  if (r.n_passes <= 1) return "";
  const int groups = r.n_passes / std::max(1, r.n_row_shares);
  return " (" + (r.n_row_shares > 1 ? std::to_string(r.n_row_shares) + " row shares x " : std::string()) +
         std::to_string(groups) + " layer group" + (groups == 1 ? "" : "s") + ")";
}

fs::path reference_points_path(const io::RunDir& run, std::int64_t dim) {
  return run.root() / "reference_points" / ("d" + std::to_string(dim) + ".h5");
}

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
  const auto layout = estimator_layout(spec, points.n_points);
  const auto checksum = analysis::checksum(points);
  return {analysis::SoftAssigner(std::move(points), eps), layout, spec.calibration, checksum};
}

bool per_position_outputs(const Manifest& m) { return m.storage.representations || m.storage.assignments != "none"; }

const Checkpoint& checkpoint_of(const Study& study, const WorkItem& item) {
  return study.manifest.models[item.model_idx].checkpoints[item.checkpoint_idx];
}

// Runs items: the model, the estimator per width, the table budget and provenance.
class ItemRunner {
 public:
  ItemRunner(const Study& study, const Texts& texts, const io::RunDir& run, ModelCache& models, int threads,
             std::int64_t tokens_per_batch, int world_size, int local_ranks)
      : study_(study), texts_(texts), run_(run), threads_(threads), tokens_per_batch_(tokens_per_batch),
        world_size_(world_size), local_ranks_(local_ranks), models_(models) {}

  // `next` follows `current` on this rank: its files are read ahead now, and its model
  // may load during `current` (overlap_next_load).
  void prefetch(const WorkItem& next, const WorkItem& current) {
    models_.prefetch(checkpoint_of(study_, next), checkpoint_of(study_, current));
    next_ = &next;
  }

  // Runs one item on `team`: its positions, or -1 when it failed (recorded by team rank
  // 0 instead of thrown). Collective over the team.
  std::int64_t run_item(const WorkItem& item, const io::Communicator& team,
                        const std::function<void(std::int64_t)>& progress) {
    const auto& m = study_.manifest;
    const auto& model_spec = m.models[item.model_idx];
    const auto& ckpt = checkpoint_of(study_, item);
    const std::string tag = "item " + item.id + " (" + model_spec.id + "/" + ckpt.name + ")";
    try {
      if (const auto failed = texts_.failed.find(model_spec.tokenizer.string()); failed != texts_.failed.end()) {
        throw CorruptDataError(failed->second);
      }
      const auto& text = texts_.text.at(model_spec.tokenizer.string());
      std::vector<stages::TextPart> parts = {{"text", &text}};
      if (m.preference) parts.push_back({"preference", &texts_.preference.at(model_spec.tokenizer.string())});
      const models::Model* model = nullptr;
      std::exception_ptr load_error;
      const auto t_load = std::chrono::steady_clock::now();
      try {
        model = &models_.get(ckpt);
      } catch (...) {
        load_error = std::current_exception();
      }
      agree_load(team, load_error);
      const std::chrono::duration<double> load_s = std::chrono::steady_clock::now() - t_load;
      const auto& setup = estimator(model->hidden_size());
      stages::AccumulateJob job;
      job.item_id = item.id;
      job.run = run_;
      job.layers = stages::resolve_layers(m.estimator.layers, model->n_layers(), model_spec.id);
      job.tokens_per_batch = tokens_per_batch_;
      job.threads = threads_;
      if (!forced_table_budget(team.rank())) {
        const bool host = stages::host_tables(model->options().device == models::Device::Cuda, m.storage.representations);
        job.pass_bytes_per_layer = stages::pass_bytes_per_layer(host, tokens_per_batch_, setup.layout.n_bins, team.size());
      }
      job.table_budget_bytes = overlap_next_load(item, *model, setup, text, job, team_table_budget(*model, setup, text, team), team);
      // storage.layers: all (an empty list) stores every estimated layer.
      job.storage = {m.storage.representations, m.storage.layers.empty() ? job.layers : m.storage.layers,
                     m.storage.dtype == "float16", m.storage.chunk_tokens, m.storage.compression, reps_path(item)};
      if (m.storage.assignments != "none") job.assignments_float16 = assignments_float16(m);
      job.provenance = [&, model, n = team.size()] { return provenance(item, model_spec, ckpt, text, *model, n); };
      job.on_progress = progress;
      // Benchmark hook (benchmarks/streaming_bench.sh): the forward passes alone.
      job.forward_only = std::getenv("IBZOO_BENCH_FORWARD_ONLY") != nullptr;
      // Test hook (tests/scripts/team_kill_test.sh): a pause before a team's merge.
      if (const char* delay = std::getenv("IBZOO_TEST_MERGE_DELAY_MS")) job.test_merge_delay_ms = std::atoi(delay);
      models::reset_peak_device_memory(*model);
      const auto result = stages::accumulate(job, parts, *model, setup, team);
      if (team.rank() == 0) log_item(tag, result, *model, load_s.count(), team.size());
      return result.n_positions;
    } catch (const std::exception& e) {
      io::log_error(tag + " failed: " + e.what());
      if (team.rank() == 0) run_.record_failure(item.id, e.what());
      return -1;
    }
  }

 private:
  // "item ID (model/checkpoint): N positions in T ms (model ready in L ms)...": the item's
  // clock starts when its model is ready; L is the wait for it (load, or a preload's end).
  static void log_item(const std::string& tag, const stages::AccumulateResult& result, const models::Model& model,
                       double load_s, int team_size) {
    const auto memory = models::device_memory(model);
    io::log_info(tag + ": " + std::to_string(result.n_positions) + " positions in " +
                 std::to_string(static_cast<int>(result.wall_s * 1000)) + " ms" + passes_note(result) +
                 " (model ready in " + std::to_string(static_cast<int>(load_s * 1000)) + " ms; forward passes " +
                 std::to_string(static_cast<int>(result.forward_s * 1000)) + " ms, sums " +
                 std::to_string(static_cast<int>(result.exchange_s * 1000)) + " ms, state written in " +
                 std::to_string(static_cast<int>(result.write_s * 1000)) + " ms)" +
                 (team_size > 1 ? " on a team of " + std::to_string(team_size) + " ranks" : "") +
                 (memory ? "; peak GPU memory " + format_bytes(static_cast<double>(memory->peak_allocated)) : ""));
  }

  // Every rank of the team has the model, or all of them give up the item.
  static void agree_load(const io::Communicator& team, const std::exception_ptr& error) {
    const int failed = team.size() > 1 ? team.allreduce_max(error ? 1 : 0) : (error ? 1 : 0);
    if (error) std::rethrow_exception(error);
    if (failed) throw ModelError("another rank of the team could not load the checkpoint (see its log)");
  }

  // The tables' budget the whole team plans its passes with: the smallest of the ranks'
  // (each measures its own process), so that every rank runs the same passes; if one
  // rank has no room at all, every rank gives up the item.
  std::int64_t team_table_budget(const models::Model& model, const stages::EstimatorSetup& setup,
                                 const stages::LabelledText& text, const io::Communicator& team) {
    std::exception_ptr error;
    std::int64_t budget = 0;
    try {
      budget = table_budget(model, setup, text, team);
    } catch (...) {
      error = std::current_exception();
    }
    if (team.size() == 1) {
      if (error) std::rethrow_exception(error);
      return budget;
    }
    const int failed = team.allreduce_max(error ? 1 : 0);
    if (error) std::rethrow_exception(error);
    if (failed) throw UsageError("another rank of the team has no memory left for the label tables (see its log)");
    // 0 is no limit; budgets are exact in a double (< 2^53).
    const double none = 0x1.0p62;
    const double smallest = -team.allreduce_max(-(budget > 0 ? static_cast<double>(budget) : none));
    return smallest >= none ? 0 : static_cast<std::int64_t>(smallest);
  }

  fs::path reps_path(const WorkItem& item) const {
    const auto& m = study_.manifest;
    if (m.storage.layout == "per_checkpoint") {
      const auto& model = m.models[item.model_idx];
      return run_.root() / "reps" / model.id / (checkpoint_of(study_, item).name + ".h5");
    }
    return run_.item_dir(item.id) / "reps.h5";
  }

  // Starts loading the next item's checkpoint now, to compute beside this item's passes,
  // when it is another checkpoint of the same model (so as large as this one) and its
  // weights leave the passes of this item as they are. Returns the tables' budget net of
  // those weights (unchanged when nothing is loaded ahead).
  std::int64_t overlap_next_load(const WorkItem& item, const models::Model& model, const stages::EstimatorSetup& setup,
                                 const stages::LabelledText& text, const stages::AccumulateJob& job, std::int64_t budget,
                                 const io::Communicator& team) {
    const WorkItem* next = std::exchange(next_, nullptr);
    if (next == nullptr || team.size() > 1 || budget <= 0 || next->model_idx != item.model_idx) return budget;
    const auto& ckpt = checkpoint_of(study_, *next);
    if (ckpt.path == checkpoint_of(study_, item).path) return budget;
    const auto weights = weight_bytes(model);
    const auto layout = stages::with_labels(setup.layout, text);
    const auto row_counts = stages::table_row_counts(text, model.options().device == models::Device::Cuda,
                                                     study_.manifest.storage.representations);
    const auto passes = [&](std::int64_t bytes) {
      return stages::plan_passes(job.layers, layout, row_counts, 1, bytes, job.pass_bytes_per_layer).size();
    };
    try {
      if (budget <= weights || passes(budget - weights) != passes(budget)) {
        return budget;
      }
    } catch (const UsageError&) {  // the tables do not fit either way: the item says so
      return budget;
    }
    models_.preload(ckpt);
    return budget - weights;
  }

  std::int64_t weight_bytes(const models::Model& model) const {
    return model.n_parameters() * bytes_per_value(study_.manifest.compute.dtype);
  }

  // Bytes one pass's tables may take on this rank (0: no limit known, one pass).
  std::int64_t table_budget(const models::Model& model, const stages::EstimatorSetup& setup,
                            const stages::LabelledText& text, const io::Communicator& team) {
    if (const auto forced = forced_table_budget(team.rank())) return *forced;
    const auto& m = study_.manifest;
    const auto given = parse_memory_size(m.compute.memory_budget);
    MemoryInputs in;
    in.cuda = model.options().device == models::Device::Cuda;
    in.budget = given;
    const auto& c = model.config();
    in.hidden = c.hidden_size;
    in.intermediate = c.intermediate_size > 0 ? c.intermediate_size : 4 * c.hidden_size;
    in.n_heads = c.n_heads;
    in.tokens_per_batch = tokens_per_batch_;
    in.max_tokens = m.text.max_tokens;
    in.dtype_bytes = bytes_per_value(m.compute.dtype);
    in.n_bins = setup.layout.n_bins;
    in.n_sets = static_cast<std::int64_t>(text.label_sets.size());
    in.weights = weight_bytes(model);
    if (in.cuda) {
      const auto memory = models::device_memory(model);
      if (!given && !memory) return 0;
      // Ranks that share a GPU share its free memory.
      const int sharing = std::max(1, local_ranks_ / std::max(1, models::cuda_device_count()));
      if (memory) in.available = memory->free / sharing;
    } else {
      in.resident = resident_bytes();
      in.available = host_available_bytes() / std::max(1, local_ranks_);
    }
    const auto plan = plan_memory(in);
    if (team.rank() == 0 && !logged_budget_) {
      io::log_info("memory: " + format_bytes(static_cast<double>(plan.budget)) + " budget per rank (" +
                   (given ? "compute.memory_budget" : in.cuda ? "free GPU memory" : "available host memory") + "), " +
                   format_bytes(static_cast<double>(plan.reserved)) + " reserved, " +
                   format_bytes(static_cast<double>(plan.tables)) + " for a pass's label tables and per-layer buffers");
      logged_budget_ = true;
    }
    if (plan.tables <= 0) {
      throw UsageError("the memory budget (" + format_bytes(static_cast<double>(plan.budget)) + ") leaves nothing for the "
                       "label tables after " + format_bytes(static_cast<double>(plan.reserved)) +
                       " of weights, activations and the sample; raise compute.memory_budget or lower "
                       "compute.tokens_per_batch");
    }
    return plan.tables;
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

  // The checkpoint's own training record (trainer_state.json: global step, train and
  // held-out loss), which the metrics stage reports beside the estimates. A damaged file
  // costs the record, not the item.
  static nlohmann::json training_state(const Checkpoint& checkpoint) {
    try {
      const auto state = hf::read_trainer_state(checkpoint.path);
      if (!state) return nullptr;
      nlohmann::json j = {{"file", "trainer_state.json"}, {"global_step", state->global_step}};
      if (state->train_loss) j["train_loss"] = *state->train_loss;
      if (state->eval_loss) {
        j["eval_loss"] = *state->eval_loss;
        j["eval_step"] = state->eval_step;
      }
      return j;
    } catch (const CorruptDataError& e) {
      io::log_warn(std::string(e.what()) + "; the checkpoint's training losses are left out of the metrics");
      return nullptr;
    }
  }

  nlohmann::json provenance(const WorkItem& item, const ModelSpec& model_spec, const Checkpoint& ckpt,
                            const stages::LabelledText& text, const models::Model& model, int team_size) {
    const auto& m = study_.manifest;
    return {{"ibzoo_version", io::version_string()},
            {"git_hash", io::git_hash()},
            {"manifest", m.source.string()},
            {"manifest_hash", study_.plan.manifest_hash},
            {"model", model_spec.id},
            {"family", model_spec.family},
            {"checkpoint", ckpt.name},
            {"step", ckpt.step},
            {"model_path", ckpt.path.string()},
            {"weights", models_.weight_hashes(ckpt)},
            {"training", training_state(ckpt)},
            {"tokenizer", model_spec.tokenizer.string()},
            {"tokenizer_sha256", text.tokenizer_sha256},
            {"corpus_sha256", study_.corpus_sha256},
            {"text_id", text.id},
            {"label_id", text.label_id},
            {"documents", {0, study_.n_documents}},
            {"n_parameters", model_spec.n_parameters ? *model_spec.n_parameters : static_cast<double>(model.n_parameters())},
            {"dtype", m.compute.dtype},
            {"device", m.compute.device},
            {"final_norm", m.estimator.final_norm ? "apply" : "skip"},
            {"weighting", m.estimator.weighting},
            {"min_count", m.estimator.min_count},
            {"world_size", world_size_},
            {"team_size", team_size},
            {"tokens_per_batch", tokens_per_batch_},
            {"threads", threads_},
            {"spec", item.spec}};
  }

  const Study& study_;
  const Texts& texts_;
  const io::RunDir& run_;
  int threads_;
  std::int64_t tokens_per_batch_;
  int world_size_;
  int local_ranks_;
  bool logged_budget_ = false;
  ModelCache& models_;
  const WorkItem* next_ = nullptr;  // the item after the one running, when prefetch named it
  std::map<std::int64_t, stages::EstimatorSetup> setups_;
};

// Collective. Rank 0 names this invocation's claim attempt ("<scope>.<UTC time>.<random>",
// scope "all" or "sliceKofN"), removes the claim directories of earlier attempts of the
// same scope (and of any scope, once a week old), creates the new one and broadcasts its name.
std::string start_attempt(const io::RunDir& run, const std::optional<std::pair<int, int>>& slice,
                          const io::Communicator& comm) {
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
      io::log_info("accumulate: removed " + std::to_string(removed.size()) + " claim director" +
                   (removed.size() == 1 ? "y" : "ies") + " of earlier attempts under " + run.claims().string());
    }
    run.begin_attempt(attempt);
  }
  comm.broadcast_value(attempt);
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
  io::log_info("accumulate: stole " + std::to_string(n) + " item(s) from other ranks' slices (" + from + ")");
}

// Whether the job's ranks form one team per item: fewer items than ranks, or one
// layer's tables too big for one rank's given budget; never with per-position outputs.
bool use_teams(const Study& study, const Texts& texts, std::size_t n_pending, const io::Communicator& comm) {
  if (comm.size() == 1 || per_position_outputs(study.manifest)) return false;
  if (n_pending < static_cast<std::size_t>(comm.size())) return true;
  const auto given = parse_memory_size(study.manifest.compute.memory_budget);
  if (!given) return false;
  const auto base = estimator_layout(study.manifest.estimator, study.manifest.estimator.bins);
  for (const auto& [path, text] : texts.text) {
    const auto row_counts = stages::table_row_counts(text, study.manifest.compute.device == "cuda", study.manifest.storage.representations);
    if (stages::layer_table_bytes(stages::with_labels(base, text), row_counts, 1) > *given / 2) return true;
  }
  return false;
}

// Cost of each plan item (for the balance of the slices and the time left): its model's
// size when the manifest states it, else 1; every item runs over the same sample.
std::vector<double> item_costs(const Study& study) {
  std::vector<double> cost;
  for (const auto& item : study.plan.items) cost.push_back(study.manifest.models[item.model_idx].n_parameters.value_or(1.0));
  return cost;
}

// The items of one attempt, one at a time, with their progress reported by the rank 0 of
// the team that computes each.
class ItemLoop {
 public:
  // `is_claimed`: whether a plan item is claimed in this attempt (for the test hooks).
  ItemLoop(const Study& study, const Texts& texts, ItemRunner& runner, const std::vector<double>& cost,
           io::StudyProgress& progress, std::function<bool(std::size_t)> is_claimed)
      : study_(study), texts_(texts), runner_(runner), cost_(cost), progress_(progress),
        is_claimed_(std::move(is_claimed)), test_waits_(test_item_waits(study.plan.items.size())) {}

  void run(std::size_t item_idx, const io::Communicator& team) {
    const auto& m = study_.manifest;
    const auto& item = study_.plan.items[item_idx];
    const auto& key = m.models[item.model_idx].tokenizer.string();
    std::int64_t item_positions = 0;
    if (!texts_.failed.count(key)) {
      item_positions = texts_.text.at(key).positions.size() + (m.preference ? texts_.preference.at(key).positions.size() : 0);
    }
    const auto share = [&](std::int64_t n) {
      return item_positions > 0 ? cost_[item_idx] * static_cast<double>(n) / static_cast<double>(item_positions) : 0.0;
    };
    const bool reports = team.rank() == 0;
    if (reports) progress_.start_item(item_label(m, item));
    wait_for_test(test_waits_, item_idx, is_claimed_);
    std::int64_t reported = 0;
    const auto on_round = [&](std::int64_t n) {
      reported += n;
      progress_.advance_item(n, share(n));
    };
    const auto n_positions = runner_.run_item(item, team, reports ? std::function<void(std::int64_t)>(on_round) : nullptr);
    if (reports) {
      progress_.end_item(std::max<std::int64_t>(0, n_positions - reported), cost_[item_idx] - share(reported), n_positions < 0);
    }
    (n_positions >= 0 ? computed : failed)++;
  }

  std::int64_t computed = 0;
  std::int64_t failed = 0;

 private:
  const Study& study_;
  const Texts& texts_;
  ItemRunner& runner_;
  const std::vector<double>& cost_;
  io::StudyProgress& progress_;
  std::function<bool(std::size_t)> is_claimed_;
  std::map<std::size_t, TestItemWait> test_waits_;
};

// All ranks on each item in turn.
void run_as_teams(const Study& study, const std::vector<std::size_t>& pending, ItemRunner& runner, ItemLoop& loop,
                  const io::Communicator& comm, const std::atomic<int>& stop, RunSummary& summary) {
  for (std::size_t k = 0; k < pending.size(); ++k) {
    const int signal = stop.load();
    if (comm.allreduce_max(signal) != 0) {
      io::log_warn("stopping after the current item (signal " + std::to_string(signal) + ")");
      summary.interrupted = true;
      break;
    }
    if (k + 1 < pending.size()) runner.prefetch(study.plan.items[pending[k + 1]], study.plan.items[pending[k]]);
    loop.run(pending[k], comm);
  }
}

// Whole items per rank: cost-balanced slices, claims and stealing (pipeline/work_queue.h).
void run_as_slices(const Study& study, const std::vector<std::size_t>& pending, const std::vector<double>& cost,
                   const std::string& attempt, const io::RunDir& run, ItemRunner& runner, ItemLoop& loop,
                   const io::Communicator& comm, const std::atomic<int>& stop, RunSummary& summary) {
  std::vector<std::string> ids;
  for (const auto& item : study.plan.items) ids.push_back(item.id);
  WorkQueue queue(run, attempt, balanced_slices(pending, cost, comm.size()), std::move(ids), cost, comm.rank(),
                  owner_tag(comm.rank()));
  const auto self = io::Communicator::self();
  for (;;) {
    if (stop.load() != 0) {
      io::log_warn("stopping after the current item (signal " + std::to_string(stop.load()) + ")");
      summary.interrupted = true;
      break;
    }
    const auto next = queue.next();
    if (!next) break;
    const auto& item = study.plan.items[next->item_idx];
    if (next->stolen) {
      io::log_info("accumulate: stealing item " + item.id + " (plan index " + std::to_string(next->item_idx) +
                   ") from the end of rank " + std::to_string(next->owner) + "'s slice; " +
                   std::to_string(next->left_in_owner) + " unclaimed item(s) left there");
    }
    if (const auto after = queue.peek()) runner.prefetch(study.plan.items[*after], item);
    loop.run(next->item_idx, self);
  }
  log_steals(queue);
  summary.interrupted = comm.allreduce_max(summary.interrupted ? 1 : 0) != 0;
}

// Every rank must round as the others do (docs/ESTIMATOR.md, "CPU kernels"): a job whose
// nodes would pick different CPU kernels stops before computing anything.
void check_same_cpu_kernel(const io::Communicator& comm) {
  const int kernel = static_cast<int>(analysis::cpu_kernel());
  if (comm.allreduce_max(kernel) == -comm.allreduce_max(-kernel)) return;
  throw UsageError(owner_tag(comm.rank()) + " runs the " + analysis::to_string(analysis::cpu_kernel()) +
                   " CPU kernel and another rank of this job a different one (their CPUs differ in AVX2/FMA, or "
                   "IBZOO_CPU_KERNEL does), which would round differently; set IBZOO_CPU_KERNEL=baseline for every "
                   "rank (docs/ESTIMATOR.md, \"CPU kernels\")");
}

}  // namespace

std::shared_ptr<ModelCache> start_models(const Study& study, const std::vector<std::size_t>& pending,
                                         const RunOptions& options, const io::Communicator& comm) {
  const auto& m = study.manifest;
  auto models = std::make_shared<ModelCache>(m, threads_per_rank(m.compute, local_rank_count(comm)));
  if (pending.empty()) return models;
  // This rank's first item: the front of its slice when ranks take whole items, else the
  // team's first (use_teams decides after the label pass; a wrong guess costs one load).
  std::size_t first = pending.front();
  if (comm.size() > 1 && pending.size() >= static_cast<std::size_t>(comm.size())) {
    const auto slices = balanced_slices(pending, item_costs(study), comm.size());
    if (!slices[static_cast<std::size_t>(comm.rank())].empty()) first = slices[static_cast<std::size_t>(comm.rank())].front();
  }
  models->preload(checkpoint_of(study, study.plan.items[first]),
                  {options.tokens_per_batch.value_or(m.compute.tokens_per_batch), m.text.max_tokens});
  return models;
}

void accumulate_items(const Study& study, const Texts& texts, const std::vector<std::size_t>& pending,
                      ModelCache& models, const io::RunDir& run, const RunOptions& options,
                      const io::Communicator& comm, const std::atomic<int>& stop, RunSummary& summary) {
  const auto& m = study.manifest;
  const int local_ranks = local_rank_count(comm);
  ItemRunner runner(study, texts, run, models, threads_per_rank(m.compute, local_ranks),
                    options.tokens_per_batch.value_or(m.compute.tokens_per_batch), comm.size(), local_ranks);
  check_same_cpu_kernel(comm);
  const bool teams = use_teams(study, texts, pending.size(), comm);
  if (comm.rank() == 0) {
    io::log_info("accumulate: " + std::to_string(pending.size()) + " items to compute, " +
                 std::to_string(summary.n_done_before) + " already done, on " + std::to_string(comm.size()) + " rank" +
                 (comm.size() == 1 ? "" : "s") + (teams ? " working together on each item" : ""));
  }
  const auto cost = item_costs(study);
  const auto attempt = start_attempt(run, options.slice, comm);
  io::StudyProgress progress(accumulate_progress_options(pending, cost, summary.n_done_before, run.root(), attempt,
                                                         options.slice, options.progress, options.progress_interval),
                             comm);
  ItemLoop loop(study, texts, runner, cost, progress,
                [&](std::size_t i) { return run.is_claimed(attempt, study.plan.items[i].id); });
  if (teams) {
    run_as_teams(study, pending, runner, loop, comm, stop, summary);
  } else {
    run_as_slices(study, pending, cost, attempt, run, runner, loop, comm, stop, summary);
  }
  progress.finish();
  summary.n_computed = comm.allreduce_sum(teams && comm.rank() != 0 ? 0 : loop.computed);
  summary.n_failed = comm.allreduce_sum(teams && comm.rank() != 0 ? 0 : loop.failed);
}

}  // namespace ibzoo::pipeline
