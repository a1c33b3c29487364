// CSV through libcsv (Debian: libcsv-dev, LGPL-2.1+, linked dynamically): every
// CSV ibzoo reads or writes goes through this file. libcsv does the RFC 4180 work
// (quoted commas, doubled quotes, quoted line breaks, CR, LF and CRLF record ends);
// this file adds what it leaves to its caller: the byte-order mark, line numbers for
// messages, and the header / field-count checks.
#include "io/csv.h"

#include "errors/error.h"
#include "io/fs.h"

#include <csv.h>

#include <algorithm>

namespace ibzoo::io {

namespace {

// Owns one libcsv parser (a caller-allocated struct whose buffers csv_free releases).
class Parser {
 public:
  explicit Parser(const std::string& source) {
    if (csv_init(&p_, CSV_STRICT | CSV_STRICT_FINI) != 0) {
      throw CorruptDataError(source + ": cannot start the CSV parser (out of memory)");
    }
  }
  ~Parser() { csv_free(&p_); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  csv_parser* get() { return &p_; }

 private:
  csv_parser p_{};
};

// No trimming: RFC 4180 makes spaces part of a field (libcsv trims spaces and tabs by default).
int never_space(unsigned char) { return 0; }

// Records as libcsv reports them, with the physical line each one starts on.
struct Collector {
  std::vector<std::vector<std::string>> records;
  std::vector<std::size_t> lines;
  std::vector<std::string> fields;
  std::size_t chunk_line = 1;  // the physical line being fed to the parser
  std::size_t record_line = 0; // 0: no field of the current record seen yet

  static void on_field(void* data, std::size_t len, void* self_ptr) {
    auto& self = *static_cast<Collector*>(self_ptr);
    const auto* begin = static_cast<const char*>(data);
    std::string field = begin ? std::string(begin, len) : std::string();
    if (self.record_line == 0) {
      // A quoted first field with line breaks ends on a later line than it started.
      self.record_line = self.chunk_line - static_cast<std::size_t>(std::count(field.begin(), field.end(), '\n'));
    }
    self.fields.push_back(std::move(field));
  }

  static void on_record(int, void* self_ptr) {
    auto& self = *static_cast<Collector*>(self_ptr);
    if (self.fields.empty()) return;
    self.records.push_back(std::move(self.fields));
    self.lines.push_back(self.record_line);
    self.fields.clear();
    self.record_line = 0;
  }
};

std::string parse_error(const std::string& source, std::size_t line, char at) {
  return source + ":" + std::to_string(line) + ": malformed quoting at '" + std::string(1, at) +
         "' (unexpected after a closing quote, or a quote inside an unquoted field): a quoted field must be "
         "followed by ',' or the end of the line, and a quote inside a field is written as \"\" within a "
         "quoted field (RFC 4180)";
}

// Parses the whole text with libcsv in strict mode, one physical line per call so that
// every record and every error has its line number.
Collector parse_records(std::string_view text, const std::string& source) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  Parser parser(source);
  csv_set_space_func(parser.get(), never_space);
  Collector c;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto chunk = text.substr(0, end == std::string_view::npos ? text.size() : end + 1);
    const auto used = csv_parse(parser.get(), chunk.data(), chunk.size(), Collector::on_field, Collector::on_record, &c);
    if (used != chunk.size()) {
      if (csv_error(parser.get()) == CSV_EPARSE) throw CorruptDataError(parse_error(source, c.chunk_line, chunk[used]));
      throw CorruptDataError(source + ":" + std::to_string(c.chunk_line) + ": " + csv_strerror(csv_error(parser.get())));
    }
    text.remove_prefix(chunk.size());
    ++c.chunk_line;
  }
  const std::size_t last_line = c.chunk_line - 1;
  if (csv_fini(parser.get(), Collector::on_field, Collector::on_record, &c) != 0 ||
      csv_error(parser.get()) == CSV_EPARSE) {
    throw CorruptDataError(source + ":" + std::to_string(c.record_line ? c.record_line : last_line) +
                           ": a quoted field is never closed (expected a closing '\"' before the end of the file)");
  }
  return c;
}

bool needs_quotes(const std::string& f) {
  return f.find_first_of(",\"\r\n") != std::string::npos ||
         (!f.empty() && (f.front() == ' ' || f.front() == '\t' || f.back() == ' ' || f.back() == '\t'));
}

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
  auto c = parse_records(text, source);
  if (c.records.empty()) throw CorruptDataError(source + ": the file is empty (expected a header line)");
  CsvTable table;
  table.source = source;
  table.header = std::move(c.records.front());
  for (std::size_t i = 1; i < c.records.size(); ++i) {
    if (c.records[i].size() != table.header.size()) {
      throw CorruptDataError(source + ":" + std::to_string(c.lines[i]) + ": expected " +
                             std::to_string(table.header.size()) + " fields (as in the header), found " +
                             std::to_string(c.records[i].size()));
    }
    table.rows.push_back(std::move(c.records[i]));
    table.line_numbers.push_back(c.lines[i]);
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
    if (!needs_quotes(f)) {
      line += f;
      continue;
    }
    std::string quoted(csv_write(nullptr, 0, f.data(), f.size()), '\0');
    csv_write(quoted.data(), quoted.size(), f.data(), f.size());
    line += quoted;
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
