// Data flow: prepare -> [extract: forward pass -> per-layer soft assignments] -> reduce.
// Layers stream from the model one at a time, so a batch never holds all of them,
// and each batch's assignments go to the item's state.h5 at once, so an item never
// holds more than one batch.
#include "stages/extract.h"

#include "analysis/check.h"
#include "analysis/error.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/log.h"
#include "io/safetensors.h"
#include "io/state_h5.h"
#include "models/model.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <cmath>
#include <exception>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

namespace ibzoo::stages {

namespace {

// One batch: which corpus documents it holds, and for every estimator position in
// it, the row of the batch's concatenated hidden states.
struct Batch {
  std::vector<std::vector<std::int32_t>> sequences;
  std::vector<std::int64_t> rows;                      // row in the batch per position
  std::vector<std::vector<std::int32_t>> label_ids;    // [set][position]
  std::vector<std::int64_t> doc_ids;                   // per position
  std::int64_t n_tokens = 0;
};

std::vector<Batch> make_batches(const PreparedText& text, std::int64_t doc_begin, std::int64_t doc_end,
                                std::int64_t tokens_per_batch) {
  const auto& corpus = text.corpus;
  // Documents of the shard, longest first, so that a batch holds documents of
  // similar length and right-padding wastes little (ties keep corpus order: the
  // batches, and so every sum, are a pure function of the item).
  std::vector<std::int64_t> order;
  for (std::int64_t k = 0; k < corpus.n_docs(); ++k) {
    const auto doc = corpus.doc_ids[static_cast<std::size_t>(k)];
    if (doc >= doc_begin && doc < doc_end) order.push_back(k);
  }
  const auto length = [&](std::int64_t k) {
    return corpus.doc_offsets[static_cast<std::size_t>(k + 1)] - corpus.doc_offsets[static_cast<std::size_t>(k)];
  };
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return length(a) > length(b); });

  std::vector<Batch> batches;
  Batch cur;
  cur.label_ids.resize(text.label_sets.size());
  for (const auto k : order) {
    const auto doc = corpus.doc_ids[static_cast<std::size_t>(k)];
    const auto t0 = corpus.doc_offsets[static_cast<std::size_t>(k)];
    const auto t1 = corpus.doc_offsets[static_cast<std::size_t>(k + 1)];
    // Padded size: every sequence of a batch is as long as its first (longest).
    const auto padded_len = cur.sequences.empty() ? t1 - t0 : static_cast<std::int64_t>(cur.sequences.front().size());
    if (!cur.sequences.empty() && padded_len * static_cast<std::int64_t>(cur.sequences.size() + 1) > tokens_per_batch) {
      batches.push_back(std::move(cur));
      cur = Batch{};
      cur.label_ids.resize(text.label_sets.size());
    }
    std::vector<std::int32_t> seq;
    for (auto t = t0; t < t1; ++t) seq.push_back(static_cast<std::int32_t>(corpus.tokens[static_cast<std::size_t>(t)]));
    for (auto p = text.pos_offsets[static_cast<std::size_t>(k)]; p < text.pos_offsets[static_cast<std::size_t>(k + 1)]; ++p) {
      const auto pi = static_cast<std::size_t>(p);
      cur.rows.push_back(cur.n_tokens + text.positions.token_idx[pi] - t0);
      cur.doc_ids.push_back(doc);
      for (std::size_t s = 0; s < text.label_sets.size(); ++s) cur.label_ids[s].push_back(text.label_sets[s].ids[pi]);
    }
    cur.sequences.push_back(std::move(seq));
    cur.n_tokens += t1 - t0;
  }
  if (!cur.sequences.empty()) batches.push_back(std::move(cur));
  return batches;
}

void check_finite(std::span<const float> rows, std::int64_t dim, int layer, const std::string& item_id) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!std::isfinite(rows[i])) {
      throw ModelError("item " + item_id + ": layer " + std::to_string(layer) + " has a non-finite activation (" +
                       std::to_string(rows[i]) + ") at token row " + std::to_string(static_cast<std::int64_t>(i) / dim) +
                       " of its batch; try compute.dtype float32, or check the checkpoint's weights");
    }
  }
}

// A non-finite assignment comes from a zero or non-finite representation row.
[[noreturn]] void throw_non_finite(const std::string& item_id, int layer, std::int64_t position) {
  throw ModelError("item " + item_id + ": layer " + std::to_string(layer) +
                   " has a zero or non-finite representation at estimator position " + std::to_string(position) +
                   " of its batch; try compute.dtype float32, or check the checkpoint's weights");
}

// A batch's assignments from the device: its total (computed there) must be one per
// row and layer; if it is not, the values are searched for the first bad row to name it.
void check_assignments(const models::Assignments& a, const std::string& item_id) {
  const double expected = static_cast<double>(a.n_rows()) * static_cast<double>(a.layer_ids().size());
  if (std::abs(a.total() - expected) <= 1e-4 * expected) return;
  const auto n = static_cast<std::size_t>(a.n_rows() * a.n_bins());
  for (std::size_t slot = 0; slot < a.layer_ids().size(); ++slot) {
    for (std::size_t i = 0; i < n; ++i) {
      const float v = a.float16() ? io::f16_to_float(a.layer_f16(slot)[i]) : a.layer(slot)[i];
      if (!std::isfinite(v)) throw_non_finite(item_id, a.layer_ids()[slot], static_cast<std::int64_t>(i) / a.n_bins());
    }
  }
  throw ModelError("item " + item_id + ": the soft assignments of a batch sum to " + std::to_string(a.total()) +
                   " instead of " + std::to_string(expected) + " (one per position and layer)");
}

// Runs fn(0) .. fn(n - 1) on up to n_threads threads; rethrows the first exception.
void parallel_for(std::size_t n, int n_threads, const std::function<void(std::size_t)>& fn) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  const auto n_workers = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, n_threads)));
  for (std::size_t t = 1; t < n_workers; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// Soft assignments of n_rows representation rows (z: [n_rows, d]) into p, row
// chunks in parallel; each row's result does not depend on the chunking.
void assign_rows(const analysis::SoftAssigner& assigner, const float* z, std::int64_t n_rows, std::vector<float>& p,
                 int n_threads) {
  constexpr std::int64_t kChunk = 960;
  p.resize(static_cast<std::size_t>(n_rows * assigner.n_bins()));
  const auto n_chunks = static_cast<std::size_t>((n_rows + kChunk - 1) / kChunk);
  parallel_for(n_chunks, n_threads, [&](std::size_t c) {
    const auto begin = static_cast<std::int64_t>(c) * kChunk;
    const auto rows = std::min(kChunk, n_rows - begin);
    assigner.assign(z + begin * assigner.dim(), rows, p.data() + begin * assigner.n_bins(), begin);
  });
}

}  // namespace

std::vector<int> resolve_layers(const std::vector<int>& wanted, int n_layers, const std::string& model_id) {
  std::vector<int> layers;
  if (wanted.empty()) {
    for (int l = 0; l <= n_layers; ++l) layers.push_back(l);
    return layers;
  }
  for (int l : wanted) {
    if (l > n_layers) {
      throw ModelError("model " + model_id + " has layers 0.." + std::to_string(n_layers) + ", but 'estimator.layers' asks for " +
                       std::to_string(l));
    }
    layers.push_back(l);
  }
  std::sort(layers.begin(), layers.end());
  layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  return layers;
}

ExtractResult extract(const ExtractJob& job, const PreparedText& text, const models::Model& model,
                      const EstimatorSetup& setup) {
  const auto start = std::chrono::steady_clock::now();
  const auto dir = job.run.begin_item(job.item_id);
  const auto dim = static_cast<std::int64_t>(model.hidden_size());
  IBZOO_CHECK(dim == setup.assigner.dim(), "estimator built for d=" << setup.assigner.dim() << ", model has " << dim);

  const auto layers = job.layers;
  std::vector<int> slot_of_layer(static_cast<std::size_t>(model.n_layers() + 1), -1);
  for (std::size_t i = 0; i < layers.size(); ++i) slot_of_layer[static_cast<std::size_t>(layers[i])] = static_cast<int>(i);
  auto layout = setup.layout;
  layout.label_sets = text.label_names();
  // state.h5 (format 2, io/state_h5.h) grows batch by batch: every position's soft
  // assignment per layer; the reduce builds the label tables from them.
  const auto state_path = job.run.item_state(job.item_id);
  const auto state_temp = io::temp_path_for(state_path);
  auto state_file = io::H5File::create(state_temp);
  {
    std::vector<std::int64_t> label_rows;
    for (const auto& set : text.label_sets) label_rows.push_back(set.n_rows());
    io::write_assignments_header(state_file, layout, label_rows);
    for (int l : layers) io::create_assignments(state_file, l, setup.assigner.n_bins(), job.assignments_float16);
  }
  std::vector<std::vector<std::int32_t>> all_labels(text.label_sets.size());
  std::vector<std::int64_t> all_doc_ids;

  std::vector<int> stored;
  if (job.storage.enabled) stored = job.storage.layers.empty() ? layers : job.storage.layers;
  std::optional<io::H5File> reps;
  const auto reps_path = dir / "reps.h5";
  const auto reps_temp = io::temp_path_for(reps_path);
  if (!stored.empty()) {
    reps.emplace(io::H5File::create(reps_temp));
    for (int l : stored) {
      reps->create_rows(io::layer_group(l), dim,
                        {{job.storage.chunk_tokens}, job.storage.compression, job.storage.float16});
    }
  }

  ExtractResult result;
  const auto batches = make_batches(text, job.doc_begin, job.doc_end, job.tokens_per_batch);
  std::vector<float> selected;
  std::vector<int> wanted_layers = layers;
  wanted_layers.insert(wanted_layers.end(), stored.begin(), stored.end());
  std::sort(wanted_layers.begin(), wanted_layers.end());
  wanted_layers.erase(std::unique(wanted_layers.begin(), wanted_layers.end()), wanted_layers.end());
  // On a GPU, without stored representations, the soft assignments are computed on
  // the device and only [positions, m] come back; the host writes batch k while the
  // device runs batch k + 1.
  std::optional<models::DeviceAssigner> device_assigner;
  if (model.options().device == models::Device::Cuda && stored.empty() && !layers.empty()) {
    const auto& points = setup.assigner.points();
    device_assigner.emplace(model, points.w, points.n_points, points.dim, setup.assigner.eps());
  }
  // Batches still being written, oldest first. One job at a time touches the file
  // (each waits for its predecessor: HDF5 is not thread-safe, and rows go in batch
  // order); the device runs at most two batches ahead of the host.
  std::deque<std::shared_future<void>> pending;
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const auto wait_oldest = [&] {
    const auto t = Clock::now();
    const auto oldest = pending.front();
    pending.pop_front();
    oldest.get();
    result.estimate_s += seconds_since(t);
  };

  std::vector<float> p_buf;
  std::vector<std::uint16_t> p_half;
  for (const auto& batch : batches) {
    const auto n_pos = static_cast<std::int64_t>(batch.rows.size());
    for (std::size_t s = 0; s < batch.label_ids.size(); ++s) {
      all_labels[s].insert(all_labels[s].end(), batch.label_ids[s].begin(), batch.label_ids[s].end());
    }
    all_doc_ids.insert(all_doc_ids.end(), batch.doc_ids.begin(), batch.doc_ids.end());
    if (device_assigner) {
      const auto t_forward = Clock::now();
      auto assignments =
          model.forward_assignments(batch.sequences, batch.rows, *device_assigner, layers, job.assignments_float16);
      result.forward_s += seconds_since(t_forward);
      const std::shared_future<void> previous = pending.empty() ? std::shared_future<void>() : pending.back();
      if (pending.size() >= 2) wait_oldest();
      pending.push_back(std::async(std::launch::async, [&, &batch = batch, n_pos, previous = std::move(previous),
                                                        a = std::move(assignments)]() mutable {
        if (previous.valid()) previous.get();
        a.wait();
        if (a.n_rows() == 0) return;
        IBZOO_CHECK(a.n_rows() == n_pos && a.layer_ids() == layers, "assignments " << a.n_rows() << " rows");
        check_assignments(a, job.item_id);
        const auto n_values = static_cast<std::size_t>(n_pos * a.n_bins());
        for (std::size_t slot = 0; slot < layers.size(); ++slot) {
          if (a.float16()) {
            io::append_assignments(state_file, layers[slot], std::span(a.layer_f16(slot), n_values), n_pos);
          } else {
            io::append_assignments(state_file, layers[slot], std::span(a.layer(slot), n_values), n_pos);
          }
        }
      }).share());
    } else {
      const auto sink = [&](int layer, const float* data, std::int64_t n_rows, std::int64_t d) {
        IBZOO_CHECK(n_rows == batch.n_tokens && d == dim, "layer " << layer << " gave " << n_rows << "x" << d);
        const std::span<const float> rows(data, static_cast<std::size_t>(n_rows * d));
        check_finite(rows, d, layer, job.item_id);
        if (reps && std::find(stored.begin(), stored.end(), layer) != stored.end()) {
          reps->append_rows(io::layer_group(layer), rows, n_rows);
        }
        const int slot = slot_of_layer[static_cast<std::size_t>(layer)];
        if (slot < 0 || n_pos == 0) return;
        selected.resize(static_cast<std::size_t>(n_pos * d));
        for (std::int64_t p = 0; p < n_pos; ++p) {
          const auto src = rows.subspan(static_cast<std::size_t>(batch.rows[static_cast<std::size_t>(p)] * d), static_cast<std::size_t>(d));
          std::copy(src.begin(), src.end(), selected.begin() + p * d);
        }
        assign_rows(setup.assigner, selected.data(), n_pos, p_buf, job.threads);
        if (job.assignments_float16) {
          p_half.resize(p_buf.size());
          io::float_to_f16(p_buf, p_half);
          io::append_assignments(state_file, layer, p_half, n_pos);
        } else {
          io::append_assignments(state_file, layer, p_buf, n_pos);
        }
      };
      const auto t_forward = Clock::now();
      model.forward_layers(batch.sequences, sink, wanted_layers);
      result.forward_s += seconds_since(t_forward);  // includes the assignments and their writes on this path
    }
    result.n_documents += static_cast<std::int64_t>(batch.sequences.size());
    result.n_tokens += batch.n_tokens;
    result.n_positions += n_pos;
  }
  while (!pending.empty()) wait_oldest();

  if (reps) {
    reps->close();
    io::commit_file(reps_temp, reps_path);
  }
  const auto t_write = Clock::now();
  state_file.set_attr("/", "item", job.item_id);
  state_file.set_attr("/", "n_positions", result.n_positions);
  state_file.set_attr("/", "n_tokens", result.n_tokens);
  io::write_positions(state_file, all_labels, all_doc_ids);
  state_file.close();
  io::commit_file(state_temp, state_path);
  result.write_s = seconds_since(t_write);
  result.state_bytes = static_cast<std::int64_t>(std::filesystem::file_size(state_path));

  result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto provenance = job.provenance;
  provenance["item"] = job.item_id;
  provenance["n_documents"] = result.n_documents;
  provenance["n_tokens"] = result.n_tokens;
  provenance["n_positions"] = result.n_positions;
  provenance["layers"] = layers;
  provenance["eps"] = setup.assigner.eps();
  provenance["calibration"] = setup.calibration;
  provenance["reference_points_checksum"] = setup.w_checksum;
  provenance["wall_time_s"] = result.wall_s;
  io::write_file_atomic(dir / "provenance.json", provenance.dump(2) + "\n");
  job.run.mark_done(job.item_id, {{"n_positions", result.n_positions}, {"wall_time_s", result.wall_s}});
  return result;
}

}  // namespace ibzoo::stages
