// The estimator's CPU kernels, compiled twice from cpu_kernels.cpp: for baseline x86-64
// (SSE2) and for AVX2 + FMA. soft_entropy.cpp (cpu_kernel()) picks one per process.
// Internal to analysis/.
#pragma once

#include <cstdint>

namespace ibzoo::analysis::kernels {

struct AssignInput {
  const float* w_scaled;  // W / eps, [m, d] row-major
  std::int64_t m;
  std::int64_t d;
};

// One build's kernels; the baseline's are the reference arithmetic.
struct CpuKernels {
  // p[i] = softmax(z_i . w_j / |z_i|) over the m rows of W / eps, for n_rows rows of z
  // [n_rows, d]; p is [n_rows, m]. A zero or non-finite row of z gives a CorruptDataError
  // naming row row_offset + i. Every row gets the same bits wherever it sits in a batch
  // (fixed-height panels, reductions on aligned copies).
  void (*assign)(const AssignInput& w, const float* z, std::int64_t n_rows, float* p, std::int64_t row_offset);
  // Shannon entropy (nats) of mass / sum(mass) with p * log(max(p, clip)); 0 for zero
  // mass. Floating-point mass is divided by its double sum, integer mass multiplied by
  // the inverse of its integer sum.
  double (*entropy_f32)(const float* mass, std::int64_t n, double clip);
  double (*entropy_f64)(const double* mass, std::int64_t n, double clip);
  double (*entropy_i64)(const std::int64_t* mass, std::int64_t n, double clip);
};

const CpuKernels& baseline_kernels();
const CpuKernels& avx2_kernels();  // built on x86-64 only (IBZOO_HAVE_AVX2_KERNEL); needs AVX2 and FMA

}  // namespace ibzoo::analysis::kernels
