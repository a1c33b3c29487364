#include "errors/error.h"
#include "analysis/labels.h"
#include "analysis/reference_points.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace ibzoo::analysis {
namespace {

Corpus two_docs() {
  // doc 10: 1 2 3 1 2 3 1 2 (len 8); doc 20: 5 1 2 3 (len 4)
  return Corpus{{1, 2, 3, 1, 2, 3, 1, 2, 5, 1, 2, 3}, {0, 8, 12}, {10, 20}};
}

TEST(LabelsTest, PositionsCoverOnlyIndicesWhereEveryOrderIsDefined) {
  const Corpus c = two_docs();
  const Positions p2 = ngram_positions(c, 2);  // i = 1 .. len-3
  EXPECT_EQ(p2.token_idx, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 9}));
  EXPECT_EQ(p2.doc_ids, (std::vector<std::int64_t>{10, 10, 10, 10, 10, 20}));
  const Positions p4 = ngram_positions(c, 4);  // doc 10: i = 3 .. 3; doc 20: none
  EXPECT_EQ(p4.token_idx, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(ngram_positions(c, 1).size(), 7 + 3);
}

TEST(LabelsTest, NgramLabelsMatchNaiveTupleMap) {
  const Corpus c = two_docs();
  const Positions pos = ngram_positions(c, 2);
  for (const auto dir : {NgramDirection::kInput, NgramDirection::kOutput}) {
    for (int order = 1; order <= 2; ++order) {
      const LabelSet set = ngram_label_set("x", c, pos, order, dir);
      std::map<std::vector<std::int64_t>, int> count;
      std::vector<std::vector<std::int64_t>> tuples;
      for (const std::int64_t i : pos.token_idx) {
        std::vector<std::int64_t> t;
        for (int k = 0; k < order; ++k) t.push_back(c.tokens[dir == NgramDirection::kInput ? i - order + 1 + k : i + 1 + k]);
        ++count[t];
        tuples.push_back(t);
      }
      for (std::size_t a = 0; a < tuples.size(); ++a) {
        const int n = count[tuples[a]];
        if (n == 1) {
          EXPECT_EQ(set.ids[a], kSingleton);
        }
        if (n >= 2) {
          ASSERT_GE(set.ids[a], 0);
          EXPECT_EQ(set.row_counts[static_cast<std::size_t>(set.ids[a])], n);
        }
        for (std::size_t b = 0; b < tuples.size(); ++b) {
          if (n >= 2) {
            EXPECT_EQ(set.ids[a] == set.ids[b], tuples[a] == tuples[b]);
          }
        }
      }
      EXPECT_EQ(set.n_labels, static_cast<std::int64_t>(count.size()));
    }
  }
}

TEST(LabelsTest, TuplesAreComparedExactlyEvenForHugeTokenIds) {
  // These two rows would collide under radix packing with V = 2^32 in 64 bits.
  const std::int64_t big = std::int64_t{1} << 40;
  const std::vector<std::int64_t> rows = {1, big, 1, big, 1, big + 1, 2, 0};
  const LabelSet set = label_set_from_rows("r", rows, 4, 2);
  EXPECT_GE(set.ids[0], 0);
  EXPECT_EQ(set.ids[0], set.ids[1]);
  EXPECT_EQ(set.ids[2], kSingleton);
  EXPECT_EQ(set.ids[3], kSingleton);
}

TEST(LabelsTest, MinCountDropsRareLabels) {
  const std::vector<std::int64_t> v = {1, 1, 1, 2, 2, 3};
  const LabelSet set = label_set_from_rows("v", v, 6, 1, 3);
  EXPECT_EQ(set.ids, (std::vector<std::int32_t>{0, 0, 0, kDropped, kDropped, kDropped}));
  EXPECT_EQ(set.n_dropped_labels, 2);
  EXPECT_EQ(set.n_singletons, 0);
}

TEST(LabelsTest, ShuffleKeepsEachDocumentsMultisetAndIsSplitIndependent) {
  std::vector<std::int64_t> v;
  std::vector<std::int64_t> docs;
  for (int i = 0; i < 200; ++i) {
    v.push_back(i % 7);
    docs.push_back(i / 50);
  }
  const LabelSet set = label_set_from_rows("v", v, 200, 1);
  const LabelSet null = shuffle_within_documents(set, docs, 5, "v#null");
  EXPECT_EQ(null.row_counts, set.row_counts);
  EXPECT_NE(null.ids, set.ids);
  for (int d = 0; d < 4; ++d) {
    std::vector<std::int32_t> a(set.ids.begin() + d * 50, set.ids.begin() + d * 50 + 50);
    std::vector<std::int32_t> b(null.ids.begin() + d * 50, null.ids.begin() + d * 50 + 50);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
  }
  // Shuffling only document 2's positions gives the same permutation there.
  const LabelSet part = label_set_from_rows("v", std::span(v).subspan(100, 50), 50, 1);
  const LabelSet part_null = shuffle_within_documents(part, std::span(docs).subspan(100, 50), 5, "p");
  for (int i = 0; i < 50; ++i) EXPECT_EQ(part_null.ids[i] == part_null.ids[0], null.ids[100 + i] == null.ids[100]);
}

TEST(LabelsTest, WithinDocumentShuffleIsOnePermutationPerDocumentWhereverItsPositionsAre) {
  // Three documents of 40, 25 and 31 positions, once contiguous and once interleaved
  // (ids in any order): each position takes a position of its own document, every
  // position is taken once, and member k of a document takes the same member in both.
  const std::vector<std::int64_t> sizes{40, 25, 31}, ids{7, 3, 11};
  std::vector<std::int64_t> contiguous, interleaved;
  for (std::size_t d = 0; d < sizes.size(); ++d) contiguous.insert(contiguous.end(), static_cast<std::size_t>(sizes[d]), ids[d]);
  std::vector<std::int64_t> left(sizes);
  while (interleaved.size() < contiguous.size()) {
    for (std::size_t d = 0; d < sizes.size(); ++d) {
      if (left[d] > 0) interleaved.push_back(ids[d]), --left[d];
    }
  }
  const auto members = [](const std::vector<std::int64_t>& docs, std::int64_t doc) {
    std::vector<std::int32_t> out;
    for (std::size_t i = 0; i < docs.size(); ++i) {
      if (docs[i] == doc) out.push_back(static_cast<std::int32_t>(i));
    }
    return out;
  };
  const auto a = within_document_shuffle(contiguous, 9);
  const auto b = within_document_shuffle(interleaved, 9);
  for (const auto* layout : {&contiguous, &interleaved}) {
    const auto& source = layout == &contiguous ? a : b;
    std::vector<int> taken(source.size(), 0);
    for (std::size_t i = 0; i < source.size(); ++i) {
      ASSERT_EQ((*layout)[static_cast<std::size_t>(source[i])], (*layout)[i]) << "position " << i << " left its document";
      ++taken[static_cast<std::size_t>(source[i])];
    }
    EXPECT_EQ(std::count(taken.begin(), taken.end(), 1), static_cast<std::ptrdiff_t>(source.size()));
  }
  bool moved = false;
  for (const auto doc : ids) {
    const auto ma = members(contiguous, doc), mb = members(interleaved, doc);
    for (std::size_t k = 0; k < ma.size(); ++k) {
      const auto ka = std::find(ma.begin(), ma.end(), a[static_cast<std::size_t>(ma[k])]) - ma.begin();
      const auto kb = std::find(mb.begin(), mb.end(), b[static_cast<std::size_t>(mb[k])]) - mb.begin();
      EXPECT_EQ(ka, kb) << "document " << doc << " member " << k;
      moved = moved || ka != static_cast<std::ptrdiff_t>(k);
    }
  }
  EXPECT_TRUE(moved);
  EXPECT_NE(within_document_shuffle(contiguous, 10), a);  // the seed matters
}

// The label set of `rows` by a std::map of tuples: row ids in lexicographic order of the
// labels that reach max(2, min_count), the other labels singletons or dropped.
LabelSet naive_label_set(const std::vector<std::int64_t>& rows, std::int64_t n, std::int64_t width,
                         std::int64_t min_count) {
  std::map<std::vector<std::int64_t>, std::int64_t> count;
  const auto tuple = [&](std::int64_t pos) {
    return std::vector<std::int64_t>(rows.begin() + pos * width, rows.begin() + (pos + 1) * width);
  };
  for (std::int64_t pos = 0; pos < n; ++pos) ++count[tuple(pos)];
  LabelSet set;
  set.min_count = min_count;
  std::map<std::vector<std::int64_t>, std::int32_t> id;
  for (const auto& [label, c] : count) {
    ++set.n_labels;
    if (c >= std::max<std::int64_t>(2, min_count)) {
      id[label] = static_cast<std::int32_t>(set.row_counts.size());
      set.row_counts.push_back(c);
    } else if (c == 1 && min_count <= 1) {
      id[label] = kSingleton;
      ++set.n_singletons;
    } else {
      id[label] = kDropped;
      ++set.n_dropped_labels;
    }
  }
  for (std::int64_t pos = 0; pos < n; ++pos) set.ids.push_back(id[tuple(pos)]);
  return set;
}

TEST(LabelsTest, PackedRadixSortGivesTheIdsOfTupleOrder) {
  // Vocabularies from a few values (digits of the radix sort shared by every key) to
  // 2^20 (4-grams that pack to 80 bits: the comparison sort); -1 entries do not pack.
  std::uint64_t state = 11;
  for (const std::int64_t vocab : {3, 300, 40000, 1 << 20}) {
    for (std::int64_t width = 1; width <= 4; ++width) {
      for (const std::int64_t min_count : {1, 3}) {
        const std::int64_t n = 3000;
        std::vector<std::int64_t> rows;
        for (std::int64_t k = 0; k < n * width; ++k) {
          state = splitmix64(state);
          const auto u = static_cast<std::int64_t>(state >> 40);           // 24 bits
          rows.push_back(k % 7 == 0 ? u % 5 : (u * u) % vocab);            // skewed: many repeats
        }
        if (vocab == 3) rows[5] = -1;
        const LabelSet set = label_set_from_rows("r", rows, n, width, min_count);
        const LabelSet naive = naive_label_set(rows, n, width, min_count);
        EXPECT_EQ(set.ids, naive.ids) << vocab << " " << width << " " << min_count;
        EXPECT_EQ(set.row_counts, naive.row_counts);
        EXPECT_EQ(set.n_labels, naive.n_labels);
        EXPECT_EQ(set.n_singletons, naive.n_singletons);
        EXPECT_EQ(set.n_dropped_labels, naive.n_dropped_labels);
      }
    }
  }
}

TEST(LabelsTest, BadInputsAreNamed) {
  const std::vector<std::int64_t> v = {1, 2, 3};
  try {
    label_set_from_rows("tok", v, 2, 1);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'tok'"), std::string::npos);
  }
  EXPECT_THROW(label_set_from_rows("tok", v, 3, 1, 0), UsageError);
  EXPECT_THROW(ngram_positions(Corpus{{1, 2}, {0, 3}, {0}}, 1), CorruptDataError);
  EXPECT_THROW(ngram_positions(two_docs(), 0), UsageError);
}

TEST(LabelsTest, PreferenceDocumentsLabelCompletionTokensOnlyUnlessPromptIsLabelled) {
  const std::vector<PreferenceTokens> pairs = {{{7, 8}, {1, 2, 3}, {4}},   // kept
                                               {{9}, {}, {5, 6}},          // chosen empty: dropped
                                               {{7}, {2, 2}, {3, 3}}};     // kept
  const std::vector<std::int64_t> ids = {40, 41, 42};
  const auto text = preference_text(pairs, ids, false, 4);
  EXPECT_EQ(text.n_pairs_dropped, 1);
  // pair 40: [7 8 1 2] (chosen, truncated to 4) and [7 8 4]; pair 42: [7 2 2] and [7 3 3].
  EXPECT_EQ(text.corpus.tokens, (std::vector<std::int64_t>{7, 8, 1, 2, 7, 8, 4, 7, 2, 2, 7, 3, 3}));
  EXPECT_EQ(text.corpus.doc_offsets, (std::vector<std::int64_t>{0, 4, 7, 10, 13}));
  EXPECT_EQ(text.corpus.doc_ids, (std::vector<std::int64_t>{40, 40, 42, 42}));
  EXPECT_EQ(text.positions.token_idx, (std::vector<std::int64_t>{2, 3, 6, 8, 9, 11, 12}));
  EXPECT_EQ(text.positions.doc_ids, (std::vector<std::int64_t>{40, 40, 40, 42, 42, 42, 42}));
  // Naive: label 1 at chosen positions, 0 at rejected; rows in value order (0 then 1).
  const std::vector<int> naive = {1, 1, 0, 1, 1, 0, 0};
  ASSERT_EQ(text.labels.ids.size(), naive.size());
  for (std::size_t i = 0; i < naive.size(); ++i) EXPECT_EQ(text.labels.ids[i], naive[i]) << i;
  EXPECT_EQ(text.labels.row_counts, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(text.labels.name, "pref");

  const auto labelled = preference_text(pairs, ids, true, 4);
  EXPECT_EQ(labelled.n_pairs_dropped, 0);  // the prompt alone gives pair 41 positions
  EXPECT_EQ(labelled.positions.size(), 4 + 3 + 1 + 3 + 3 + 3);
  EXPECT_EQ(labelled.labels.row_counts, (std::vector<std::int64_t>{3 + 3 + 3, 4 + 1 + 3}));
}

TEST(LabelsTest, PreferenceBadInputsAreNamed) {
  const std::vector<PreferenceTokens> pairs(2);
  const std::vector<std::int64_t> one_id = {0};
  try {
    preference_text(pairs, one_id, false, 8);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("2 pairs but 1 pair ids"), std::string::npos) << e.what();
  }
  const std::vector<std::int64_t> two_ids = {0, 1};
  EXPECT_THROW(preference_text(pairs, two_ids, false, 0), UsageError);
}

}  // namespace
}  // namespace ibzoo::analysis
