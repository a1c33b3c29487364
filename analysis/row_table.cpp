#include "analysis/row_table.h"

#include "analysis/estimator_state.h"

#include <bit>

namespace ibzoo::analysis {
namespace {

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

}  // namespace

RowTable::RowTable(std::int64_t rows, std::int64_t m, const std::function<bool(std::int64_t)>& wide) : m_(m) {
  wide_bits_.assign(sz((rows + 63) / 64), 0);
  wide_rank_.assign(wide_bits_.size(), 0);
  std::int64_t n_wide = 0;
  for (std::int64_t k = 0; k < rows; ++k) {
    if (k % 64 == 0) wide_rank_[sz(k / 64)] = static_cast<std::uint32_t>(n_wide);
    if (wide(k)) {
      wide_bits_[sz(k / 64)] |= std::uint64_t{1} << (k % 64);
      ++n_wide;
    }
  }
  wide_.assign(sz(n_wide * m), 0);
  low_.assign(sz((rows - n_wide) * m), 0);
  high_.assign(sz((rows - n_wide) * m), 0);
}

std::pair<bool, std::int64_t> RowTable::locate(std::int64_t k) const {
  const std::uint64_t word = wide_bits_[sz(k / 64)];
  const auto bit = k % 64;
  const std::int64_t wide_before = wide_rank_[sz(k / 64)] + std::popcount(word & ((std::uint64_t{1} << bit) - 1));
  if ((word >> bit) & 1U) return {true, wide_before};
  return {false, k - wide_before};
}

bool RowTable::add(std::int64_t k, const std::int64_t* src, std::int64_t w, std::int64_t weight) {
  const auto [wide, idx] = locate(k);
  if (wide) {
    std::int64_t* dst = wide_.data() + idx * m_;
    if (w == 1) {
      for (std::int64_t j = 0; j < m_; ++j) dst[j] += src[j];
    } else {
      for (std::int64_t j = 0; j < m_; ++j) dst[j] += w * src[j];
    }
    return true;
  }
  if (weight > kNarrowMaxWeight) return false;
  std::uint32_t* low = low_.data() + idx * m_;
  std::uint8_t* high = high_.data() + idx * m_;
  for (std::int64_t j = 0; j < m_; ++j) {
    const auto sum = (std::uint64_t{high[j]} << 32 | low[j]) + static_cast<std::uint64_t>(w * src[j]);
    low[j] = static_cast<std::uint32_t>(sum);
    high[j] = static_cast<std::uint8_t>(sum >> 32);
  }
  return true;
}

const std::int64_t* RowTable::sums(std::int64_t k, std::vector<std::int64_t>& buf) const {
  const auto [wide, idx] = locate(k);
  if (wide) return wide_.data() + idx * m_;
  buf.resize(sz(m_));
  const std::uint32_t* low = low_.data() + idx * m_;
  const std::uint8_t* high = high_.data() + idx * m_;
  for (std::int64_t j = 0; j < m_; ++j) buf[sz(j)] = static_cast<std::int64_t>(std::uint64_t{high[j]} << 32 | low[j]);
  return buf.data();
}

std::int64_t RowTable::memory_bytes() const {
  return static_cast<std::int64_t>(wide_bits_.size() * 8 + wide_rank_.size() * 4 + wide_.size() * 8 + low_.size() * 4 +
                                   high_.size());
}

std::int64_t RowTable::bytes(std::int64_t rows, std::int64_t narrow, std::int64_t m) {
  return (rows + 63) / 64 * 12 + (rows - narrow) * 8 * m + narrow * 5 * m;
}

}  // namespace ibzoo::analysis
