// Stage `entropy`: HDF5 input -> label sets -> estimator state -> estimates.
// It sits beside the pipeline's accumulate stage and uses the same analysis/ code.
#include "cli/tools/entropy.h"

#include "errors/error.h"
#include "analysis/labels.h"
#include "analysis/reference_points.h"
#include "io/h5.h"
#include "io/log.h"

#include <cmath>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace ibzoo::tools {
namespace {

using analysis::LabelSet;

std::string where(const EntropyJob& job, const std::string& dataset) {
  return job.input.string() + ":" + dataset;
}

analysis::ReferencePoints load_points(const EntropyJob& job, std::int64_t dim) {
  if (!job.reference_points_file) return analysis::generate_reference_points(job.seed, job.n_bins, dim);
  const auto file = io::H5File::open_read(*job.reference_points_file);
  auto array = file.read_f32(job.reference_points_dataset);
  const std::string name = job.reference_points_file->string() + ":" + job.reference_points_dataset;
  if (array.shape.size() != 2 || array.shape[1] != dim || array.shape[0] < 2) {
    std::string found;
    for (const auto s : array.shape) found += (found.empty() ? "" : ", ") + std::to_string(s);
    throw CorruptDataError(name + ": reference points have shape [" + found + "], expected [m, " +
                           std::to_string(dim) + "] with m >= 2 (d must match --z)");
  }
  try {
    analysis::normalise_rows(array.data, array.shape[0], dim);
  } catch (const CorruptDataError& e) {
    throw CorruptDataError(name + ": " + e.what());
  }
  return analysis::ReferencePoints{array.shape[0], dim, std::move(array.data)};
}

// The rows of one label dataset, [n] or [n, width] integers; checked against n.
struct LabelRows {
  std::vector<std::int64_t> values;
  std::int64_t width = 1;
};

LabelRows read_label_rows(const io::H5File& file, const EntropyJob& job, const EntropyLabel& label, std::int64_t n) {
  auto array = file.read_i64(label.dataset);
  if (array.shape.empty() || array.shape.size() > 2 || array.shape[0] != n) {
    std::string found;
    for (const auto s : array.shape) found += (found.empty() ? "" : ", ") + std::to_string(s);
    throw CorruptDataError(where(job, label.dataset) + ": label '" + label.name + "' has shape [" + found +
                           "], expected [" + std::to_string(n) + "] or [" + std::to_string(n) +
                           ", n] (one row per row of Z)");
  }
  return {std::move(array.data), array.shape.size() == 2 ? array.shape[1] : 1};
}

// The job's label sets: the label datasets are read in order on the calling thread (the
// only one calling HDF5) while up to n_threads - 1 others build the sets of those already
// read; once all are read, the calling thread builds too. Each set is built as alone,
// and its rows are freed once used.
class LabelSetBuilder {
 public:
  LabelSetBuilder(const EntropyJob& job, std::int64_t n, std::int64_t min_count)
      : job_(job), n_(n), min_count_(min_count), rows_(job.labels.size()), sets_(job.labels.size()) {}

  std::vector<LabelSet> run(const io::H5File& file) {
    std::vector<std::thread> threads;
    for (int t = 1; t < std::min(job_.n_threads, static_cast<int>(sets_.size())); ++t) {
      threads.emplace_back([this] { build(); });
    }
    try {
      for (std::size_t k = 0; k < rows_.size(); ++k) publish(read_label_rows(file, job_, job_.labels[k], n_));
    } catch (...) {
      publish_error(std::current_exception());
    }
    ready_.notify_all();
    build();
    for (auto& t : threads) t.join();
    if (error_) std::rethrow_exception(error_);
    return std::move(sets_);
  }

 private:
  void publish(LabelRows rows) {
    {
      const std::lock_guard lock(mutex_);
      rows_[n_read_++] = std::move(rows);
    }
    ready_.notify_one();
  }
  void publish_error(std::exception_ptr error) {
    const std::lock_guard lock(mutex_);
    if (!error_) error_ = std::move(error);
  }
  // The next read set nobody builds yet; nullopt when none is left or an error stops all.
  std::optional<std::size_t> take() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return error_ || next_ < n_read_ || next_ == rows_.size(); });
    if (error_ || next_ == rows_.size()) return std::nullopt;
    return next_++;
  }
  void build() {
    while (const auto k = take()) {
      try {
        sets_[*k] = analysis::label_set_from_rows(job_.labels[*k].name, rows_[*k].values, n_, rows_[*k].width, min_count_);
        rows_[*k].values = {};
      } catch (...) {
        publish_error(std::current_exception());
        ready_.notify_all();
      }
    }
  }

  const EntropyJob& job_;
  std::int64_t n_;
  std::int64_t min_count_;
  std::vector<LabelRows> rows_;  // [k] written once read (under mutex_), then only by its builder
  std::vector<LabelSet> sets_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::size_t n_read_ = 0;
  std::size_t next_ = 0;
  std::exception_ptr error_;
};

void validate(const EntropyJob& job) {
  if (job.labels.empty()) throw UsageError("give at least one --label NAME=DATASET");
  for (std::size_t a = 0; a < job.labels.size(); ++a) {
    for (std::size_t b = 0; b < a; ++b) {
      if (job.labels[a].name == job.labels[b].name) throw UsageError("label name '" + job.labels[a].name + "' is given twice");
    }
  }
  if (job.n_bootstrap < 0) throw UsageError("--bootstrap must be >= 0");
  if (job.n_bootstrap > 0 && !job.groups_dataset) {
    throw UsageError("--bootstrap resamples whole documents: give --groups DATASET with one document id per row");
  }
  if (job.min_count < 1) throw UsageError("--min-count must be >= 1, got " + std::to_string(job.min_count));
  if (job.weighting == analysis::Weighting::kFrequency && job.min_count != 1) {
    throw UsageError("--min-count applies to --weighting uniform only (frequency weighting keeps every label)");
  }
  if (job.n_threads < 1) throw UsageError("--threads must be >= 1");
}

std::optional<double> get_or_warn(const std::optional<double>& v, const std::string& what) {
  if (!v) io::log_warn(what + " is undefined (no positions, or no label reaches --min-count); reported as null");
  return v;
}

// The document id of every row (--groups), else 0 for every row.
std::vector<std::int64_t> read_groups(const io::H5File& file, const EntropyJob& job, std::int64_t n) {
  std::vector<std::int64_t> docs(static_cast<std::size_t>(n), 0);
  if (job.groups_dataset) {
    auto groups = file.read_i64(*job.groups_dataset);
    if (groups.shape.size() != 1 || groups.shape[0] != n) {
      throw CorruptDataError(where(job, *job.groups_dataset) + ": groups must be [" + std::to_string(n) +
                             "] document ids, one per row of Z");
    }
    docs = std::move(groups.data);
  }
  return docs;
}

// Every label set of the job (read and built in parallel), then (--null) each one shuffled within documents; their
// names and rows go into `layout`.
std::vector<LabelSet> read_label_sets(const io::H5File& file, const EntropyJob& job, std::int64_t n,
                                      const std::vector<std::int64_t>& docs, analysis::StateLayout& layout) {
  const std::int64_t min_count = job.weighting == analysis::Weighting::kUniform ? job.min_count : 1;
  auto sets = LabelSetBuilder(job, n, min_count).run(file);
  for (const auto& set : sets) {
    layout.label_sets.push_back(set.name);
    layout.label_rows.push_back(set.n_rows());
  }
  if (job.null) {
    for (std::size_t s = 0; s < job.labels.size(); ++s) {
      sets.push_back(analysis::shuffle_within_documents(sets[s], docs, job.seed, job.labels[s].name + "#null"));
      layout.label_sets.push_back(sets.back().name);
      layout.label_rows.push_back(sets.back().n_rows());
    }
  }
  return sets;
}

// Rows per batch: job.batch_rows, or fewer for a small input (about a sixteenth of it, a
// multiple of 2,048 rows). A batch's buffers (its Z rows, p and the mass grid: 2.2 KB a
// row at d = 256, m = 100) are first touched, page by page, in the first batch, which
// costs a 20k-position run ~10%; big batches halve the threads' fork-joins of a big one.
// No result depends on the batch size.
std::int64_t rows_per_batch(const EntropyJob& job, std::int64_t n) {
  constexpr std::int64_t kMinBatchRows = 2048;
  return std::min(job.batch_rows, std::max(kMinBatchRows, n / 16 / kMinBatchRows * kMinBatchRows));
}

// Adds Z to `state` batch by batch, reading each batch of rows after the first (given).
void accumulate(const io::H5File& file, const EntropyJob& job, io::Array<float> batch, const std::vector<LabelSet>& sets,
                const std::vector<std::int64_t>& docs, const analysis::SoftAssigner& assigner,
                analysis::EstimatorState& state) {
  const auto n = static_cast<std::int64_t>(docs.size());
  const std::int64_t batch_rows = rows_per_batch(job, n);
  for (std::int64_t begin = 0; begin < n; begin += batch_rows) {
    const std::int64_t rows = std::min(batch_rows, n - begin);
    if (begin > 0) batch = file.read_rows_f32(job.z_dataset, begin, rows);
    std::vector<std::span<const std::int32_t>> ids;
    for (const auto& set : sets) ids.emplace_back(set.ids.data() + begin, static_cast<std::size_t>(rows));
    try {
      state.add_batch(assigner, batch.data.data(), rows, ids,
                      std::span(docs).subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(rows)),
                      job.n_threads);
    } catch (const CorruptDataError& e) {
      throw CorruptDataError(where(job, job.z_dataset) + ": " + e.what());
    }
  }
}

void add_estimates(EntropyResult& result, const EntropyJob& job, const analysis::LayerEstimate& est) {
  result.entropy = get_or_warn(est.full.entropy, "entropy");
  result.has_null = job.null;
  result.has_bootstrap = job.n_bootstrap > 0;
  result.entropy_bootstrap = est.entropy_interval;
  for (std::size_t s = 0; s < job.labels.size(); ++s) {
    const std::string& name = job.labels[s].name;
    result.names.push_back(name);
    result.mutual_information.push_back(get_or_warn(est.full.sets[s].mutual_information, "mutual information of '" + name + "'"));
    result.regularity.push_back(est.full.sets[s].regularity);
    if (job.null) result.null.push_back(est.full.sets[s + job.labels.size()].mutual_information);
    if (result.has_bootstrap) result.bootstrap.push_back(est.mi_intervals[s]);
  }
}

}  // namespace

EntropyResult run_entropy(const EntropyJob& job) {
  validate(job);
  const auto file = io::H5File::open_read(job.input);
  const auto z_shape = file.shape(job.z_dataset);
  if (z_shape.size() != 2 || z_shape[1] < 2) {
    throw CorruptDataError(where(job, job.z_dataset) + ": Z must be a 2-D dataset [N, d] with d >= 2");
  }
  const std::int64_t n = z_shape[0];
  const std::int64_t dim = z_shape[1];
  // Z is read batch by batch (never whole); the first batch now, so that a Z that cannot
  // be read is reported before anything else is read.
  auto z_first = file.read_rows_f32(job.z_dataset, 0, std::min(rows_per_batch(job, n), n));
  const auto points = load_points(job, dim);

  EntropyResult result;
  result.n_samples = n;
  result.dim = dim;
  result.n_bins = points.n_points;
  result.eps = analysis::calibrate_eps(job.calibration, points.n_points, dim, job.eps);
  result.calibration = analysis::to_string(job.calibration);
  result.weighting = analysis::to_string(job.weighting);
  result.min_count = job.min_count;
  result.w_checksum = analysis::checksum(points);
  result.reference_points = job.reference_points_file
                                ? job.reference_points_file->string() + ":" + job.reference_points_dataset
                                : "seed:" + std::to_string(job.seed);

  const auto docs = read_groups(file, job, n);
  analysis::StateLayout layout;
  layout.n_bins = points.n_points;
  layout.n_bootstrap = job.n_bootstrap;
  layout.bootstrap_seed = job.seed;
  const auto sets = read_label_sets(file, job, n, docs, layout);

  const analysis::SoftAssigner assigner(points, result.eps);
  analysis::EstimatorState state(layout);
  accumulate(file, job, std::move(z_first), sets, docs, assigner, state);
  add_estimates(result, job, analysis::estimate(state.sums(job.n_threads), job.weighting, job.confidence));
  return result;
}

nlohmann::json to_json(const EntropyResult& r) {
  const auto value = [](const std::optional<double>& v) {
    return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  const auto by_name = [&](const std::vector<std::optional<double>>& values) {
    nlohmann::json out = nlohmann::json::object();
    for (std::size_t s = 0; s < r.names.size(); ++s) out[r.names[s]] = value(values[s]);
    return out;
  };
  nlohmann::json j;
  j["n_samples"] = r.n_samples;
  j["dim"] = r.dim;
  j["n_bins"] = r.n_bins;
  j["eps"] = r.eps;
  j["calibration"] = r.calibration;
  j["weighting"] = r.weighting;
  j["min_count"] = r.min_count;
  j["reference_points"] = r.reference_points;
  j["w_checksum"] = r.w_checksum;
  j["entropy"] = value(r.entropy);
  j["mutual_information"] = by_name(r.mutual_information);
  j["regularity"] = by_name(r.regularity);
  if (r.has_null) j["null"] = by_name(r.null);
  if (r.has_bootstrap) {
    nlohmann::json boot = nlohmann::json::object();
    for (std::size_t s = 0; s < r.names.size(); ++s) {
      const auto& iv = r.bootstrap[s];
      boot[r.names[s]] = iv ? nlohmann::json{{"low", iv->low}, {"high", iv->high}} : nlohmann::json(nullptr);
    }
    j["bootstrap"] = boot;
    j["entropy_bootstrap"] = r.entropy_bootstrap
                                 ? nlohmann::json{{"low", r.entropy_bootstrap->low}, {"high", r.entropy_bootstrap->high}}
                                 : nlohmann::json(nullptr);
  }
  return j;
}

void write_entropy_example(const std::filesystem::path& path, std::int64_t n, std::int64_t dim, std::uint64_t seed) {
  std::uint64_t state = seed;
  const auto uniform = [&state]() {  // in [0, 1)
    state = analysis::splitmix64(state);
    return static_cast<double>(state >> 11) * 0x1.0p-53;
  };
  std::vector<std::int64_t> token, bigram, noise, rare, doc;
  std::vector<float> z;
  std::vector<double> z64;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto t = static_cast<std::int64_t>(uniform() * 6.0);
    token.push_back(t);
    bigram.push_back(i == 0 ? -1 : token[static_cast<std::size_t>(i - 1)]);
    bigram.push_back(t);
    noise.push_back(static_cast<std::int64_t>(uniform() * 4.0));
    rare.push_back(i);
    doc.push_back(i / 25);
    for (std::int64_t k = 0; k < dim; ++k) {
      const double v = (k == t ? 3.0 : 0.0) + 2.0 * uniform() - 1.0;
      z.push_back(static_cast<float>(v));
      z64.push_back(static_cast<double>(static_cast<float>(v)));
    }
  }
  std::vector<float> w;
  for (std::int64_t k = 0; k < 16 * dim; ++k) w.push_back(static_cast<float>(3.0 * uniform() - 1.5));
  auto file = io::H5File::create(path);
  file.write("/z", std::span<const float>(z), {n, dim});
  file.write("/z64", std::span<const double>(z64), {n, dim});
  file.write("/token", std::span<const std::int64_t>(token), {n});
  file.write("/bigram", std::span<const std::int64_t>(bigram), {n, 2});
  file.write("/noise", std::span<const std::int64_t>(noise), {n});
  file.write("/rare", std::span<const std::int64_t>(rare), {n});
  file.write("/doc", std::span<const std::int64_t>(doc), {n});
  file.write("/w", std::span<const float>(w), {16, dim});
  file.close();
}

}  // namespace ibzoo::tools
