// The mass sums of one label set's table rows in one view: m integer sums per row, each
// row in 8-byte cells ("wide") or in 40-bit cells, a uint32 low word and a uint8 high
// byte ("narrow"), for rows whose sums stay below 2^40 (at most kNarrowMaxWeight
// positions of mass <= 2^36 units each; docs/ESTIMATOR.md, "Table cells"). Both hold the
// same integers. Internal to analysis/ (EstimatorState).
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace ibzoo::analysis {

class RowTable {
 public:
  RowTable() = default;
  // `rows` rows of m sums, all zero; wide(k) says whether row k takes 8-byte cells.
  RowTable(std::int64_t rows, std::int64_t m, const std::function<bool(std::int64_t)>& wide);

  // Adds w x src[0..m) to row k, whose weighted count with this position is `weight`.
  // Returns false, adding nothing, when k is narrow and weight passes kNarrowMaxWeight.
  bool add(std::int64_t k, const std::int64_t* src, std::int64_t w, std::int64_t weight);
  // Row k's m sums: the wide row itself, or the narrow one widened into buf.
  const std::int64_t* sums(std::int64_t k, std::vector<std::int64_t>& buf) const;

  std::int64_t memory_bytes() const;
  // Bytes of a table of `rows` rows, `narrow` of them narrow.
  static std::int64_t bytes(std::int64_t rows, std::int64_t narrow, std::int64_t m);

 private:
  // Whether row k is wide, and its index among the wide or the narrow rows.
  std::pair<bool, std::int64_t> locate(std::int64_t k) const;

  std::int64_t m_ = 0;
  std::vector<std::uint64_t> wide_bits_;  // bit k: row k is wide
  std::vector<std::uint32_t> wide_rank_;  // [w]: wide rows before word w
  std::vector<std::int64_t> wide_;        // [wide rows, m]
  std::vector<std::uint32_t> low_;        // [narrow rows, m]: bits 0..31 of each sum
  std::vector<std::uint8_t> high_;        // [narrow rows, m]: bits 32..39
};

}  // namespace ibzoo::analysis
