// Scheduling: which rank computes which work item (between the plan and the extract).
// Claim files make the choice at run time, so slow items do not leave ranks idle.
#include "pipeline/work_queue.h"

#include "errors/check.h"

#include <algorithm>

namespace ibzoo::pipeline {

std::vector<std::vector<std::size_t>> balanced_slices(const std::vector<std::size_t>& items,
                                                      const std::vector<double>& cost, int n_parts) {
  IBZOO_CHECK(n_parts >= 1, "n_parts " << n_parts);
  std::vector<std::vector<std::size_t>> parts(static_cast<std::size_t>(n_parts));
  double total = 0;
  for (auto i : items) total += cost[i];
  double acc = 0;
  for (auto i : items) {
    const double mid = acc + cost[i] / 2;
    acc += cost[i];
    const auto part = total > 0 ? static_cast<std::size_t>(mid / total * n_parts) : 0;
    parts[std::min(part, parts.size() - 1)].push_back(i);
  }
  return parts;
}

WorkQueue::WorkQueue(const io::RunDir& run, std::string attempt, std::vector<std::vector<std::size_t>> slices,
                     std::vector<std::string> ids, std::vector<double> cost, int rank, std::string owner_tag)
    : run_(run),
      attempt_(std::move(attempt)),
      slices_(std::move(slices)),
      ids_(std::move(ids)),
      cost_(std::move(cost)),
      rank_(rank),
      owner_tag_(std::move(owner_tag)),
      claimed_(ids_.size(), false) {
  IBZOO_CHECK(rank_ >= 0 && static_cast<std::size_t>(rank_) < slices_.size(),
              "rank " << rank_ << " of " << slices_.size() << " slices");
  IBZOO_CHECK(cost_.size() == ids_.size(), "cost " << cost_.size() << " ids " << ids_.size());
  for (const auto& s : slices_) back_.push_back(s.size());
}

bool WorkQueue::claim(std::size_t item_idx) {
  const bool mine = run_.try_claim(attempt_, ids_[item_idx], owner_tag_);
  claimed_[item_idx] = true;  // by us or by someone else: either way it is taken
  return mine;
}

bool WorkQueue::known_claimed(std::size_t item_idx) {
  if (!claimed_[item_idx] && run_.is_claimed(attempt_, ids_[item_idx])) claimed_[item_idx] = true;
  return claimed_[item_idx];
}

double WorkQueue::unclaimed_cost(int victim) {
  const auto& slice = slices_[static_cast<std::size_t>(victim)];
  auto& back = back_[static_cast<std::size_t>(victim)];
  // Thieves take from the end: shrink the known-claimed suffix first.
  while (back > 0 && known_claimed(slice[back - 1])) --back;
  double total = 0;
  for (std::size_t k = 0; k < back; ++k) {
    if (!known_claimed(slice[k])) total += std::max(cost_[slice[k]], 1e-300);
  }
  return total;
}

std::optional<WorkQueue::Next> WorkQueue::next() {
  const auto& own = slices_[static_cast<std::size_t>(rank_)];
  while (own_pos_ < own.size()) {
    const auto i = own[own_pos_++];
    if (claim(i)) return Next{i, false, rank_, 0};
  }
  for (;;) {
    int victim = -1;
    double most = 0;
    for (int v = 0; v < static_cast<int>(slices_.size()); ++v) {
      if (v == rank_) continue;
      const double c = unclaimed_cost(v);
      if (c > most) {
        most = c;
        victim = v;
      }
    }
    if (victim < 0) return std::nullopt;
    const auto& slice = slices_[static_cast<std::size_t>(victim)];
    auto& back = back_[static_cast<std::size_t>(victim)];
    while (back > 0) {
      const auto i = slice[--back];
      if (claimed_[i] || !claim(i)) continue;
      last_victim_ = victim;
      ++stolen_from_[victim];
      std::size_t left = 0;
      for (std::size_t k = 0; k < back; ++k) left += claimed_[slice[k]] ? 0 : 1;
      return Next{i, true, victim, left};
    }
  }
}

std::optional<std::size_t> WorkQueue::peek() const {
  const auto& own = slices_[static_cast<std::size_t>(rank_)];
  if (own_pos_ < own.size()) return own[own_pos_];
  if (last_victim_ >= 0) {
    const auto& slice = slices_[static_cast<std::size_t>(last_victim_)];
    const auto back = back_[static_cast<std::size_t>(last_victim_)];
    if (back > 0) return slice[back - 1];
  }
  return std::nullopt;
}

}  // namespace ibzoo::pipeline
