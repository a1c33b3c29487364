// The per-batch kernel (normalise, project on W, softmax) and the scalar
// formulas on top of accumulated mass. Eigen does the N x d x m product.
#include "analysis/soft_entropy.h"

#include "errors/check.h"
#include "errors/error.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace ibzoo::analysis {
namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr std::int64_t kPanelRows = 240;

template <typename T>
double entropy_impl(std::span<const T> mass) {
  double total = 0.0;
  for (const T x : mass) total += static_cast<double>(x);
  if (!(total > 0.0)) return 0.0;
  const double log_clip = std::log(kLogClip);
  double h = 0.0;
  for (const T x : mass) {
    const double p = static_cast<double>(x) / total;
    h -= p * (p > kLogClip ? std::log(p) : log_clip);
  }
  return h;
}

}  // namespace

SoftAssigner::SoftAssigner(ReferencePoints points, double eps) : points_(std::move(points)), eps_(eps) {
  IBZOO_CHECK(eps > 0.0 && std::isfinite(eps), "eps = " << eps);
  IBZOO_CHECK(static_cast<std::int64_t>(points_.w.size()) == points_.n_points * points_.dim, "W size");
  w_scaled_.resize(points_.w.size());
  const double inv_eps = 1.0 / eps;
  for (std::size_t k = 0; k < w_scaled_.size(); ++k) {
    w_scaled_[k] = static_cast<float>(static_cast<double>(points_.w[k]) * inv_eps);
  }
}

void SoftAssigner::assign(const float* z, std::int64_t n_rows, float* p, std::int64_t row_offset) const {
  const auto m = static_cast<Eigen::Index>(points_.n_points);
  const auto d = static_cast<Eigen::Index>(points_.dim);
  const Eigen::Map<const RowMatrixF> w(w_scaled_.data(), m, d);
  // Every product has exactly kPanelRows rows (a multiple of every Eigen
  // micro-panel height), the tail zero-padded: each row then takes the same
  // kernel path and gets the same bits wherever it sits in a batch.
  RowMatrixF pad;
  RowMatrixF pad_scores;
  for (std::int64_t begin = 0; begin < n_rows; begin += kPanelRows) {
    const auto rows = static_cast<Eigen::Index>(std::min(kPanelRows, n_rows - begin));
    const Eigen::Map<const RowMatrixF> zs(z + begin * d, rows, d);
    Eigen::Map<RowMatrixF> scores(p + begin * m, rows, m);
    if (rows == kPanelRows) {
      scores.noalias() = zs * w.transpose();  // (z . w_j) / eps, before dividing by |z|
    } else {
      pad.setZero(kPanelRows, d);
      pad.topRows(rows) = zs;
      pad_scores.noalias() = pad * w.transpose();
      scores = pad_scores.topRows(rows);
    }
    for (Eigen::Index r = 0; r < rows; ++r) {
      const float norm = zs.row(r).norm();
      if (!(norm > 0.0F) || !std::isfinite(norm)) {
        throw CorruptDataError("representation row " + std::to_string(row_offset + begin + r) + " has norm " +
                               std::to_string(norm) + ", expected a finite non-zero vector (NaN/Inf activations?)");
      }
      auto row = scores.row(r).array();
      row *= 1.0F / norm;
      row = (row - row.maxCoeff()).exp();
      row *= 1.0F / row.sum();
    }
  }
}

double entropy_nats(std::span<const double> mass) { return entropy_impl(mass); }
double entropy_nats(std::span<const float> mass) { return entropy_impl(mass); }

std::optional<double> mean_over_layers(std::span<const std::optional<double>> values) {
  if (values.empty()) return std::nullopt;
  double sum = 0.0;
  for (const auto& v : values) {
    if (!v) return std::nullopt;
    sum += *v;
  }
  return sum / static_cast<double>(values.size());
}

Optimality optimality(std::span<const std::optional<double>> mi_x, std::span<const std::optional<double>> mi_y,
                      double min_mi) {
  IBZOO_CHECK(mi_x.size() == mi_y.size(), mi_x.size() << " vs " << mi_y.size());
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Optimality out;
  double sum_ratio = 0.0;
  double sum_x = 0.0;
  double sum_y = 0.0;
  bool undefined = mi_x.empty();
  for (std::size_t l = 0; l < mi_x.size(); ++l) {
    if (!mi_x[l] || !mi_y[l]) {
      undefined = true;
      ++out.n_layers_guarded;
      continue;
    }
    sum_x += *mi_x[l];
    sum_y += *mi_y[l];
    if (*mi_x[l] < min_mi) {
      ++out.n_layers_guarded;
      continue;
    }
    sum_ratio += *mi_y[l] / *mi_x[l];
  }
  const auto n = static_cast<double>(mi_x.size());
  out.mean_of_ratios_guarded = undefined || out.n_layers_guarded > 0;
  out.mean_of_ratios = out.mean_of_ratios_guarded ? kNaN : sum_ratio / n;
  out.ratio_of_means_guarded = undefined || sum_x / n < min_mi;
  out.ratio_of_means = out.ratio_of_means_guarded ? kNaN : sum_y / sum_x;
  return out;
}

std::optional<BackoffShares> backoff_shares(double entropy, const std::array<std::optional<double>, 4>& mi_by_order) {
  if (!(entropy > 0.0)) return std::nullopt;
  for (const auto& v : mi_by_order) {
    if (!v) return std::nullopt;
  }
  BackoffShares s;
  s.token = *mi_by_order[0] / entropy;
  s.bigram = (*mi_by_order[1] - *mi_by_order[0]) / entropy;
  s.trigram = (*mi_by_order[2] - *mi_by_order[1]) / entropy;
  s.quadgram = (*mi_by_order[3] - *mi_by_order[2]) / entropy;
  s.residual = (entropy - *mi_by_order[3]) / entropy;
  return s;
}

std::optional<double> percentile(std::vector<double> values, double q) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

}  // namespace ibzoo::analysis
