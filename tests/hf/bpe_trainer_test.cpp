// The byte-level BPE trainer: merges checked against a naive trainer (full
// recount per merge, same tie rule), determinism, the written tokenizer.json read
// back by hf::Tokenizer in both merges formats, and its errors.
#include "hf/bpe_trainer.h"

#include "errors/error.h"
#include "hf/tokenizer.h"
#include "io/unicode.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

namespace ibzoo::hf {
namespace {

namespace unicode = io::unicode;

const std::string kText =
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; "
    "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. "
    "And God said, Let there be light: and there was light. And God saw the light, that it was good: "
    "and God divided the light from the darkness. 1:1 1:2 1:3 1:4 \t\n\n  caf\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC ";

// Naive BPE over pre-counted words: recounts every pair before each merge and
// takes the most frequent, ties to the smaller (left id, right id).
std::vector<std::pair<std::string, std::string>> naive_merges(const std::map<std::string, long>& word_counts, int n_merges) {
  std::vector<std::pair<std::vector<std::string>, long>> words;
  for (const auto& [w, c] : word_counts) {
    std::vector<std::string> symbols;
    for (const char ch : w) symbols.emplace_back(1, ch);
    words.emplace_back(symbols, c);
  }
  // Token ids follow creation order: bytes 0..255, then merges.
  std::map<std::string, int> id_of;
  for (int b = 0; b < 256; ++b) id_of[std::string(1, static_cast<char>(b))] = b;
  std::vector<std::pair<std::string, std::string>> merges;
  for (int m = 0; m < n_merges; ++m) {
    std::map<std::pair<int, int>, long> counts;
    std::map<std::pair<int, int>, std::pair<std::string, std::string>> names;
    for (const auto& [symbols, c] : words) {
      for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
        const std::pair<int, int> key{id_of[symbols[k]], id_of[symbols[k + 1]]};
        counts[key] += c;
        names[key] = {symbols[k], symbols[k + 1]};
      }
    }
    std::pair<int, int> best{-1, -1};
    long best_count = 0;
    for (const auto& [key, c] : counts) {  // map order = smallest ids first, so ">" keeps the tie rule
      if (c > best_count) {
        best_count = c;
        best = key;
      }
    }
    if (best_count < 2) break;
    const auto [left, right] = names[best];
    merges.emplace_back(left, right);
    id_of[left + right] = 256 + m;
    for (auto& [symbols, c] : words) {
      std::vector<std::string> out;
      for (std::size_t k = 0; k < symbols.size(); ++k) {
        if (k + 1 < symbols.size() && symbols[k] == left && symbols[k + 1] == right) {
          out.push_back(left + right);
          ++k;
        } else {
          out.push_back(symbols[k]);
        }
      }
      symbols = out;
    }
  }
  return merges;
}

std::string bytes_of(const std::string& byte_level) {
  std::string out;
  std::size_t pos = 0;
  while (pos < byte_level.size()) out.push_back(static_cast<char>(*unicode::char_to_byte(unicode::decode_at(byte_level, pos))));
  return out;
}

TEST(BpeTrainerTest, MergesEqualANaiveFullRecountTrainer) {
  // Words of a text made only of "word " units split exactly at the spaces:
  // " ?\p{L}+" takes the leading space, so the pre-tokens are "a", " b", ...
  const std::string text = "low lower lowest newer newest wider low low lower newest newest widest";
  std::map<std::string, long> words;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find(' ', start + 1);
    words[text.substr(start, end - start)] += 1;
    if (end == std::string::npos) break;
    start = end;
  }
  BpeTrainerOptions options;
  options.vocab_size = 256 + 20 + 1;
  const auto result = train_byte_level_bpe(text, options);
  const auto expected = naive_merges(words, 20);
  const auto j = nlohmann::json::parse(result.tokenizer_json);
  const auto& merges = j["model"]["merges"];
  ASSERT_EQ(merges.size(), expected.size());
  for (std::size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(bytes_of(merges[k][0].get<std::string>()), expected[k].first) << "merge " << k;
    EXPECT_EQ(bytes_of(merges[k][1].get<std::string>()), expected[k].second) << "merge " << k;
  }
  EXPECT_EQ(result.n_merges, static_cast<std::int32_t>(expected.size()));
}

TEST(BpeTrainerTest, IsDeterministicAndStopsAtTheVocabSize) {
  BpeTrainerOptions options;
  options.vocab_size = 300;
  const auto a = train_byte_level_bpe(kText, options);
  const auto b = train_byte_level_bpe(kText, options);
  EXPECT_EQ(a.tokenizer_json, b.tokenizer_json);
  EXPECT_EQ(a.vocab_size, 300);
  EXPECT_EQ(a.n_merges, 300 - 256 - 1);
  const auto j = nlohmann::json::parse(a.tokenizer_json);
  EXPECT_EQ(j["model"]["vocab"].size(), 300u);
  EXPECT_EQ(j["added_tokens"][0]["content"], "<|endoftext|>");
  EXPECT_EQ(j["added_tokens"][0]["id"], 299);
  EXPECT_EQ(j["model"]["merges"][0].size(), 2u);  // [left, right] pairs by default
}

TEST(BpeTrainerTest, WrittenTokenizerIsReadBackAndRoundTrips) {
  BpeTrainerOptions options;
  options.vocab_size = 300;
  const auto result = train_byte_level_bpe(kText, options);
  const auto dir = std::filesystem::temp_directory_path() / "ibzoo_bpe_trainer_test";
  std::filesystem::remove_all(dir);
  write_trained_tokenizer(result, dir);
  const auto tok = Tokenizer::from_file(dir);
  EXPECT_EQ(tok.vocab_size(), 300);
  EXPECT_EQ(tok.bos_id(), 299);  // from tokenizer_config.json
  EXPECT_EQ(tok.eos_id(), 299);
  EXPECT_TRUE(tok.is_special(299));
  const auto ids = tok.encode(kText, false);
  EXPECT_LT(ids.size(), kText.size());  // merges did something
  EXPECT_EQ(tok.decode(ids), kText);
  EXPECT_EQ(tok.encode("God<|endoftext|>", false).back(), 299);
  // The same merges written as "a b" strings give the same ids.
  options.merges_as_strings = true;
  const auto strings = train_byte_level_bpe(kText, options);
  const auto tok_strings = Tokenizer::from_json(strings.tokenizer_json, "strings.json");
  EXPECT_EQ(tok_strings.encode(kText, false), ids);
  EXPECT_TRUE(nlohmann::json::parse(strings.tokenizer_json)["model"]["merges"][0].is_string());
}

TEST(BpeTrainerTest, RejectsATooSmallVocabAndBadText) {
  BpeTrainerOptions options;
  options.vocab_size = 200;
  try {
    train_byte_level_bpe(kText, options);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("too small"), std::string::npos) << e.what();
  }
  options.vocab_size = 400;
  EXPECT_THROW(train_byte_level_bpe("", options), CorruptDataError);
  try {
    train_byte_level_bpe("ab\xC3", options);
    FAIL() << "no error";
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8 at byte 2"), std::string::npos) << e.what();
  }
}

TEST(BpeTrainerTest, WriteFailureIsAWriteError) {
  const auto result = train_byte_level_bpe(kText, BpeTrainerOptions{});
  try {
    write_trained_tokenizer(result, "/proc/ibzoo_cannot_write_here");
    FAIL() << "no error";
  } catch (const WriteError& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/ibzoo_cannot_write_here"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ibzoo::hf
