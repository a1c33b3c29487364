// Accumulate: runs one model checkpoint (a work item) over the labelled sample and
// builds, for every estimated layer, the estimator's exact sums where the forward
// pass runs: each batch's soft assignments go straight into per-label tables (on
// the GPU with models::DeviceTables for a CUDA model, else on the host with
// analysis::EstimatorState) and nothing per position is kept. Writes
// <run>/items/<id>/state.h5 (the sums, a few KB), provenance.json and, last, DONE;
// opt-in outputs: assignments.h5 (every position's soft assignments) and the
// layer representations (storage.representations).
//
// Passes: when the tables of all layers exceed the per-rank budget, the layers are
// split into groups whose tables fit, and each group is one pass over the sample
// (the forward pass stops at the group's last layer). When one layer's tables alone
// do not fit, the rows are split too: S row shares, each pass keeping the rows with
// id % S == s of its layers (the first share adds the positions' scalar sums, the
// others only their rows). Every pass adds the same integers as one pass would, so
// the result does not depend on the budget.
//
// Team (several ranks on one checkpoint): the sample's batches are the same as on
// one rank and are dealt round robin; each rank keeps the table rows with
// id % P == rank and, after every round, the ranks exchange that round's soft
// assignments (io::Communicator::allgather), so that each rank's rows see every
// position; the scalar sums of a position are added by the rank that ran it. The
// merge (stages/merge.h) adds the ranks' sums exactly: the sums, state.h5 and the
// metrics are byte-identical for any team size.
//
// Collective over `team`: every rank of it calls with the same job; rank 0 writes
// the files. Throws ModelError (NaN/Inf activations, model failures), WriteError.
#pragma once

#include "analysis/estimator_state.h"
#include "analysis/soft_entropy.h"
#include "io/mpi.h"
#include "io/run_dir.h"
#include "stages/labels.h"
#include "stages/pass_plan.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::models {
class Model;
}

namespace ibzoo::stages {

// The estimator configuration for one hidden width: W, eps and the view layout
// (bins, bootstrap, subsets; the label sets come from the text).
struct EstimatorSetup {
  analysis::SoftAssigner assigner;
  analysis::StateLayout layout;
  std::string calibration;
  std::string w_checksum;
};

struct RepresentationStorage {
  bool enabled = false;
  std::vector<int> layers;           // empty: all
  bool float16 = true;
  std::int64_t chunk_tokens = 1024;
  int compression = 4;
  std::filesystem::path path;        // reps file of the text part; the preference part's is "<stem>.preference.h5"
};

// One text the item runs over: the sample ("text") or the preference pairs ("preference").
struct TextPart {
  std::string name;
  const LabelledText* text = nullptr;
};

struct AccumulateJob {
  std::string item_id;
  io::RunDir run;
  std::vector<int> layers;                   // layers to estimate (resolve_layers)
  std::int64_t tokens_per_batch = 4096;
  int threads = 1;
  std::int64_t table_budget_bytes = 0;       // per rank, for one pass's tables and per-layer buffers; 0: no limit
  std::int64_t pass_bytes_per_layer = 0;     // those buffers per layer of a pass (stages::pass_bytes_per_layer)
  RepresentationStorage storage;
  std::optional<bool> assignments_float16;   // opt-in per-position output: nullopt none, else float16 or float32
  // Called on team rank 0 when the item's sums are written; merged into provenance.json
  // (late, so that what it needs, such as the weight files' hashes, is made meanwhile).
  std::function<nlohmann::json()> provenance;
  // Called on team rank 0 after each round with the positions the team added in it.
  std::function<void(std::int64_t positions)> on_progress;
  // Benchmarks only: run the forward passes alone (no estimator), log the time and
  // write nothing (the item then fails with a message saying so).
  bool forward_only = false;
  // Tests only: each rank waits this long before the team's merge, so that a kill can
  // land there (tests/scripts/team_kill_test.sh). Results do not change.
  int test_merge_delay_ms = 0;
};

struct AccumulateResult {
  std::int64_t n_documents = 0;
  std::int64_t n_tokens = 0;
  std::int64_t n_positions = 0;
  int n_passes = 0;              // row shares x layer groups
  int n_row_shares = 1;
  std::int64_t table_bytes = 0;  // of the largest pass, on this rank
  double wall_s = 0;             // the whole item, up to DONE
  double forward_s = 0;          // forward passes with the estimator's device work (host: with the table adds)
  double exchange_s = 0;         // the tables' sums (team: with exchanging soft assignments and merging sums)
  double write_s = 0;            // writing state.h5
};

AccumulateResult accumulate(const AccumulateJob& job, std::span<const TextPart> parts, const models::Model& model,
                            const EstimatorSetup& setup, const io::Communicator& team);

// Which layers an item estimates: `wanted` (validated against the model) or all 0..L.
// Throws ModelError naming the layer when it does not exist.
std::vector<int> resolve_layers(const std::vector<int>& wanted, int n_layers, const std::string& model_id);

}  // namespace ibzoo::stages
