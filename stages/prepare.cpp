// Data flow: corpus -> [prepare: tokens, positions, labels] -> extract -> reduce.
// Everything here is a pure function of the tokenizer file, the documents and the
// text policy, so every rank computes the same labels independently.
#include "stages/prepare.h"

#include "analysis/error.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/log.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace ibzoo::stages {

namespace {

analysis::Corpus tokenize_documents(const PrepareJob& job, const io::Tokenizer& tokenizer) {
  analysis::Corpus corpus;
  corpus.doc_offsets.push_back(0);
  const auto bos = tokenizer.bos_id();
  if (job.bos && !bos) {
    throw CorruptDataError(job.path_tokenizer.string() + ": 'data.text.bos' is true but the tokenizer has no BOS token");
  }
  io::Progress progress("tokenizing " + std::to_string(job.documents.size()) + " documents",
                        static_cast<std::int64_t>(job.documents.size()));
  for (std::size_t k = 0; k < job.documents.size(); ++k) {
    auto ids = tokenizer.encode(job.documents[k], false);
    if (job.bos) ids.insert(ids.begin(), *bos);
    if (static_cast<std::int64_t>(ids.size()) > job.max_tokens) ids.resize(static_cast<std::size_t>(job.max_tokens));
    progress.advance();
    if (static_cast<std::int64_t>(ids.size()) < job.min_tokens) continue;
    corpus.tokens.insert(corpus.tokens.end(), ids.begin(), ids.end());
    corpus.doc_offsets.push_back(static_cast<std::int64_t>(corpus.tokens.size()));
    corpus.doc_ids.push_back(static_cast<std::int64_t>(k));
  }
  progress.finish();
  return corpus;
}

void write_cache(const std::filesystem::path& path, const analysis::Corpus& corpus) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const auto temp = io::temp_path_for(path);
  {
    auto file = io::H5File::create(temp);
    const auto n = static_cast<std::int64_t>(corpus.tokens.size());
    file.write("/tokens", std::span<const std::int64_t>(corpus.tokens), {n}, {{1 << 16}, 4});
    file.write("/doc_offsets", std::span<const std::int64_t>(corpus.doc_offsets),
               {static_cast<std::int64_t>(corpus.doc_offsets.size())});
    file.write("/doc_ids", std::span<const std::int64_t>(corpus.doc_ids),
               {static_cast<std::int64_t>(corpus.doc_ids.size())});
    file.close();
  }
  io::commit_file(temp, path);
}

analysis::Corpus read_cache(const std::filesystem::path& path) {
  const auto file = io::H5File::open_read(path);
  analysis::Corpus corpus;
  corpus.tokens = file.read_i64("/tokens").data;
  corpus.doc_offsets = file.read_i64("/doc_offsets").data;
  corpus.doc_ids = file.read_i64("/doc_ids").data;
  if (corpus.doc_offsets.size() != corpus.doc_ids.size() + 1 || corpus.doc_offsets.back() != static_cast<std::int64_t>(corpus.tokens.size())) {
    throw CorruptDataError(path.string() + ": token cache is inconsistent; delete it to re-tokenize");
  }
  return corpus;
}

// Drops positions whose input or output n-grams touch a special token.
void drop_special_positions(analysis::Positions& positions, const analysis::Corpus& corpus,
                            const io::Tokenizer& tokenizer, int max_order) {
  analysis::Positions kept;
  for (std::int64_t p = 0; p < positions.size(); ++p) {
    const auto i = positions.token_idx[static_cast<std::size_t>(p)];
    bool special = false;
    for (std::int64_t t = i - max_order + 1; t <= i + max_order && !special; ++t) {
      special = tokenizer.is_special(static_cast<std::int32_t>(corpus.tokens[static_cast<std::size_t>(t)]));
    }
    if (special) continue;
    kept.token_idx.push_back(i);
    kept.doc_ids.push_back(positions.doc_ids[static_cast<std::size_t>(p)]);
  }
  positions = std::move(kept);
}

std::vector<std::int64_t> position_offsets(const analysis::Corpus& corpus, const analysis::Positions& positions) {
  std::vector<std::int64_t> offsets(1, 0);
  std::size_t p = 0;
  for (std::int64_t k = 0; k < corpus.n_docs(); ++k) {
    const auto end = corpus.doc_offsets[static_cast<std::size_t>(k + 1)];
    while (p < positions.token_idx.size() && positions.token_idx[p] < end) ++p;
    offsets.push_back(static_cast<std::int64_t>(p));
  }
  return offsets;
}

}  // namespace

std::string null_name(const std::string& name) { return name + ".null"; }

std::vector<std::string> PreparedText::label_names() const {
  std::vector<std::string> names;
  for (const auto& s : label_sets) names.push_back(s.name);
  return names;
}

PreparedText prepare_text(const PrepareJob& job) {
  const auto tokenizer = io::Tokenizer::from_file(job.path_tokenizer);
  const nlohmann::json policy{{"tokenizer", tokenizer.sha256()}, {"corpus", job.corpus_sha256},
                              {"max_tokens", job.max_tokens}, {"min_tokens", job.min_tokens},
                              {"bos", job.bos}};
  PreparedText text;
  text.id = io::sha256_hex(policy.dump()).substr(0, 16);
  text.tokenizer_sha256 = tokenizer.sha256();

  const auto cache = job.cache_dir.empty() ? std::filesystem::path() : job.cache_dir / (text.id + ".h5");
  std::error_code ec;
  if (!cache.empty() && std::filesystem::exists(cache, ec)) {
    text.corpus = read_cache(cache);
  } else {
    text.corpus = tokenize_documents(job, tokenizer);
    if (!cache.empty()) write_cache(cache, text.corpus);
  }
  if (text.corpus.n_docs() == 0) {
    throw CorruptDataError("no document of the corpus sample reaches min_tokens = " + std::to_string(job.min_tokens) +
                           " tokens with " + job.path_tokenizer.string() + "; lower 'data.text.min_tokens'");
  }

  const int max_order = *std::max_element(job.orders.begin(), job.orders.end());
  text.positions = analysis::ngram_positions(text.corpus, max_order);
  if (!job.special_tokens_as_labels) drop_special_positions(text.positions, text.corpus, tokenizer, max_order);
  text.pos_offsets = position_offsets(text.corpus, text.positions);

  for (const auto direction : {analysis::NgramDirection::kInput, analysis::NgramDirection::kOutput}) {
    for (const int order : job.orders) {
      const auto name = std::string(direction == analysis::NgramDirection::kInput ? "in" : "out") + std::to_string(order);
      text.label_sets.push_back(
          analysis::ngram_label_set(name, text.corpus, text.positions, order, direction, job.min_count));
    }
  }
  if (job.null) {
    const auto n_sets = text.label_sets.size();
    for (std::size_t s = 0; s < n_sets; ++s) {
      text.label_sets.push_back(analysis::shuffle_within_documents(
          text.label_sets[s], text.positions.doc_ids, job.seed, null_name(text.label_sets[s].name)));
    }
  }
  return text;
}

PreparedText prepare_preference(const PreferenceJob& job) {
  const auto tokenizer = io::Tokenizer::from_file(job.path_tokenizer);
  const nlohmann::json policy{{"tokenizer", tokenizer.sha256()}, {"preference", job.pairs_sha256},
                              {"max_tokens", job.max_tokens}, {"bos", job.bos},
                              {"prompt_labelled", job.prompt_labelled}};
  PreparedText text;
  text.id = io::sha256_hex(policy.dump()).substr(0, 16);
  text.tokenizer_sha256 = tokenizer.sha256();
  const auto bos = tokenizer.bos_id();
  if (job.bos && !bos) {
    throw CorruptDataError(job.path_tokenizer.string() + ": 'data.text.bos' is true but the tokenizer has no BOS token");
  }
  const auto encode = [&](const std::string& s) {
    const auto ids = tokenizer.encode(s, false);
    return std::vector<std::int64_t>(ids.begin(), ids.end());
  };
  std::vector<analysis::PreferenceTokens> tokens;
  std::vector<std::int64_t> pair_ids;
  io::Progress progress("tokenizing " + std::to_string(job.pairs.size()) + " preference pairs",
                        static_cast<std::int64_t>(job.pairs.size()));
  for (std::size_t k = 0; k < job.pairs.size(); ++k) {
    analysis::PreferenceTokens t{encode(job.pairs[k].prompt), encode(job.pairs[k].chosen), encode(job.pairs[k].rejected)};
    if (job.bos) t.prompt.insert(t.prompt.begin(), *bos);
    tokens.push_back(std::move(t));
    pair_ids.push_back(static_cast<std::int64_t>(k));
    progress.advance();
  }
  progress.finish();
  auto pref = analysis::preference_text(tokens, pair_ids, job.prompt_labelled, job.max_tokens, kPreferenceSet,
                                        job.min_count);
  if (pref.positions.size() == 0) {
    throw CorruptDataError("preference data: no pair has a completion token within max_tokens = " +
                           std::to_string(job.max_tokens) + " (" + std::to_string(pref.n_pairs_dropped) +
                           " pairs dropped); raise 'data.preference.max_tokens' or check the chosen/rejected fields");
  }
  if (pref.n_pairs_dropped > 0) {
    io::log_warn("preference data: " + std::to_string(pref.n_pairs_dropped) +
                 " pairs have an empty chosen or rejected completion within max_tokens and are skipped");
  }
  text.corpus = std::move(pref.corpus);
  text.positions = std::move(pref.positions);
  text.pos_offsets = position_offsets(text.corpus, text.positions);
  text.label_sets.push_back(std::move(pref.labels));
  return text;
}

}  // namespace ibzoo::stages
