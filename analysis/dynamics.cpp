#include "analysis/dynamics.h"

#include "errors/check.h"
#include "errors/error.h"
#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <optional>
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
    std::size_t n = 0;
    for (std::size_t j = lo; j <= hi; ++j) {
      if (!std::isfinite(values[j])) continue;
      sum += values[j];
      ++n;
    }
    out[i] = n > 0 ? sum / static_cast<double>(n) : kNaN;
  }
  return out;
}

TurningPoint find_turning_point(const std::vector<double>& values, std::size_t smoothing_window,
                                double min_prominence, double min_relative) {
  TurningPoint best;
  const auto n_finite = std::count_if(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
  if (n_finite < 3) return best;
  // A point whose own value is missing is never a turning point, even if its window is not.
  auto s = moving_average(values, smoothing_window);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!std::isfinite(values[i])) s[i] = kNaN;
  }
  const std::size_t n = s.size();
  std::vector<double> low_before(n, kNaN), low_after(n, kNaN);
  double low = kNaN;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(s[i]) && !(s[i] >= low)) low = s[i];
    low_before[i] = low;
  }
  low = kNaN;
  for (std::size_t i = n; i-- > 0;) {
    if (std::isfinite(s[i]) && !(s[i] >= low)) low = s[i];
    low_after[i] = low;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(s[i])) continue;
    const double rise = s[i] - low_before[i];
    const double fall = s[i] - low_after[i];
    const double prominence = std::min(rise, fall);
    if (prominence > best.prominence) best = {false, i, rise, fall, prominence};
  }
  double lo = kNaN, hi = kNaN;
  for (const double v : s) {
    if (!std::isfinite(v)) continue;
    if (!(v >= lo)) lo = v;
    if (!(v <= hi)) hi = v;
  }
  best.found = best.prominence > std::max({0.0, min_prominence, min_relative * (hi - lo)});
  return best;
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
  const auto turn = find_turning_point(complexity, smoothing_window);
  if (!turn.found) return t;
  t.has_turning_point = true;
  t.turning_idx = turn.idx;
  t.turning_step = points[turn.idx].step;
  return t;
}

namespace {

bool finite(double v) { return std::isfinite(v); }

// The index of the lowest finite value, if any.
std::optional<std::size_t> argmin_finite(const std::vector<double>& v) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (finite(v[i]) && (!best || v[i] < v[*best])) best = i;
  }
  return best;
}

}  // namespace

PhaseCheck check_phases(const LayerSeries& s, const PhaseOptions& options) {
  const auto n = s.steps.size();
  for (const auto* v : {&s.complexity, &s.complexity_ci_low, &s.complexity_ci_high, &s.complexity_null, &s.optimality,
                        &s.heldout_loss}) {
    if (v->size() != n) {
      throw CorruptDataError("layer " + std::to_string(s.layer) + ": a series has " + std::to_string(v->size()) +
                             " values for " + std::to_string(n) + " checkpoints");
    }
  }
  PhaseCheck c;
  c.layer = s.layer;
  c.turning = find_turning_point(s.complexity, options.smoothing_window);
  const auto best = argmin_finite(s.heldout_loss);
  c.has_best = best.has_value();
  if (best) c.best_idx = *best;
  if (c.turning.found) {
    const auto half = options.smoothing_window / 2;
    const auto t = c.turning.idx;
    c.peak_idx = t;
    for (std::size_t i = t >= half ? t - half : 0; i <= std::min(n - 1, t + half); ++i) {
      if (s.complexity[i] > s.complexity[c.peak_idx]) c.peak_idx = i;
    }
  }
  if (!c.turning.found || !best) return c;
  const auto p = c.peak_idx;
  const auto b = *best;
  c.peak = s.complexity[p];
  c.at_best = s.complexity[b];
  c.fall = c.peak - c.at_best;
  c.peak_ci_low = s.complexity_ci_low[p];
  c.best_ci_high = s.complexity_ci_high[b];
  c.null_level = std::max(s.complexity_null[p], s.complexity_null[b]);
  if (!finite(s.complexity_null[p]) || !finite(s.complexity_null[b])) c.null_level = kNaN;
  c.loss_at_peak = s.heldout_loss[p];
  c.loss_at_best = s.heldout_loss[b];
  c.optimality_at_peak = s.optimality[p];
  c.optimality_at_best = s.optimality[b];
  // NaN compares false, so a missing value fails the check that needs it.
  c.falls_enough = c.fall >= options.min_fall;
  c.loss_improves = b > p && c.loss_at_best < c.loss_at_peak;
  c.beyond_interval = c.peak_ci_low > c.best_ci_high;
  c.beyond_null = c.fall > c.null_level;
  c.optimality_rises = c.optimality_at_best > c.optimality_at_peak;
  return c;
}

PhaseVerdict judge_phases(const std::vector<PhaseCheck>& layers) {
  PhaseVerdict v;
  if (layers.empty()) return v;
  const auto last = std::max_element(layers.begin(), layers.end(), [](const auto& a, const auto& b) { return a.layer < b.layer; });
  v.last_layer = last->layer;
  bool all = true;
  for (const auto& c : layers) {
    if (2 * c.layer <= v.last_layer) continue;
    v.upper_layers.push_back(c.layer);
    all = all && c.compresses();
  }
  std::sort(v.upper_layers.begin(), v.upper_layers.end());
  v.upper_layers_compress = !v.upper_layers.empty() && all;
  v.last_layer_optimality_rises = last->optimality_rises;
  return v;
}

}  // namespace ibzoo::analysis
