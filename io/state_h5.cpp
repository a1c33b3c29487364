#include "io/state_h5.h"

#include "analysis/error.h"

#include <cmath>
#include <cstdio>

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

}  // namespace

std::string layer_group(int layer_idx) { return numbered("/layer_", layer_idx, 3); }

void write_state(H5File& file, const std::string& group, const analysis::StateVectors& state) {
  const auto& layout = state.layout;
  file.write_strings(group + "/label_sets", layout.label_sets);
  file.set_attr(group, "n_bins", layout.n_bins);
  file.set_attr(group, "n_bootstrap", layout.n_bootstrap);
  file.set_attr(group, "bootstrap_seed", static_cast<std::int64_t>(layout.bootstrap_seed));
  file.set_attr(group, "n_subset_levels", layout.n_subset_levels);
  file.set_attr(group, "subset_seed", static_cast<std::int64_t>(layout.subset_seed));
  const auto m = layout.n_bins;
  for (std::size_t v = 0; v < state.views.size(); ++v) {
    const auto& view = state.views[v];
    const auto vg = group + numbered("/view_", static_cast<std::int64_t>(v), 3);
    file.write(vg + "/n", std::span<const std::int64_t>(&view.n, 1), {1});
    file.write(vg + "/sum_p", std::span<const double>(view.sum_p), {m});
    for (std::size_t s = 0; s < view.tables.size(); ++s) {
      const auto& t = view.tables[s];
      const auto sg = vg + numbered("/set_", static_cast<std::int64_t>(s), 2);
      const auto k = static_cast<std::int64_t>(t.ids.size());
      const WriteOptions big{{4096, m}, 0};
      file.write(sg + "/ids", std::span<const std::int64_t>(t.ids), {k});
      file.write(sg + "/counts", std::span<const std::int64_t>(t.counts), {k});
      file.write(sg + "/sums", std::span<const double>(t.sums), {k, m}, k > 4096 ? big : WriteOptions{});
      const double singletons[4] = {t.singleton_entropy_weighted, static_cast<double>(t.singleton_weight),
                                    static_cast<double>(t.singleton_labels), t.singleton_entropy};
      file.write(sg + "/singletons", std::span<const double>(singletons, 4), {4});
    }
  }
}

analysis::StateVectors read_state(const H5File& file, const std::string& group) {
  analysis::StateVectors state;
  auto& layout = state.layout;
  layout.label_sets = file.read_strings(group + "/label_sets");
  layout.n_bins = required_attr(file, group, "n_bins");
  layout.n_bootstrap = required_attr(file, group, "n_bootstrap");
  layout.bootstrap_seed = static_cast<std::uint64_t>(required_attr(file, group, "bootstrap_seed"));
  layout.n_subset_levels = required_attr(file, group, "n_subset_levels");
  layout.subset_seed = static_cast<std::uint64_t>(required_attr(file, group, "subset_seed"));
  const auto where = file.path().string() + ": " + group;
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
      t.ids = file.read_i64(sg + "/ids").data;
      t.counts = file.read_i64(sg + "/counts").data;
      t.sums = file.read_f64(sg + "/sums").data;
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

}  // namespace ibzoo::io
