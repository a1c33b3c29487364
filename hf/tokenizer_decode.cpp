// Decoding with a parsed tokenizer.json: ids -> tokens -> the decoder steps
// (ByteLevel, ByteFallback, Replace, Strip, Fuse, Metaspace) -> text.
#include "hf/tokenizer.h"

#include "errors/error.h"
#include "hf/tokenizer_parts.h"

#include <algorithm>
#include <string>
#include <vector>

namespace ibzoo::hf {

namespace {

bool is_byte_token(std::string_view token) {
  return token.size() == 6 && token.substr(0, 3) == "<0x" && token.back() == '>' &&
         std::isxdigit(static_cast<unsigned char>(token[3])) && std::isxdigit(static_cast<unsigned char>(token[4]));
}

std::vector<std::string> decode_byte_level(const std::vector<std::string>& tokens) {
  std::string bytes;
  for (const std::string& token : tokens) {
    std::string mapped;
    bool all_mapped = true;
    std::size_t pos = 0;
    while (pos < token.size() && all_mapped) {
      const auto b = io::unicode::char_to_byte(io::unicode::decode_at(token, pos));
      if (b) mapped.push_back(static_cast<char>(*b));
      else all_mapped = false;
    }
    bytes += all_mapped ? mapped : token;
  }
  return {io::unicode::to_valid_utf8_lossy(bytes)};
}

std::vector<std::string> decode_byte_fallback(const std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  std::string pending;
  const auto flush = [&]() {
    if (pending.empty()) return;
    if (!io::unicode::first_invalid_utf8(pending)) {
      out.push_back(pending);
    } else {
      for (std::size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
    }
    pending.clear();
  };
  for (const std::string& token : tokens) {
    if (is_byte_token(token)) {
      pending.push_back(static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16)));
      continue;
    }
    flush();
    out.push_back(token);
  }
  flush();
  return out;
}

std::string strip_chars(const std::string& token, const std::string& content, std::size_t n_start, std::size_t n_stop) {
  std::size_t begin = 0;
  std::size_t end = token.size();
  for (std::size_t k = 0; k < n_start && token.compare(begin, content.size(), content) == 0 && begin < end; ++k) begin += content.size();
  for (std::size_t k = 0; k < n_stop && end >= begin + content.size() && token.compare(end - content.size(), content.size(), content) == 0; ++k) {
    end -= content.size();
  }
  return token.substr(begin, end - begin);
}

std::vector<std::string> run_decoder_step(const tok::DecoderStep& step, std::vector<std::string> tokens) {
  if (std::holds_alternative<tok::ByteLevelDecode>(step)) return decode_byte_level(tokens);
  if (std::holds_alternative<tok::ByteFallbackDecode>(step)) return decode_byte_fallback(tokens);
  if (std::holds_alternative<tok::FuseDecode>(step)) {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {all};
  }
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    std::string& token = tokens[k];
    if (const auto* meta = std::get_if<tok::MetaspaceDecode>(&step)) {
      // As `tokenizers`: in the first token every replacement char is dropped.
      token = tok::replace_all_literal(token, meta->replacement, k == 0 && meta->strip_first_space ? "" : " ");
    } else if (const auto* replace = std::get_if<tok::ReplaceDecode>(&step)) {
      token = tok::replace_all(replace->pattern, token, replace->content);
    } else if (const auto* s = std::get_if<tok::StripDecode>(&step)) {
      token = strip_chars(token, s->content, s->start, s->stop);
    }
  }
  return tokens;
}

}  // namespace

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const std::int32_t id : ids) {
    const auto token = id_to_token(id);
    if (!token) {
      throw CorruptDataError("cannot decode token id " + std::to_string(id) + ": not in the vocabulary of " +
                             (impl_->path.empty() ? std::string("the tokenizer") : impl_->path.string()) +
                             " (ids are in [0, " + std::to_string(vocab_size()) + "))");
    }
    tokens.push_back(*token);
  }
  if (!impl_->has_decoder) {
    std::string out;
    for (std::size_t k = 0; k < tokens.size(); ++k) out += (k == 0 ? "" : " ") + tokens[k];
    return out;
  }
  for (const auto& step : impl_->decoder) tokens = run_decoder_step(step, std::move(tokens));
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace ibzoo::hf
