// The per-batch kernel (normalise, project on W, softmax; cpu_kernels.cpp) and the
// scalar formulas on top of accumulated mass.
#include "analysis/soft_entropy.h"

#include "analysis/cpu_kernels.h"

#include "errors/check.h"
#include "errors/error.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace ibzoo::analysis {

CpuKernel cpu_kernel() {
  static const CpuKernel kernel = [] {
#if defined(IBZOO_HAVE_AVX2_KERNEL)
    const char* env = std::getenv("IBZOO_CPU_KERNEL");
    const std::string asked = env ? env : "";
    if (!asked.empty() && asked != "baseline" && asked != "avx2") {
      throw UsageError("IBZOO_CPU_KERNEL must be 'baseline' or 'avx2' (or unset: the fastest this CPU runs), got '" +
                       asked + "'");
    }
    const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (asked == "avx2" && !has_avx2) throw UsageError("IBZOO_CPU_KERNEL=avx2, but this CPU lacks AVX2 or FMA");
    return asked != "baseline" && has_avx2 ? CpuKernel::kAvx2 : CpuKernel::kBaseline;
#else
    return CpuKernel::kBaseline;
#endif
  }();
  return kernel;
}

std::string to_string(CpuKernel kernel) { return kernel == CpuKernel::kAvx2 ? "avx2+fma" : "baseline"; }

namespace {

const kernels::CpuKernels& active_kernels() {
#if defined(IBZOO_HAVE_AVX2_KERNEL)
  if (cpu_kernel() == CpuKernel::kAvx2) return kernels::avx2_kernels();
#endif
  return kernels::baseline_kernels();
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
  active_kernels().assign({w_scaled_.data(), points_.n_points, points_.dim}, z, n_rows, p, row_offset);
}

double entropy_nats(std::span<const double> mass) {
  return active_kernels().entropy_f64(mass.data(), static_cast<std::int64_t>(mass.size()), kLogClip);
}
double entropy_nats(std::span<const float> mass) {
  return active_kernels().entropy_f32(mass.data(), static_cast<std::int64_t>(mass.size()), kLogClip);
}
double entropy_nats(std::span<const std::int64_t> mass) {
  return active_kernels().entropy_i64(mass.data(), static_cast<std::int64_t>(mass.size()), kLogClip);
}

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
