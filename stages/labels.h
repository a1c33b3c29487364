// The label pass, the first stage after the plan: corpus sample -> token ids ->
// estimator positions -> every label set (input and output n-grams of each order,
// their shuffled nulls; or the preference label), with each label's global count,
// so that every position knows its table row or that its label is a singleton.
// It depends only on the tokenizer and the text policy, so it runs once per
// tokenizer and is shared by every checkpoint and model that uses it. Stored in
// the run directory (docs/RUN_LAYOUT.md): tokens/<text_id>.h5 (token ids) and
// labels/<label_id>.h5 (every base set's ids, compressed, and row counts; the nulls
// are recomputed from the ids, which costs one pass).
#pragma once

#include "analysis/labels.h"
#include "io/corpus.h"
#include "io/mpi.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::stages {

struct TextJob {
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
  std::filesystem::path run_dir;          // tokens/ and labels/ are cached here ("" = no cache)
  int threads = 1;                        // tokenizing and building sets
  // The files the run directory lacks are left to write_text_files (LabelledText::unwritten)
  // instead of written before label_text returns. For a process working alone: the other
  // ranks of a collective label_text read the files, so it writes them first regardless.
  bool defer_writes = false;
};

// The files of a label pass that label_text left to write_text_files.
struct UnwrittenFiles {
  std::filesystem::path tokens;  // tokens/<text_id>.h5, or empty: nothing to write
  std::filesystem::path labels;  // labels/<label_id>.h5, or empty
  std::int64_t n_sample_documents = 0;
};

// Token ids of the sample, the used positions and the label sets.
struct LabelledText {
  std::string id;                         // hash of tokenizer + corpus + text policy
  std::string label_id;                   // hash of id + orders + min_count + special-token policy + null seed
  std::string tokenizer_sha256;           // of the tokenizer.json bytes, for provenance
  analysis::Corpus corpus;                // tokens per document; doc_ids = index in the sample
  analysis::Positions positions;         // token_idx only: doc_ids is released after the shuffle
  // Per document k, positions [pos_offsets[k], pos_offsets[k+1]) belong to it.
  std::vector<std::int64_t> pos_offsets;
  // in1..inN, out1..outN, then, with the shuffled null, their nulls in the same order. A
  // null set holds no ids of its own: its label at position i is its base set's label at
  // null_source[i], one within-document permutation shared by every set (label_of).
  std::vector<analysis::LabelSet> label_sets;
  std::vector<std::int32_t> null_source;  // [positions] with the null, else empty
  UnwrittenFiles unwritten;               // with TextJob::defer_writes (else empty)
  // The label id (row, kSingleton or kDropped) of position pos in set s.
  std::int32_t label_of(std::size_t s, std::size_t pos) const;
  std::vector<std::string> label_names() const;
  std::vector<std::int64_t> label_rows() const;
  analysis::RowCounts row_counts() const;  // views of each set's row_counts
  std::int64_t n_tokens() const { return static_cast<std::int64_t>(corpus.tokens.size()); }
};

// Collective over `comm` when given: rank 0 tokenizes (on job.threads threads) and
// builds the sets, or reads them from the run directory, and writes what was
// missing; the other ranks then read the files. Without comm (or with one rank)
// the process does it alone. Throws CorruptDataError when no document reaches
// min_tokens, or the tokenizer errors.
LabelledText label_text(const TextJob& job, const io::Communicator* comm = nullptr);

// Writes the files that label_text left unwritten (TextJob::defer_writes), each
// committed whole, and logs how long they took; once per text. Reads `text` only: it
// may run on another thread while `text` is read elsewhere, not while it changes.
// Throws WriteError.
void write_text_files(const LabelledText& text);

// The preference set (DESIGN.md "Preference information"): prompt + chosen and
// prompt + rejected as documents with one binary label set "pref" (chosen = 1,
// rejected = 0); see analysis::preference_text for positions and truncation.
// Pair k's two documents both have doc id k (index in the pair list). No shuffled
// null: a label constant within each document is unchanged by a within-document
// shuffle. Small: built in memory by every rank, not stored.
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
// Throws CorruptDataError when no pair has a labelled position, or the tokenizer errors.
LabelledText label_preference(const PreferenceJob& job);

// Name of the null label set of `name` ("in1" -> "in1.null").
std::string null_name(const std::string& name);

// What the label pass of a text found, read back from labels/<label_id>.h5 (for
// `plan --estimate`): each set's name and table rows, and the positions.
struct LabelSummary {
  std::int64_t n_positions = 0;
  std::int64_t n_documents = 0;   // of the corpus sample (before documents under min_tokens are skipped)
  std::int64_t n_tokens = 0;
  std::vector<std::string> names;
  std::vector<std::int64_t> rows;
  std::vector<std::vector<std::int64_t>> row_counts;  // each set's rows' counts (a null's: its base set's)
};
// Every label file of a run directory (none before the label pass has run).
std::vector<LabelSummary> read_label_summaries(const std::filesystem::path& run_dir);

}  // namespace ibzoo::stages
