// Data flow: labels -> [accumulate: forward pass + label tables, per layer group] -> merge -> metrics.
// One batch at a time: the forward pass streams each layer to the accumulator (on the
// device, or the host for a CPU model), which adds the soft assignments to the tables
// at once; nothing per position outlives its batch unless an opt-in output asks.
#include "stages/accumulate.h"
#include "stages/accumulate_outputs.h"
#include "stages/parallel.h"

#include "errors/check.h"
#include "errors/error.h"
#include "io/float16.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/log.h"
#include "io/state_h5.h"
#include "models/device_tables.h"
#include "models/model.h"
#include "stages/merge.h"
#include "stages/spill.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

namespace ibzoo::stages {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

using accumulate_parts::Batch;
using accumulate_parts::make_batch;
using accumulate_parts::plan_batches;
using accumulate_parts::Outputs;

// Soft assignments of n_rows representation rows (z: [n_rows, d]) into p, row
// chunks in parallel; each row's result does not depend on the chunking.
void assign_rows(const analysis::SoftAssigner& assigner, const float* z, std::int64_t n_rows, float* p, int n_threads) {
  constexpr std::int64_t kChunk = 960;
  const auto n_chunks = static_cast<std::size_t>((n_rows + kChunk - 1) / kChunk);
  parallel_for(n_chunks, n_threads, [&](std::size_t c) {
    const auto begin = static_cast<std::int64_t>(c) * kChunk;
    const auto rows = std::min(kChunk, n_rows - begin);
    assigner.assign(z + begin * assigner.dim(), rows, p + begin * assigner.n_bins(), begin);
  });
}

void check_finite(std::span<const float> rows, std::int64_t dim, int layer, const std::string& item_id) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!std::isfinite(rows[i])) {
      throw ModelError("item " + item_id + ": layer " + std::to_string(layer) + " has a non-finite activation (" +
                       std::to_string(rows[i]) + ") at token row " + std::to_string(static_cast<std::int64_t>(i) / dim) +
                       " of its batch; try compute.dtype float32, or check the checkpoint's weights");
    }
  }
}

// The rows a pass keeps, and what it adds of the batches it runs itself: everything
// in the first row share, only the rows in the later ones (their positions' scalar
// sums are already in).
struct PassShare {
  analysis::RowShare rows;
  analysis::Contribution own = analysis::Contribution::kAll;
};

// The tables of one pass, on the device or on the host.
class Accumulator {
 public:
  virtual ~Accumulator() = default;
  // Runs the batch forward and adds everything of its positions; with p_out the
  // pass's assignments come back ([layers][n][m]).
  virtual void add_own(const Batch& batch, std::vector<float>* p_out, Outputs* outputs) = 0;
  // Another rank's batch: its assignments go to this rank's rows.
  virtual void add_other(const Batch& batch, std::span<const float> p) = 0;
  virtual std::vector<analysis::LayerSums> sums() = 0;
};

class DeviceAccumulator final : public Accumulator {
 public:
  DeviceAccumulator(const models::Model& model, const models::DeviceAssigner& assigner, const analysis::StateLayout& layout,
                    const PassShare& share, const std::vector<int>& layers, bool forward_only)
      : model_(model), tables_(model, assigner, layout, share.rows, layers), own_(share.own), last_layer_(layers.back()),
        forward_only_(forward_only) {}
  void add_own(const Batch& batch, std::vector<float>* p_out, Outputs*) override {
    if (forward_only_) {
      model_.forward_only(batch.sequences, last_layer_);
      return;
    }
    const auto labels = batch.label_spans();
    tables_.add_forward(batch.sequences, {batch.rows, labels, batch.doc_ids}, p_out, own_);
  }
  void add_other(const Batch& batch, std::span<const float> p) override {
    const auto labels = batch.label_spans();
    tables_.add_assignments(p, {batch.rows, labels, batch.doc_ids}, analysis::Contribution::kRowsOnly);
  }
  std::vector<analysis::LayerSums> sums() override {
    if (forward_only_) model_.synchronize();
    return tables_.sums();
  }

 private:
  const models::Model& model_;
  models::DeviceTables tables_;
  analysis::Contribution own_;
  int last_layer_;
  bool forward_only_;
};

class HostAccumulator final : public Accumulator {
 public:
  // With `spill`: the pass resumes from hidden state resume_from (> 0) read from it,
  // and writes hidden state spill_layer (>= 0) to it.
  HostAccumulator(const models::Model& model, const analysis::SoftAssigner& assigner, const analysis::StateLayout& layout,
                  const analysis::RowCounts& row_counts, const PassShare& share, std::vector<int> layers, int threads,
                  std::string item_id, HiddenSpill* spill, int resume_from, int spill_layer)
      : model_(model), assigner_(assigner), layers_(std::move(layers)), own_(share.own), threads_(threads),
        item_id_(std::move(item_id)), spill_(spill), resume_from_(resume_from), spill_layer_(spill_layer) {
    for (std::size_t l = 0; l < layers_.size(); ++l) states_.emplace_back(layout, share.rows, row_counts);
  }

  void add_own(const Batch& batch, std::vector<float>* p_out, Outputs* outputs) override {
    const auto n = batch.n_positions();
    const auto m = assigner_.n_bins();
    if (p_out) p_out->assign(static_cast<std::size_t>(static_cast<std::int64_t>(layers_.size()) * n * m), 0.0F);
    std::vector<int> wanted = layers_;
    if (outputs) {
      for (int l : outputs->stored_layers()) wanted.push_back(l);
      std::sort(wanted.begin(), wanted.end());
      wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    }
    if (model_.options().device != models::Device::Cpu) {
      forward_part(batch, 0, batch.sequences.size(), 0, n, p_out, outputs, wanted);
      return;
    }
    // On the CPU one sequence at a time: a sequence's hidden states are then the same bits
    // in any batch (torch's host products round differently for other row counts), so
    // the results do not depend on compute.tokens_per_batch. Its positions are contiguous.
    std::int64_t token = 0, pos = 0;
    for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
      const auto end_token = token + static_cast<std::int64_t>(batch.sequences[s].size());
      auto end_pos = pos;
      while (end_pos < n && batch.rows[static_cast<std::size_t>(end_pos)] < end_token) ++end_pos;
      forward_part(batch, s, s + 1, pos, end_pos, p_out, outputs, wanted);
      token = end_token;
      pos = end_pos;
    }
  }

  void add_other(const Batch& batch, std::span<const float> p) override {
    const auto n = batch.n_positions();
    const auto m = assigner_.n_bins();
    const auto labels = batch.label_spans();
    for (std::size_t slot = 0; slot < layers_.size(); ++slot) {
      states_[slot].add_assignments(p.data() + static_cast<std::int64_t>(slot) * n * m, n, labels, batch.doc_ids, threads_,
                                    analysis::Contribution::kRowsOnly);
    }
  }

  std::vector<analysis::LayerSums> sums() override {
    std::vector<analysis::LayerSums> out;
    for (const auto& state : states_) out.push_back(state.sums(threads_));
    return out;
  }

 private:
  // Sequences [seq_begin, seq_end) of the batch in one forward pass, with their
  // positions [pos_begin, pos_end); p_out holds the whole batch's [layers][n][m].
  void forward_part(const Batch& batch, std::size_t seq_begin, std::size_t seq_end, std::int64_t pos_begin,
                    std::int64_t pos_end, std::vector<float>* p_out, Outputs* outputs, const std::vector<int>& wanted) {
    const auto n_batch = batch.n_positions();
    const auto n = pos_end - pos_begin;
    const auto m = assigner_.n_bins();
    const auto d = assigner_.dim();
    const std::vector<std::vector<std::int32_t>> sequences(batch.sequences.begin() + static_cast<std::ptrdiff_t>(seq_begin),
                                                           batch.sequences.begin() + static_cast<std::ptrdiff_t>(seq_end));
    std::int64_t first_token = 0, n_tokens = 0;
    for (std::size_t s = 0; s < seq_end; ++s) {
      (s < seq_begin ? first_token : n_tokens) += static_cast<std::int64_t>(batch.sequences[s].size());
    }
    std::vector<std::span<const std::int32_t>> labels;
    for (const auto& ids : batch.label_ids) labels.emplace_back(ids.data() + pos_begin, static_cast<std::size_t>(n));
    const std::span<const std::int64_t> docs(batch.doc_ids.data() + pos_begin, static_cast<std::size_t>(n));
    const auto sink = [&](int layer, const float* data, std::int64_t n_rows, std::int64_t dim) {
      IBZOO_CHECK(n_rows == n_tokens && dim == d, "layer " << layer << " gave " << n_rows << "x" << dim);
      const std::span<const float> rows(data, static_cast<std::size_t>(n_rows * dim));
      check_finite(rows, dim, layer, item_id_);
      if (outputs && outputs->stores(layer)) outputs->add_representations(layer, rows, n_rows);
      if (layer == spill_layer_) spill_->write(rows);
      const auto it = std::find(layers_.begin(), layers_.end(), layer);
      if (it == layers_.end() || n == 0) return;
      const auto slot = static_cast<std::size_t>(it - layers_.begin());
      selected_.resize(static_cast<std::size_t>(n * d));
      for (std::int64_t p = 0; p < n; ++p) {
        const auto* src = data + (batch.rows[static_cast<std::size_t>(pos_begin + p)] - first_token) * d;
        std::copy(src, src + d, selected_.begin() + p * d);
      }
      float* p = nullptr;
      if (p_out) {
        p = p_out->data() + (static_cast<std::int64_t>(slot) * n_batch + pos_begin) * m;
      } else {
        p_buf_.resize(static_cast<std::size_t>(n * m));
        p = p_buf_.data();
      }
      try {
        assign_rows(assigner_, selected_.data(), n, p, threads_);
      } catch (const CorruptDataError& e) {
        throw ModelError("item " + item_id_ + ": layer " + std::to_string(layer) + ": " + e.what());
      }
      states_[slot].add_assignments(p, n, labels, docs, threads_, own_);
    };
    if (resume_from_ > 0) {
      start_.resize(static_cast<std::size_t>(n_tokens * d));
      spill_->read(start_);
      model_.forward_layers_from(sequences, resume_from_, start_, sink, wanted);
    } else {
      model_.forward_layers(sequences, sink, wanted);
    }
  }

  const models::Model& model_;
  const analysis::SoftAssigner& assigner_;
  std::vector<int> layers_;
  analysis::Contribution own_;
  int threads_;
  std::string item_id_;
  std::vector<analysis::EstimatorState> states_;
  std::vector<float> selected_;
  std::vector<float> p_buf_;
  HiddenSpill* spill_;
  int resume_from_;
  int spill_layer_;
  std::vector<float> start_;
};

std::string message_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

// One rank's word on the work it shared with its team.
struct TeamStatus {
  bool failed = false;
  std::string message;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TeamStatus, failed, message)

// Collective over the team: if any rank failed, every rank throws (the failing rank
// its own error, the others a ModelError naming it), so that no rank waits forever
// in the next collective.
void agree(const io::Communicator& team, const std::exception_ptr& error, const std::string& item_id) {
  if (team.size() == 1) {
    if (error) std::rethrow_exception(error);
    return;
  }
  const auto all = team.allgather_value(TeamStatus{error != nullptr, error ? message_of(error) : std::string()});
  if (error) std::rethrow_exception(error);
  for (std::size_t q = 0; q < all.size(); ++q) {
    if (all[q].failed) throw ModelError("item " + item_id + ": rank " + std::to_string(q) + " of its team failed: " + all[q].message);
  }
}

struct PartResult {
  io::PartSums sums;
  std::int64_t n_documents = 0, n_tokens = 0, n_positions = 0;
  int n_passes = 0;
  int n_row_shares = 1;
  std::int64_t table_bytes = 0;
};

// What the passes over one part share.
struct PartRun {
  const AccumulateJob& job;
  const LabelledText& text;
  const models::Model& model;
  const EstimatorSetup& setup;
  const models::DeviceAssigner* device_assigner;
  const io::Communicator& team;
  const analysis::StateLayout& layout;
  const analysis::RowCounts& row_counts;  // host tables: narrow cells for small rows
  const PassPlan& plan;
  const std::vector<accumulate_parts::BatchDocs>& batches;
  Outputs* outputs;
  AccumulateResult& timing;
  HiddenSpill* spill;  // host passes on the CPU with several layer groups, else null
};

// The tables of one pass, on every rank of the team or on none. Host passes of group
// g > 0 resume from the spilled last layer of group g - 1 (unless that is layer 0),
// and the first row share's pass of every group but the last spills its last layer.
std::unique_ptr<Accumulator> make_accumulator(const PartRun& r, const PassShare& share, std::int64_t pass_idx) {
  const auto n_groups = static_cast<std::int64_t>(r.plan.layer_groups.size());
  const auto group = pass_idx % n_groups;
  const auto& layers = r.plan.layer_groups[static_cast<std::size_t>(group)];
  std::unique_ptr<Accumulator> acc;
  std::exception_ptr error;
  try {
    if (r.device_assigner && !r.job.storage.enabled) {
      acc = std::make_unique<DeviceAccumulator>(r.model, *r.device_assigner, r.layout, share, layers, r.job.forward_only);
    } else {
      int resume_from = 0, spill_layer = -1;
      if (r.spill) r.spill->finish();  // the last pass's file is complete on disk
      if (r.spill && group > 0) resume_from = r.plan.layer_groups[static_cast<std::size_t>(group - 1)].back();
      if (resume_from > 0) r.spill->start_reading(resume_from);
      if (r.spill && pass_idx + 1 < n_groups && layers.back() > 0) spill_layer = layers.back();
      if (spill_layer >= 0) r.spill->start_writing(spill_layer);
      acc = std::make_unique<HostAccumulator>(r.model, r.setup.assigner, r.layout, r.row_counts, share, layers, r.job.threads,
                                              r.job.item_id, r.spill, resume_from, spill_layer);
    }
  } catch (...) {
    error = std::current_exception();
  }
  agree(r.team, error, r.job.item_id);
  return acc;
}

// One round of a pass: each rank runs its batch, and in a team every rank adds the
// others' assignments to its rows. Returns the round's positions.
std::int64_t run_round(const PartRun& r, Accumulator& acc, std::int64_t round, const std::vector<int>& layers,
                       Outputs* reps_out, Outputs* p_sink, bool first_pass, std::vector<float>& p) {
  const int p_team = r.team.size();
  const auto n_batches = static_cast<std::int64_t>(r.batches.size());
  const auto k = round * p_team + r.team.rank();
  const auto t_forward = Clock::now();
  std::exception_ptr error;
  p.clear();
  if (k < n_batches) {
    try {
      const auto batch = make_batch(r.text, r.batches[static_cast<std::size_t>(k)]);
      acc.add_own(batch, p_team > 1 || p_sink ? &p : nullptr, reps_out);
      if (p_sink) p_sink->add_assignments(layers, p, batch, first_pass);
      if (reps_out) reps_out->add_documents(batch);
    } catch (...) {
      error = std::current_exception();
    }
  }
  r.timing.forward_s += seconds_since(t_forward);
  if (p_team == 1 && error) std::rethrow_exception(error);
  std::int64_t positions = 0;
  for (std::int64_t q = 0; q < p_team && round * p_team + q < n_batches; ++q) {
    positions += r.batches[static_cast<std::size_t>(round * p_team + q)].n_positions;
  }
  if (p_team == 1) return positions;
  const auto t_exchange = Clock::now();
  agree(r.team, error, r.job.item_id);
  const auto all = r.team.allgather_array(std::span<const float>(p));
  for (int q = 0; q < p_team; ++q) {
    const auto kq = round * p_team + q;
    if (q == r.team.rank() || kq >= n_batches) continue;
    acc.add_other(make_batch(r.text, r.batches[static_cast<std::size_t>(kq)]), all[static_cast<std::size_t>(q)]);
  }
  r.timing.exchange_s += seconds_since(t_exchange);
  return positions;
}

// Pass `pass_idx` of the plan (a row share of a layer group): every round, then the
// team's merged sums added to `per_layer`.
void run_pass(const PartRun& r, std::int64_t pass_idx, std::map<int, analysis::LayerSums>& per_layer, PartResult& result) {
  const auto& plan = r.plan;
  const int p_team = r.team.size();
  const auto share_idx = pass_idx / static_cast<std::int64_t>(plan.layer_groups.size());
  const auto& layers = plan.layer_groups[static_cast<std::size_t>(pass_idx) % plan.layer_groups.size()];
  const bool first_pass = pass_idx == 0;
  const PassShare share{{p_team * plan.row_shares, r.team.rank() + p_team * share_idx},
                        share_idx == 0 ? analysis::Contribution::kAll : analysis::Contribution::kRowsOnly};
  result.table_bytes = std::max(result.table_bytes, plan.bytes_per_layer * static_cast<std::int64_t>(layers.size()));
  const auto acc = make_accumulator(r, share, pass_idx);
  // Representations are written in the first pass only; assignments in the first
  // row share's passes (one per layer group).
  Outputs* reps_out = r.outputs && first_pass && r.job.storage.enabled ? r.outputs : nullptr;
  Outputs* p_sink = r.outputs && share_idx == 0 && r.outputs->wants_assignments() ? r.outputs : nullptr;
  std::vector<float> p;
  const auto n_rounds = (static_cast<std::int64_t>(r.batches.size()) + p_team - 1) / p_team;
  for (std::int64_t round = 0; round < n_rounds; ++round) {
    const auto positions = run_round(r, *acc, round, layers, reps_out, p_sink, first_pass, p);
    if (r.job.on_progress && r.team.rank() == 0) r.job.on_progress(positions / plan.size());
  }
  const auto t_merge = Clock::now();
  std::vector<analysis::LayerSums> sums;
  std::exception_ptr error;
  try {
    sums = acc->sums();
  } catch (...) {
    error = std::current_exception();
  }
  agree(r.team, error, r.job.item_id);
  if (r.job.test_merge_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(r.job.test_merge_delay_ms));
  const auto merged = merge_sums(r.team, sums);
  r.timing.exchange_s += seconds_since(t_merge);
  for (std::size_t slot = 0; slot < layers.size(); ++slot) {
    const auto [it, first] = per_layer.try_emplace(layers[slot], merged[slot]);
    if (!first) it->second.add(merged[slot]);
  }
}

void log_passes(const AccumulateJob& job, const std::string& part, const PassPlan& plan) {
  io::log_info("item " + job.item_id + " (" + part + "): " + std::to_string(plan.size()) + " passes (" +
               std::to_string(plan.row_shares) + " row share(s) x " + std::to_string(plan.layer_groups.size()) +
               " layer group(s)) of " + std::to_string(plan.bytes_per_layer >> 20) +
               " MiB per layer of tables within the " + std::to_string(job.table_budget_bytes >> 20) + " MiB budget");
}

// Where the host passes keep hidden states between layer groups (stages/spill.h): on
// the CPU, with several groups whose boundaries are past layer 0, and no per-position
// outputs. Sized for this rank's share of the sample's tokens.
std::optional<HiddenSpill> open_spill(const AccumulateJob& job, const std::string& part, const LabelledText& text,
                                      const models::Model& model, const PassPlan& plan, const io::Communicator& team,
                                      bool host_pass) {
  std::int64_t boundaries = 0;
  for (std::size_t g = 0; g + 1 < plan.layer_groups.size(); ++g) boundaries += plan.layer_groups[g].back() > 0;
  if (!host_pass || model.options().device != models::Device::Cpu || job.forward_only || boundaries == 0) return std::nullopt;
  const auto bytes = (text.n_tokens() / team.size() + 1) * model.hidden_size() * static_cast<std::int64_t>(sizeof(float));
  return HiddenSpill::open("item " + job.item_id + " (" + part + ")", bytes, boundaries);
}

// Every pass of one part; the team's merged sums of every layer.
PartResult run_part(const AccumulateJob& job, const TextPart& part, const models::Model& model,
                    const EstimatorSetup& setup, const models::DeviceAssigner* device_assigner,
                    const io::Communicator& team, AccumulateResult& timing) {
  const auto& text = *part.text;
  const auto layout = with_labels(setup.layout, text);
  const auto row_counts = table_row_counts(text, device_assigner != nullptr, job.storage.enabled);
  const auto plan = plan_passes(job.layers, layout, row_counts, team.size(), job.table_budget_bytes, job.pass_bytes_per_layer);
  const auto batches = plan_batches(text, job.tokens_per_batch);
  PartResult result;
  result.n_documents = text.corpus.n_docs();
  result.n_tokens = text.n_tokens();
  result.n_positions = text.positions.size();
  result.n_passes = static_cast<int>(plan.size());
  result.n_row_shares = static_cast<int>(plan.row_shares);
  std::optional<Outputs> outputs;
  if (job.assignments_float16 || job.storage.enabled) {
    IBZOO_CHECK(team.size() == 1, "per-position outputs need one rank per checkpoint");
    outputs.emplace(job, part.name, layout, setup.assigner.dim());
  }
  if (plan.size() > 1 && team.rank() == 0) log_passes(job, part.name, plan);
  auto spill = open_spill(job, part.name, text, model, plan, team, device_assigner == nullptr && !outputs);
  const PartRun r{job,     text,     model, setup, device_assigner, team, layout, row_counts, plan, batches,
                  outputs ? &*outputs : nullptr, timing, spill ? &*spill : nullptr};
  // Every layer's sums, added over the row shares.
  std::map<int, analysis::LayerSums> per_layer;
  for (std::int64_t pass_idx = 0; pass_idx < plan.size(); ++pass_idx) run_pass(r, pass_idx, per_layer, result);
  for (auto& [layer, sums] : per_layer) {
    result.sums.layers.push_back(layer);
    result.sums.per_layer.push_back(std::move(sums));
  }
  if (outputs) outputs->commit();
  return result;
}

// The item's sums (state.h5), committed whole.
void write_state(const AccumulateJob& job, const std::vector<std::pair<std::string, PartResult>>& done,
                 const AccumulateResult& result) {
  const auto state_path = job.run.item_state(job.item_id);
  const auto state_temp = io::temp_path_for(state_path);
  auto file = io::H5File::create(state_temp);
  for (const auto& [name, r] : done) io::write_sums(file, name, r.sums);
  file.set_attr("/", "item", job.item_id);
  file.set_attr("/", "n_positions", result.n_positions);
  file.set_attr("/", "n_tokens", result.n_tokens);
  file.close();
  io::commit_file(state_temp, state_path);
}

// provenance.json: the caller's record, and how this item was computed.
void write_provenance(const AccumulateJob& job, const std::filesystem::path& dir,
                      const std::vector<std::pair<std::string, PartResult>>& done, const AccumulateResult& result,
                      const models::Model& model, const EstimatorSetup& setup, int team_size) {
  auto provenance = job.provenance ? job.provenance() : nlohmann::json::object();
  provenance["item"] = job.item_id;
  provenance["n_documents"] = result.n_documents;
  provenance["n_tokens"] = result.n_tokens;
  provenance["n_positions"] = result.n_positions;
  for (const auto& [name, r] : done) {
    if (name != "text") provenance[name] = {{"n_documents", r.n_documents}, {"n_tokens", r.n_tokens}, {"n_positions", r.n_positions}};
  }
  provenance["layers"] = job.layers;
  provenance["eps"] = setup.assigner.eps();
  provenance["calibration"] = setup.calibration;
  provenance["reference_points_checksum"] = setup.w_checksum;
  provenance["team_size"] = team_size;
  provenance["passes"] = result.n_passes;
  provenance["row_shares"] = result.n_row_shares;
  provenance["layer_groups"] = result.n_passes / std::max(1, result.n_row_shares);
  provenance["table_bytes_per_rank"] = result.table_bytes;
  const bool on_device = model.options().device == models::Device::Cuda && !job.storage.enabled;
  provenance["accumulator"] = on_device ? "device" : "host";
  if (!on_device) provenance["cpu_kernel"] = analysis::to_string(analysis::cpu_kernel());
  provenance["wall_time_s"] = result.wall_s;
  provenance["time_s"] = {{"forward", result.forward_s}, {"sums", result.exchange_s}, {"write", result.write_s}};
  io::write_file_atomic(dir / "provenance.json", provenance.dump(2) + "\n");
}

}  // namespace

std::vector<int> resolve_layers(const std::vector<int>& wanted, int n_layers, const std::string& model_id) {
  std::vector<int> layers;
  if (wanted.empty()) {
    for (int l = 0; l <= n_layers; ++l) layers.push_back(l);
    return layers;
  }
  for (int l : wanted) {
    if (l > n_layers) {
      throw ModelError("model " + model_id + " has layers 0.." + std::to_string(n_layers) + ", but 'estimator.layers' asks for " +
                       std::to_string(l));
    }
    layers.push_back(l);
  }
  std::sort(layers.begin(), layers.end());
  layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  return layers;
}

AccumulateResult accumulate(const AccumulateJob& job, std::span<const TextPart> parts, const models::Model& model,
                            const EstimatorSetup& setup, const io::Communicator& team) {
  const auto start = Clock::now();
  IBZOO_CHECK(model.hidden_size() == setup.assigner.dim(),
              "estimator built for d=" << setup.assigner.dim() << ", model has " << model.hidden_size());
  std::filesystem::path dir;
  if (team.rank() == 0) dir = job.run.begin_item(job.item_id);
  team.barrier();
  std::optional<models::DeviceAssigner> device_assigner;
  if (model.options().device == models::Device::Cuda) {
    const auto& points = setup.assigner.points();
    device_assigner.emplace(model, points.w, points.n_points, points.dim, setup.assigner.eps());
  }
  AccumulateResult result;
  std::vector<std::pair<std::string, PartResult>> done;
  for (const auto& part : parts) {
    auto r = run_part(job, part, model, setup, device_assigner ? &*device_assigner : nullptr, team, result);
    result.n_passes = std::max(result.n_passes, r.n_passes);
    result.n_row_shares = std::max(result.n_row_shares, r.n_row_shares);
    result.table_bytes = std::max(result.table_bytes, r.table_bytes);
    if (part.name == "text") {
      result.n_documents = r.n_documents;
      result.n_tokens = r.n_tokens;
      result.n_positions = r.n_positions;
    }
    done.emplace_back(part.name, std::move(r));
  }
  if (job.forward_only) {
    result.wall_s = seconds_since(start);
    io::log_info("item " + job.item_id + ": forward passes only (benchmark): " + std::to_string(result.n_positions) +
                 " positions, " + std::to_string(result.n_tokens) + " tokens in " +
                 std::to_string(static_cast<int>(result.wall_s * 1000)) + " ms");
    throw Error("forward-only benchmark run (IBZOO_BENCH_FORWARD_ONLY): no estimate, nothing written");
  }
  if (team.rank() == 0) {
    const auto t_write = Clock::now();
    write_state(job, done, result);
    result.write_s = seconds_since(t_write);
    result.wall_s = seconds_since(start);
    write_provenance(job, dir, done, result, model, setup, team.size());
    job.run.mark_done(job.item_id, {{"n_positions", result.n_positions}, {"wall_time_s", result.wall_s}});
  } else {
    result.wall_s = seconds_since(start);
  }
  team.barrier();
  return result;
}

}  // namespace ibzoo::stages
