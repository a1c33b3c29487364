// Data flow: accumulate -> [merge: add the team's sums] -> metrics.
#include "stages/merge.h"

#include "errors/error.h"

#include <span>

namespace ibzoo::stages {

std::vector<analysis::LayerSums> merge_sums(const io::Communicator& team, const std::vector<analysis::LayerSums>& mine) {
  if (team.size() == 1) return mine;
  std::vector<std::int64_t> flat;
  std::vector<std::size_t> widths;
  for (const auto& layer : mine) {
    const auto f = layer.to_flat();
    widths.push_back(f.size());
    flat.insert(flat.end(), f.begin(), f.end());
  }
  const auto all = team.allgather_array(std::span<const std::int64_t>(flat));
  auto total = mine;
  for (int r = 0; r < team.size(); ++r) {
    if (r == team.rank()) continue;
    const auto& values = all[static_cast<std::size_t>(r)];
    if (values.size() != flat.size()) {
      throw CorruptDataError("merge: rank " + std::to_string(r) + " sent " + std::to_string(values.size() * sizeof(std::int64_t)) +
                             " bytes of sums, this rank has " + std::to_string(flat.size() * sizeof(std::int64_t)) +
                             " (different layouts)");
    }
    std::size_t offset = 0;
    for (std::size_t l = 0; l < total.size(); ++l) {
      total[l].add(analysis::LayerSums::from_flat(total[l].layout, std::span<const std::int64_t>(values).subspan(offset, widths[l])));
      offset += widths[l];
    }
  }
  return total;
}

}  // namespace ibzoo::stages
