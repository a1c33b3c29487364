// Encoding and decoding with a parsed tokenizer.json, in the order `tokenizers`
// uses: added tokens -> normalizer -> pre-tokenizer -> BPE per word -> post-processor.
#include "hf/tokenizer.h"

#include "errors/error.h"
#include "io/fs.h"
#include "hf/tokenizer_parts.h"


#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <tuple>

namespace ibzoo::hf {

namespace tok {

void Pattern::find_all(std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& out) const {
  if (regex) {
    regex->find_all(text, out);
    return;
  }
  for (std::size_t pos = text.find(literal); pos != std::string_view::npos; pos = text.find(literal, pos)) {
    out.emplace_back(pos, pos + literal.size());
    pos += literal.size();
  }
}

std::string replace_all(const Pattern& pattern, std::string_view text, std::string_view content) {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  pattern.find_all(text, matches);
  if (matches.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::size_t last = 0;
  for (const auto& [begin, end] : matches) {
    out.append(text.substr(last, begin - last));
    out.append(content);
    last = end;
  }
  out.append(text.substr(last));
  return out;
}

namespace {

std::string strip(std::string_view text, bool left, bool right) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  if (left) {
    while (begin < end) {
      std::size_t next = begin;
      if (!io::unicode::is_whitespace(io::unicode::decode_at(text, next))) break;
      begin = next;
    }
  }
  if (right) {
    while (end > begin) {
      std::size_t prev = end - 1;
      while (prev > begin && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
      std::size_t probe = prev;
      if (!io::unicode::is_whitespace(io::unicode::decode_at(text, probe))) break;
      end = prev;
    }
  }
  return std::string(text.substr(begin, end - begin));
}

}  // namespace

std::string apply_normalizer(const std::vector<NormalizerStep>& steps, std::string text) {
  for (const auto& step : steps) {
    if (const auto* n = std::get_if<NormalizeStep>(&step)) {
      text = io::unicode::normalize(text, n->form);
    } else if (std::holds_alternative<LowercaseStep>(step)) {
      text = io::unicode::to_lower(text);
    } else if (const auto* r = std::get_if<ReplaceStep>(&step)) {
      text = replace_all(r->pattern, text, r->content);
    } else if (const auto* p = std::get_if<PrependStep>(&step)) {
      if (!text.empty()) text.insert(0, p->prepend);
    } else if (const auto* s = std::get_if<StripStep>(&step)) {
      text = strip(text, s->left, s->right);
    }
  }
  return text;
}

}  // namespace tok

namespace {

using tok::AddedMatcher;
using Spans = std::vector<std::pair<std::size_t, std::size_t>>;

// A stretch of text between added tokens, or one added token (token_id >= 0).
struct Segment {
  std::string text;
  std::int32_t token_id = -1;
  bool at_origin = false;  // starts at byte 0 of the input (Metaspace prepend_scheme "first")
};

struct Piece {
  std::string text;
  bool at_origin = false;
};

char32_t char_before(std::string_view text, std::size_t pos) {
  std::size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return io::unicode::decode_at(text, start);
}

std::size_t previous_char_start(std::string_view text, std::size_t pos) {
  std::size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

// Index of the longest token of `matcher` that starts at `pos`, or -1.
std::int32_t longest_match_at(const AddedMatcher& matcher, std::string_view text, std::size_t pos) {
  for (const std::int32_t idx : matcher.by_first[static_cast<unsigned char>(text[pos])]) {
    const std::string& content = matcher.tokens[static_cast<std::size_t>(idx)].content;
    if (text.compare(pos, content.size(), content) == 0) return idx;
  }
  return -1;
}

// Splits `text` on the added tokens of `matcher` (leftmost longest, as the
// Aho-Corasick automaton of `tokenizers`), honouring single_word, lstrip, rstrip.
void split_on_added(const AddedMatcher& matcher, std::string_view text, bool at_origin, std::vector<Segment>& out) {
  std::size_t pending = 0;  // start of the text not yet emitted
  std::size_t pos = 0;
  const auto emit_text = [&](std::size_t end) {
    if (end > pending) out.push_back(Segment{std::string(text.substr(pending, end - pending)), -1, at_origin && pending == 0});
  };
  while (pos < text.size()) {
    const std::int32_t idx = matcher.empty() ? -1 : longest_match_at(matcher, text, pos);
    if (idx < 0) {
      ++pos;
      continue;
    }
    const tok::AddedToken& token = matcher.tokens[static_cast<std::size_t>(idx)];
    std::size_t start = pos;
    std::size_t stop = pos + token.content.size();
    if (token.single_word) {
      const bool word_before = start > 0 && io::unicode::is_word_char(char_before(text, start));
      std::size_t probe = stop;
      const bool word_after = stop < text.size() && io::unicode::is_word_char(io::unicode::decode_at(text, probe));
      if (word_before || word_after) {
        pos = stop;
        continue;
      }
    }
    if (token.lstrip) {
      while (start > pending && io::unicode::is_whitespace(char_before(text, start))) start = previous_char_start(text, start);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        std::size_t next = stop;
        if (!io::unicode::is_whitespace(io::unicode::decode_at(text, next))) break;
        stop = next;
      }
    }
    emit_text(start);
    out.push_back(Segment{"", token.id, false});
    pending = pos = stop;
  }
  emit_text(text.size());
}

// Applies a split behavior to the spans of `piece` (delimiters flagged), as
// `tokenizers`' NormalizedString::split does.
void split_piece(const Piece& piece, const Spans& matches, tok::SplitBehavior behavior, bool invert,
                 std::vector<Piece>& out) {
  struct Span {
    std::size_t begin, end;
    bool is_delim;
  };
  std::vector<Span> spans;
  std::size_t last = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > last) spans.push_back({last, begin, invert});
    spans.push_back({begin, end, !invert});
    last = end;
  }
  if (last < piece.text.size()) spans.push_back({last, piece.text.size(), invert});

  std::vector<Span> merged;
  using B = tok::SplitBehavior;
  bool previous_delim = false;
  if (behavior == B::kMergedWithNext) {
    for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
      if (it->is_delim && !previous_delim && !merged.empty()) merged.back().begin = it->begin;
      else merged.push_back(*it);
      previous_delim = it->is_delim;
    }
    std::reverse(merged.begin(), merged.end());
  } else {
    for (const Span& s : spans) {
      if (behavior == B::kRemoved && s.is_delim) continue;
      const bool fuse = (behavior == B::kMergedWithPrevious && s.is_delim && !previous_delim) ||
                        (behavior == B::kContiguous && s.is_delim == previous_delim);
      if (fuse && !merged.empty()) merged.back().end = s.end;
      else merged.push_back(s);
      previous_delim = s.is_delim;
    }
  }
  for (const Span& s : merged) {
    out.push_back(Piece{piece.text.substr(s.begin, s.end - s.begin), piece.at_origin && s.begin == 0});
  }
}

void run_pre_tokenizer_step(const tok::PreTokenizerStep& step, std::vector<Piece>& pieces) {
  std::vector<Piece> next;
  next.reserve(pieces.size());
  Spans matches;
  for (Piece& piece : pieces) {
    matches.clear();
    if (const auto* split = std::get_if<tok::SplitStep>(&step)) {
      split->pattern.find_all(piece.text, matches);
      split_piece(piece, matches, split->behavior, split->invert, next);
    } else if (const auto* byte_level = std::get_if<tok::ByteLevelStep>(&step)) {
      if (byte_level->add_prefix_space && piece.text.rfind(' ', 0) != 0) piece.text.insert(0, " ");
      if (!byte_level->regex) {
        next.push_back(std::move(piece));
        continue;
      }
      byte_level->regex->find_all(piece.text, matches);
      split_piece(piece, matches, tok::SplitBehavior::kIsolated, false, next);
    } else if (const auto* meta = std::get_if<tok::MetaspaceStep>(&step)) {
      Piece p{tok::replace_all_literal(piece.text, " ", meta->replacement), piece.at_origin};
      const bool starts = p.text.rfind(meta->replacement, 0) == 0;
      const bool prepend = meta->prepend == tok::PrependScheme::kAlways ||
                           (meta->prepend == tok::PrependScheme::kFirst && p.at_origin);
      if (prepend && !starts) p.text.insert(0, meta->replacement);
      if (!meta->split) {
        next.push_back(std::move(p));
        continue;
      }
      tok::Pattern{meta->replacement, nullptr}.find_all(p.text, matches);
      split_piece(p, matches, tok::SplitBehavior::kMergedWithNext, false, next);
    }
  }
  pieces = std::move(next);
}

// ---- BPE --------------------------------------------------------------------

struct Symbol {
  std::int32_t id;
  std::int32_t prev;
  std::int32_t next;
  bool alive;
};

// Initial symbols of a word: one per byte (byte-level) or per character, with
// byte fallback and unknown tokens as `tokenizers` does.
std::vector<Symbol> initial_symbols(const tok::BpeModel& model, bool byte_level, std::string_view word) {
  std::vector<std::int32_t> ids;
  ids.reserve(word.size());
  bool last_was_unk = false;
  const auto push_unknown = [&]() {
    if (!model.unk_id) return;  // no unk token: the character is dropped, as in `tokenizers`
    if (model.fuse_unk && last_was_unk) return;
    ids.push_back(*model.unk_id);
    last_was_unk = true;
  };
  if (byte_level) {
    for (const char c : word) {
      const std::int32_t id = model.byte_level_ids[static_cast<unsigned char>(c)];
      if (id < 0) {
        push_unknown();
        continue;
      }
      ids.push_back(id);
      last_was_unk = false;
    }
  } else {
    std::size_t pos = 0;
    while (pos < word.size()) {
      const std::size_t start = pos;
      io::unicode::decode_at(word, pos);
      const std::string_view ch = word.substr(start, pos - start);
      if (const auto it = model.vocab.find(ch); it != model.vocab.end()) {
        ids.push_back(it->second);
        last_was_unk = false;
        continue;
      }
      if (model.byte_fallback &&
          std::all_of(ch.begin(), ch.end(), [&](char c) { return model.byte_fallback_ids[static_cast<unsigned char>(c)] >= 0; })) {
        for (const char c : ch) ids.push_back(model.byte_fallback_ids[static_cast<unsigned char>(c)]);
        last_was_unk = false;
        continue;
      }
      push_unknown();
    }
  }
  std::vector<Symbol> symbols(ids.size());
  const auto n = static_cast<std::int32_t>(ids.size());
  for (std::int32_t k = 0; k < n; ++k) symbols[static_cast<std::size_t>(k)] = Symbol{ids[static_cast<std::size_t>(k)], k - 1, k + 1 < n ? k + 1 : -1, true};
  return symbols;
}

// Applies merges lowest rank first (leftmost among equal ranks) until none applies.
void merge_all(const tok::BpeModel& model, std::vector<Symbol>& symbols) {
  using Candidate = std::tuple<std::int32_t, std::int32_t, std::int32_t>;  // rank, position, new id
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto find = [&](std::int32_t left, std::int32_t right) -> const tok::MergeTarget* {
    const auto key = (std::uint64_t{static_cast<std::uint32_t>(left)} << 32) | static_cast<std::uint32_t>(right);
    const auto it = model.merges.find(key);
    return it == model.merges.end() ? nullptr : &it->second;
  };
  const auto push = [&](std::int32_t pos) {
    const Symbol& s = symbols[static_cast<std::size_t>(pos)];
    if (s.next < 0) return;
    if (const auto* target = find(s.id, symbols[static_cast<std::size_t>(s.next)].id)) queue.emplace(target->rank, pos, target->new_id);
  };
  for (std::int32_t k = 0; k + 1 < static_cast<std::int32_t>(symbols.size()); ++k) push(k);
  while (!queue.empty()) {
    const auto [rank, pos, new_id] = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[static_cast<std::size_t>(left.next)];
    const auto* target = find(left.id, right.id);
    if (target == nullptr || target->new_id != new_id) continue;  // stale candidate
    left.id = new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = pos;
    if (left.prev >= 0) push(left.prev);
    push(pos);
  }
}

std::vector<std::int32_t> bpe_word(const tok::BpeModel& model, bool byte_level, std::string_view word) {
  if (model.ignore_merges) {
    std::string as_token;
    if (byte_level) {
      for (const char c : word) as_token += io::unicode::byte_to_char()[static_cast<unsigned char>(c)];
    }
    const auto it = model.vocab.find(byte_level ? std::string_view(as_token) : word);
    if (it != model.vocab.end()) return {it->second};
  }
  std::vector<Symbol> symbols = initial_symbols(model, byte_level, word);
  if (symbols.size() > 1) merge_all(model, symbols);
  std::vector<std::int32_t> ids;
  for (const Symbol& s : symbols) {
    if (s.alive) ids.push_back(s.id);
  }
  return ids;
}

}  // namespace

namespace tok {
std::string replace_all_literal(std::string_view text, std::string_view from, std::string_view to) {
  return replace_all(Pattern{std::string(from), nullptr}, text, to);
}
}  // namespace tok

// ---- Tokenizer ----------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

namespace {

void encode_word(const Tokenizer::Impl& impl, std::string_view word, std::vector<std::int32_t>& out) {
  auto& shard = impl.cache[tok::StringHash{}(word) % Tokenizer::Impl::kCacheShards];
  {
    const std::lock_guard lock(shard.mutex);
    if (const auto it = shard.words.find(word); it != shard.words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::int32_t> ids = bpe_word(impl.model, impl.byte_level, word);
  out.insert(out.end(), ids.begin(), ids.end());
  const std::lock_guard lock(shard.mutex);
  if (shard.words.size() >= std::max<std::size_t>(1, impl.options.cache_capacity / Tokenizer::Impl::kCacheShards)) {
    shard.words.clear();
  }
  shard.words.emplace(std::string(word), std::move(ids));
}

void encode_segment(const Tokenizer::Impl& impl, const Segment& segment, std::vector<std::int32_t>& out) {
  std::vector<Segment> parts;
  if (impl.normalizer.empty()) {
    parts.push_back(segment);
  } else {
    const std::string normalized = tok::apply_normalizer(impl.normalizer, segment.text);
    split_on_added(impl.added_normalized, normalized, segment.at_origin, parts);
  }
  for (Segment& part : parts) {
    if (part.token_id >= 0) {
      out.push_back(part.token_id);
      continue;
    }
    std::vector<Piece> pieces;
    pieces.push_back(Piece{std::move(part.text), part.at_origin});
    for (const auto& step : impl.pre_tokenizer) run_pre_tokenizer_step(step, pieces);
    for (const Piece& piece : pieces) {
      if (!piece.text.empty()) encode_word(impl, piece.text, out);
    }
  }
}

}  // namespace

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (const auto bad = io::unicode::first_invalid_utf8(text)) {
    throw CorruptDataError("text to tokenize is not valid UTF-8 at byte " + std::to_string(*bad) +
                           "; convert it to UTF-8 first (e.g. iconv -f latin1 -t utf-8)");
  }
  std::vector<Segment> segments;
  split_on_added(impl_->added_raw, text, true, segments);
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  if (add_special_tokens) ids = impl_->post_prefix;
  for (const Segment& segment : segments) {
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
    } else {
      encode_segment(*impl_, segment, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), impl_->post_suffix.begin(), impl_->post_suffix.end());
  return ids;
}

std::int32_t Tokenizer::vocab_size() const { return static_cast<std::int32_t>(impl_->id_to_token.size()); }

std::optional<std::int32_t> Tokenizer::bos_id() const {
  if (!impl_->post_prefix.empty()) return impl_->post_prefix.front();
  return impl_->config_bos_id;
}

std::optional<std::int32_t> Tokenizer::eos_id() const {
  if (!impl_->post_suffix.empty()) return impl_->post_suffix.back();
  return impl_->config_eos_id;
}

bool Tokenizer::is_special(std::int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->special[static_cast<std::size_t>(id)] != 0;
}

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const auto* matcher : {&impl_->added_raw, &impl_->added_normalized}) {
    for (const auto& t : matcher->tokens) {
      if (t.content == token) return t.id;
    }
  }
  const auto it = impl_->model.vocab.find(token);
  if (it == impl_->model.vocab.end()) {
    // An added token absent from the model vocabulary, by its original content.
    for (std::size_t id = 0; id < impl_->id_to_token.size(); ++id) {
      if (impl_->id_to_token[id] == token) return static_cast<std::int32_t>(id);
    }
    return std::nullopt;
  }
  return it->second;
}

std::optional<std::string> Tokenizer::id_to_token(std::int32_t id) const {
  if (id < 0 || id >= vocab_size() || impl_->id_to_token[static_cast<std::size_t>(id)].empty()) return std::nullopt;
  return impl_->id_to_token[static_cast<std::size_t>(id)];
}

const std::string& Tokenizer::sha256() const { return impl_->sha256; }
const std::filesystem::path& Tokenizer::path() const { return impl_->path; }

// ---- reading files -------------------------------------------------------------

namespace {

std::string read_limited(const std::filesystem::path& path, std::uint64_t max_bytes, const char* what) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw MissingInputError(path.string() + ": cannot read " + what + " (" + ec.message() + ")");
  if (size > max_bytes) {
    throw CorruptDataError(path.string() + ": " + what + " is " + std::to_string(size) + " bytes, over the limit of " +
                           std::to_string(max_bytes) + " bytes; is this the right file?");
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) {
    throw CorruptDataError(path.string() + ": could not read all " + std::to_string(size) + " bytes of " + what);
  }
  return bytes;
}

// tokenizer_config.json names bos_token/eos_token as a string or {"content": ...}.
std::optional<std::int32_t> config_token(const Tokenizer& tokenizer, const nlohmann::json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  std::string content;
  if (it->is_string()) content = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) content = (*it)["content"].get<std::string>();
  else return std::nullopt;
  return tokenizer.token_to_id(content);
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view json_text, const std::string& source_name, const TokenizerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->sha256 = io::sha256_hex(json_text);
  tok::parse_tokenizer_json(json_text, source_name, *impl);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path, const TokenizerOptions& options) {
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(path)) file = path / "tokenizer.json";
  if (!std::filesystem::exists(file)) {
    throw MissingInputError(file.string() + ": tokenizer.json not found; pass a tokenizer.json or a model "
                            "directory that contains one (a SentencePiece tokenizer.model alone is not supported)");
  }
  const std::string bytes = read_limited(file, options.max_file_bytes, "the tokenizer.json");
  Tokenizer tokenizer = from_json(bytes, file.string(), options);
  tokenizer.impl_->path = file;
  const auto config_path = file.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const std::string config_text = read_limited(config_path, options.max_file_bytes, "tokenizer_config.json");
    nlohmann::json config;
    try {
      config = nlohmann::json::parse(config_text);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number past double
      throw CorruptDataError(config_path.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (config.is_object()) {
      tokenizer.impl_->config_bos_id = config_token(tokenizer, config, "bos_token");
      tokenizer.impl_->config_eos_id = config_token(tokenizer, config, "eos_token");
    }
  }
  return tokenizer;
}

}  // namespace ibzoo::hf
