// Small text helpers shared by the parsers' messages ("did you mean ...?").
#pragma once

#include <cstddef>
#include <string_view>

namespace ibzoo::io {

// Levenshtein distance (insertions, deletions, substitutions; bytes, not characters).
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace ibzoo::io
