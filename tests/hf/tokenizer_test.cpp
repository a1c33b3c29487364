// Hand-made tokenizer.json fixtures with ids derived by hand (see the comments
// next to each expectation), the merges formats, added tokens, byte fallback,
// decoding, and every error path with its message.
#include "hf/tokenizer.h"

#include "errors/error.h"
#include "io/unicode.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ibzoo::hf {
namespace {

namespace unicode = io::unicode;

using Ids = std::vector<std::int32_t>;
const std::string kDir = std::string(IBZOO_FIXTURES) + "/tokenizers/";

nlohmann::json load_json(const std::string& name) {
  std::ifstream in(kDir + name);
  return nlohmann::json::parse(in);
}

Tokenizer from(const nlohmann::json& j) { return Tokenizer::from_json(j.dump(), "test.json"); }

// Every byte-level char as a token (ids = byte values), plus `merged` tokens
// made by `merges` (strings "a b") in order, ids from 256.
nlohmann::json byte_level_alphabet(const std::vector<std::string>& merges) {
  nlohmann::json vocab = nlohmann::json::object();
  for (std::size_t b = 0; b < 256; ++b) vocab[unicode::byte_to_char()[b]] = b;
  std::int32_t next = 256;
  for (const auto& m : merges) vocab[m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1)] = next++;
  const nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  return {{"added_tokens", nlohmann::json::array()}, {"normalizer", nullptr}, {"pre_tokenizer", byte_level},
          {"post_processor", nullptr}, {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// tiny_bpe.json ids: Ġ0 h1 e2 l3 o4 w5 r6 d7 !8 ll9 he10 hell11 hello12 Ġw13 or14 Ġwor15
// Ġworl16 Ġworld17 Ġh18 <|endoftext|>19; merges ranked as listed in the file.
TEST(TokenizerTest, EncodesByteLevelBpeAsDerivedByHand) {
  const auto tok = Tokenizer::from_file(kDir + "tiny_bpe.json");
  // "hello" + " world": both fully merged.
  EXPECT_EQ(tok.encode("hello world", false), (Ids{12, 17}));
  // " hello": "h e" (rank 1) beats "Ġ h" (rank 9), so Ġ stays alone: Ġ + hello.
  EXPECT_EQ(tok.encode("hello hello", false), (Ids{12, 0, 12}));
  // "world" without a leading space: only "o r" applies; "!" is its own pre-token.
  EXPECT_EQ(tok.encode("world!", false), (Ids{5, 14, 3, 7, 8}));
  // Bytes with no token (no unk_token) are dropped, as in `tokenizers`.
  EXPECT_EQ(tok.encode("hz", false), (Ids{1}));
  EXPECT_EQ(tok.vocab_size(), 20);
}

TEST(TokenizerTest, MatchesSpecialTokensInTheTextBeforePreTokenizing) {
  const auto tok = Tokenizer::from_file(kDir + "tiny_bpe.json");
  EXPECT_EQ(tok.encode("hello<|endoftext|>hello", false), (Ids{12, 19, 12}));
  EXPECT_EQ(tok.encode("<|endoftext|>", true), (Ids{19}));  // ByteLevel post-processor adds nothing
  EXPECT_TRUE(tok.is_special(19));
  EXPECT_FALSE(tok.is_special(12));
  EXPECT_FALSE(tok.bos_id().has_value());
}

TEST(TokenizerTest, ReadsAModelDirectoryAndItsTokenizerConfig) {
  const auto tok = Tokenizer::from_file(kDir + "model_dir_tiny");
  EXPECT_EQ(tok.path().filename(), "tokenizer.json");
  EXPECT_EQ(tok.bos_id(), 19);
  EXPECT_EQ(tok.eos_id(), 19);
  EXPECT_EQ(tok.encode("hello world", true), (Ids{12, 17}));
  const auto direct = Tokenizer::from_file(kDir + "tiny_bpe.json");
  EXPECT_EQ(tok.sha256(), direct.sha256());
  EXPECT_EQ(tok.sha256().size(), 64u);
}

TEST(TokenizerTest, BothMergesFormatsGiveIdenticalIds) {
  nlohmann::json strings = load_json("tiny_bpe.json");
  nlohmann::json pairs = strings;
  pairs["model"]["merges"] = nlohmann::json::array();
  for (const auto& m : strings["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    pairs["model"]["merges"].push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  const auto a = from(strings);
  const auto b = from(pairs);
  for (const char* text : {"hello world", "hello hello", "world!", "helloworld hell"}) {
    EXPECT_EQ(a.encode(text, false), b.encode(text, false)) << text;
  }
  EXPECT_EQ(a.encode("hello world", false), (Ids{12, 17}));
}

TEST(TokenizerTest, Gpt2RegexKeepsTheLastSpaceOfARunForTheNextWord) {
  // Alphabet ids are byte values (space = 32); merge "Ġ Ġ" makes id 256. "a  b"
  // splits as "a", " ", " b" (\s+(?!\S)), so the two spaces never meet; a
  // trailing run "  " stays one pre-token and merges.
  const auto tok = from(byte_level_alphabet({"Ġ Ġ"}));
  EXPECT_EQ(tok.encode("a  b", false), (Ids{97, 32, 32, 98}));
  EXPECT_EQ(tok.encode("a  ", false), (Ids{97, 256}));
  // Contractions split off: "I'm" -> "I", "'m".
  const auto tok2 = from(byte_level_alphabet({"' m", "I '"}));
  EXPECT_EQ(tok2.encode("I'm", false), (Ids{73, 256}));
}

TEST(TokenizerTest, AddPrefixSpaceAddsOneSpaceToEachSegment) {
  nlohmann::json j = load_json("tiny_bpe.json");
  j["pre_tokenizer"]["add_prefix_space"] = true;
  const auto tok = from(j);
  // " hello" -> Ġ hello (see above), " world" -> Ġworld.
  EXPECT_EQ(tok.encode("hello world", false), (Ids{0, 12, 17}));
  EXPECT_EQ(tok.encode(" world", false), (Ids{17}));  // already starts with a space
}

TEST(TokenizerTest, Llama3StyleSplitThenByteLevelWithTemplateBos) {
  nlohmann::json j = load_json("tiny_bpe.json");
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {
      {{"type", "Split"}, {"behavior", "Isolated"}, {"invert", false},
       {"pattern", {{"Regex", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}}},
      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  j["added_tokens"].push_back({{"id", 20}, {"content", "<|begin_of_text|>"}, {"special", true}, {"normalized", false}});
  j["post_processor"] = {{"type", "Sequence"}, {"processors", {
      {{"type", "ByteLevel"}},
      {{"type", "TemplateProcessing"},
       {"single", {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
       {"special_tokens", {{"<|begin_of_text|>", {{"id", "<|begin_of_text|>"}, {"ids", {20}}, {"tokens", {"<|begin_of_text|>"}}}}}}}}}};
  const auto tok = from(j);
  EXPECT_EQ(tok.encode("hello world", false), (Ids{12, 17}));
  EXPECT_EQ(tok.encode("hello world", true), (Ids{20, 12, 17}));
  // "!hello": [^\r\n\p{L}\p{N}]?\p{L}+ takes "!hello" as one pre-token; no merge joins "!" and "h".
  EXPECT_EQ(tok.encode("!hello", false), (Ids{8, 12}));
  EXPECT_EQ(tok.bos_id(), 20);
  EXPECT_FALSE(tok.eos_id().has_value());
}

TEST(TokenizerTest, IgnoreMergesTakesWholeWordsFromTheVocab) {
  nlohmann::json j = load_json("tiny_bpe.json");
  // "hel" + "lo" as a vocab token with no merge path: found only through ignore_merges.
  j["model"]["vocab"]["hellohello"] = 21;
  EXPECT_EQ(from(j).encode("hellohello", false), (Ids{12, 12}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(from(j).encode("hellohello", false), (Ids{21}));
}

TEST(TokenizerTest, AddedTokensHonourLstripRstripAndSingleWord) {
  nlohmann::json j = load_json("tiny_bpe.json");
  j["added_tokens"].push_back({{"id", 20}, {"content", "wd"}, {"special", false}, {"normalized", false},
                               {"single_word", true}});
  j["added_tokens"].push_back({{"id", 21}, {"content", "<m>"}, {"special", true}, {"normalized", false},
                               {"lstrip", true}, {"rstrip", true}});
  const auto tok = from(j);
  // "wd" inside "hellowd" is not a single word: the added token is skipped (BPE: hello w d).
  EXPECT_EQ(tok.encode("hellowd", false), (Ids{12, 5, 7}));
  EXPECT_EQ(tok.encode("h wd", false), (Ids{1, 0, 20}));
  // lstrip/rstrip swallow the spaces around <m>.
  EXPECT_EQ(tok.encode("hello  <m>  world", false), (Ids{12, 21, 5, 14, 3, 7}));
  // Longest match first: "<|endoftext|>" is found even with "<m>" sharing the first byte.
  EXPECT_EQ(tok.encode("<m><|endoftext|>", false), (Ids{21, 19}));
}

// sp_byte_fallback.json ids: <unk>0 <s>1 </s>2 <0x00>..<0xFF> 3..258 ▁259 h260 i261 t262
// ▁h263 ▁hi264 ▁t265 hi266; merges (▁,h) (▁h,i) (▁,t) (h,i); Prepend "▁" + Replace " " -> "▁".
TEST(TokenizerTest, SentencePieceStyleBpeWithByteFallback) {
  const auto tok = Tokenizer::from_file(kDir + "sp_byte_fallback.json");
  EXPECT_EQ(tok.encode("hi hi", false), (Ids{264, 264}));
  EXPECT_EQ(tok.encode("hi hi", true), (Ids{1, 264, 264}));
  // "é" is not in the vocab: its bytes C3 A9 -> <0xC3> = 3 + 195, <0xA9> = 3 + 169.
  EXPECT_EQ(tok.encode("hé", false), (Ids{263, 198, 172}));
  // "▁t" (rank 2) is merged before "hi" (rank 3); ▁t + h cannot merge.
  EXPECT_EQ(tok.encode("thi", false), (Ids{265, 266}));
  // The special token splits the text first; the rest is normalised alone (Prepend applies).
  EXPECT_EQ(tok.encode("<s>hi", false), (Ids{1, 264}));
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.decode(Ids{264, 198, 172}), "hié");
  EXPECT_EQ(tok.decode(Ids{264, 264}), "hi hi");
  // A lone continuation byte decodes to U+FFFD.
  EXPECT_EQ(tok.decode(Ids{264, 172}), "hi\xEF\xBF\xBD");
}

TEST(TokenizerTest, MetaspacePreTokenizerMatchesThePrependNormalizer) {
  nlohmann::json j = load_json("sp_byte_fallback.json");
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", false}};
  const auto tok = from(j);
  EXPECT_EQ(tok.encode("hi hi", false), (Ids{264, 264}));
  EXPECT_EQ(tok.encode("thi", false), (Ids{265, 266}));
  // prepend_scheme "first": no "▁" after a special token in mid-text, so "hi" (266).
  EXPECT_EQ(tok.encode("<s>hi", false), (Ids{1, 266}));
}

TEST(TokenizerTest, UnknownCharactersWithoutByteTokensBecomeOneFusedUnk) {
  nlohmann::json j = load_json("sp_byte_fallback.json");
  j["model"]["byte_fallback"] = false;
  const auto tok = from(j);
  EXPECT_EQ(tok.encode("hé€", false), (Ids{263, 0}));  // fuse_unk: é€ -> one <unk>
}

TEST(TokenizerTest, DecodesByteLevelBackToTheText) {
  const auto tok = from(byte_level_alphabet({"Ġ Ġ", "h e"}));
  const std::string text = "he said\t\"héllo\" 東京  \n";
  const auto ids = tok.encode(text, false);
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_EQ(tok.id_to_token(256), "ĠĠ");
  EXPECT_EQ(tok.token_to_id("he"), 257);
}

// ---- bad inputs -----------------------------------------------------------------

TEST(TokenizerTest, MissingFileNamesThePath) {
  const std::string msg = error_of([] { Tokenizer::from_file(kDir + "does_not_exist.json"); });
  EXPECT_NE(msg.find("does_not_exist.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
  EXPECT_THROW(Tokenizer::from_file(kDir + "does_not_exist.json"), MissingInputError);
}

TEST(TokenizerTest, DirectoryWithoutTokenizerJsonIsMissingInput) {
  const auto dir = std::filesystem::temp_directory_path() / "ibzoo_tokenizer_test_empty_dir";
  std::filesystem::create_directories(dir);
  const std::string msg = error_of([&] { Tokenizer::from_file(dir); });
  EXPECT_NE(msg.find("tokenizer.json not found"), std::string::npos) << msg;
}

TEST(TokenizerTest, TruncatedJsonIsCorrupt) {
  const std::string msg = error_of([] { Tokenizer::from_file(kDir + "bad_truncated.json"); });
  EXPECT_NE(msg.find("bad_truncated.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
  EXPECT_THROW(Tokenizer::from_file(kDir + "bad_truncated.json"), CorruptDataError);
}

TEST(TokenizerTest, ANumberPastDoublesRangeIsCorruptNotACrash) {
  // nlohmann refuses 1E400 with out_of_range, not parse_error.
  const auto path = std::filesystem::temp_directory_path() / "ibzoo_tokenizer_test_overflow.json";
  std::ofstream(path) << R"({"model": {"type": "BPE", "vocab": {"a": 1E400}, "merges": []}})";
  const std::string msg = error_of([&] { Tokenizer::from_file(path); });
  std::filesystem::remove(path);
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
}

TEST(TokenizerTest, ZeroMergesWithAMultiCharacterVocabIsAnError) {
  const std::string msg = error_of([] { Tokenizer::from_file(kDir + "bad_no_merges.json"); });
  EXPECT_NE(msg.find("/model/merges"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is empty"), std::string::npos) << msg;
  EXPECT_NE(msg.find("only merges can produce"), std::string::npos) << msg;
}

TEST(TokenizerTest, MissingMergesFieldIsAnError) {
  nlohmann::json j = load_json("tiny_bpe.json");
  j["model"].erase("merges");
  const std::string msg = error_of([&] { from(j); });
  EXPECT_NE(msg.find("/model/merges: missing required field"), std::string::npos) << msg;
}

TEST(TokenizerTest, UnknownModelTypeIsAnError) {
  const std::string msg = error_of([] { Tokenizer::from_file(kDir + "bad_wordpiece.json"); });
  EXPECT_NE(msg.find("/model/type"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'WordPiece' is not supported"), std::string::npos) << msg;
}

TEST(TokenizerTest, MergeWithAnUnknownTokenIsAnError) {
  const std::string msg = error_of([] { Tokenizer::from_file(kDir + "bad_unknown_merge_token.json"); });
  EXPECT_NE(msg.find("/model/merges/10"), std::string::npos) << msg;
  EXPECT_NE(msg.find("token 'zz' is not in /model/vocab"), std::string::npos) << msg;
}

TEST(TokenizerTest, MergeStringWithoutOneSpaceIsAnError) {
  nlohmann::json j = load_json("tiny_bpe.json");
  j["model"]["merges"][3] = "hello";
  const std::string msg = error_of([&] { from(j); });
  EXPECT_NE(msg.find("/model/merges/3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("exactly one space"), std::string::npos) << msg;
}

TEST(TokenizerTest, FileOverTheSizeLimitIsRejectedBeforeParsing) {
  TokenizerOptions options;
  options.max_file_bytes = 100;
  const std::string msg = error_of([&] { Tokenizer::from_file(kDir + "tiny_bpe.json", options); });
  EXPECT_NE(msg.find("over the limit of 100 bytes"), std::string::npos) << msg;
}

TEST(TokenizerTest, BadRegexNamesTheJsonPath) {
  const std::string msg = error_of([] { Tokenizer::from_file(kDir + "bad_regex.json"); });
  EXPECT_NE(msg.find("/pre_tokenizer/pattern/Regex"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid regular expression"), std::string::npos) << msg;
}

TEST(TokenizerTest, UnsupportedPreTokenizerIsNamed) {
  const std::string msg = error_of([] { Tokenizer::from_file(kDir + "bad_pre_tokenizer.json"); });
  EXPECT_NE(msg.find("/pre_tokenizer/type"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'BertPreTokenizer' is not supported"), std::string::npos) << msg;
}

TEST(TokenizerTest, InvalidUtf8TextIsRejectedWithItsOffset) {
  const auto tok = Tokenizer::from_file(kDir + "tiny_bpe.json");
  const std::string msg = error_of([&] { tok.encode("hel\xFFlo", false); });
  EXPECT_NE(msg.find("not valid UTF-8 at byte 3"), std::string::npos) << msg;
}

TEST(TokenizerTest, DecodingAnUnknownIdIsAnError) {
  const auto tok = Tokenizer::from_file(kDir + "tiny_bpe.json");
  const std::string msg = error_of([&] { tok.decode(Ids{12, 500}); });
  EXPECT_NE(msg.find("token id 500"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[0, 20)"), std::string::npos) << msg;
}

TEST(TokenizerTest, AddedTokenIdDisagreeingWithTheVocabIsAnError) {
  nlohmann::json j = load_json("tiny_bpe.json");
  j["added_tokens"][0]["content"] = "hello";  // id 19, but "hello" is 12 in the vocab
  const std::string msg = error_of([&] { from(j); });
  EXPECT_NE(msg.find("/added_tokens/0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("id 12 in /model/vocab"), std::string::npos) << msg;
}

}  // namespace
}  // namespace ibzoo::hf
