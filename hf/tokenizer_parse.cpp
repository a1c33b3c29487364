// tokenizer.json -> Tokenizer::Impl. Every field is validated here, once, so that
// encoding never meets an unsupported or inconsistent part. Messages name the
// file and the JSON path (RFC 6901 style) of the offending field.
#include "errors/error.h"
#include "hf/tokenizer_parts.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace ibzoo::hf::tok {

namespace {

using nlohmann::json;

// The pre-tokenizer pattern of GPT-2 (ByteLevel with use_regex = true).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class Parser {
 public:
  Parser(const std::string& source, Tokenizer::Impl& impl) : source_(source), impl_(impl) {}
  void parse(const json& root);

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw CorruptDataError(source_ + ": " + (path.empty() ? "/" : path) + ": " + what);
  }
  static std::string describe(const json& j) {
    std::string s = j.dump();
    if (s.size() > 80) s = s.substr(0, 77) + "...";
    return s;
  }
  const json& member(const json& obj, const std::string& key, const std::string& path) const {
    if (!obj.is_object()) fail(path, "expected an object, found " + describe(obj));
    const auto it = obj.find(key);
    if (it == obj.end()) fail(path + "/" + key, "missing required field");
    return *it;
  }
  std::string string_field(const json& obj, const std::string& key, const std::string& path) const {
    const json& v = member(obj, key, path);
    if (!v.is_string()) fail(path + "/" + key, "expected a string, found " + describe(v));
    return v.get<std::string>();
  }
  bool bool_field(const json& obj, const std::string& key, const std::string& path, bool fallback) const {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(path + "/" + key, "expected true or false, found " + describe(*it));
    return it->get<bool>();
  }
  std::int32_t id_value(const json& v, const std::string& path) const {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= (std::int64_t{1} << 31) - 1) {
      fail(path, "expected a token id (an integer in [0, 2^31 - 1)), found " + describe(v));
    }
    return static_cast<std::int32_t>(v.get<std::int64_t>());
  }
  std::string type_of(const json& obj, const std::string& path) const { return string_field(obj, "type", path); }

  Pattern pattern(const json& obj, const std::string& path) const;
  void parse_model(const json& model, const std::string& path);
  void parse_merges(const json& merges, const std::string& path);
  void check_merges_present(const std::string& path) const;
  void parse_added_tokens(const json& list);
  void parse_normalizer(const json& n, const std::string& path, std::vector<NormalizerStep>& out) const;
  void parse_pre_tokenizer(const json& p, const std::string& path);
  void parse_post_processor(const json& p, const std::string& path, std::vector<std::int32_t>& prefix,
                            std::vector<std::int32_t>& suffix) const;
  void parse_decoder(const json& d, const std::string& path);
  std::int32_t special_id(const json& pair, const std::string& path) const;
  void build_tables();
  void build_matchers();

  const std::string& source_;
  Tokenizer::Impl& impl_;
  std::vector<AddedToken> added_;
};

Pattern Parser::pattern(const json& obj, const std::string& path) const {
  if (!obj.is_object() || obj.size() != 1) fail(path, "expected {\"String\": ...} or {\"Regex\": ...}, found " + describe(obj));
  Pattern p;
  if (obj.contains("String")) {
    p.literal = string_field(obj, "String", path);
    if (p.literal.empty()) fail(path + "/String", "the pattern is empty");
    return p;
  }
  const std::string regex = string_field(obj, "Regex", path);
  try {
    p.regex = std::make_shared<const Regex>(regex);
  } catch (const Error& e) {
    fail(path + "/Regex", e.what());
  }
  return p;
}

void Parser::parse_model(const json& model, const std::string& path) {
  if (!model.is_object()) fail(path, "expected an object, found " + describe(model));
  const auto type_it = model.find("type");
  const std::string type = type_it != model.end() && type_it->is_string() ? type_it->get<std::string>() : "";
  if (type != "BPE" && !(type.empty() && model.contains("merges"))) {
    fail(path + "/type", "model type '" + type + "' is not supported; ibzoo reads BPE models only "
                         "(byte-level BPE and SentencePiece-style BPE with byte_fallback)");
  }
  const json& vocab = member(model, "vocab", path);
  if (!vocab.is_object()) fail(path + "/vocab", "expected an object of token -> id, found " + describe(vocab));
  BpeModel& m = impl_.model;
  m.vocab.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    m.vocab.emplace(token, id_value(id, path + "/vocab/" + token));
  }
  const auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() && !(dropout->is_number() && dropout->get<double>() == 0.0)) {
    fail(path + "/dropout", "BPE dropout makes encoding random; found " + describe(*dropout) + ", expected null");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto it = model.find(key);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty())) {
      fail(path + "/" + key, "is " + describe(*it) + "; only null or \"\" is supported");
    }
  }
  m.fuse_unk = bool_field(model, "fuse_unk", path, false);
  m.byte_fallback = bool_field(model, "byte_fallback", path, false);
  m.ignore_merges = bool_field(model, "ignore_merges", path, false);
  const auto unk = model.find("unk_token");
  if (unk != model.end() && !unk->is_null()) {
    if (!unk->is_string()) fail(path + "/unk_token", "expected a string or null, found " + describe(*unk));
    const auto it = m.vocab.find(unk->get<std::string>());
    if (it != m.vocab.end()) m.unk_id = it->second;
  }
  parse_merges(member(model, "merges", path), path + "/merges");
}

void Parser::parse_merges(const json& merges, const std::string& path) {
  if (!merges.is_array()) fail(path, "expected an array of merges, found " + describe(merges));
  BpeModel& m = impl_.model;
  m.merges.reserve(merges.size());
  const auto lookup = [&](const std::string& token, const std::string& item_path) {
    const auto it = m.vocab.find(token);
    if (it == m.vocab.end()) fail(item_path, "token '" + token + "' is not in /model/vocab");
    return it->second;
  };
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const json& item = merges[rank];
    const std::string item_path = path + "/" + std::to_string(rank);
    std::string left;
    std::string right;
    if (item.is_string()) {
      const std::string s = item.get<std::string>();
      const auto space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        fail(item_path, "expected \"LEFT RIGHT\" with exactly one space, found " + describe(item));
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (item.is_array() && item.size() == 2 && item[0].is_string() && item[1].is_string()) {
      left = item[0].get<std::string>();
      right = item[1].get<std::string>();
    } else {
      fail(item_path, "expected a merge as \"LEFT RIGHT\" or [\"LEFT\", \"RIGHT\"], found " + describe(item));
    }
    const auto left_id = static_cast<std::uint32_t>(lookup(left, item_path));
    const auto right_id = static_cast<std::uint32_t>(lookup(right, item_path));
    const std::int32_t new_id = lookup(left + right, item_path);
    // The first occurrence of a pair wins, as in `tokenizers`.
    m.merges.emplace((std::uint64_t{left_id} << 32) | right_id, MergeTarget{static_cast<std::int32_t>(rank), new_id});
  }
}

// A BPE whose vocabulary holds more than single characters can only produce
// those tokens through merges. Zero merges then means the file was read wrong
// (e.g. a merges format the writer did not expect), not that none exist.
void Parser::check_merges_present(const std::string& path) const {
  const BpeModel& m = impl_.model;
  if (!m.merges.empty() || m.ignore_merges) return;
  std::set<std::string> added;
  for (const auto& t : added_) added.insert(t.content);
  std::size_t n_multi = 0;
  for (const auto& [token, id] : m.vocab) {
    if (added.count(token) != 0) continue;
    std::size_t pos = 0;
    std::size_t n_chars = 0;
    while (pos < token.size() && n_chars < 2) {
      io::unicode::decode_at(token, pos);
      ++n_chars;
    }
    const bool byte_token = token.size() == 6 && token.rfind("<0x", 0) == 0 && token.back() == '>';
    if (n_chars > 1 && !byte_token) ++n_multi;
  }
  if (m.vocab.size() > 256 + added.size() && n_multi > 0) {
    fail(path, "is empty, but /model/vocab has " + std::to_string(m.vocab.size()) + " tokens, " +
                   std::to_string(n_multi) + " of them longer than one character, which only merges can "
                   "produce; the merges were lost or written in a format this file's writer did not expect");
  }
}

void Parser::parse_added_tokens(const json& list) {
  if (list.is_null()) return;
  if (!list.is_array()) fail("/added_tokens", "expected an array, found " + describe(list));
  for (std::size_t k = 0; k < list.size(); ++k) {
    const std::string path = "/added_tokens/" + std::to_string(k);
    AddedToken t;
    t.id = id_value(member(list[k], "id", path), path + "/id");
    t.content = string_field(list[k], "content", path);
    if (t.content.empty()) fail(path + "/content", "an added token cannot be empty");
    if (io::unicode::first_invalid_utf8(t.content)) fail(path + "/content", "is not valid UTF-8");
    t.special = bool_field(list[k], "special", path, false);
    t.lstrip = bool_field(list[k], "lstrip", path, false);
    t.rstrip = bool_field(list[k], "rstrip", path, false);
    t.single_word = bool_field(list[k], "single_word", path, false);
    t.normalized = bool_field(list[k], "normalized", path, !t.special);
    const auto in_vocab = impl_.model.vocab.find(t.content);
    if (in_vocab != impl_.model.vocab.end() && in_vocab->second != t.id) {
      fail(path, "token '" + t.content + "' has id " + std::to_string(t.id) + " but id " +
                     std::to_string(in_vocab->second) + " in /model/vocab");
    }
    added_.push_back(std::move(t));
  }
}

void Parser::parse_normalizer(const json& n, const std::string& path, std::vector<NormalizerStep>& out) const {
  if (n.is_null()) return;
  const std::string type = type_of(n, path);
  if (type == "Sequence") {
    const json& list = member(n, "normalizers", path);
    if (!list.is_array()) fail(path + "/normalizers", "expected an array, found " + describe(list));
    for (std::size_t k = 0; k < list.size(); ++k) parse_normalizer(list[k], path + "/normalizers/" + std::to_string(k), out);
  } else if (type == "NFC") {
    out.emplace_back(NormalizeStep{io::unicode::NormalForm::kNfc});
  } else if (type == "NFKC") {
    out.emplace_back(NormalizeStep{io::unicode::NormalForm::kNfkc});
  } else if (type == "NFD") {
    out.emplace_back(NormalizeStep{io::unicode::NormalForm::kNfd});
  } else if (type == "NFKD") {
    out.emplace_back(NormalizeStep{io::unicode::NormalForm::kNfkd});
  } else if (type == "Lowercase") {
    out.emplace_back(LowercaseStep{});
  } else if (type == "Replace") {
    out.emplace_back(ReplaceStep{pattern(member(n, "pattern", path), path + "/pattern"), string_field(n, "content", path)});
  } else if (type == "Prepend") {
    out.emplace_back(PrependStep{string_field(n, "prepend", path)});
  } else if (type == "Strip") {
    out.emplace_back(StripStep{bool_field(n, "strip_left", path, false), bool_field(n, "strip_right", path, false)});
  } else {
    fail(path + "/type", "normalizer '" + type + "' is not supported (supported: NFC, NFKC, NFD, NFKD, "
                         "Lowercase, Replace, Prepend, Strip, Sequence)");
  }
}

void Parser::parse_pre_tokenizer(const json& p, const std::string& path) {
  if (p.is_null()) return;
  auto& steps = impl_.pre_tokenizer;
  if (impl_.byte_level) fail(path, "a pre-tokenizer after ByteLevel is not supported; ByteLevel must come last");
  const std::string type = type_of(p, path);
  const auto regex = [&](const char* pattern_text) { return Pattern{"", std::make_shared<const Regex>(pattern_text)}; };
  if (type == "Sequence") {
    const json& list = member(p, "pretokenizers", path);
    if (!list.is_array()) fail(path + "/pretokenizers", "expected an array, found " + describe(list));
    for (std::size_t k = 0; k < list.size(); ++k) parse_pre_tokenizer(list[k], path + "/pretokenizers/" + std::to_string(k));
  } else if (type == "ByteLevel") {
    ByteLevelStep step;
    step.add_prefix_space = bool_field(p, "add_prefix_space", path, false);
    if (bool_field(p, "use_regex", path, true)) step.regex = std::make_shared<const Regex>(kGpt2Pattern);
    steps.emplace_back(std::move(step));
    impl_.byte_level = true;
  } else if (type == "Split") {
    SplitStep step{pattern(member(p, "pattern", path), path + "/pattern"), SplitBehavior::kIsolated,
                   bool_field(p, "invert", path, false)};
    const std::string behavior = string_field(p, "behavior", path);
    if (behavior == "Removed") step.behavior = SplitBehavior::kRemoved;
    else if (behavior == "Isolated") step.behavior = SplitBehavior::kIsolated;
    else if (behavior == "MergedWithPrevious") step.behavior = SplitBehavior::kMergedWithPrevious;
    else if (behavior == "MergedWithNext") step.behavior = SplitBehavior::kMergedWithNext;
    else if (behavior == "Contiguous") step.behavior = SplitBehavior::kContiguous;
    else fail(path + "/behavior", "unknown split behavior '" + behavior + "' (expected Removed, Isolated, "
                                  "MergedWithPrevious, MergedWithNext or Contiguous)");
    steps.emplace_back(std::move(step));
  } else if (type == "Metaspace") {
    MetaspaceStep step;
    if (p.contains("replacement")) step.replacement = string_field(p, "replacement", path);
    else if (p.contains("str_rep")) step.replacement = string_field(p, "str_rep", path);
    if (p.contains("prepend_scheme") && !p["prepend_scheme"].is_null()) {
      const std::string scheme = string_field(p, "prepend_scheme", path);
      if (scheme == "always") step.prepend = PrependScheme::kAlways;
      else if (scheme == "first") step.prepend = PrependScheme::kFirst;
      else if (scheme == "never") step.prepend = PrependScheme::kNever;
      else fail(path + "/prepend_scheme", "expected always, first or never, found '" + scheme + "'");
    } else {
      step.prepend = bool_field(p, "add_prefix_space", path, true) ? PrependScheme::kAlways : PrependScheme::kNever;
    }
    step.split = bool_field(p, "split", path, true);
    steps.emplace_back(std::move(step));
  } else if (type == "Digits") {
    const bool individual = bool_field(p, "individual_digits", path, false);
    steps.emplace_back(SplitStep{regex(individual ? R"(\p{N})" : R"(\p{N}+)"), SplitBehavior::kIsolated, false});
  } else if (type == "Whitespace") {
    steps.emplace_back(SplitStep{regex(R"(\w+|[^\w\s]+)"), SplitBehavior::kRemoved, true});
  } else if (type == "WhitespaceSplit") {
    steps.emplace_back(SplitStep{regex(R"(\s+)"), SplitBehavior::kRemoved, false});
  } else {
    fail(path + "/type", "pre-tokenizer '" + type + "' is not supported (supported: ByteLevel, Split, "
                         "Metaspace, Digits, Whitespace, WhitespaceSplit, Sequence)");
  }
}

std::int32_t Parser::special_id(const json& pair, const std::string& path) const {
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string()) {
    fail(path, "expected [\"TOKEN\", id], found " + describe(pair));
  }
  return id_value(pair[1], path + "/1");
}

void Parser::parse_post_processor(const json& p, const std::string& path, std::vector<std::int32_t>& prefix,
                                  std::vector<std::int32_t>& suffix) const {
  if (p.is_null()) return;
  const std::string type = type_of(p, path);
  std::vector<std::int32_t> before;
  std::vector<std::int32_t> after;
  if (type == "Sequence") {
    const json& list = member(p, "processors", path);
    if (!list.is_array()) fail(path + "/processors", "expected an array, found " + describe(list));
    for (std::size_t k = 0; k < list.size(); ++k) {
      parse_post_processor(list[k], path + "/processors/" + std::to_string(k), prefix, suffix);
    }
    return;
  }
  if (type == "ByteLevel") return;  // offsets only; adds no tokens
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    before.push_back(special_id(member(p, "cls", path), path + "/cls"));
    after.push_back(special_id(member(p, "sep", path), path + "/sep"));
  } else if (type == "TemplateProcessing") {
    const json& single = member(p, "single", path);
    const json& specials = member(p, "special_tokens", path);
    if (!single.is_array()) fail(path + "/single", "expected an array, found " + describe(single));
    bool seen_sequence = false;
    for (std::size_t k = 0; k < single.size(); ++k) {
      const std::string item_path = path + "/single/" + std::to_string(k);
      if (single[k].contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      const std::string name = string_field(member(single[k], "SpecialToken", item_path), "id", item_path + "/SpecialToken");
      const json& entry = member(specials, name, path + "/special_tokens");
      const json& ids = member(entry, "ids", path + "/special_tokens/" + name);
      if (!ids.is_array()) fail(path + "/special_tokens/" + name + "/ids", "expected an array of ids");
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto id = id_value(ids[i], path + "/special_tokens/" + name + "/ids/" + std::to_string(i));
        (seen_sequence ? after : before).push_back(id);
      }
    }
    if (!seen_sequence) fail(path + "/single", "has no {\"Sequence\": ...} item for the text");
  } else {
    fail(path + "/type", "post-processor '" + type + "' is not supported (supported: TemplateProcessing, "
                         "RobertaProcessing, BertProcessing, ByteLevel, Sequence)");
  }
  // A later processor wraps the output of the earlier ones.
  prefix.insert(prefix.begin(), before.begin(), before.end());
  suffix.insert(suffix.end(), after.begin(), after.end());
}

void Parser::parse_decoder(const json& d, const std::string& path) {
  if (d.is_null()) return;
  impl_.has_decoder = true;
  const std::string type = type_of(d, path);
  auto& steps = impl_.decoder;
  if (type == "Sequence") {
    const json& list = member(d, "decoders", path);
    if (!list.is_array()) fail(path + "/decoders", "expected an array, found " + describe(list));
    for (std::size_t k = 0; k < list.size(); ++k) parse_decoder(list[k], path + "/decoders/" + std::to_string(k));
  } else if (type == "ByteLevel") {
    steps.emplace_back(ByteLevelDecode{});
  } else if (type == "Metaspace") {
    MetaspaceDecode step;
    if (d.contains("replacement")) step.replacement = string_field(d, "replacement", path);
    if (d.contains("prepend_scheme") && !d["prepend_scheme"].is_null()) {
      step.strip_first_space = string_field(d, "prepend_scheme", path) != "never";
    } else {
      step.strip_first_space = bool_field(d, "add_prefix_space", path, true);
    }
    steps.emplace_back(std::move(step));
  } else if (type == "Replace") {
    steps.emplace_back(ReplaceDecode{pattern(member(d, "pattern", path), path + "/pattern"), string_field(d, "content", path)});
  } else if (type == "ByteFallback") {
    steps.emplace_back(ByteFallbackDecode{});
  } else if (type == "Fuse") {
    steps.emplace_back(FuseDecode{});
  } else if (type == "Strip") {
    const auto count = [&](const char* key) {
      const json& v = member(d, key, path);
      if (!v.is_number_unsigned()) fail(path + "/" + key, "expected a count, found " + describe(v));
      return v.get<std::size_t>();
    };
    steps.emplace_back(StripDecode{string_field(d, "content", path), count("start"), count("stop")});
  } else {
    fail(path + "/type", "decoder '" + type + "' is not supported (supported: ByteLevel, Metaspace, Replace, "
                         "ByteFallback, Fuse, Strip, Sequence)");
  }
}

void Parser::build_tables() {
  BpeModel& m = impl_.model;
  std::int32_t max_id = -1;
  for (const auto& [token, id] : m.vocab) max_id = std::max(max_id, id);
  for (const auto& t : added_) max_id = std::max(max_id, t.id);
  const auto n_ids = static_cast<std::size_t>(max_id + 1);
  impl_.id_to_token.assign(n_ids, std::string());
  impl_.special.assign(n_ids, 0);
  std::vector<char> seen(n_ids, 0);
  for (const auto& [token, id] : m.vocab) {
    const auto idx = static_cast<std::size_t>(id);
    if (seen[idx] != 0) {
      fail("/model/vocab/" + token, "id " + std::to_string(id) + " is also used by token '" + impl_.id_to_token[idx] + "'");
    }
    seen[idx] = 1;
    impl_.id_to_token[idx] = token;
  }
  for (const auto& t : added_) {
    const auto idx = static_cast<std::size_t>(t.id);
    impl_.id_to_token[idx] = t.content;
    impl_.special[idx] = t.special ? 1 : 0;
  }
  m.byte_fallback_ids.fill(-1);
  m.byte_level_ids.fill(-1);
  static const char* kHex = "0123456789ABCDEF";
  for (std::size_t b = 0; b < 256; ++b) {
    const std::string name = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
    if (const auto it = m.vocab.find(name); it != m.vocab.end()) m.byte_fallback_ids[b] = it->second;
    if (const auto it = m.vocab.find(io::unicode::byte_to_char()[b]); it != m.vocab.end()) m.byte_level_ids[b] = it->second;
  }
}

void Parser::build_matchers() {
  for (const auto& t : added_) {
    AddedMatcher& matcher = t.normalized && !impl_.normalizer.empty() ? impl_.added_normalized : impl_.added_raw;
    AddedToken copy = t;
    // `tokenizers` matches normalized tokens by their normalised content.
    if (&matcher == &impl_.added_normalized) copy.content = apply_normalizer(impl_.normalizer, copy.content);
    if (copy.content.empty()) continue;
    matcher.tokens.push_back(std::move(copy));
  }
  for (AddedMatcher* matcher : {&impl_.added_raw, &impl_.added_normalized}) {
    for (std::size_t k = 0; k < matcher->tokens.size(); ++k) {
      const auto first = static_cast<unsigned char>(matcher->tokens[k].content[0]);
      matcher->by_first[first].push_back(static_cast<std::int32_t>(k));
    }
    for (auto& bucket : matcher->by_first) {
      std::stable_sort(bucket.begin(), bucket.end(), [&](std::int32_t a, std::int32_t b) {
        return matcher->tokens[static_cast<std::size_t>(a)].content.size() >
               matcher->tokens[static_cast<std::size_t>(b)].content.size();
      });
    }
  }
}

void Parser::parse(const json& root) {
  if (!root.is_object()) fail("", "expected a JSON object at the top level, found " + describe(root));
  parse_model(member(root, "model", ""), "/model");
  parse_added_tokens(root.value("added_tokens", json()));
  check_merges_present("/model/merges");
  parse_normalizer(root.value("normalizer", json()), "/normalizer", impl_.normalizer);
  parse_pre_tokenizer(root.value("pre_tokenizer", json()), "/pre_tokenizer");
  parse_post_processor(root.value("post_processor", json()), "/post_processor", impl_.post_prefix, impl_.post_suffix);
  parse_decoder(root.value("decoder", json()), "/decoder");
  build_tables();
  build_matchers();
}

}  // namespace

void parse_tokenizer_json(std::string_view json_text, const std::string& source_name, Tokenizer::Impl& impl) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number past double
    throw CorruptDataError(source_name + ": not valid JSON (" + e.what() +
                           "); the file is truncated or not a tokenizer.json");
  }
  Parser(source_name, impl).parse(root);
}

}  // namespace ibzoo::hf::tok
