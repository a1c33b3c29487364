// Small text helpers shared by the parsers' messages ("did you mean ...?", lists).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ibzoo::io {

// Levenshtein distance (insertions, deletions, substitutions; bytes, not characters).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The items with `sep` between them ("a, b, c").
std::string join(const std::vector<std::string>& items, const std::string& sep);

}  // namespace ibzoo::io
