// The estimator's CPU kernels (cpu_kernels.h). This file is compiled twice: as part of
// ibzoo_analysis with the project's baseline flags, and with -mavx2 -mfma and
// IBZOO_KERNEL_AVX2 (analysis/CMakeLists.txt). The AVX2 copy renames Eigen's namespace,
// so that its instantiations of Eigen's templates are symbols of their own: sharing a
// name with the baseline copy's, the linker would keep one of the two for both.
#if defined(IBZOO_KERNEL_AVX2)
#define Eigen ibzoo_eigen_avx2
#define IBZOO_KERNELS avx2_kernels
#else
#define IBZOO_KERNELS baseline_kernels
#endif

#include "analysis/cpu_kernels.h"

#include "errors/error.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <string>

namespace ibzoo::analysis::kernels {
namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Every product has exactly kPanelRows rows (a multiple of every Eigen micro-panel
// height, SSE and AVX), the tail zero-padded: each row then takes the same kernel path.
constexpr std::int64_t kPanelRows = 240;

#if defined(IBZOO_KERNEL_AVX2)
// Vectorised: Eigen's log over chunks of the row (4 doubles per instruction), summed in
// Eigen's order. `value(k)` is the k-th probability.
template <typename Value>
double entropy_of(std::int64_t n, double clip, const Value& value) {
  constexpr Eigen::Index kChunk = 256;
  using Chunk = Eigen::Array<double, Eigen::Dynamic, 1, Eigen::ColMajor, kChunk, 1>;  // on the stack
  double h = 0.0;
  for (std::int64_t begin = 0; begin < n; begin += kChunk) {
    const auto len = static_cast<Eigen::Index>(std::min<std::int64_t>(kChunk, n - begin));
    Chunk q(len);
    for (Eigen::Index k = 0; k < len; ++k) q[k] = value(begin + k);
    h -= (q * q.max(clip).log()).sum();
  }
  return h;
}
#else
// The reference arithmetic: one value at a time, in order.
template <typename Value>
double entropy_of(std::int64_t n, double clip, const Value& value) {
  const double log_clip = std::log(clip);
  double h = 0.0;
  for (std::int64_t k = 0; k < n; ++k) {
    const double q = value(k);
    h -= q * (q > clip ? std::log(q) : log_clip);
  }
  return h;
}
#endif

template <typename T>
double entropy_of_floats(const T* mass, std::int64_t n, double clip) {
  double total = 0.0;
  for (std::int64_t k = 0; k < n; ++k) total += static_cast<double>(mass[k]);
  if (!(total > 0.0)) return 0.0;
  return entropy_of(n, clip, [&](std::int64_t k) { return static_cast<double>(mass[k]) / total; });
}

void assign(const AssignInput& in, const float* z, std::int64_t n_rows, float* p, std::int64_t row_offset) {
  const auto m = static_cast<Eigen::Index>(in.m);
  const auto d = static_cast<Eigen::Index>(in.d);
  const Eigen::Map<const RowMatrixF> w(in.w_scaled, m, d);
  RowMatrixF pad;
  RowMatrixF pad_scores;
  // A row's reductions (|z|, the softmax's sum) run on aligned copies: Eigen peels a
  // vectorised sum to the data's alignment, and rows of a batch sit at varying offsets
  // from a 32-byte boundary, which would make a row's bits depend on its place.
  Eigen::Matrix<float, 1, Eigen::Dynamic> z_row(d);
  Eigen::Array<float, 1, Eigen::Dynamic> p_row(m);
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
      z_row = zs.row(r);
      const float norm = z_row.norm();
      if (!(norm > 0.0F) || !std::isfinite(norm)) {
        throw CorruptDataError("representation row " + std::to_string(row_offset + begin + r) + " has norm " +
                               std::to_string(norm) + ", expected a finite non-zero vector (NaN/Inf activations?)");
      }
      p_row = scores.row(r).array() * (1.0F / norm);
      p_row = (p_row - p_row.maxCoeff()).exp();
      p_row *= 1.0F / p_row.sum();
      scores.row(r) = p_row.matrix();
    }
  }
}

double entropy_f32(const float* mass, std::int64_t n, double clip) { return entropy_of_floats(mass, n, clip); }
double entropy_f64(const double* mass, std::int64_t n, double clip) { return entropy_of_floats(mass, n, clip); }

double entropy_i64(const std::int64_t* mass, std::int64_t n, double clip) {
  std::int64_t total = 0;
  for (std::int64_t k = 0; k < n; ++k) total += mass[k];
  if (total <= 0) return 0.0;
  const double inv_total = 1.0 / static_cast<double>(total);
  return entropy_of(n, clip, [&](std::int64_t k) { return static_cast<double>(mass[k]) * inv_total; });
}

}  // namespace

const CpuKernels& IBZOO_KERNELS() {
  static const CpuKernels kernels{assign, entropy_f32, entropy_f64, entropy_i64};
  return kernels;
}

}  // namespace ibzoo::analysis::kernels
