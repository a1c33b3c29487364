#include "io/csv.h"

#include "analysis/error.h"
#include "io/fs.h"

namespace ibzoo::io {

namespace {

// A character-level state machine over the whole text, so quoted line breaks work.
class CsvParser {
 public:
  CsvParser(std::string_view text, const std::string& source) : text_(text), source_(source) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
  }

  // Next record, or false at the end. Sets record_line_ to its first line.
  bool next(std::vector<std::string>& fields) {
    fields.clear();
    while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) advance_line_end();
    if (pos_ >= text_.size()) return false;
    record_line_ = line_;
    std::string field;
    while (true) {
      if (pos_ < text_.size() && text_[pos_] == '"') {
        read_quoted(field);
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
          field += text_[pos_++];
        }
      }
      fields.push_back(std::move(field));
      field.clear();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size()) advance_line_end();
      return true;
    }
  }

  std::size_t record_line() const { return record_line_; }

 private:
  void advance_line_end() {
    if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    ++line_;
  }

  void read_quoted(std::string& field) {
    const std::size_t start_line = line_;
    ++pos_;
    while (true) {
      if (pos_ >= text_.size()) {
        throw CorruptDataError(source_ + ":" + std::to_string(start_line) +
                               ": a quoted field is never closed (expected a closing '\"' before the end of the file)");
      }
      const char c = text_[pos_++];
      if (c == '"' && pos_ < text_.size() && text_[pos_] == '"') {
        field += '"';
        ++pos_;
      } else if (c == '"') {
        break;
      } else {
        if (c == '\n') ++line_;
        field += c;
      }
    }
    if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
      throw CorruptDataError(source_ + ":" + std::to_string(line_) + ": unexpected '" + std::string(1, text_[pos_]) +
                             "' after a closing quote (expected ',' or the end of the line)");
    }
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t record_line_ = 1;
};

}  // namespace

std::optional<std::size_t> CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  return std::nullopt;
}

std::string CsvTable::where(std::size_t row_idx) const {
  return source + ":" + std::to_string(line_numbers.at(row_idx));
}

CsvTable parse_csv(std::string_view text, const std::string& source) {
  CsvTable table;
  table.source = source;
  CsvParser parser(text, source);
  if (!parser.next(table.header)) {
    throw CorruptDataError(source + ": the file is empty (expected a header line)");
  }
  std::vector<std::string> fields;
  while (parser.next(fields)) {
    if (fields.size() != table.header.size()) {
      throw CorruptDataError(source + ":" + std::to_string(parser.record_line()) + ": expected " +
                             std::to_string(table.header.size()) + " fields (as in the header), found " +
                             std::to_string(fields.size()));
    }
    table.rows.push_back(fields);
    table.line_numbers.push_back(parser.record_line());
  }
  return table;
}

CsvTable read_csv(const std::filesystem::path& path) {
  return parse_csv(read_file(path, std::uintmax_t{1} << 28), path.string());
}

std::string format_csv_row(const std::vector<std::string>& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += ',';
    const auto& f = fields[i];
    if (f.find_first_of(",\"\r\n") == std::string::npos) {
      line += f;
      continue;
    }
    line += '"';
    for (char c : f) line += c == '"' ? std::string("\"\"") : std::string(1, c);
    line += '"';
  }
  return line + "\n";
}

void write_csv(const std::filesystem::path& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
  std::string text = format_csv_row(header);
  for (const auto& r : rows) text += format_csv_row(r);
  write_file_atomic(path, text);
}

}  // namespace ibzoo::io
