// The streaming estimator's tables on the model's device (DESIGN.md section 2):
// each batch's soft assignments go straight from the forward pass into per-label
// tables and scalar sums there, so hidden states and assignments never leave the
// device. The same exact sums as analysis::EstimatorState (fixed-point int64,
// docs/ESTIMATOR.md "Exact sums"), kept as torch tensors:
//   per layer and view: mass [rows in share, m] (int64 units of 2^-36), sum_p [m],
//     the singleton entropies of every label set (int64 units of 2^-32 nats);
//   per view: the rows' (weighted) counts, n and the singleton counts (layer-free).
// Results are bitwise independent of the batch size, the order of batches and the
// row share split (integer sums; each position's and each row's entropy is an
// elementwise, fixed-order computation), on a given device type. Torch-free header.
//
// Not thread-safe. One DeviceTables per (pass, part) of an item: its layers are the
// pass's layer group, so that the tables fit the device (stages/accumulate.h).
#pragma once

#include "analysis/estimator_state.h"
#include "models/model.h"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace ibzoo::models {

class DeviceTables {
 public:
  // layers: ascending hidden-state indices. Allocates the tables on the model's
  // device (ModelError when they do not fit, naming the bytes asked for).
  DeviceTables(const Model& model, const DeviceAssigner& assigner, analysis::StateLayout layout,
               analysis::RowShare share, std::vector<int> layers);
  ~DeviceTables();
  DeviceTables(const DeviceTables&) = delete;
  DeviceTables& operator=(const DeviceTables&) = delete;

  // Device bytes of the tables of `n_layers` layers (views x rows x (8 m) per layer,
  // plus the counts).
  static std::int64_t bytes(const analysis::StateLayout& layout, const analysis::RowShare& share, std::size_t n_layers);

  // A batch's estimator positions (host arrays, copied in before the call returns).
  struct Positions {
    std::span<const std::int64_t> rows;                       // row of the batch's concatenated unpadded tokens
    std::span<const std::span<const std::int32_t>> labels;    // [S][n]: row id, kSingleton or kDropped
    std::span<const std::int64_t> doc_ids;                    // [n]
  };

  // One forward pass of `sequences`, ending at the last of the layers, whose
  // assignments are added (everything, or with kRowsOnly only the rows: a later row
  // share of the same positions, stages/accumulate.h). The work is queued on
  // the device and the call returns (at most two batches in flight). With p_out,
  // the assignments come back as float32 [layers][n][m] (the call then waits for them).
  void add_forward(const std::vector<std::vector<std::int32_t>>& sequences, const Positions& positions,
                   std::vector<float>* p_out = nullptr,
                   analysis::Contribution contribution = analysis::Contribution::kAll);
  // Assignments computed elsewhere (another rank's batch in a team): float32
  // [layers][n][m] on the host.
  void add_assignments(std::span<const float> p, const Positions& positions, analysis::Contribution contribution);

  // The sums of every layer, in layer order (waits for the device). Throws
  // ModelError naming the layer when a representation row was zero or not finite.
  std::vector<analysis::LayerSums> sums();

  const std::vector<int>& layers() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ibzoo::models
