// The soft-entropy kernel and the quantities derived from entropies
// (DESIGN.md section 1): soft assignments p(z) = softmax(cos(z, w_j) / eps),
// entropies of accumulated assignment mass, layer aggregation, optimality and
// the back-off decomposition. Entropies and MIs are efficiencies (nats / log m),
// as in the reference implementation. Pure math: no files, no MPI, no torch.
#pragma once

#include "analysis/reference_points.h"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::analysis {

// Entropies below this probability use log(1e-9), as the reference does
// (p * log(max(p, 1e-9))); the effect is below 1e-8 in efficiency.
inline constexpr double kLogClip = 1e-9;

// The instruction set of the CPU kernels (analysis/cpu_kernels.h: the soft assignments
// and the entropies of entropy_nats), chosen
// once per process: AVX2 + FMA where the CPU has them, else baseline x86-64;
// IBZOO_CPU_KERNEL=baseline|avx2 forces one. The two round differently (float32
// products in another order, fused multiply-adds): runs on one kernel are bitwise
// reproducible; across kernels, results agree to float32 rounding (docs/ESTIMATOR.md).
enum class CpuKernel { kBaseline, kAvx2 };
CpuKernel cpu_kernel();
std::string to_string(CpuKernel kernel);

// Soft assignments in float32 (cosine and softmax), as the model gives float32 rows.
// Thread-safe: assign() is const.
class SoftAssigner {
 public:
  // eps > 0; `points` rows must be unit vectors (generate_reference_points or normalise_rows).
  SoftAssigner(ReferencePoints points, double eps);

  std::int64_t n_bins() const { return points_.n_points; }
  std::int64_t dim() const { return points_.dim; }
  double eps() const { return eps_; }
  const ReferencePoints& points() const { return points_; }

  // z: [n_rows, dim] row-major float32 (need not be normalised). Writes p:
  // [n_rows, n_bins] row-major, each row a probability vector. A row of zeros or
  // with non-finite values gives a CorruptDataError naming the row (offset by
  // row_offset, for messages).
  void assign(const float* z, std::int64_t n_rows, float* p, std::int64_t row_offset = 0) const;

 private:
  ReferencePoints points_;
  double eps_;
  std::vector<float> w_scaled_;  // W / eps, [m, d]
};

// Shannon entropy (nats) of mass / sum(mass), with the reference's clip. 0 for zero mass.
double entropy_nats(std::span<const double> mass);
double entropy_nats(std::span<const float> mass);
double entropy_nats(std::span<const std::int64_t> mass);  // the integer sum, times its inverse

// --- Model-level aggregation and derived quantities -------------------------

// Mean over layers; nullopt if the list is empty or any value is undefined.
std::optional<double> mean_over_layers(std::span<const std::optional<double>> values);

// Optimality I(Y;Z) / I(X;Z) over layers 1..L, both aggregations. A layer whose
// I(X;Z) is below min_mi (efficiency units) makes the mean of ratios NaN, and a
// layer mean of I(X;Z) below min_mi makes the ratio of means NaN; the flags say so.
struct Optimality {
  double mean_of_ratios = 0.0;  // reference: mean over layers of I_Y / I_X
  double ratio_of_means = 0.0;  // mean I_Y / mean I_X
  bool mean_of_ratios_guarded = false;
  bool ratio_of_means_guarded = false;
  std::int64_t n_layers_guarded = 0;  // layers with I(X;Z) < min_mi or undefined
};
inline constexpr double kDefaultMinMi = 1e-6;
Optimality optimality(std::span<const std::optional<double>> mi_x, std::span<const std::optional<double>> mi_y,
                      double min_mi = kDefaultMinMi);

// Back-off decomposition of H into n-gram shares (need I_1 <= ... <= I_4 <= H
// only for interpretation; values are reported as computed):
// token I_1/H, bigram (I_2-I_1)/H, trigram (I_3-I_2)/H, quadgram (I_4-I_3)/H, residual (H-I_4)/H.
// Undefined (nullopt) if H <= 0 or any I_n is undefined.
struct BackoffShares {
  double token = 0.0, bigram = 0.0, trigram = 0.0, quadgram = 0.0, residual = 0.0;
};
std::optional<BackoffShares> backoff_shares(double entropy, const std::array<std::optional<double>, 4>& mi_by_order);

// Percentile (q in [0, 1]) with linear interpolation between order statistics
// (numpy's default). nullopt for an empty list.
std::optional<double> percentile(std::vector<double> values, double q);

}  // namespace ibzoo::analysis
