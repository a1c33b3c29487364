// Estimator benchmark (issue 3). Two modes, one table row per line:
//   estimator_bench throughput [N]   N positions (default 20,000), d = 256, m = 100,
//                                    9 label sets (input/output n-grams 1-4 + shuffled
//                                    input unigrams), 1 and 2 threads, and the floor
//                                    (the N x d x m float32 product alone).
//   estimator_bench memory [N]       peak memory for N positions (default 5,000,000)
//                                    with input and output 4-gram labels, Z streamed.
//   estimator_bench write FILE [N]   the throughput mode's data as an `ibzoo entropy`
//                                    input: z [N, d], in1..in4 and out1..out4 [N, n]
//                                    token n-grams, in1_shuffled [N] (the current token
//                                    shuffled within its document), doc [N].
// Tokens: Zipf(1) over a 32k vocabulary in 512-token documents, seeded; Z: the
// token's random embedding plus noise. Run through estimator_bench.sh.
#include "analysis/calibration.h"
#include "analysis/estimator_state.h"
#include "analysis/labels.h"
#include "analysis/reference_points.h"
#include "io/h5.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

namespace {

using namespace ibzoo::analysis;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kDim = 256;
constexpr std::int64_t kBins = 100;
constexpr std::int64_t kVocab = 32000;
constexpr std::int64_t kDocLen = 512;
constexpr std::int64_t kBatch = 4096;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0.0;
}

// n_positions usable positions for max order 4: documents of kDocLen tokens give kDocLen - 7 positions each.
Corpus zipf_corpus(std::int64_t n_positions, std::uint64_t seed) {
  std::vector<double> cdf(kVocab);
  double sum = 0.0;
  for (std::int64_t r = 0; r < kVocab; ++r) cdf[static_cast<std::size_t>(r)] = (sum += 1.0 / static_cast<double>(r + 1));
  Corpus corpus;
  corpus.doc_offsets.push_back(0);
  std::uint64_t state = seed;
  std::int64_t positions = 0;
  for (std::int64_t doc = 0; positions < n_positions; ++doc) {
    const std::int64_t len = std::min(kDocLen, n_positions - positions + 7);
    for (std::int64_t k = 0; k < len; ++k) {
      state = splitmix64(state);
      const double u = static_cast<double>(state >> 11) * 0x1.0p-53 * sum;
      corpus.tokens.push_back(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    }
    corpus.doc_offsets.push_back(static_cast<std::int64_t>(corpus.tokens.size()));
    corpus.doc_ids.push_back(doc);
    positions += len - 7;
  }
  return corpus;
}

// Z rows for positions [begin, begin + rows): embedding of the current token + noise.
void fill_z(const Corpus& corpus, const Positions& pos, const std::vector<float>& embed, std::int64_t begin,
            std::int64_t rows, std::vector<float>& z) {
  z.resize(static_cast<std::size_t>(rows * kDim));
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t tok = corpus.tokens[static_cast<std::size_t>(pos.token_idx[static_cast<std::size_t>(begin + i)])] % 1024;
    std::uint64_t state = static_cast<std::uint64_t>(begin + i) * 0x9E3779B97F4A7C15ULL;
    for (std::int64_t k = 0; k < kDim; ++k) {
      state = splitmix64(state);
      const float noise = static_cast<float>(static_cast<double>(state >> 11) * 0x1.0p-53 - 0.5);
      z[static_cast<std::size_t>(i * kDim + k)] = embed[static_cast<std::size_t>(tok * kDim + k)] + noise;
    }
  }
}

std::vector<float> embeddings() {
  const auto e = generate_reference_points(99, 1024, kDim);
  std::vector<float> out(e.w);
  for (auto& x : out) x *= 16.0F;
  return out;
}

struct Labels {
  std::vector<LabelSet> sets;
  double build_s = 0.0;
};

Labels build_labels(const Corpus& corpus, const Positions& pos, const std::vector<int>& orders, bool shuffled) {
  const auto t0 = Clock::now();
  Labels out;
  for (const int n : orders) {
    out.sets.push_back(ngram_label_set("in" + std::to_string(n), corpus, pos, n, NgramDirection::kInput));
    out.sets.push_back(ngram_label_set("out" + std::to_string(n), corpus, pos, n, NgramDirection::kOutput));
  }
  if (shuffled) out.sets.push_back(shuffle_within_documents(out.sets[0], pos.doc_ids, 5, "in1#null"));
  out.build_s = seconds_since(t0);
  return out;
}

// Streams all positions through one state; returns seconds spent in add_batch.
double run_state(EstimatorState& state, const SoftAssigner& assigner, const Corpus& corpus, const Positions& pos,
                 const Labels& labels, int threads, const std::vector<float>* z_all) {
  const std::vector<float> embed = z_all ? std::vector<float>{} : embeddings();
  std::vector<float> z;
  double spent = 0.0;
  for (std::int64_t begin = 0; begin < pos.size(); begin += kBatch) {
    const std::int64_t rows = std::min(kBatch, pos.size() - begin);
    const float* zp = nullptr;
    if (z_all) {
      zp = z_all->data() + begin * kDim;
    } else {
      fill_z(corpus, pos, embed, begin, rows, z);
      zp = z.data();
    }
    std::vector<std::span<const std::int32_t>> ids;
    for (const auto& s : labels.sets) ids.emplace_back(s.ids.data() + begin, static_cast<std::size_t>(rows));
    const auto t0 = Clock::now();
    state.add_batch(assigner, zp, rows, ids,
                    std::span(pos.doc_ids).subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(rows)), threads);
    spent += seconds_since(t0);
  }
  return spent;
}

StateLayout layout_for(const Labels& labels) {
  StateLayout layout;
  layout.n_bins = kBins;
  for (const auto& s : labels.sets) {
    layout.label_sets.push_back(s.name);
    layout.label_rows.push_back(s.n_rows());
  }
  return layout;
}

// The soft assignments alone (the N x d x m product and the softmax), on the CPU kernel
// the estimator uses (analysis::cpu_kernel()).
double floor_seconds(const std::vector<float>& z, std::int64_t n, const SoftAssigner& assigner) {
  std::vector<float> p(static_cast<std::size_t>(n * kBins));
  double best = 1e300;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
    assigner.assign(z.data(), n, p.data());
    best = std::min(best, seconds_since(t0));
  }
  double sum = 0.0;
  for (const float v : p) sum += v;
  std::fprintf(stderr, "(floor checksum %g)\n", sum);
  return best;
}

int throughput(std::int64_t n) {
  const Corpus corpus = zipf_corpus(n, 1);
  const Positions pos = ngram_positions(corpus, 4);
  const Labels labels = build_labels(corpus, pos, {1, 2, 3, 4}, true);
  const auto w = generate_reference_points(0, kBins, kDim);
  const SoftAssigner assigner(w, calibrate_eps(Calibration::kBounds, kBins, kDim));
  std::vector<float> z_all;
  fill_z(corpus, pos, embeddings(), 0, pos.size(), z_all);
  const double floor_s = floor_seconds(z_all, static_cast<std::int64_t>(pos.size()), assigner);
  std::printf("| %-34s | %12s | %14s | %9s |\n", "measurement", "seconds", "positions/s", "x floor");
  std::printf("|%s|%s|%s|%s|\n", std::string(36, '-').c_str(), std::string(14, '-').c_str(),
              std::string(16, '-').c_str(), std::string(11, '-').c_str());
  const auto row = [&](const std::string& what, double s) {
    std::printf("| %-34s | %12.4f | %14.0f | %9.2f |\n", what.c_str(), s, static_cast<double>(pos.size()) / s, s / floor_s);
  };
  row("floor: soft assignments, " + to_string(cpu_kernel()), floor_s);
  for (const int threads : {1, 2}) {
    double best = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
      EstimatorState state(layout_for(labels));
      best = std::min(best, run_state(state, assigner, corpus, pos, labels, threads, &z_all));
    }
    row("estimator, 9 label sets, " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : ""), best);
  }
  {
    EstimatorState state(layout_for(labels));
    run_state(state, assigner, corpus, pos, labels, 1, &z_all);
    const auto t0 = Clock::now();
    const auto est = estimate(state.sums(), Weighting::kFrequency);
    row("finalize (entropies of all rows)", seconds_since(t0));
    std::fprintf(stderr, "(H = %.6f, I(in1) = %.6f, I(null) = %.6f)\n", *est.full.entropy,
                 *est.full.sets[0].mutual_information, *est.full.sets[8].mutual_information);
  }
  row("label sets built once (9 sets)", labels.build_s);
  std::printf("\nN = %lld positions, d = %lld, m = %lld; peak memory (VmHWM) %.1f MiB\n",
              static_cast<long long>(pos.size()), static_cast<long long>(kDim), static_cast<long long>(kBins), peak_mib());
  return 0;
}

int memory(std::int64_t n) {
  const Corpus corpus = zipf_corpus(n, 2);
  const Positions pos = ngram_positions(corpus, 4);
  const double after_corpus = peak_mib();
  const Labels labels = build_labels(corpus, pos, {4}, false);
  const double after_labels = peak_mib();
  const auto w = generate_reference_points(0, kBins, kDim);
  const SoftAssigner assigner(w, calibrate_eps(Calibration::kBounds, kBins, kDim));
  EstimatorState state(layout_for(labels));
  const auto t0 = Clock::now();
  run_state(state, assigner, corpus, pos, labels, 2, nullptr);
  const double total_s = seconds_since(t0);
  std::printf("N = %lld positions, 4-gram input+output labels: rows %lld + %lld, singletons %lld + %lld\n",
              static_cast<long long>(pos.size()), static_cast<long long>(labels.sets[0].n_rows()),
              static_cast<long long>(labels.sets[1].n_rows()), static_cast<long long>(labels.sets[0].n_singletons),
              static_cast<long long>(labels.sets[1].n_singletons));
  std::printf("peak memory (VmHWM): after corpus %.0f MiB, after labels %.0f MiB, at end %.0f MiB; "
              "state tables %.0f MiB; %.1f s (2 threads, Z generated on the fly)\n",
              after_corpus, after_labels, peak_mib(), static_cast<double>(state.memory_bytes()) / 1048576.0, total_s);
  return 0;
}

// The n-gram tuples of every position, [N, n] row-major: tokens i-n+1..i (input) or
// i+1..i+n (output).
std::vector<std::int64_t> ngram_tuples(const Corpus& corpus, const Positions& pos, int n, bool output) {
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(pos.size() * n));
  for (const auto t : pos.token_idx) {
    for (int k = 0; k < n; ++k) out.push_back(corpus.tokens[static_cast<std::size_t>(output ? t + 1 + k : t - n + 1 + k)]);
  }
  return out;
}

int write_input(const std::string& path, std::int64_t n) {
  const Corpus corpus = zipf_corpus(n, 1);
  const Positions pos = ngram_positions(corpus, 4);
  std::vector<float> z;
  fill_z(corpus, pos, embeddings(), 0, pos.size(), z);
  auto file = ibzoo::io::H5File::create(path);
  file.write("z", std::span<const float>(z), {pos.size(), kDim});
  for (const int order : {1, 2, 3, 4}) {
    for (const bool output : {false, true}) {
      const auto tuples = ngram_tuples(corpus, pos, order, output);
      file.write((output ? "out" : "in") + std::to_string(order), std::span<const std::int64_t>(tuples), {pos.size(), order});
    }
  }
  // The current token, shuffled within each document (Fisher-Yates, seeded).
  auto shuffled = ngram_tuples(corpus, pos, 1, false);
  std::uint64_t state = 5;
  for (std::int64_t begin = 0; begin < pos.size();) {
    std::int64_t end = begin;
    while (end < pos.size() && pos.doc_ids[static_cast<std::size_t>(end)] == pos.doc_ids[static_cast<std::size_t>(begin)]) ++end;
    for (std::int64_t i = end - 1; i > begin; --i) {
      state = splitmix64(state);
      std::swap(shuffled[static_cast<std::size_t>(i)], shuffled[static_cast<std::size_t>(begin + static_cast<std::int64_t>(state % static_cast<std::uint64_t>(i - begin + 1)))]);
    }
    begin = end;
  }
  file.write("in1_shuffled", std::span<const std::int64_t>(shuffled), {pos.size()});
  file.write("doc", std::span<const std::int64_t>(pos.doc_ids), {pos.size()});
  std::printf("wrote %s: %lld positions, d = %lld, 9 labels\n", path.c_str(), static_cast<long long>(pos.size()),
              static_cast<long long>(kDim));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "throughput";
  if (mode == "throughput") return throughput(argc > 2 ? std::stoll(argv[2]) : 20000);
  if (mode == "memory") return memory(argc > 2 ? std::stoll(argv[2]) : 5000000);
  if (mode == "write" && argc > 2) return write_input(argv[2], argc > 3 ? std::stoll(argv[3]) : 20000);
  std::cerr << "usage: estimator_bench throughput [N] | memory [N] | write FILE [N]\n";
  return 2;
}
