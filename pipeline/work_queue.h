// Dynamic assignment of work items to ranks, without a coordinator rank and without
// MPI one-sided communication (docs/SCALE.md, "Assignment of items to ranks"):
//
//   - every rank gets a contiguous, cost-balanced slice of the pending items
//     (balanced_slices) and walks it front to back, so a checkpoint's items stay
//     together on one rank (weights load once, the next checkpoint prefetches);
//   - before computing an item a rank claims it (io::RunDir::try_claim: a file created
//     with O_CREAT|O_EXCL under <run>/claims/<attempt>/), so at most one rank of the
//     attempt ever computes it;
//   - a rank whose slice is exhausted steals from the END of the slice with the most
//     unclaimed cost, one item at a time, claiming the same way.
//
// Not collective: each rank builds its own WorkQueue over the same slices and the same
// attempt id; the only shared state is the claim files. Not thread-safe.
#pragma once

#include "io/run_dir.h"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ibzoo::pipeline {

// Partitions `items` (indices into `cost`, in plan order) into `n_parts` contiguous
// runs of roughly equal total cost (an item goes to the part its cost midpoint falls in).
std::vector<std::vector<std::size_t>> balanced_slices(const std::vector<std::size_t>& items,
                                                      const std::vector<double>& cost, int n_parts);

class WorkQueue {
 public:
  struct Next {
    std::size_t item_idx = 0;       // index into the plan
    bool stolen = false;            // taken from another rank's slice
    int owner = 0;                  // the rank whose slice it was in
    std::size_t left_in_owner = 0;  // unclaimed items left in that slice after this steal (as far as known)
  };

  // `slices[r]`: rank r's slice (plan indices); `ids`, `cost`: per plan index.
  // `owner_tag` goes into the claim files (e.g. "rank 2 host n17 pid 4242").
  WorkQueue(const io::RunDir& run, std::string attempt, std::vector<std::vector<std::size_t>> slices,
            std::vector<std::string> ids, std::vector<double> cost, int rank, std::string owner_tag);

  // Claims and returns the next item this rank should compute, or nothing when every
  // item of every slice is claimed. Throws WriteError when a claim cannot be created.
  std::optional<Next> next();
  // The item most likely to come next (for prefetching its weights); someone else may
  // claim it first.
  std::optional<std::size_t> peek() const;
  // Items of this rank's own slice passed so far: computed here or taken by a thief.
  std::size_t n_own_passed() const { return own_pos_; }
  std::size_t n_own() const { return slices_[static_cast<std::size_t>(rank_)].size(); }
  // Items stolen so far, by the rank whose slice they were in.
  const std::map<int, std::size_t>& stolen_from() const { return stolen_from_; }

 private:
  bool claim(std::size_t item_idx);
  bool known_claimed(std::size_t item_idx);
  double unclaimed_cost(int victim);

  io::RunDir run_;
  std::string attempt_;
  std::vector<std::vector<std::size_t>> slices_;
  std::vector<std::string> ids_;
  std::vector<double> cost_;
  int rank_;
  std::string owner_tag_;
  std::size_t own_pos_ = 0;
  std::vector<std::size_t> back_;  // per slice: items at or after this position are claimed
  std::vector<bool> claimed_;      // per plan index: seen claimed (claims never go away)
  int last_victim_ = -1;
  std::map<int, std::size_t> stolen_from_;
};

}  // namespace ibzoo::pipeline
