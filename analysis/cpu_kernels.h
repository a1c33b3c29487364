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

// Each namespace has the same functions; baseline's are the reference arithmetic.
//
// assign: p[i] = softmax(z_i . w_j / |z_i|) over the m rows of W / eps, for n_rows rows of
// z [n_rows, d]; p is [n_rows, m]. A zero or non-finite row of z gives a CorruptDataError
// naming row row_offset + i. Every row gets the same bits wherever it sits in a batch
// (fixed-height panels).
//
// entropy: Shannon entropy (nats) of mass / sum(mass) with p * log(max(p, clip)); 0 for
// zero mass. Floating-point mass is divided by its double sum, integer mass multiplied
// by the inverse of its integer sum.
namespace baseline {
void assign(const AssignInput& w, const float* z, std::int64_t n_rows, float* p, std::int64_t row_offset);
double entropy(const float* mass, std::int64_t n, double clip);
double entropy(const double* mass, std::int64_t n, double clip);
double entropy(const std::int64_t* mass, std::int64_t n, double clip);
}  // namespace baseline
namespace avx2 {
void assign(const AssignInput& w, const float* z, std::int64_t n_rows, float* p, std::int64_t row_offset);
double entropy(const float* mass, std::int64_t n, double clip);
double entropy(const double* mass, std::int64_t n, double clip);
double entropy(const std::int64_t* mass, std::int64_t n, double clip);
}  // namespace avx2

}  // namespace ibzoo::analysis::kernels
