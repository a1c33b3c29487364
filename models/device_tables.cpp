// Accumulate: the estimator's per-batch kernel and per-label tables next to the
// forward pass. Everything is integer arithmetic once p is on the mass grid, and
// every float computation (p, each position's entropy, each row's entropy) is
// elementwise or a fixed-order row sum, so no result depends on how positions are
// batched, ordered or shared.
#include "models/device_tables.h"

#include "errors/check.h"
#include "errors/error.h"
#include "analysis/labels.h"
#include "models/model_impl.h"
#include "models/transformer_ops.h"

#if __has_include(<ATen/cuda/CUDAEvent.h>) && __has_include(<cuda_runtime_api.h>)
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define IBZOO_CUDA_EVENTS 1
#else
#define IBZOO_CUDA_EVENTS 0
#endif

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ibzoo::models {

namespace {

constexpr double kMassScale = 0x1.0p36;
constexpr double kEntropyScale = 0x1.0p32;
constexpr double kRowFractionScale = 0x1.0p36;  // row-entropy sums: whole nats + units of 2^-36

// Rows whose entropies are computed at a time at the end of a pass (pipeline/budget.cpp
// reserves their float64 temporaries). Test hook: IBZOO_TEST_FINALISE_ROWS makes the
// chunks small, so that a test's few hundred rows cross several of them.
std::int64_t finalise_rows() {
  const char* forced = std::getenv("IBZOO_TEST_FINALISE_ROWS");
  return forced != nullptr ? std::max<std::int64_t>(1, std::atoll(forced)) : std::int64_t{1} << 18;
}
static_assert(analysis::kMassBits == 36 && analysis::kEntropyBits == 32, "scales follow analysis/estimator_state.h");

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

// A switch for comparisons (benchmarks/streaming_bench.sh): on unless NAME=0.
bool switch_on(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr || std::string(v) != "0";
}

// Sum of each row of a [n, m] tensor in a fixed pairwise order (halves, then the odd
// column), by elementwise additions only: row i's result does not depend on n.
torch::Tensor fixed_row_sum(torch::Tensor t) {
  while (t.size(1) > 1) {
    const auto cols = t.size(1);
    const auto half = cols / 2;
    auto s = t.narrow(1, 0, half) + t.narrow(1, half, half);
    if (cols % 2 != 0) s.narrow(1, 0, 1).add_(t.narrow(1, 2 * half, 1));
    t = std::move(s);
  }
  return t.squeeze(1);
}

// Entropy (nats, float64) of each row of a non-negative [n, m] tensor normalised by
// its row sum, with the reference's clip: -sum q log max(q, 1e-9). NaN for a zero row.
torch::Tensor row_entropy(const torch::Tensor& mass) {
  const auto m64 = mass.to(torch::kDouble);
  const auto q = m64 / fixed_row_sum(m64).unsqueeze(1);
  return -fixed_row_sum(q * torch::log(torch::clamp_min(q, analysis::kLogClip)));
}

}  // namespace

struct DeviceTables::Impl {
  const Model* model = nullptr;
  torch::Device device{torch::kCPU};
  torch::Tensor w_t;                   // float32 [d, m]: (W / eps) transposed
  torch::Tensor w_split;               // bfloat16 [d, 3m] or undefined (DeviceAssigner::Impl::w_split_t)
  // The model's RunOptions::fixed_rows (0: off): norms and scores by blocks of exactly
  // that many rows, the last padded with zeros, so that their kernels see one shape
  // whatever the batch's row count.
  std::int64_t assign_block_rows = 0;
  analysis::StateLayout layout;
  analysis::RowShare share;
  std::vector<int> layers;
  std::int64_t m = 0, n_views = 1, n_sets = 0, n_rows = 0;
  std::vector<std::int64_t> set_offset;  // first local row of each set
  torch::Tensor segment;                 // int64 [R]: the set of each local row
  // Per view, layer-free: the rows' counts on the device; n and the singleton counts on the host.
  std::vector<torch::Tensor> counts;                    // [V] int64 [R]
  std::vector<std::int64_t> n;                          // [V]
  std::vector<std::vector<std::int64_t>> single_weight;  // [V][S]
  std::vector<std::vector<std::int64_t>> single_labels;  // [V][S]
  // Per layer slot and view.
  std::vector<std::vector<torch::Tensor>> mass;     // [L][V] int64 [R, m]
  std::vector<std::vector<torch::Tensor>> sum_p;    // [L][V] int64 [m]
  std::vector<std::vector<torch::Tensor>> single_h; // [L][V] int64 [S, 2]: sum w h, sum h (w > 0)
  std::vector<torch::Tensor> bad;                   // [L] int64 []: rows with a zero or non-finite norm
#if IBZOO_CUDA_EVENTS
  // On CUDA everything above lives on a stream of its own, so that the estimator's kernels
  // of layer l run beside the forward pass's layers l+1, ... instead of between them.
  std::optional<c10::cuda::CUDAStream> stream;
  at::cuda::CUDAEvent handoff;
  std::deque<at::cuda::CUDAEvent> in_flight;  // recorded on `stream`

  // The tables' stream, once it waits for all work queued so far on the caller's stream.
  c10::cuda::CUDAStream after_caller() {
    if (!stream) stream = c10::cuda::getStreamFromPool(false, device.index());
    handoff.record(c10::cuda::getCurrentCUDAStream(device.index()));
    handoff.block(*stream);
    return *stream;
  }
#endif

  // IBZOO_TABLES_STREAM=0 keeps the tables' work on the caller's stream (for comparison).
  static bool own_stream() {
    static const bool on = switch_on("IBZOO_TABLES_STREAM");
    return on;
  }

  // While one lives, work is queued on the tables' stream, after all work queued so far on
  // the caller's stream (nothing changes on the CPU).
  class OnTablesStream {
   public:
    explicit OnTablesStream([[maybe_unused]] Impl& d) {
#if IBZOO_CUDA_EVENTS
      if (d.device.is_cuda() && own_stream()) guard_.emplace(d.after_caller());
#endif
    }

   private:
#if IBZOO_CUDA_EVENTS
    std::optional<c10::cuda::CUDAStreamGuard> guard_;
#endif
  };

  // A tensor made on the caller's stream and used on the tables' stream: its memory is not
  // reused before the tables' stream is done with it.
  void lend(const torch::Tensor& t) const {
#if IBZOO_CUDA_EVENTS
    if (stream) t.record_stream(*stream);
#else
    (void)t;
#endif
  }

  // Positions that add to no row of this pass (singletons, dropped labels, rows of other
  // shares) add to one of kSpareRows rows past the last, which nothing reads: every set
  // then adds the batch's assignments as they are, with no gathered copy per set. Spread
  // over many rows so that their atomic adds do not queue on one.
  static constexpr std::int64_t kSpareRows = 1024;

  // A batch's positions as device tensors.
  struct Inputs {
    std::int64_t n = 0;
    torch::Tensor rows;                 // int64 [S, n]: each position's local table row per set (or a spare row)
    torch::Tensor labels;               // int32 [S, n]
    std::vector<torch::Tensor> weights; // [V]: int64 [n] (undefined for view 0: all ones)
    torch::Tensor single;               // int64 [S, n]: 1 where the label is a singleton
  };

  torch::TensorOptions longs() const { return torch::TensorOptions().dtype(torch::kLong).device(device); }

  Inputs inputs(const Positions& p, analysis::Contribution contribution) {
    Inputs in;
    in.n = static_cast<std::int64_t>(p.rows.size());
    IBZOO_CHECK(static_cast<std::int64_t>(p.labels.size()) == n_sets, p.labels.size() << " label arrays for " << n_sets);
    std::vector<std::int64_t> rows(sz(n_sets * in.n));
    std::vector<std::int32_t> flat_labels;
    flat_labels.reserve(sz(n_sets * in.n));
    for (std::int64_t s = 0; s < n_sets; ++s) {
      const auto& ids = p.labels[sz(s)];
      IBZOO_CHECK(static_cast<std::int64_t>(ids.size()) == in.n, "label array of set " << s);
      for (std::int64_t i = 0; i < in.n; ++i) {
        const auto id = ids[sz(i)];
        flat_labels.push_back(id);
        IBZOO_CHECK(id < layout.label_rows[sz(s)], "label id " << id << " of set " << layout.label_sets[sz(s)]);
        rows[sz(s * in.n + i)] = id >= 0 && share.contains(id) ? set_offset[sz(s)] + share.local(id) : n_rows + i % kSpareRows;
      }
    }
    in.rows = to_device(torch::tensor(rows, torch::kLong).view({n_sets, in.n}), device);
    in.labels = to_device(torch::from_blob(flat_labels.data(), {n_sets, in.n}, torch::kInt).clone(), device);
    in.single = in.labels.eq(analysis::kSingleton).to(torch::kLong);
    in.weights.resize(sz(n_views));
    const bool all = contribution == analysis::Contribution::kAll;
    std::vector<std::int64_t> w(sz(in.n), 1);
    for (std::int64_t v = 0; v < n_views; ++v) {
      if (v > 0) {
        for (std::int64_t i = 0; i < in.n; ++i) {
          const bool same = i > 0 && p.doc_ids[sz(i)] == p.doc_ids[sz(i - 1)];
          w[sz(i)] = same ? w[sz(i - 1)] : analysis::view_weight(layout, v, p.doc_ids[sz(i)]);
        }
        in.weights[sz(v)] = to_device(torch::tensor(w, torch::kLong), device);
      }
      counts[sz(v)].index_add_(0, in.rows.view({-1}),
                               v == 0 ? torch::ones({n_sets * in.n}, longs()) : in.weights[sz(v)].repeat({n_sets}));
      if (!all) continue;
      // Layer-free scalars on the host: n and the singleton counts.
      for (std::int64_t i = 0; i < in.n; ++i) {
        const auto wi = w[sz(i)];
        n[sz(v)] += wi;
        for (std::int64_t s = 0; s < n_sets; ++s) {
          if (p.labels[sz(s)][sz(i)] != analysis::kSingleton) continue;
          single_weight[sz(v)][sz(s)] += wi;
          if (wi > 0) ++single_labels[sz(v)][sz(s)];
        }
      }
    }
    if (all) analysis::check_view_weights(n);
    return in;
  }

  // p: float32 [n, m] on the device, for layer slot `slot`.
  void add_layer(std::size_t slot, const torch::Tensor& p, const Inputs& in, analysis::Contribution contribution) {
    const auto pm = (p * kMassScale).round_().to(torch::kLong);
    const bool all = contribution == analysis::Contribution::kAll;
    torch::Tensor h_units;
    if (all) h_units = (row_entropy(p) * kEntropyScale).round_().to(torch::kLong);
    for (std::int64_t v = 0; v < n_views; ++v) {
      auto& table = mass[slot][sz(v)];
      const auto weighted = v == 0 ? pm : pm * in.weights[sz(v)].unsqueeze(1);
      for (std::int64_t s = 0; s < n_sets; ++s) table.index_add_(0, in.rows[s], weighted);
      if (!all) continue;
      sum_p[slot][sz(v)].add_(weighted.sum(0));
      // sum w h and sum h over the singletons with w > 0 (the same sum in view 0: w = 1)
      const auto single_w = v == 0 ? in.single : in.single * in.weights[sz(v)].unsqueeze(0);
      const auto weighted_h = (single_w * h_units.unsqueeze(0)).sum(1);
      single_h[slot][sz(v)].select(1, 0).add_(weighted_h);
      if (v == 0) {
        single_h[slot][sz(v)].select(1, 1).add_(weighted_h);
        continue;
      }
      const auto single_i = in.single * in.weights[sz(v)].gt(0).to(torch::kLong).unsqueeze(0);
      single_h[slot][sz(v)].select(1, 1).add_((single_i * h_units.unsqueeze(0)).sum(1));
    }
  }

  // Row norms [n, 1] and scores z . W/eps [n, m] in float32 of z [n, d] (any float type).
  // Rows of a bfloat16 model multiply by W's three bfloat16 parts on the tensor cores
  // (mm_split) rather than as a float32 copy by float32 W: the same float32 scores up
  // to the order of their sums, without the copy and on the tensor cores.
  std::pair<torch::Tensor, torch::Tensor> norms_and_scores(const torch::Tensor& z_in) const {
    if (w_split.defined() && z_in.scalar_type() == torch::kBFloat16) {
      return {at::linalg_vector_norm(z_in, 2, at::IntArrayRef{1}, true, torch::kFloat), mm_split(z_in, w_split)};
    }
    const auto z = z_in.to(torch::kFloat);
    return {z.norm(2, {1}, true), torch::mm(z, w_t)};
  }

  // Soft assignments of z [n, d] (any float type) on the device; counts bad rows.
  torch::Tensor assign(const torch::Tensor& z_in, std::size_t slot) {
    torch::Tensor norm, scores;
    const auto block = assign_block_rows;
    const auto n_in = z_in.size(0);
    if (block <= 0 || n_in == block) {
      std::tie(norm, scores) = norms_and_scores(z_in);
    } else {
      std::vector<torch::Tensor> norms, all;
      for (std::int64_t r0 = 0; r0 < n_in; r0 += block) {
        const auto len = std::min(block, n_in - r0);
        const auto rows = z_in.narrow(0, r0, len);
        const auto [nb, sb] = norms_and_scores(len < block ? padded_rows(rows, block) : rows);
        norms.push_back(nb.narrow(0, 0, len));
        all.push_back(sb.narrow(0, 0, len));
      }
      norm = torch::cat(norms);
      scores = torch::cat(all);
    }
    bad[slot].add_(norm.eq(0).logical_or(torch::isfinite(norm).logical_not()).sum());
    scores.div_(norm);
    return torch::softmax(scores, -1);
  }

  // Per set of one layer and view: whole nats and the fraction in units of 2^-36 of
  // both entropy sums, rows with count > 0 and their count ([n_sets, 6]); integer sums
  // (exact, any order). By chunks of rows, so that the float64 temporaries stay small
  // beside the tables.
  torch::Tensor per_set_sums(std::size_t slot, std::int64_t v) const {
    auto per_set = torch::zeros({n_sets, 6}, longs());
    const auto chunk = finalise_rows();
    for (std::int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
      const auto rows = std::min(chunk, n_rows - r0);
      const auto row_counts = counts[sz(v)].narrow(0, r0, rows);
      const auto valid = row_counts.gt(0);
      auto h = row_entropy(mass[slot][sz(v)].narrow(0, r0, rows));
      h = torch::where(valid, h, torch::zeros_like(h));
      const auto weighted = row_counts.to(torch::kDouble) * h;
      std::vector<torch::Tensor> columns;
      for (const auto& e : {weighted, h}) {
        const auto whole = e.floor();
        columns.push_back(whole.to(torch::kLong));
        columns.push_back(((e - whole) * kRowFractionScale).round_().to(torch::kLong));
      }
      columns.push_back(valid.to(torch::kLong));
      columns.push_back(row_counts);
      per_set.index_add_(0, segment.narrow(0, r0, rows), torch::stack(columns, 1));  // [rows, 6]
    }
    return per_set;
  }

  // At most two batches queued on the device ahead of the host. Called on the tables'
  // stream, whose work of a batch ends after the forward's.
  void limit_in_flight() {
#if IBZOO_CUDA_EVENTS
    if (!device.is_cuda()) return;
    in_flight.emplace_back();
    in_flight.back().record(c10::cuda::getCurrentCUDAStream(device.index()));
    while (in_flight.size() > 2) {
      in_flight.front().synchronize();
      in_flight.pop_front();
    }
#endif
  }
};

std::int64_t DeviceTables::bytes(const analysis::StateLayout& layout, const analysis::RowShare& share,
                                 std::size_t n_layers) {
  std::int64_t rows = 0;
  for (const auto r : layout.label_rows) rows += share.rows_in(r);
  return layout.n_views() * (rows + Impl::kSpareRows) * (8 * layout.n_bins * static_cast<std::int64_t>(n_layers) + 16);
}

DeviceTables::DeviceTables(const Model& model, const DeviceAssigner& assigner, analysis::StateLayout layout,
                           analysis::RowShare share, std::vector<int> layers)
    : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  d.model = &model;
  d.device = model.impl().module->device();
  d.w_t = assigner.impl().w_scaled_t;
  if (switch_on("IBZOO_ASSIGN_SPLIT")) d.w_split = assigner.impl().w_split_t;  // =0: float32 rows (for comparison)
  d.assign_block_rows = model.options().fixed_rows;
  IBZOO_CHECK(d.w_t.device() == d.device, "DeviceAssigner built for another device");
  IBZOO_CHECK(std::is_sorted(layers.begin(), layers.end()) && !layers.empty(), "layers must be ascending");
  d.layout = std::move(layout);
  d.share = share;
  d.layers = std::move(layers);
  d.m = d.layout.n_bins;
  IBZOO_CHECK(assigner.n_bins() == d.m, "assigner has " << assigner.n_bins() << " bins, layout " << d.m);
  d.n_views = d.layout.n_views();
  d.n_sets = d.layout.n_sets();
  std::vector<std::int64_t> segment;
  for (std::int64_t s = 0; s < d.n_sets; ++s) {
    d.set_offset.push_back(d.n_rows);
    const auto rows = share.rows_in(d.layout.label_rows[sz(s)]);
    segment.insert(segment.end(), sz(rows), s);
    d.n_rows += rows;
  }
  const Impl::OnTablesStream on_stream(d);
  try {
    d.segment = torch::tensor(segment, torch::kLong).to(d.device);
    const auto zeros = [&](std::vector<std::int64_t> shape) { return torch::zeros(shape, d.longs()); };
    for (std::int64_t v = 0; v < d.n_views; ++v) d.counts.push_back(zeros({d.n_rows + Impl::kSpareRows}));
    for (std::size_t l = 0; l < d.layers.size(); ++l) {
      d.mass.emplace_back();
      d.sum_p.emplace_back();
      d.single_h.emplace_back();
      for (std::int64_t v = 0; v < d.n_views; ++v) {
        d.mass.back().push_back(zeros({d.n_rows + Impl::kSpareRows, d.m}));
        d.sum_p.back().push_back(zeros({d.m}));
        d.single_h.back().push_back(zeros({d.n_sets, 2}));
      }
      d.bad.push_back(zeros({}));
    }
  } catch (const c10::Error& e) {
    throw ModelError("the estimator's label tables (" + std::to_string(bytes(d.layout, share, d.layers.size()) >> 20) +
                     " MiB for " + std::to_string(d.layers.size()) + " layer(s)) do not fit on " + d.device.str() +
                     ": lower compute.memory_budget so that fewer layers share a pass (" +
                     std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
  d.n.assign(sz(d.n_views), 0);
  d.single_weight.assign(sz(d.n_views), std::vector<std::int64_t>(sz(d.n_sets), 0));
  d.single_labels.assign(sz(d.n_views), std::vector<std::int64_t>(sz(d.n_sets), 0));
}

DeviceTables::~DeviceTables() = default;

const std::vector<int>& DeviceTables::layers() const { return impl_->layers; }

void DeviceTables::add_forward(const std::vector<std::vector<std::int32_t>>& sequences, const Positions& positions,
                               std::vector<float>* p_out, analysis::Contribution contribution) {
  auto& d = *impl_;
  if (positions.rows.empty()) return;
  c10::InferenceMode guard;
  const auto& mi = d.model->impl();
  const auto batch = make_batch(sequences, mi.config.vocab_size, mi.dir.string());
  const auto index = to_device(padded_rows(batch, positions.rows, mi.dir.string()), d.device);
  Impl::Inputs in;
  {
    const Impl::OnTablesStream on_stream(d);
    in = d.inputs(positions, contribution);
  }
  std::vector<torch::Tensor> p_device;
  std::size_t slot = 0;
  const LayerCallback on_layer = [&](int layer_idx, const torch::Tensor& h) {
    if (slot >= d.layers.size() || d.layers[slot] != layer_idx) return;
    // A copy of the estimator rows, on the forward's stream: the next block adds to h in place.
    const auto z = h.reshape({-1, h.size(-1)}).index_select(0, index);
    const Impl::OnTablesStream on_stream(d);
    d.lend(z);
    const auto p = d.assign(z, slot);
    d.add_layer(slot, p, in, contribution);
    if (p_out) p_device.push_back(p);
    ++slot;
  };
  ForwardOptions fo;
  fo.final_norm = mi.options.final_norm;
  fo.last_layer = d.layers.back();
  mi.module->forward(batch.ids, batch.lengths, on_layer, fo);
  IBZOO_CHECK(slot == d.layers.size(), "the forward pass gave " << slot << " of " << d.layers.size() << " layers");
  const Impl::OnTablesStream on_stream(d);
  if (p_out) {
    const auto host = torch::stack(p_device).to(torch::kCPU).contiguous();
    p_out->assign(host.data_ptr<float>(), host.data_ptr<float>() + host.numel());
  }
  d.limit_in_flight();
}

void DeviceTables::add_assignments(std::span<const float> p, const Positions& positions,
                                   analysis::Contribution contribution) {
  auto& d = *impl_;
  const auto n = static_cast<std::int64_t>(positions.rows.size());
  if (n == 0) return;
  IBZOO_CHECK(static_cast<std::int64_t>(p.size()) == static_cast<std::int64_t>(d.layers.size()) * n * d.m,
              p.size() << " values for " << d.layers.size() << " layers x " << n << " x " << d.m);
  c10::InferenceMode guard;
  const Impl::OnTablesStream on_stream(d);
  const auto in = d.inputs(positions, contribution);
  const auto host = torch::from_blob(const_cast<float*>(p.data()), {static_cast<std::int64_t>(d.layers.size()), n, d.m},
                                     torch::kFloat);
  const auto all = to_device(host.clone(), d.device);
  for (std::size_t slot = 0; slot < d.layers.size(); ++slot) {
    const auto layer_p = all.select(0, static_cast<std::int64_t>(slot));
    if (contribution == analysis::Contribution::kAll) {
      // Received assignments stand for rows the sender checked; count non-finite ones here too.
      d.bad[slot].add_(torch::isfinite(layer_p).logical_not().any(1).sum());
    }
    d.add_layer(slot, layer_p, in, contribution);
  }
  d.limit_in_flight();
}

std::vector<analysis::LayerSums> DeviceTables::sums() {
  auto& d = *impl_;
  c10::InferenceMode guard;
  const Impl::OnTablesStream on_stream(d);
  std::vector<analysis::LayerSums> out;
  const std::int64_t frac_mask = (std::int64_t{1} << 36) - 1;
  for (std::size_t slot = 0; slot < d.layers.size(); ++slot) {
    const auto bad = d.bad[slot].item<std::int64_t>();
    if (bad > 0) {
      throw ModelError("layer " + std::to_string(d.layers[slot]) + " has " + std::to_string(bad) +
                       " estimator position(s) with a zero or non-finite representation (NaN/Inf activations); try "
                       "compute.dtype float32, or check the checkpoint's weights");
    }
    analysis::LayerSums sums(d.layout);
    for (std::int64_t v = 0; v < d.n_views; ++v) {
      auto& view = sums.views[sz(v)];
      view.n = d.n[sz(v)];
      const auto sum_p = d.sum_p[slot][sz(v)].to(torch::kCPU).contiguous();
      std::copy_n(sum_p.data_ptr<std::int64_t>(), d.m, view.sum_p.begin());
      const auto host = d.per_set_sums(slot, v).to(torch::kCPU).contiguous();
      const auto single = d.single_h[slot][sz(v)].to(torch::kCPU).contiguous();
      const auto* a = host.data_ptr<std::int64_t>();
      const auto* sh = single.data_ptr<std::int64_t>();
      for (std::int64_t s = 0; s < d.n_sets; ++s) {
        auto& set = view.sets[sz(s)];
        const auto* r = a + s * 6;
        const auto exact = [&](std::int64_t whole, std::int64_t frac) {
          return analysis::ExactSum{static_cast<std::uint64_t>(whole + (frac >> 36)),
                                    static_cast<std::uint64_t>(frac & frac_mask) << 28};
        };
        set.entropy_weighted = exact(r[0], r[1]);
        set.entropy_rows = exact(r[2], r[3]);
        set.n_rows = r[4];
        set.n_weight = r[5];
        set.singleton_entropy_weighted = sh[s * 2];
        set.singleton_entropy = sh[s * 2 + 1];
        set.singleton_weight = d.single_weight[sz(v)][sz(s)];
        set.singleton_labels = d.single_labels[sz(v)][sz(s)];
      }
    }
    out.push_back(std::move(sums));
  }
  return out;
}

}  // namespace ibzoo::models
