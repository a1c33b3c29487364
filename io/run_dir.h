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
//   <run>/claims/<attempt>/<id>    work-stealing claims of one extract invocation
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ibzoo::io {

enum class ItemState { kPending, kDone, kFailed };

class RunDir {
 public:
  explicit RunDir(std::filesystem::path root = {});
  const std::filesystem::path& root() const { return root_; }

  // Why ibzoo must not write here, or "" when it may: the directory is missing, is an
  // earlier run (it holds manifest.json, which `run` writes, or plan.json, which
  // `submit` writes), or holds nothing but what ibzoo writes at the top of a run
  // (items/, claims/, ... and the temporary files of its atomic writes: a run that
  // another array slice is starting at this moment). Any other non-empty directory (a
  // home or data directory given as run_dir by mistake) is refused, so a run never
  // mixes its files with someone else's.
  std::string foreign_directory_problem() const;

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

  // Work-stealing claims (docs/RUN_LAYOUT.md, docs/SCALE.md). One extract invocation
  // (an "attempt") claims an item before computing it by creating
  // <run>/claims/<attempt>/<item id>; claims of other attempts never block it. Only
  // DONE markers say whether an item is finished; claims only say who computes it now.
  std::filesystem::path claims() const { return root_ / "claims"; }
  std::filesystem::path claim_path(const std::string& attempt, const std::string& item_id) const {
    return claims() / attempt / item_id;
  }
  // Creates the attempt's claim directory. Throws WriteError.
  void begin_attempt(const std::string& attempt) const;
  // Atomically claims an item for `attempt` (open with O_CREAT|O_EXCL, atomic on a
  // local file system and NFSv3+): true when this call created the claim, false when
  // it existed. `owner` (rank, host, pid) is written into the file for people.
  // Throws WriteError on any other failure (e.g. the attempt directory is unwritable).
  bool try_claim(const std::string& attempt, const std::string& item_id, const std::string& owner) const;
  bool is_claimed(const std::string& attempt, const std::string& item_id) const;
  // Best effort: removes the claim directories of earlier attempts other than `keep`:
  // every one whose name starts with `scope` + ".", and any other one untouched for
  // `max_age` (a concurrent attempt of another scope, e.g. another Slurm array slice,
  // is left alone). Returns the names removed; never throws.
  std::vector<std::string> remove_stale_attempts(const std::string& keep, const std::string& scope,
                                                 std::chrono::seconds max_age) const;

 private:
  std::filesystem::path root_;
};

}  // namespace ibzoo::io
