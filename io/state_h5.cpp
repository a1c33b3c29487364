#include "io/state_h5.h"

#include "analysis/error.h"
#include "analysis/labels.h"

#include <algorithm>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>

namespace ibzoo::io {

namespace {

std::string numbered(const char* prefix, std::int64_t idx, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%0*lld", prefix, width, static_cast<long long>(idx));
  return buf;
}

std::int64_t required_attr(const H5File& file, const std::string& group, const std::string& key) {
  const auto v = file.attr_int(group, key);
  if (!v) throw CorruptDataError(file.path().string() + ": " + group + " lacks the attribute " + key);
  return *v;
}

// The row as float32 if every value converts exactly, else nothing.
bool exact_float_row(std::span<const double> row, std::vector<float>& out) {
  out.resize(row.size());
  for (std::size_t j = 0; j < row.size(); ++j) {
    out[j] = static_cast<float>(row[j]);
    if (static_cast<double>(out[j]) != row[j]) return false;
  }
  return true;
}

// Distinct float32 rows, keyed by their bytes.
class RowPool {
 public:
  explicit RowPool(std::int64_t m) : m_(m) {}
  std::int64_t index_of(const std::vector<float>& row) {
    std::string key(reinterpret_cast<const char*>(row.data()), row.size() * sizeof(float));
    const auto [it, inserted] = index_.try_emplace(std::move(key), static_cast<std::int64_t>(index_.size()));
    if (inserted) rows_.insert(rows_.end(), row.begin(), row.end());
    return it->second;
  }
  std::int64_t size() const { return static_cast<std::int64_t>(index_.size()); }
  const std::vector<float>& rows() const { return rows_; }
  std::int64_t m() const { return m_; }

 private:
  std::int64_t m_;
  std::unordered_map<std::string, std::int64_t> index_;
  std::vector<float> rows_;
};

void write_layout(H5File& file, const std::string& group, const analysis::StateLayout& layout) {
  file.set_attr(group, "n_bins", layout.n_bins);
  file.set_attr(group, "n_bootstrap", layout.n_bootstrap);
  file.set_attr(group, "bootstrap_seed", static_cast<std::int64_t>(layout.bootstrap_seed));
  file.set_attr(group, "n_subset_levels", layout.n_subset_levels);
  file.set_attr(group, "subset_seed", static_cast<std::int64_t>(layout.subset_seed));
}

analysis::StateLayout read_layout(const H5File& file, const std::string& group) {
  analysis::StateLayout layout;
  layout.label_sets = file.read_strings(group == "/" ? "/label_sets" : group + "/label_sets");
  layout.n_bins = required_attr(file, group, "n_bins");
  layout.n_bootstrap = required_attr(file, group, "n_bootstrap");
  layout.bootstrap_seed = static_cast<std::uint64_t>(required_attr(file, group, "bootstrap_seed"));
  layout.n_subset_levels = required_attr(file, group, "n_subset_levels");
  layout.subset_seed = static_cast<std::uint64_t>(required_attr(file, group, "subset_seed"));
  if (layout.n_bins < 2 || layout.n_bootstrap < 0 || layout.n_subset_levels < 0 || layout.n_subset_levels > 40) {
    throw CorruptDataError(file.path().string() + ": " + group + " has an invalid layout (n_bins " + std::to_string(layout.n_bins) +
                           ", n_bootstrap " + std::to_string(layout.n_bootstrap) + ", n_subset_levels " +
                           std::to_string(layout.n_subset_levels) + ")");
  }
  return layout;
}

std::string p_name(int layer) { return layer_group(layer) + "/p"; }


}  // namespace

std::string layer_group(int layer_idx) { return numbered("/layer_", layer_idx, 3); }

void write_state(H5File& file, const std::string& group, const analysis::StateVectors& state) {
  const auto& layout = state.layout;
  file.write_strings(group + "/label_sets", layout.label_sets);
  write_layout(file, group, layout);
  const auto m = layout.n_bins;
  RowPool pool(m);
  std::vector<float> as_float;
  for (std::size_t v = 0; v < state.views.size(); ++v) {
    const auto& view = state.views[v];
    const auto vg = group + numbered("/view_", static_cast<std::int64_t>(v), 3);
    file.write(vg + "/n", std::span<const std::int64_t>(&view.n, 1), {1});
    file.write(vg + "/sum_p", std::span<const double>(view.sum_p), {m});
    for (std::size_t s = 0; s < view.tables.size(); ++s) {
      const auto& t = view.tables[s];
      const auto sg = vg + numbered("/set_", static_cast<std::int64_t>(s), 2);
      const auto k = static_cast<std::int64_t>(t.ids.size());
      std::vector<std::int64_t> pool_idx(t.ids.size(), -1);
      std::vector<double> dense;
      for (std::size_t r = 0; r < t.ids.size(); ++r) {
        const std::span<const double> row(t.sums.data() + r * static_cast<std::size_t>(m), static_cast<std::size_t>(m));
        if (t.counts[r] == 1 && exact_float_row(row, as_float)) {
          pool_idx[r] = pool.index_of(as_float);
        } else {
          dense.insert(dense.end(), row.begin(), row.end());
        }
      }
      const auto k_dense = static_cast<std::int64_t>(dense.size()) / m;
      const WriteOptions big{{4096, m}, 0};
      file.write(sg + "/ids", std::span<const std::int64_t>(t.ids), {k});
      file.write(sg + "/counts", std::span<const std::int64_t>(t.counts), {k});
      file.write(sg + "/pool_idx", std::span<const std::int64_t>(pool_idx), {k});
      file.write(sg + "/sums", std::span<const double>(dense), {k_dense, m}, k_dense > 4096 ? big : WriteOptions{});
      const double singletons[4] = {t.singleton_entropy_weighted, static_cast<double>(t.singleton_weight),
                                    static_cast<double>(t.singleton_labels), t.singleton_entropy};
      file.write(sg + "/singletons", std::span<const double>(singletons, 4), {4});
    }
  }
  const WriteOptions pool_chunks{{4096, m}, 0};
  file.write(group + "/pool", std::span<const float>(pool.rows()), {pool.size(), m},
             pool.size() > 4096 ? pool_chunks : WriteOptions{});
}

analysis::StateVectors read_state(const H5File& file, const std::string& group, const analysis::RowShare& share) {
  analysis::StateVectors state;
  state.layout = read_layout(file, group);
  const auto& layout = state.layout;
  const auto where = file.path().string() + ": " + group;
  const auto m = static_cast<std::size_t>(std::max<std::int64_t>(1, layout.n_bins));
  std::vector<float> pool;
  if (file.exists(group + "/pool")) pool = file.read_f32(group + "/pool").data;
  if (pool.size() % m != 0) throw CorruptDataError(where + "/pool has " + std::to_string(pool.size()) + " values, not a multiple of n_bins");
  const auto n_pool = static_cast<std::int64_t>(pool.size() / m);
  for (std::int64_t v = 0; v < layout.n_views(); ++v) {
    const auto vg = group + numbered("/view_", v, 3);
    analysis::ViewVectors view;
    const auto n = file.read_i64(vg + "/n");
    if (n.data.size() != 1) throw CorruptDataError(where + ": " + vg + "/n must hold one value");
    view.n = n.data[0];
    view.sum_p = file.read_f64(vg + "/sum_p").data;
    for (std::size_t s = 0; s < layout.label_sets.size(); ++s) {
      const auto sg = vg + numbered("/set_", static_cast<std::int64_t>(s), 2);
      analysis::TableVectors t;
      const auto ids = file.read_i64(sg + "/ids").data;
      const auto counts = file.read_i64(sg + "/counts").data;
      const auto dense = file.read_f64(sg + "/sums").data;
      std::vector<std::int64_t> pool_idx(ids.size(), -1);
      if (file.exists(sg + "/pool_idx")) pool_idx = file.read_i64(sg + "/pool_idx").data;
      if (counts.size() != ids.size() || pool_idx.size() != ids.size()) {
        throw CorruptDataError(where + ": " + sg + " has " + std::to_string(ids.size()) + " ids, " +
                               std::to_string(counts.size()) + " counts and " + std::to_string(pool_idx.size()) +
                               " pool indices; they must match (the file is damaged: delete the item to recompute it)");
      }
      std::size_t next_dense = 0;
      for (std::size_t r = 0; r < ids.size(); ++r) {
        const bool pooled = pool_idx[r] >= 0;
        if (pooled && pool_idx[r] >= n_pool) {
          throw CorruptDataError(where + ": " + sg + "/pool_idx[" + std::to_string(r) + "] = " + std::to_string(pool_idx[r]) +
                                 " is outside the pool of " + std::to_string(n_pool) + " rows");
        }
        if (!pooled && (next_dense + 1) * m > dense.size()) {
          throw CorruptDataError(where + ": " + sg + "/sums has fewer rows than pool_idx marks dense");
        }
        const std::size_t dense_row = pooled ? 0 : next_dense++;
        if (!share.contains(ids[r])) continue;
        t.ids.push_back(ids[r]);
        t.counts.push_back(counts[r]);
        if (pooled) {
          const float* src = pool.data() + static_cast<std::size_t>(pool_idx[r]) * m;
          for (std::size_t j = 0; j < m; ++j) t.sums.push_back(static_cast<double>(src[j]));
        } else {
          t.sums.insert(t.sums.end(), dense.begin() + static_cast<std::ptrdiff_t>(dense_row * m),
                        dense.begin() + static_cast<std::ptrdiff_t>((dense_row + 1) * m));
        }
      }
      if (next_dense * m != dense.size()) {
        throw CorruptDataError(where + ": " + sg + "/sums has " + std::to_string(dense.size() / m) + " rows, pool_idx marks " +
                               std::to_string(next_dense) + " dense");
      }
      const auto singletons = file.read_f64(sg + "/singletons").data;
      if (singletons.size() != 4) throw CorruptDataError(where + ": " + sg + "/singletons must hold 4 values");
      t.singleton_entropy_weighted = singletons[0];
      t.singleton_weight = std::llround(singletons[1]);
      t.singleton_labels = std::llround(singletons[2]);
      t.singleton_entropy = singletons[3];
      view.tables.push_back(std::move(t));
    }
    state.views.push_back(std::move(view));
  }
  return state;
}


bool is_assignments_file(const H5File& file) { return file.attr_int("/", "format").value_or(1) == kAssignmentsFormat; }

void write_assignments_header(H5File& file, const analysis::StateLayout& layout, std::span<const std::int64_t> label_rows) {
  file.set_attr("/", "format", kAssignmentsFormat);
  write_layout(file, "/", layout);
  file.write_strings("/label_sets", layout.label_sets);
  file.write("/label_rows", label_rows, {static_cast<std::int64_t>(label_rows.size())});
}

void create_assignments(H5File& file, int layer, std::int64_t n_bins, bool float16) {
  file.create_rows(p_name(layer), n_bins, {{1024}, 0, float16});
}

void append_assignments(H5File& file, int layer, std::span<const float> p, std::int64_t n_rows) {
  file.append_rows(p_name(layer), p, n_rows);
}

void append_assignments(H5File& file, int layer, std::span<const std::uint16_t> p_half, std::int64_t n_rows) {
  file.append_rows(p_name(layer), p_half, n_rows);
}

void write_positions(H5File& file, const std::vector<std::vector<std::int32_t>>& labels, std::span<const std::int64_t> doc_ids) {
  const auto n = static_cast<std::int64_t>(doc_ids.size());
  std::vector<std::int32_t> flat;
  flat.reserve(labels.size() * doc_ids.size());
  for (const auto& ids : labels) {
    if (static_cast<std::int64_t>(ids.size()) != n) {
      throw WriteError(file.path().string() + ": label array of " + std::to_string(ids.size()) + " positions for " + std::to_string(n));
    }
    flat.insert(flat.end(), ids.begin(), ids.end());
  }
  const auto chunked = [&](std::vector<std::int64_t> chunk) { return n > 65536 ? WriteOptions{std::move(chunk), 0} : WriteOptions{}; };
  file.write("/labels", std::span<const std::int32_t>(flat), {static_cast<std::int64_t>(labels.size()), n},
             chunked({1, 65536}));
  file.write("/doc_ids", doc_ids, {n}, chunked({65536}));
}

ItemAssignments read_assignments(const H5File& file, bool with_positions) {
  ItemAssignments out;
  const auto where = file.path().string();
  out.layout = read_layout(file, "/");
  out.label_rows = file.read_i64("/label_rows").data;
  const auto n_sets = out.layout.label_sets.size();
  if (out.label_rows.size() != n_sets) {
    throw CorruptDataError(where + ": /label_rows has " + std::to_string(out.label_rows.size()) + " values for " +
                           std::to_string(n_sets) + " label sets");
  }
  const auto doc_shape = file.shape("/doc_ids");
  if (doc_shape.size() != 1) throw CorruptDataError(where + ": /doc_ids must be 1-D");
  out.n_positions = doc_shape[0];
  const auto label_shape = file.shape("/labels");
  if (label_shape != std::vector<std::int64_t>{static_cast<std::int64_t>(n_sets), out.n_positions}) {
    throw CorruptDataError(where + ": /labels must be [" + std::to_string(n_sets) + ", " + std::to_string(out.n_positions) + "]");
  }
  for (const auto& name : file.list("/")) {
    if (name.rfind("layer_", 0) != 0) continue;
    const int layer = std::stoi(name.substr(6));
    const auto shape = file.shape(p_name(layer));
    if (shape != std::vector<std::int64_t>{out.n_positions, out.layout.n_bins}) {
      throw CorruptDataError(where + ": " + p_name(layer) + " must be [" + std::to_string(out.n_positions) + ", " +
                             std::to_string(out.layout.n_bins) + "] (positions x bins); the item is incomplete or damaged: "
                             "delete its directory to recompute it");
    }
    out.layers.push_back(layer);
  }
  if (!with_positions) return out;
  out.doc_ids = file.read_i64("/doc_ids").data;
  const auto flat = file.read_i64("/labels").data;
  const auto n = static_cast<std::size_t>(out.n_positions);
  out.labels.assign(n_sets, std::vector<std::int32_t>(n));
  for (std::size_t s = 0; s < n_sets; ++s) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto id = flat[s * n + i];
      if (id < analysis::kDropped || id >= out.label_rows[s]) {
        throw CorruptDataError(where + ": /labels[" + std::to_string(s) + ", " + std::to_string(i) + "] = " + std::to_string(id) +
                               " is outside -2.." + std::to_string(out.label_rows[s] - 1) + " (label set '" +
                               out.layout.label_sets[s] + "')");
      }
      out.labels[s][i] = static_cast<std::int32_t>(id);
    }
  }
  return out;
}

std::vector<float> read_assignment_rows(const H5File& file, int layer, std::int64_t n_bins, std::int64_t row_begin,
                                        std::int64_t n_rows) {
  auto rows = file.read_rows_f32(p_name(layer), row_begin, n_rows);
  if (rows.cols() != n_bins) {
    throw CorruptDataError(file.path().string() + ": " + p_name(layer) + " has " + std::to_string(rows.cols()) + " bins, expected " +
                           std::to_string(n_bins));
  }
  // Every row is a probability vector. A row of zeros is what HDF5 returns for
  // chunks that were never written, so this also catches a silently lost write.
  const auto m = static_cast<std::size_t>(n_bins);
  for (std::size_t i = 0; i < static_cast<std::size_t>(n_rows); ++i) {
    double total = 0.0;
    bool finite = true;
    for (std::size_t j = 0; j < m; ++j) {
      const float v = rows.data[i * m + j];
      finite = finite && std::isfinite(v) && v >= 0.0F;
      total += static_cast<double>(v);
    }
    if (!finite || std::abs(total - 1.0) > 1e-3) {
      throw CorruptDataError(file.path().string() + ": " + p_name(layer) + " row " + std::to_string(row_begin + static_cast<std::int64_t>(i)) +
                             " is not a probability vector (sum " + std::to_string(total) +
                             "); the file is damaged or incompletely written: delete the item's directory to recompute it");
    }
  }
  return std::move(rows.data);
}

}  // namespace ibzoo::io
