// First stage of the data flow: corpus sample -> token ids -> positions and label
// sets (n-gram input/output labels and their shuffled nulls). Labels depend only on
// the tokens, so they are built once per tokenizer and shared by every checkpoint
// (and every model) that uses it.
#pragma once

#include "analysis/labels.h"
#include "io/corpus.h"
#include "io/tokenizer.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::stages {

struct PrepareJob {
  std::filesystem::path path_tokenizer;   // tokenizer.json or a model directory
  std::vector<std::string> documents;     // the corpus sample, in order
  std::string corpus_sha256;
  std::int64_t max_tokens = 512;          // per document, after the BOS
  std::int64_t min_tokens = 8;            // shorter documents are skipped
  bool bos = false;                       // prepend the tokenizer's BOS token
  bool special_tokens_as_labels = false;  // false: positions whose labels touch a special token are dropped
  std::vector<int> orders = {1};          // n-gram orders of the input and output labels
  std::int64_t min_count = 1;
  bool null = true;                       // shuffled-label null for every label set
  std::uint64_t seed = 0;
  std::filesystem::path cache_dir;        // <run>/tokens: token ids are cached here ("" = no cache)
};

// Token ids of the sample, the used positions and the label sets.
struct PreparedText {
  std::string id;                         // hash of tokenizer + corpus + text policy
  std::string tokenizer_sha256;           // of the tokenizer.json bytes, for provenance
  analysis::Corpus corpus;                // tokens per document; doc_ids = index in the sample
  analysis::Positions positions;
  // Per document k, positions [pos_offsets[k], pos_offsets[k+1]) belong to it.
  std::vector<std::int64_t> pos_offsets;
  std::vector<analysis::LabelSet> label_sets;   // in1..inN, out1..outN, then the nulls
  std::vector<std::string> label_names() const;
  std::int64_t n_tokens() const { return static_cast<std::int64_t>(corpus.tokens.size()); }
};

// The preference set (DESIGN.md "Preference information"): prompt + chosen and
// prompt + rejected as documents with one binary label set "pref" (chosen = 1,
// rejected = 0); see analysis::preference_text for positions and truncation.
// Pair k's two documents both have doc id k (index in the pair list), so a work
// item's [doc_begin, doc_end) selects pairs. No shuffled null: a label constant
// within each document is unchanged by a within-document shuffle.
struct PreferenceJob {
  std::filesystem::path path_tokenizer;
  std::vector<io::PreferencePair> pairs;
  std::string pairs_sha256;
  std::int64_t max_tokens = 512;          // per document (prompt + completion), after the BOS
  bool bos = false;
  bool prompt_labelled = false;
  std::int64_t min_count = 1;
};
inline constexpr const char* kPreferenceSet = "pref";
// Tokenizes the prompt and each completion separately (the prompt/completion
// boundary is exact) and builds the PreparedText. Throws CorruptDataError when
// no pair has a labelled position, or the tokenizer errors.
PreparedText prepare_preference(const PreferenceJob& job);

// Name of the null label set of `name` ("in1" -> "in1.null").
std::string null_name(const std::string& name);

// Tokenizes (or reads the cached <cache_dir>/<id>.h5, written atomically by
// whichever process gets there first), then builds positions and labels.
// Throws CorruptDataError when no document reaches min_tokens, or the tokenizer errors.
PreparedText prepare_text(const PrepareJob& job);

}  // namespace ibzoo::stages
