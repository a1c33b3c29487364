// A small RFC 4180 CSV reader and writer for the analysis tables (benchmark files,
// correlations.csv, regression.csv). Quoted fields may hold commas, quotes ("") and
// line breaks; CRLF and LF line ends and a UTF-8 byte-order mark are accepted.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ibzoo::io {

struct CsvTable {
  std::string source;                          // file name, for messages
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each has header.size() fields
  std::vector<std::size_t> line_numbers;       // 1-based line where each row starts

  // Index of the column with exactly this name, or nullopt.
  std::optional<std::size_t> column(std::string_view name) const;
  // "file:line" of row row_idx.
  std::string where(std::size_t row_idx) const;
};

// Parses CSV text. Blank lines are skipped. Throws CorruptDataError naming
// source:line for an unterminated quote, text after a closing quote, or a row
// whose field count differs from the header's.
CsvTable parse_csv(std::string_view text, const std::string& source);
// Reads and parses a file. Throws MissingInputError or CorruptDataError.
CsvTable read_csv(const std::filesystem::path& path);

// One CSV line (with "\n"); fields with , " CR or LF are quoted.
std::string format_csv_row(const std::vector<std::string>& fields);
// Writes header + rows atomically (temp file + rename). Throws WriteError.
void write_csv(const std::filesystem::path& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows);

}  // namespace ibzoo::io
