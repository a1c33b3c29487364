// Data flow: manifest -> plan -> [labels: tokens, positions, label sets] -> accumulate
// -> merge -> metrics. Everything here is a pure function of the tokenizer file, the
// documents and the text policy; rank 0 computes it once and the files carry it.
#include "stages/labels.h"

#include "errors/error.h"
#include "hf/tokenizer.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/log.h"
#include "stages/parallel.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace ibzoo::stages {

namespace {

// Deflate level of the token and label files, which the label pass waits for. Level 1
// against 4, for 1.5M positions x 8 sets: a label file of 20.8 MB against 19.7 MB,
// written in 0.87 s against 2.35 s (2-core development machine).
constexpr int kDeflate = 1;

analysis::Corpus tokenize_documents(const TextJob& job, const hf::Tokenizer& tokenizer) {
  const auto bos = tokenizer.bos_id();
  if (job.bos && !bos) {
    throw CorruptDataError(job.path_tokenizer.string() + ": 'data.text.bos' is true but the tokenizer has no BOS token");
  }
  // Documents are encoded on job.threads threads (the tokenizer is thread-safe), in
  // chunks taken in turn, then concatenated in corpus order.
  const auto n_docs = job.documents.size();
  std::vector<std::vector<std::int32_t>> ids(n_docs);
  io::Progress progress("tokenizing " + std::to_string(n_docs) + " documents", static_cast<std::int64_t>(n_docs));
  std::atomic<std::size_t> next{0};
  std::mutex progress_mutex;
  std::exception_ptr error;
  const auto worker = [&] {
    constexpr std::size_t kChunk = 16;
    try {
      for (std::size_t begin = next.fetch_add(kChunk); begin < n_docs; begin = next.fetch_add(kChunk)) {
        const auto end = std::min(n_docs, begin + kChunk);
        for (std::size_t k = begin; k < end; ++k) {
          auto doc = tokenizer.encode(job.documents[k], false);
          if (job.bos) doc.insert(doc.begin(), *bos);
          if (static_cast<std::int64_t>(doc.size()) > job.max_tokens) doc.resize(static_cast<std::size_t>(job.max_tokens));
          ids[k] = std::move(doc);
        }
        const std::lock_guard lock(progress_mutex);
        progress.advance(static_cast<std::int64_t>(end - begin));
      }
    } catch (...) {
      const std::lock_guard lock(progress_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < std::max(1, job.threads); ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  progress.finish();
  analysis::Corpus corpus;
  corpus.doc_offsets.push_back(0);
  for (std::size_t k = 0; k < n_docs; ++k) {
    if (static_cast<std::int64_t>(ids[k].size()) < job.min_tokens) continue;
    corpus.tokens.insert(corpus.tokens.end(), ids[k].begin(), ids[k].end());
    corpus.doc_offsets.push_back(static_cast<std::int64_t>(corpus.tokens.size()));
    corpus.doc_ids.push_back(static_cast<std::int64_t>(k));
  }
  return corpus;
}

void write_cache(const std::filesystem::path& path, const analysis::Corpus& corpus) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const auto temp = io::temp_path_for(path);
  {
    auto file = io::H5File::create(temp);
    const auto n = static_cast<std::int64_t>(corpus.tokens.size());
    file.write("/tokens", std::span<const std::int64_t>(corpus.tokens), {n}, {{1 << 16}, kDeflate});
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
                            const hf::Tokenizer& tokenizer, int max_order) {
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

std::vector<std::string> LabelledText::label_names() const {
  std::vector<std::string> names;
  for (const auto& s : label_sets) names.push_back(s.name);
  return names;
}

std::vector<std::int64_t> LabelledText::label_rows() const {
  std::vector<std::int64_t> rows;
  for (const auto& s : label_sets) rows.push_back(s.n_rows());
  return rows;
}

std::int32_t LabelledText::label_of(std::size_t s, std::size_t pos) const {
  const auto n_base = null_source.empty() ? label_sets.size() : label_sets.size() / 2;
  if (s < n_base) return label_sets[s].ids[pos];
  return label_sets[s - n_base].ids[static_cast<std::size_t>(null_source[pos])];
}

analysis::RowCounts LabelledText::row_counts() const {
  analysis::RowCounts counts;
  for (const auto& s : label_sets) counts.emplace_back(s.row_counts);
  return counts;
}

namespace {

std::filesystem::path tokens_path(const TextJob& job, const std::string& text_id) {
  return job.run_dir.empty() ? std::filesystem::path() : job.run_dir / "tokens" / (text_id + ".h5");
}

std::filesystem::path labels_path(const TextJob& job, const std::string& label_id) {
  return job.run_dir.empty() ? std::filesystem::path() : job.run_dir / "labels" / (label_id + ".h5");
}

bool file_exists(const std::filesystem::path& path) {
  std::error_code ec;
  return !path.empty() && std::filesystem::exists(path, ec);
}

// The base sets (input and output n-grams of every order), one per thread.
std::vector<analysis::LabelSet> build_base_sets(const TextJob& job, const analysis::Corpus& corpus,
                                                const analysis::Positions& positions) {
  struct Spec {
    std::string name;
    int order;
    analysis::NgramDirection direction;
  };
  std::vector<Spec> specs;
  for (const auto direction : {analysis::NgramDirection::kInput, analysis::NgramDirection::kOutput}) {
    for (const int order : job.orders) {
      specs.push_back({std::string(direction == analysis::NgramDirection::kInput ? "in" : "out") + std::to_string(order),
                       order, direction});
    }
  }
  std::vector<analysis::LabelSet> sets(specs.size());
  parallel_for(specs.size(), job.threads, [&](std::size_t k) {
    sets[k] = analysis::ngram_label_set(specs[k].name, corpus, positions, specs[k].order, specs[k].direction, job.min_count);
  });
  return sets;
}

// The base sets of `text` (the nulls, if any, follow them in label_sets and are recomputed
// on reading).
void write_labels(const std::filesystem::path& path, const LabelledText& text, std::int64_t n_sample_documents) {
  const bool null = !text.null_source.empty();
  const auto n_base = null ? text.label_sets.size() / 2 : text.label_sets.size();
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const auto temp = io::temp_path_for(path);
  {
    auto file = io::H5File::create(temp);
    const auto n = text.positions.size();
    const auto n_sets = static_cast<std::int64_t>(n_base);
    std::vector<std::string> names;
    std::vector<std::int64_t> rows, n_labels, n_singletons, n_dropped;
    // /ids [sets, positions], written a set at a time (no copy of all of them).
    if (n > 0) {
      file.create_fixed_rows("/ids", n_sets, n, io::H5File::Type::kInt32, {{1, std::min<std::int64_t>(n, 1 << 16)}, kDeflate});
    }
    for (std::size_t s = 0; s < n_base; ++s) {
      const auto& set = text.label_sets[s];
      names.push_back(set.name);
      rows.push_back(set.n_rows());
      n_labels.push_back(set.n_labels);
      n_singletons.push_back(set.n_singletons);
      n_dropped.push_back(set.n_dropped_labels);
      if (n > 0) file.write_rows("/ids", std::span<const std::int32_t>(set.ids), static_cast<std::int64_t>(s), 1);
      file.write("/row_counts/" + set.name, std::span<const std::int64_t>(set.row_counts), {set.n_rows()},
                 set.n_rows() > 65536 ? io::WriteOptions{{65536}, kDeflate} : io::WriteOptions{});
    }
    file.write_strings("/names", names);
    file.write("/rows", std::span<const std::int64_t>(rows), {n_sets});
    file.write("/n_labels", std::span<const std::int64_t>(n_labels), {n_sets});
    file.write("/n_singletons", std::span<const std::int64_t>(n_singletons), {n_sets});
    file.write("/n_dropped_labels", std::span<const std::int64_t>(n_dropped), {n_sets});
    file.set_attr("/", "label_id", text.label_id);
    file.set_attr("/", "text_id", text.id);
    file.set_attr("/", "n_positions", n);
    file.set_attr("/", "n_documents", text.corpus.n_docs());
    file.set_attr("/", "n_sample_documents", n_sample_documents);
    file.set_attr("/", "n_tokens", text.n_tokens());
    file.set_attr("/", "n_null_sets", static_cast<std::int64_t>(null ? n_base : 0));
    file.close();
  }
  io::commit_file(temp, path);
}

// The base sets stored by write_labels; CorruptDataError naming the file when they
// do not fit the positions.
std::vector<analysis::LabelSet> read_labels(const std::filesystem::path& path, const LabelledText& text,
                                            std::int64_t min_count) {
  const auto file = io::H5File::open_read(path);
  const auto where = path.string();
  const auto n = text.positions.size();
  if (file.attr_int("/", "n_positions").value_or(-1) != n) {
    throw CorruptDataError(where + ": holds labels of " + std::to_string(file.attr_int("/", "n_positions").value_or(-1)) +
                           " positions, the sample has " + std::to_string(n) + "; delete it to rebuild the labels");
  }
  const auto names = file.read_strings("/names");
  const auto rows = file.read_i64("/rows").data;
  const auto n_labels = file.read_i64("/n_labels").data;
  const auto n_singletons = file.read_i64("/n_singletons").data;
  const auto n_dropped = file.read_i64("/n_dropped_labels").data;
  const auto n_sets = names.size();
  if (rows.size() != n_sets || n_labels.size() != n_sets || n_singletons.size() != n_sets || n_dropped.size() != n_sets) {
    throw CorruptDataError(where + ": /rows, /n_labels, /n_singletons and /n_dropped_labels must have one value per set");
  }
  if (n > 0 && file.shape("/ids") != std::vector<std::int64_t>{static_cast<std::int64_t>(n_sets), n}) {
    throw CorruptDataError(where + ": /ids must be [" + std::to_string(n_sets) + ", " + std::to_string(n) + "]");
  }
  std::vector<analysis::LabelSet> sets(n_sets);
  for (std::size_t s = 0; s < n_sets; ++s) {
    auto& set = sets[s];
    set.name = names[s];
    set.min_count = min_count;
    set.n_labels = n_labels[s];
    set.n_singletons = n_singletons[s];
    set.n_dropped_labels = n_dropped[s];
    set.row_counts = file.read_i64("/row_counts/" + set.name).data;
    if (set.n_rows() != rows[s]) throw CorruptDataError(where + ": /row_counts/" + set.name + " does not match /rows");
    // A set at a time, straight into its 32-bit ids.
    if (n > 0) set.ids = file.read_rows_i32("/ids", static_cast<std::int64_t>(s), 1).data;
    for (std::size_t i = 0; i < set.ids.size(); ++i) {
      const auto id = set.ids[i];
      if (id < analysis::kDropped || id >= rows[s]) {
        throw CorruptDataError(where + ": /ids[" + std::to_string(s) + ", " + std::to_string(i) + "] = " +
                               std::to_string(id) + " is outside -2.." + std::to_string(rows[s] - 1) +
                               "; delete the file to rebuild the labels");
      }
    }
  }
  return sets;
}

// The null of every base set: its counts, and one permutation for the ids of all of them
// (analysis::shuffle_within_documents, without a copy of the ids per set).
void add_nulls(const TextJob& job, LabelledText& text) {
  if (!job.null) return;
  text.null_source = analysis::within_document_shuffle(text.positions.doc_ids, job.seed);
  const auto n_base = text.label_sets.size();
  text.label_sets.reserve(2 * n_base);
  for (std::size_t s = 0; s < n_base; ++s) {
    const auto& base = text.label_sets[s];
    analysis::LabelSet null;
    null.name = null_name(base.name);
    null.row_counts = base.row_counts;
    null.n_labels = base.n_labels;
    null.n_singletons = base.n_singletons;
    null.n_dropped_labels = base.n_dropped_labels;
    null.min_count = base.min_count;
    text.label_sets.push_back(std::move(null));
  }
}

// Tokens (from the cache or the tokenizer) and positions; `write`: the cache is to be
// written if it was missing (text.unwritten.tokens, written by label_text_alone).
void load_tokens(const TextJob& job, const hf::Tokenizer& tokenizer, LabelledText& text, bool write) {
  const auto cache = tokens_path(job, text.id);
  if (file_exists(cache)) {
    text.corpus = read_cache(cache);
  } else {
    text.corpus = tokenize_documents(job, tokenizer);
    if (write) text.unwritten.tokens = cache;
  }
  if (text.corpus.n_docs() == 0) {
    throw CorruptDataError("no document of the corpus sample reaches min_tokens = " + std::to_string(job.min_tokens) +
                           " tokens with " + job.path_tokenizer.string() + "; lower 'data.text.min_tokens'");
  }
  const int max_order = *std::max_element(job.orders.begin(), job.orders.end());
  text.positions = analysis::ngram_positions(text.corpus, max_order);
  if (!job.special_tokens_as_labels) drop_special_positions(text.positions, text.corpus, tokenizer, max_order);
  text.pos_offsets = position_offsets(text.corpus, text.positions);
}

// `write`: store what the run directory lacks, now or (`defer`) by write_text_files.
LabelledText label_text_alone(const TextJob& job, bool write, bool defer) {
  const auto tokenizer = hf::Tokenizer::from_file(job.path_tokenizer);
  const nlohmann::json policy{{"tokenizer", tokenizer.sha256()}, {"corpus", job.corpus_sha256},
                              {"max_tokens", job.max_tokens}, {"min_tokens", job.min_tokens},
                              {"bos", job.bos}};
  LabelledText text;
  text.id = io::sha256_hex(policy.dump()).substr(0, 16);
  const nlohmann::json label_policy{{"text", text.id}, {"orders", job.orders}, {"min_count", job.min_count},
                                    {"special_tokens_as_labels", job.special_tokens_as_labels}};
  text.label_id = io::sha256_hex(label_policy.dump()).substr(0, 16);
  text.tokenizer_sha256 = tokenizer.sha256();
  const auto t0 = std::chrono::steady_clock::now();
  load_tokens(job, tokenizer, text, write);
  const auto t1 = std::chrono::steady_clock::now();
  const auto labels = labels_path(job, text.label_id);
  const bool cached = file_exists(labels);
  if (cached) {
    text.label_sets = read_labels(labels, text, job.min_count);
  } else {
    text.label_sets = build_base_sets(job, text.corpus, text.positions);
    if (write) text.unwritten.labels = labels;
  }
  add_nulls(job, text);
  // Each position's document id was for the shuffle: the batches take it from
  // corpus.doc_ids, and 8 bytes a position is memory the tables can use.
  std::vector<std::int64_t>().swap(text.positions.doc_ids);
  if (write) {
    const auto seconds = [](auto a, auto b) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", std::chrono::duration<double>(b - a).count());
      return std::string(buf);
    };
    io::log_info("labels: " + std::to_string(text.corpus.n_docs()) + " documents, " +
                 std::to_string(text.positions.size()) + " positions, " + std::to_string(text.label_sets.size()) +
                 " label sets (" + job.path_tokenizer.filename().string() + "): tokens " + seconds(t0, t1) + " s, labels " +
                 seconds(t1, std::chrono::steady_clock::now()) + " s" + (cached ? " (from the run directory)" : ""));
  }
  text.unwritten.n_sample_documents = static_cast<std::int64_t>(job.documents.size());
  if (!defer) {
    write_text_files(text);
    text.unwritten = {};
  }
  return text;
}

}  // namespace

void write_text_files(const LabelledText& text) {
  const auto& files = text.unwritten;
  if (files.tokens.empty() && files.labels.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  if (!files.tokens.empty()) write_cache(files.tokens, text.corpus);
  if (!files.labels.empty()) write_labels(files.labels, text, files.n_sample_documents);
  char took[32];
  std::snprintf(took, sizeof took, "%.2f", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  const std::string what = files.tokens.empty() ? "labels" : files.labels.empty() ? "tokens" : "tokens and labels";
  io::log_info("labels: " + what + " of " + text.label_id + " written to the run directory in " + took + " s");
}

LabelledText label_text(const TextJob& job, const io::Communicator* comm) {
  if (!comm || comm->size() == 1) return label_text_alone(job, true, job.defer_writes);
  // Rank 0 does the work and writes the files; the others read them. An error on
  // rank 0 reaches every rank (as a message), so that none waits forever.
  io::Outcome<bool> done{true, true, "", ""};
  std::optional<LabelledText> text;
  if (comm->rank() == 0) {
    try {
      text = label_text_alone(job, true, false);  // the others read the files once told
    } catch (const std::exception& e) {
      done = {false, false, "error", e.what()};
    }
  }
  comm->broadcast_value(done);
  if (!done.ok) {
    if (comm->rank() == 0) throw CorruptDataError(done.message);
    throw CorruptDataError("the label pass failed on rank 0");
  }
  if (comm->rank() == 0) return std::move(*text);
  return label_text_alone(job, false, false);
}

std::vector<LabelSummary> read_label_summaries(const std::filesystem::path& run_dir) {
  std::vector<LabelSummary> out;
  std::error_code ec;
  const auto dir = run_dir / "labels";
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".h5") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    try {
      const auto file = io::H5File::open_read(path);
      LabelSummary s;
      s.n_positions = file.attr_int("/", "n_positions").value_or(0);
      s.n_documents = file.attr_int("/", "n_sample_documents").value_or(0);
      s.n_tokens = file.attr_int("/", "n_tokens").value_or(0);
      s.names = file.read_strings("/names");
      s.rows = file.read_i64("/rows").data;
      for (const auto& name : s.names) s.row_counts.push_back(file.read_i64("/row_counts/" + name).data);
      const auto n_null = file.attr_int("/", "n_null_sets").value_or(0);
      for (std::int64_t k = 0; k < n_null && k < static_cast<std::int64_t>(s.names.size()); ++k) {
        const auto base = static_cast<std::size_t>(k);
        s.names.push_back(null_name(s.names[base]));
        s.rows.push_back(s.rows[base]);
        s.row_counts.push_back(s.row_counts[base]);
      }
      out.push_back(std::move(s));
    } catch (const Error&) {
      // unreadable: the run rebuilds it; the estimate falls back to its bound
    }
  }
  return out;
}

LabelledText label_preference(const PreferenceJob& job) {
  const auto tokenizer = hf::Tokenizer::from_file(job.path_tokenizer);
  const nlohmann::json policy{{"tokenizer", tokenizer.sha256()}, {"preference", job.pairs_sha256},
                              {"max_tokens", job.max_tokens}, {"bos", job.bos},
                              {"prompt_labelled", job.prompt_labelled}};
  LabelledText text;
  text.id = io::sha256_hex(policy.dump()).substr(0, 16);
  text.label_id = text.id;
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
