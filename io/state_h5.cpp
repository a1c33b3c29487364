#include "io/state_h5.h"

#include "errors/error.h"
#include "analysis/labels.h"

#include <algorithm>

#include <cmath>
#include <cstdio>
#include <cstring>

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

void write_sums(H5File& file, const std::string& part, const PartSums& sums) {
  if (sums.layers.size() != sums.per_layer.size() || sums.per_layer.empty()) {
    throw WriteError(file.path().string() + ": /" + part + " needs one sum record per layer (" +
                     std::to_string(sums.layers.size()) + " layers, " + std::to_string(sums.per_layer.size()) + " records)");
  }
  const auto& layout = sums.per_layer.front().layout;
  const std::string group = "/" + part;
  std::vector<std::int64_t> flat;
  std::int64_t width = -1;
  for (const auto& layer : sums.per_layer) {
    if (!(layer.layout == layout)) throw WriteError(file.path().string() + ": the layers of /" + part + " have different layouts");
    const auto f = layer.to_flat();
    width = static_cast<std::int64_t>(f.size());
    flat.insert(flat.end(), f.begin(), f.end());
  }
  std::vector<std::int64_t> layers(sums.layers.begin(), sums.layers.end());
  const auto n_layers = static_cast<std::int64_t>(layers.size());
  file.write(group + "/layers", std::span<const std::int64_t>(layers), {n_layers});
  file.write(group + "/sums", std::span<const std::int64_t>(flat), {n_layers, width});
  file.write_strings(group + "/label_sets", layout.label_sets);
  file.write(group + "/label_rows", std::span<const std::int64_t>(layout.label_rows),
             {static_cast<std::int64_t>(layout.label_rows.size())});
  write_layout(file, group, layout);
  file.set_attr("/", "format", kSumsFormat);
}

bool has_sums(const H5File& file, const std::string& part) { return file.exists("/" + part + "/sums"); }

PartSums read_sums(const H5File& file, const std::string& part) {
  const auto where = file.path().string();
  const auto format = file.attr_int("/", "format");
  if (format != kSumsFormat) {
    throw CorruptDataError(where + ": format " + (format ? std::to_string(*format) : std::string("(none)")) +
                           ", expected " + std::to_string(kSumsFormat) +
                           " (the exact sums of this ibzoo; earlier state files hold per-position data): delete the "
                           "item's directory to recompute it");
  }
  const std::string group = "/" + part;
  if (!file.exists(group + "/sums")) throw CorruptDataError(where + ": " + group + "/sums is missing");
  auto layout = read_layout(file, group);
  layout.label_rows = file.read_i64(group + "/label_rows").data;
  if (layout.label_rows.size() != layout.label_sets.size()) {
    throw CorruptDataError(where + ": " + group + "/label_rows has " + std::to_string(layout.label_rows.size()) +
                           " values for " + std::to_string(layout.label_sets.size()) + " label sets");
  }
  const auto layers = file.read_i64(group + "/layers").data;
  const auto flat = file.read_i64(group + "/sums");
  if (flat.shape.size() != 2 || flat.shape[0] != static_cast<std::int64_t>(layers.size())) {
    throw CorruptDataError(where + ": " + group + "/sums must be [" + std::to_string(layers.size()) + " layers, F]");
  }
  PartSums out;
  const auto width = static_cast<std::size_t>(flat.shape[1]);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    if (layers[l] < 0 || (l > 0 && layers[l] <= layers[l - 1])) {
      throw CorruptDataError(where + ": " + group + "/layers must be ascending non-negative layer indices");
    }
    out.layers.push_back(static_cast<int>(layers[l]));
    try {
      out.per_layer.push_back(analysis::LayerSums::from_flat(layout, std::span(flat.data).subspan(l * width, width)));
    } catch (const CorruptDataError& e) {
      throw CorruptDataError(where + ": " + group + "/sums row " + std::to_string(l) + ": " + e.what());
    }
  }
  return out;
}
void write_assignments_header(H5File& file, const analysis::StateLayout& layout) {
  file.set_attr("/", "format", kAssignmentsFormat);
  write_layout(file, "/", layout);
  file.write_strings("/label_sets", layout.label_sets);
  file.write("/label_rows", std::span<const std::int64_t>(layout.label_rows),
             {static_cast<std::int64_t>(layout.label_rows.size())});
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
  out.layout.label_rows = file.read_i64("/label_rows").data;
  const auto n_sets = out.layout.label_sets.size();
  if (out.layout.label_rows.size() != n_sets) {
    throw CorruptDataError(where + ": /label_rows has " + std::to_string(out.layout.label_rows.size()) + " values for " +
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
      if (id < analysis::kDropped || id >= out.layout.label_rows[s]) {
        throw CorruptDataError(where + ": /labels[" + std::to_string(s) + ", " + std::to_string(i) + "] = " + std::to_string(id) +
                               " is outside -2.." + std::to_string(out.layout.label_rows[s] - 1) + " (label set '" +
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
