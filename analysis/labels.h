// Label sets for the soft-entropy estimator: every position gets a label id that
// says which row of the count table its soft assignment goes to. Labels are
// tuples of integers (1-D labels, n-gram token tuples) compared exactly: packed
// into one integer (then radix-sorted) only when that is lossless (non-negative
// entries that fit 64 bits together). A label set is built once from ALL
// positions of a document set (global counts), then shared by every model that
// uses the same tokenizer. Pure computation: no files.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::analysis {

// Position ids that are not table rows.
inline constexpr std::int32_t kSingleton = -1;  // label seen exactly once: folded into a running scalar
inline constexpr std::int32_t kDropped = -2;    // label below min_count: no conditional term (still in H(Z))

// Which labels get a table row. A label with global count c is
//   a row       if c >= max(2, min_count),
//   kSingleton  if c == 1 and min_count <= 1,
//   kDropped    otherwise.
// Frequency weighting uses min_count = 1 (every label counts); uniform
// weighting uses its min_count threshold.
struct LabelSet {
  std::string name;
  std::vector<std::int32_t> ids;          // [n_positions]: row id, kSingleton or kDropped
  std::vector<std::int64_t> row_counts;   // [n_rows]: global count of each row's label
  std::int64_t n_labels = 0;              // distinct label values over all positions
  std::int64_t n_singletons = 0;          // labels seen exactly once
  std::int64_t n_dropped_labels = 0;      // labels below min_count (not singletons)
  std::int64_t min_count = 1;
  std::int64_t n_rows() const { return static_cast<std::int64_t>(row_counts.size()); }
  std::int64_t n_positions() const { return static_cast<std::int64_t>(ids.size()); }
};

// The global count of every table row, per label set (views of LabelSet::row_counts,
// in the order of the sets): what lets an estimator state keep small rows in narrow
// cells (analysis/estimator_state.h).
using RowCounts = std::vector<std::span<const std::int64_t>>;

// Labels given directly: `values` is row-major [n_positions, width] (width 1 for
// 1-D labels); two positions share a label iff their rows are equal. Row ids are
// assigned in lexicographic order of the tuples (deterministic).
// Throws UsageError if min_count < 1, width < 1 or the size does not match.
LabelSet label_set_from_rows(std::string name, std::span<const std::int64_t> values, std::int64_t n_positions,
                             std::int64_t width, std::int64_t min_count = 1);

// Token documents, concatenated: document k is tokens[doc_offsets[k], doc_offsets[k+1]).
// Padding must already be removed; doc_ids are stable document identifiers (they
// seed the shuffled null, the bootstrap and the subsets).
struct Corpus {
  std::vector<std::int64_t> tokens;
  std::vector<std::int64_t> doc_offsets;  // [n_docs + 1], starts at 0, non-decreasing
  std::vector<std::int64_t> doc_ids;      // [n_docs]
  std::int64_t n_docs() const { return static_cast<std::int64_t>(doc_ids.size()); }
};

// The positions the estimator uses: in each document of length len, token
// indices i = N-1 .. len-N-1 for largest order N (so that every input n-gram
// tokens i-n+1..i and output n-gram tokens i+1..i+n is defined), in document
// order. The same positions are used for H(Z) and every label set.
struct Positions {
  std::vector<std::int64_t> token_idx;  // flat index into Corpus::tokens
  std::vector<std::int64_t> doc_ids;    // document id of each position
  std::int64_t size() const { return static_cast<std::int64_t>(token_idx.size()); }
};
// Throws UsageError if max_order < 1; CorruptDataError if the offsets are inconsistent.
Positions ngram_positions(const Corpus& corpus, int max_order);

enum class NgramDirection {
  kInput,   // X_n(i) = tokens i-n+1 .. i
  kOutput,  // Y_n(i) = tokens i+1 .. i+n
};
// The n-gram label set over `positions` (from ngram_positions with max_order >= order).
LabelSet ngram_label_set(std::string name, const Corpus& corpus, const Positions& positions, int order,
                         NgramDirection direction, std::int64_t min_count = 1);

// The shuffled-label null: the ids of `labels` permuted within each document
// (positions grouped by doc_ids, in order of appearance; Fisher-Yates driven by
// SplitMix64 seeded with splitmix64(seed) ^ splitmix64(doc id)). Global label
// counts are unchanged, so rows and singletons stay the same; the permutation
// does not depend on how documents are split across shards.
LabelSet shuffle_within_documents(const LabelSet& labels, std::span<const std::int64_t> doc_ids, std::uint64_t seed,
                                  std::string name);
// That permutation itself, the same for every label set: position i of a null set takes
// the label of position source[i] (shuffle_within_documents(labels).ids[i] ==
// labels.ids[source[i]]). Throws UsageError past 2^31 - 1 positions.
std::vector<std::int32_t> within_document_shuffle(std::span<const std::int64_t> doc_ids, std::uint64_t seed);

// Preference data as documents and one binary label set. Pair k (id pair_ids[k])
// gives two documents, prompt + chosen (label 1) then prompt + rejected (label 0),
// each truncated to max_tokens tokens, both with document id pair_ids[k] (so the
// bootstrap resamples pairs). Positions are every token of a document when
// prompt_labelled, else only its completion tokens (prompt positions are not
// used at all). A pair is kept only when both of its documents have a position.
struct PreferenceTokens {
  std::vector<std::int64_t> prompt;
  std::vector<std::int64_t> chosen;
  std::vector<std::int64_t> rejected;
};
struct PreferenceText {
  Corpus corpus;        // [2 x kept pairs] documents
  Positions positions;
  LabelSet labels;      // values 1 (chosen) and 0 (rejected)
  std::int64_t n_pairs_dropped = 0;
};
// Throws UsageError if the sizes of pairs and pair_ids differ or max_tokens < 1.
PreferenceText preference_text(std::span<const PreferenceTokens> pairs, std::span<const std::int64_t> pair_ids,
                               bool prompt_labelled, std::int64_t max_tokens, std::string name = "pref",
                               std::int64_t min_count = 1);

}  // namespace ibzoo::analysis
