#include "analysis/dynamics.h"

#include "errors/check.h"
#include "errors/error.h"
#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace ibzoo::analysis {

std::vector<double> moving_average(const std::vector<double>& values, std::size_t window) {
  IBZOO_CHECK(window % 2 == 1, "window " << window << " must be odd");
  const std::size_t half = window / 2;
  std::vector<double> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::size_t lo = i >= half ? i - half : 0;
    const std::size_t hi = std::min(values.size() - 1, i + half);
    double sum = 0.0;
    for (std::size_t j = lo; j <= hi; ++j) sum += values[j];
    out[i] = sum / static_cast<double>(hi - lo + 1);
  }
  return out;
}

Trajectory analyse_trajectory(std::vector<PlanePoint> points, std::size_t smoothing_window) {
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  for (std::size_t i = 1; i < points.size(); ++i) {
    if (points[i].step == points[i - 1].step) {
      throw CorruptDataError("two checkpoints share step " + std::to_string(points[i].step) +
                             " in one model's trajectory; give each checkpoint its own step");
    }
  }
  Trajectory t;
  t.points = points;
  std::vector<double> complexity;
  for (const auto& p : points) {
    complexity.push_back(p.complexity);
    t.gap.push_back(p.complexity - p.expressivity);
    t.perpendicular.push_back((p.complexity - p.expressivity) / std::sqrt(2.0));
    t.optimality.push_back(p.complexity > 0.0 ? p.expressivity / p.complexity : kNaN);
  }
  t.smoothed_complexity = moving_average(complexity, smoothing_window);
  if (points.size() < 3) return t;
  const auto& s = t.smoothed_complexity;
  const auto peak = static_cast<std::size_t>(std::max_element(s.begin(), s.end()) - s.begin());
  const bool falls = std::any_of(s.begin() + static_cast<std::ptrdiff_t>(peak) + 1, s.end(),
                                 [&](double v) { return v < s[peak]; });
  if (!falls) return t;
  t.has_turning_point = true;
  t.turning_idx = peak;
  t.turning_step = points[peak].step;
  return t;
}

}  // namespace ibzoo::analysis
