// Training dynamics in the information plane: one model's trajectory over its
// checkpoints (complexity I(X;Z) horizontal, expressivity I(Y;Z) vertical), the
// turning point where complexity starts to fall, the distance to the bound (the
// diagonal I(Y;Z) = I(X;Z)), and the two-phase check of one layer (fitting, then
// compression while held-out loss improves). Pure math; docs/ANALYSIS.md states the rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ibzoo::analysis {

// The turning point of one series in checkpoint order (sorted by step): the most
// prominent peak of its centred moving average s. For each index k,
//   rise(k) = s[k] - min_{j <= k} s[j]   (the climb from the lowest point before it)
//   fall(k) = s[k] - min_{j >= k} s[j]   (the descent to the lowest point after it)
// and the turning point is the first k with the largest min(rise(k), fall(k)). It
// exists when the series has at least 3 finite values and that prominence exceeds both
// `min_prominence` (>= 0) and `min_relative` x the smoothed series' range (max - min):
// a wiggle of a flat curve is not a turning point. A series that starts high, collapses and then rises and falls
// (random initialisation, the early collapse, fitting, compression) turns at the
// fitting peak, not at step 0; a series that only rises, or only falls, has none.
// Non-finite values are skipped (never a turning point, never a minimum).
struct TurningPoint {
  bool found = false;
  std::size_t idx = 0;
  double rise = 0.0;        // of the smoothed series at idx
  double fall = 0.0;
  double prominence = 0.0;  // min(rise, fall)
};
TurningPoint find_turning_point(const std::vector<double>& values, std::size_t smoothing_window = 3,
                                double min_prominence = 0.0, double min_relative = 0.05);

struct PlanePoint {
  std::int64_t step = 0;
  double complexity = 0.0;    // I(X;Z), label set in1, layer mean
  double expressivity = 0.0;  // I(Y;Z), label set out1, layer mean
  bool operator==(const PlanePoint&) const = default;
};

struct Trajectory {
  std::vector<PlanePoint> points;             // sorted by step
  std::vector<double> smoothed_complexity;    // centred moving average, per point
  std::vector<double> gap;                    // I(X;Z) - I(Y;Z): vertical distance to the bound
  std::vector<double> perpendicular;          // (I(X;Z) - I(Y;Z)) / sqrt(2): signed distance to the diagonal
  std::vector<double> optimality;             // I(Y;Z) / I(X;Z), NaN when I(X;Z) <= 0
  // The turning point of the complexity (find_turning_point).
  bool has_turning_point = false;
  std::size_t turning_idx = 0;
  std::int64_t turning_step = 0;
};

// Sorts the points by step and analyses them. smoothing_window: the number of
// points in the centred moving average (odd; 1 = no smoothing; windows are
// truncated at the ends). Throws CorruptDataError if two points share a step.
Trajectory analyse_trajectory(std::vector<PlanePoint> points, std::size_t smoothing_window = 3);

// Centred moving average with a window of `window` points, truncated at the ends.
// Non-finite values are left out of every window (a window of them only gives NaN).
std::vector<double> moving_average(const std::vector<double>& values, std::size_t window);

// One layer of one model over its checkpoints, sorted by step (every vector has one
// value per checkpoint; NaN where unknown). Informations in units of log m.
struct LayerSeries {
  int layer = 0;
  std::vector<std::int64_t> steps;
  std::vector<double> complexity;          // I(X;Z), in1
  std::vector<double> complexity_ci_low;   // bootstrap interval of I(X;Z)
  std::vector<double> complexity_ci_high;
  std::vector<double> complexity_null;     // I(X;Z) with labels shuffled within documents
  std::vector<double> optimality;          // I(Y;Z) / I(X;Z) of the layer
  std::vector<double> heldout_loss;        // the checkpoint's held-out loss (nats / token)
};

struct PhaseOptions {
  std::size_t smoothing_window = 3;  // for the turning point
  double min_fall = 0.05;            // the fall of I(X;Z) that counts as compression (log m units)
};

// The two phases of one layer: the fitting peak of I(X;Z) and the compression that
// follows, up to the checkpoint with the lowest held-out loss. The peak is the
// checkpoint with the highest raw I(X;Z) within the smoothing window around the turning
// point (the moving average can shift a sharp peak by a checkpoint).
//   fall            = I(X;Z) at the peak - I(X;Z) at the best-loss checkpoint (raw values)
//   falls_enough    : fall >= min_fall
//   loss_improves   : the best-loss checkpoint comes after the peak and its loss is lower
//   beyond_interval : the peak's bootstrap lower bound > the best checkpoint's upper bound
//   beyond_null     : fall > the larger shuffled-null I(X;Z) of the two checkpoints
//   optimality_rises: optimality at the best checkpoint > at the peak
// Every check is false when a value it needs is missing (NaN), or when there is no
// turning point or no held-out loss.
struct PhaseCheck {
  int layer = 0;
  TurningPoint turning;
  std::size_t peak_idx = 0;  // the peak checkpoint (valid when turning.found)
  bool has_best = false;
  std::size_t best_idx = 0;
  double peak = 0.0, at_best = 0.0, fall = 0.0;
  double peak_ci_low = 0.0, best_ci_high = 0.0, null_level = 0.0;
  double loss_at_peak = 0.0, loss_at_best = 0.0;
  double optimality_at_peak = 0.0, optimality_at_best = 0.0;
  bool falls_enough = false, loss_improves = false, beyond_interval = false, beyond_null = false;
  bool optimality_rises = false;
  // All four compression checks (falls_enough, loss_improves, beyond_interval, beyond_null).
  bool compresses() const { return falls_enough && loss_improves && beyond_interval && beyond_null; }
};
// Throws CorruptDataError if the vectors' lengths differ from steps'.
PhaseCheck check_phases(const LayerSeries& series, const PhaseOptions& options = {});

// A model's verdict from its layers' checks (layer = hidden-state index, 0 = the
// embeddings, L = the last): the upper layers are those with index > L / 2; the
// model shows both phases when every upper layer compresses() and the last layer's
// optimality rises. False without upper layers.
struct PhaseVerdict {
  std::vector<int> upper_layers;
  int last_layer = 0;
  bool upper_layers_compress = false;
  bool last_layer_optimality_rises = false;
  bool both_phases() const { return upper_layers_compress && last_layer_optimality_rises; }
};
PhaseVerdict judge_phases(const std::vector<PhaseCheck>& layers);

}  // namespace ibzoo::analysis
