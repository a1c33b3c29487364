// The two builds of the estimator's CPU kernels (analysis/cpu_kernels.h): each against a
// naive double-precision softmax and entropy, each bitwise independent of where a row
// sits in a batch (offsets that break 16- and 32-byte alignment), and against each other.
#include "analysis/cpu_kernels.h"

#include "analysis/reference_points.h"
#include "analysis/soft_entropy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace ibzoo::analysis {
namespace {

struct Kernel {
  std::string name;
  const kernels::CpuKernels& k;
};

std::vector<Kernel> kernels_this_cpu_runs() {
  std::vector<Kernel> out{{"baseline", kernels::baseline_kernels()}};
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.push_back({"avx2", kernels::avx2_kernels()});
#endif
  return out;
}

struct Data {
  std::int64_t n = 517, d = 37, m = 23;  // odd sizes: rows start at every alignment
  double eps = 0.3;
  ReferencePoints w;
  std::vector<float> w_scaled, z;
};

Data make_data() {
  Data data;
  data.w = generate_reference_points(11, data.m, data.d);
  for (const float v : data.w.w) data.w_scaled.push_back(static_cast<float>(static_cast<double>(v) / data.eps));
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  for (std::int64_t k = 0; k < data.n * data.d; ++k) data.z.push_back(normal(rng));
  return data;
}

// softmax(cos(z, w_j) / eps) in double, from the definition.
std::vector<double> naive_p(const Data& data, std::int64_t i) {
  double norm = 0.0;
  for (std::int64_t k = 0; k < data.d; ++k) norm += std::pow(static_cast<double>(data.z[i * data.d + k]), 2);
  norm = std::sqrt(norm);
  std::vector<double> s(data.m);
  double top = -1e300;
  for (std::int64_t j = 0; j < data.m; ++j) {
    double dot = 0.0;
    for (std::int64_t k = 0; k < data.d; ++k) dot += static_cast<double>(data.z[i * data.d + k]) * data.w.w[j * data.d + k];
    s[j] = dot / norm / data.eps;
    top = std::max(top, s[j]);
  }
  double sum = 0.0;
  for (auto& v : s) sum += (v = std::exp(v - top));
  for (auto& v : s) v /= sum;
  return s;
}

double naive_entropy(const std::vector<double>& mass) {
  double total = 0.0;
  for (const double x : mass) total += x;
  double h = 0.0;
  for (const double x : mass) h -= x / total * std::log(std::max(x / total, kLogClip));
  return h;
}

TEST(CpuKernelsTest, AssignmentsMatchANaiveSoftmaxAndDoNotDependOnARowsPlaceInTheBatch) {
  const Data data = make_data();
  const kernels::AssignInput in{data.w_scaled.data(), data.m, data.d};
  for (const auto& kernel : kernels_this_cpu_runs()) {
    SCOPED_TRACE(kernel.name);
    std::vector<float> whole(data.n * data.m);
    kernel.k.assign(in, data.z.data(), data.n, whole.data(), 0);
    for (std::int64_t i = 0; i < data.n; ++i) {
      const auto expected = naive_p(data, i);
      for (std::int64_t j = 0; j < data.m; ++j) ASSERT_NEAR(whole[i * data.m + j], expected[j], 2e-6) << i << "," << j;
    }
    // The same rows in pieces of odd sizes, each copied to a buffer 1 float past an
    // aligned start: every row must come out with the same bits.
    for (const std::int64_t piece : {1, 3, 241, 500}) {
      for (std::int64_t begin = 0; begin < data.n; begin += piece) {
        const std::int64_t rows = std::min(piece, data.n - begin);
        std::vector<float> z(1 + rows * data.d), p(1 + rows * data.m);
        std::memcpy(z.data() + 1, data.z.data() + begin * data.d, sizeof(float) * rows * data.d);
        kernel.k.assign(in, z.data() + 1, rows, p.data() + 1, begin);
        ASSERT_EQ(0, std::memcmp(p.data() + 1, whole.data() + begin * data.m, sizeof(float) * rows * data.m))
            << "piece " << piece << " at row " << begin;
      }
    }
  }
}

TEST(CpuKernelsTest, EntropiesMatchANaiveFormulaForFloatAndIntegerMass) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> unit;
  for (const auto& kernel : kernels_this_cpu_runs()) {
    SCOPED_TRACE(kernel.name);
    for (const std::int64_t m : {1, 7, 100, 300}) {  // 300: more than one of the AVX2 build's chunks
      std::vector<double> mass(m);
      for (auto& x : mass) x = std::pow(unit(rng), 6.0);  // many values below the clip once normalised
      if (m > 1) mass[0] = 1e-12;  // below the clip after normalising
      std::vector<float> f32(mass.begin(), mass.end());
      std::vector<double> f32_as_double(f32.begin(), f32.end());
      EXPECT_NEAR(kernel.k.entropy_f32(f32.data(), m, kLogClip), naive_entropy(f32_as_double), 1e-13) << m;
      EXPECT_NEAR(kernel.k.entropy_f64(mass.data(), m, kLogClip), naive_entropy(mass), 1e-13) << m;
      std::vector<std::int64_t> units;
      for (const double x : mass) units.push_back(std::llround(x * 0x1.0p36));
      std::vector<double> units_as_double(units.begin(), units.end());
      EXPECT_NEAR(kernel.k.entropy_i64(units.data(), m, kLogClip), naive_entropy(units_as_double), 1e-13) << m;
    }
    const std::vector<std::int64_t> zeros(5, 0);
    EXPECT_EQ(kernel.k.entropy_i64(zeros.data(), 5, kLogClip), 0.0);
  }
}

TEST(CpuKernelsTest, TheProcessKernelIsNamedAndForcedByTheEnvironment) {
  // cpu_kernel() reads IBZOO_CPU_KERNEL once per process; here it is whatever ctest set.
  const auto name = to_string(cpu_kernel());
  EXPECT_TRUE(name == "baseline" || name == "avx2+fma") << name;
  const char* env = std::getenv("IBZOO_CPU_KERNEL");
  if (env && std::string(env) == "baseline") {
    EXPECT_EQ(name, "baseline");
  }
}

}  // namespace
}  // namespace ibzoo::analysis
