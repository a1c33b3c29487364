// Text corpora: plain text files split into documents, or JSONL with a text field.
// Sampling is deterministic: "first" keeps the first N documents in file order,
// "reservoir" keeps a uniform sample of N chosen with a seeded counter-based
// generator, returned in file order. Empty documents are skipped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::io {

enum class SplitRule { kParagraph, kLine, kFile };

struct CorpusSpec {
  std::vector<std::filesystem::path> files;
  bool jsonl = false;
  std::string field = "text";
  SplitRule split = SplitRule::kParagraph;
  std::int64_t n_documents = 0;  // 0: all
  bool reservoir = false;
  std::uint64_t seed = 0;
};

struct Corpus {
  std::vector<std::string> documents;
  std::string sha256;  // of the selected documents, in order: identifies the sample
};

// Throws MissingInputError for a missing file, CorruptDataError naming file:line for
// a bad JSONL line or a missing field, and CorruptDataError when nothing is left.
Corpus read_corpus(const CorpusSpec& spec);

// One preference pair from a JSONL file with fields prompt, chosen, rejected.
struct PreferencePair {
  std::string prompt;
  std::string chosen;
  std::string rejected;
};
std::vector<PreferencePair> read_preference_pairs(const std::filesystem::path& path, std::int64_t n_pairs);

// A whole text file that must be UTF-8 (up to 8 GiB). Throws MissingInputError, or
// CorruptDataError naming the file, line and byte offset of the first invalid byte.
std::string read_utf8_text(const std::filesystem::path& path);

}  // namespace ibzoo::io
