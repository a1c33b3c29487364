// Helpers the score readers share (inside scores/ only).
#pragma once

#include "io/csv.h"
#include "io/text.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace ibzoo::scores {

using io::join;

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The part of a model id after its last '/'.
std::string basename_of(const std::string& id);
// Parses a score cell; nullopt for an empty or "nan" cell. Throws CorruptDataError naming `where` and `column`.
std::optional<double> parse_score(const std::string& cell, const std::string& where, const std::string& column);
// A JSON file; CorruptDataError naming the file and `what` was expected.
nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what);
// The value of `key` in a harness model_args ("pretrained=org/m,revision=step1000" or
// {"pretrained": ..., "revision": ...}); "" when absent.
std::string model_arg(const nlohmann::json& args, const std::string& key);
// The model column of a leaderboard export (fullname, or eval_name), if it has one.
std::optional<std::size_t> leaderboard_model_column(const io::CsvTable& t);

}  // namespace ibzoo::scores
