// Parity with Hugging Face `tokenizers`: for every family under
// tests/fixtures/models/<family>/ with reference ids in
// tests/fixtures/reference/<family>_tokens.json (made by tokenizers 0.23 on the
// CUDA machine, docs/FIXTURES.md), our ids must be identical for every text,
// with and without special tokens, and also after rewriting the merges in the
// other format ("a b" strings instead of [a, b] pairs).
#include "hf/tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace ibzoo::hf {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<std::int32_t>;

const fs::path kFixtures = IBZOO_FIXTURES;

std::vector<std::string> families() {
  std::vector<std::string> out;
  const fs::path dir = kFixtures / "reference";
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = "_tokens.json";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void expect_parity(const Tokenizer& tok, const nlohmann::json& ref, const std::string& label) {
  const auto& texts = ref.at("texts");
  ASSERT_EQ(texts.size(), ref.at("ids").size()) << label;
  for (std::size_t k = 0; k < texts.size(); ++k) {
    const std::string text = texts[k].get<std::string>();
    EXPECT_EQ(tok.encode(text, false), ref["ids"][k].get<Ids>()) << label << " text " << k << ": " << text;
    EXPECT_EQ(tok.encode(text, true), ref["ids_with_special"][k].get<Ids>()) << label << " text " << k << " (special)";
  }
}

TEST(TokenizerParityTest, EveryReferenceFamilyHasIdenticalIds) {
  const auto names = families();
  if (!fs::exists(kFixtures / "reference")) GTEST_SKIP() << "no tests/fixtures/reference yet";
  ASSERT_FALSE(names.empty()) << "tests/fixtures/reference exists but holds no <family>_tokens.json";
  for (const auto& family : names) {
    const fs::path model_dir = kFixtures / "models" / family;
    ASSERT_TRUE(fs::exists(model_dir / "tokenizer.json")) << family << ": no " << (model_dir / "tokenizer.json");
    const auto tok = Tokenizer::from_file(model_dir);
    expect_parity(tok, read_json(kFixtures / "reference" / (family + "_tokens.json")), family);
  }
}

TEST(TokenizerParityTest, MergesRewrittenInTheOtherFormatGiveTheSameIds) {
  for (const auto& family : families()) {
    nlohmann::json j = read_json(kFixtures / "models" / family / "tokenizer.json");
    auto& merges = j["model"]["merges"];
    ASSERT_FALSE(merges.empty()) << family;
    nlohmann::json other = nlohmann::json::array();
    for (const auto& m : merges) {
      if (m.is_array()) {
        other.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        const std::string s = m.get<std::string>();
        other.push_back(nlohmann::json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)}));
      }
    }
    merges = other;
    const auto tok = Tokenizer::from_json(j.dump(), family + " (merges rewritten)");
    expect_parity(tok, read_json(kFixtures / "reference" / (family + "_tokens.json")), family + " rewritten");
  }
}

TEST(TokenizerParityTest, DecodeRoundTripsTheReferenceTexts) {
  // Byte-level families reproduce the text exactly (NFC families: up to NFC).
  for (const std::string family : {"gpt2", "llama", "olmo2", "smollm2"}) {
    const fs::path dir = kFixtures / "models" / family;
    if (!fs::exists(dir)) continue;
    const auto tok = Tokenizer::from_file(dir);
    const auto ref = read_json(kFixtures / "reference" / (family + "_tokens.json"));
    for (const auto& text : ref.at("texts")) {
      const std::string s = text.get<std::string>();
      EXPECT_EQ(tok.decode(tok.encode(s, false)), s) << family;
    }
  }
}

}  // namespace
}  // namespace ibzoo::hf
