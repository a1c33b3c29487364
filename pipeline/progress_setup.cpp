#include "pipeline/progress_setup.h"

namespace ibzoo::pipeline {

io::ProgressOptions accumulate_progress_options(const std::vector<std::size_t>& pending, const std::vector<double>& cost,
                                             std::int64_t n_done_before, const std::filesystem::path& run_root,
                                             const std::string& attempt,
                                             const std::optional<std::pair<int, int>>& slice, io::ProgressMode mode,
                                             std::chrono::milliseconds interval) {
  io::ProgressOptions o;
  o.what = slice ? "accumulate (slice " + std::to_string(slice->first) + "/" + std::to_string(slice->second) + ")" : "accumulate";
  o.dir = run_root / "progress" / attempt;
  o.n_items = static_cast<std::int64_t>(pending.size());
  o.n_done_before = n_done_before;
  for (const auto i : pending) o.total_weight += cost.at(i);
  o.mode = mode;
  o.interval = interval;
  return o;
}

std::string item_label(const Manifest& manifest, const WorkItem& item) {
  const auto& model = manifest.models.at(item.model_idx);
  return model.id + "/" + model.checkpoints.at(item.checkpoint_idx).name;
}

}  // namespace ibzoo::pipeline
