// The run directory (docs/RUN_LAYOUT.md describes every file):
//   <run>/manifest.json            the normalised manifest this run was started with
//   <run>/plan.json                the work items
//   <run>/tokens/<corpus>.h5       token ids of the document sample, per tokenizer
//   <run>/items/<id>/              one directory per work item:
//       state.h5                   estimator state (per layer), written to a temp name and renamed
//       provenance.json            where the numbers came from
//       DONE                       done marker, written last: JSON with the sha256 of state.h5
//       error.json                 present when the item failed: {"item", "error", "time"}
//   <run>/results/                 metrics.h5, metrics.csv, summary.csv, correlations.csv, ...
//   <run>/report/                  index.html and figures
//   <run>/slurm/                   sbatch scripts, jobs.json, logs
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace ibzoo::io {

enum class ItemState { kPending, kDone, kFailed };

class RunDir {
 public:
  explicit RunDir(std::filesystem::path root = {});
  const std::filesystem::path& root() const { return root_; }

  std::filesystem::path item_dir(const std::string& item_id) const;
  std::filesystem::path item_state(const std::string& item_id) const { return item_dir(item_id) / "state.h5"; }
  std::filesystem::path results() const { return root_ / "results"; }
  std::filesystem::path tokens() const { return root_ / "tokens"; }

  // Done when DONE exists, parses, and the checksum it records matches state.h5.
  // A DONE whose checksum no longer matches (a truncated or corrupted finished
  // file) is reported by `why_not_done` and the item counts as pending.
  bool is_done(const std::string& item_id, std::string* why_not_done = nullptr) const;
  ItemState state(const std::string& item_id) const;
  std::optional<nlohmann::json> failure(const std::string& item_id) const;

  // Removes whatever a partial earlier attempt left and creates an empty item dir.
  std::filesystem::path begin_item(const std::string& item_id) const;
  // Writes DONE (last) with the sha256 of state.h5 and `extra` fields.
  void mark_done(const std::string& item_id, nlohmann::json extra) const;
  void record_failure(const std::string& item_id, const std::string& error) const;

 private:
  std::filesystem::path root_;
};

}  // namespace ibzoo::io
