#include "io/corpus.h"

#include "errors/error.h"
#include "analysis/reference_points.h"
#include "io/fs.h"
#include "io/unicode.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace ibzoo::io {

namespace {

constexpr std::uintmax_t kMaxCorpusFile = 8ull << 30;

std::string trim_line_end(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.pop_back();
  return s;
}

bool is_blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

// One JSONL line; `where` is "FILE:LINE" for the message.
nlohmann::json parse_json_line(const std::string& line, const std::string& where) {
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number past double
    throw CorruptDataError(where + ": not valid JSON (" + std::string(e.what()) + ")");
  }
}

void split_text(const std::string& text, SplitRule rule, std::vector<std::string>& out) {
  if (rule == SplitRule::kFile) {
    if (!is_blank(text)) out.push_back(text);
    return;
  }
  std::istringstream in(text);
  std::string line;
  std::string paragraph;
  while (std::getline(in, line)) {
    line = trim_line_end(line);
    if (rule == SplitRule::kLine) {
      if (!is_blank(line)) out.push_back(line);
      continue;
    }
    if (is_blank(line)) {
      if (!paragraph.empty()) out.push_back(std::move(paragraph));
      paragraph.clear();
    } else {
      paragraph += paragraph.empty() ? line : "\n" + line;
    }
  }
  if (!paragraph.empty()) out.push_back(std::move(paragraph));
}

void read_jsonl(const std::filesystem::path& path, const std::string& field, std::vector<std::string>& out) {
  std::istringstream in(read_file(path, kMaxCorpusFile));
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (is_blank(line)) continue;
    const auto where = path.string() + ":" + std::to_string(line_no);
    const auto j = parse_json_line(line, where);
    if (!j.is_object() || !j.contains(field) || !j[field].is_string()) {
      throw CorruptDataError(where + ": expected an object with a string field '" + field + "'");
    }
    auto text = j[field].get<std::string>();
    if (!is_blank(text)) out.push_back(std::move(text));
  }
}

// Algorithm R with a counter-based generator: identical on every platform.
std::vector<std::size_t> reservoir_sample(std::size_t n_total, std::size_t k, std::uint64_t seed) {
  std::vector<std::size_t> chosen;
  for (std::size_t i = 0; i < n_total; ++i) {
    if (i < k) {
      chosen.push_back(i);
      continue;
    }
    const auto j = static_cast<std::size_t>(analysis::splitmix64(seed ^ analysis::splitmix64(i)) % (i + 1));
    if (j < k) chosen[j] = i;
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace

Corpus read_corpus(const CorpusSpec& spec) {
  std::vector<std::string> all;
  for (const auto& file : spec.files) {
    if (spec.jsonl) {
      read_jsonl(file, spec.field, all);
    } else {
      split_text(read_utf8_text(file), spec.split, all);
    }
  }
  if (all.empty()) {
    std::string names;
    for (const auto& f : spec.files) names += (names.empty() ? "" : ", ") + f.string();
    throw CorruptDataError("corpus " + names + ": no non-empty documents found; check 'data.text.split' and the files");
  }
  Corpus corpus;
  const auto k = spec.n_documents > 0 ? std::min(all.size(), static_cast<std::size_t>(spec.n_documents)) : all.size();
  if (spec.reservoir && k < all.size()) {
    for (auto i : reservoir_sample(all.size(), k, spec.seed)) corpus.documents.push_back(std::move(all[i]));
  } else {
    all.resize(k);
    corpus.documents = std::move(all);
  }
  std::string joined;
  for (const auto& d : corpus.documents) {
    joined += sha256_hex(d);
  }
  corpus.sha256 = sha256_hex(joined);
  return corpus;
}

std::vector<PreferencePair> read_preference_pairs(const std::filesystem::path& path, std::int64_t n_pairs) {
  std::istringstream in(read_file(path, kMaxCorpusFile));
  std::vector<PreferencePair> pairs;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (is_blank(line)) continue;
    if (n_pairs > 0 && static_cast<std::int64_t>(pairs.size()) >= n_pairs) break;
    const auto where = path.string() + ":" + std::to_string(line_no);
    const auto j = parse_json_line(line, where);
    for (const char* key : {"prompt", "chosen", "rejected"}) {
      if (!j.is_object() || !j.contains(key) || !j[key].is_string()) {
        throw CorruptDataError(where + ": expected a string field '" + std::string(key) + "' (fields: prompt, chosen, rejected)");
      }
    }
    pairs.push_back({j["prompt"].get<std::string>(), j["chosen"].get<std::string>(), j["rejected"].get<std::string>()});
  }
  if (pairs.empty()) throw CorruptDataError(path.string() + ": no preference pairs found");
  return pairs;
}

// Documents must be UTF-8: the tokenizer cannot encode anything else, and failing
// here names the file and line before any work starts instead of failing every item.
std::string read_utf8_text(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxCorpusFile);
  if (const auto bad = unicode::first_invalid_utf8(text)) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(*bad), '\n');
    throw CorruptDataError(path.string() + ":" + std::to_string(line) + ": not valid UTF-8 (byte offset " +
                           std::to_string(*bad) + "); convert the file to UTF-8 first (e.g. iconv -f latin1 -t utf-8)");
  }
  return text;
}

}  // namespace ibzoo::io
