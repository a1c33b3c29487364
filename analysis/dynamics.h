// Training dynamics in the information plane: one model's trajectory over its
// checkpoints (complexity I(X;Z) horizontal, expressivity I(Y;Z) vertical), the
// turning point where complexity starts to fall, and the distance to the bound
// (the diagonal I(Y;Z) = I(X;Z)). Pure math; docs/ANALYSIS.md states the rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ibzoo::analysis {

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
  // The turning point: the first point where the smoothed complexity is largest,
  // provided some later point's smoothed complexity is strictly lower (complexity
  // then falls). Needs at least 3 points; otherwise has_turning_point is false.
  bool has_turning_point = false;
  std::size_t turning_idx = 0;
  std::int64_t turning_step = 0;
};

// Sorts the points by step and analyses them. smoothing_window: the number of
// points in the centred moving average (odd; 1 = no smoothing; windows are
// truncated at the ends). Throws CorruptDataError if two points share a step.
Trajectory analyse_trajectory(std::vector<PlanePoint> points, std::size_t smoothing_window = 3);

// Centred moving average with a window of `window` points, truncated at the ends.
std::vector<double> moving_average(const std::vector<double>& values, std::size_t window);

}  // namespace ibzoo::analysis
