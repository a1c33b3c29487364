// The label pass of a study: which items are still to compute, and the labelled
// sample of every tokenizer they use (stages/labels.h does the work, once per tokenizer).
#include "pipeline/label_pass.h"

#include "errors/error.h"
#include "io/log.h"
#include "pipeline/ranks.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ibzoo::pipeline {

namespace {

// What rank 0 finds on disk, sent to every rank.
struct PendingItems {
  std::int64_t n_done = 0;
  std::vector<std::size_t> items;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PendingItems, n_done, items)

// Rank 0: the slice's items without a valid DONE (a partial one is logged and redone).
PendingItems find_pending(const Study& study, const io::RunDir& run, const std::optional<std::pair<int, int>>& slice) {
  const auto n = study.plan.items.size();
  std::size_t begin = 0, end = n;
  if (slice) {
    begin = n * static_cast<std::size_t>(slice->first) / static_cast<std::size_t>(slice->second);
    end = n * static_cast<std::size_t>(slice->first + 1) / static_cast<std::size_t>(slice->second);
  }
  PendingItems pending;
  for (std::size_t i = begin; i < end; ++i) {
    std::string why;
    if (run.is_done(study.plan.items[i].id, &why)) {
      ++pending.n_done;
      continue;
    }
    if (!why.empty()) io::log_warn(why + "; recomputing item " + study.plan.items[i].id);
    pending.items.push_back(i);
  }
  return pending;
}

}  // namespace

std::vector<std::size_t> pending_items(const Study& study, const io::RunDir& run,
                                       const std::optional<std::pair<int, int>>& slice, const io::Communicator& comm,
                                       std::int64_t& n_done) {
  PendingItems pending;
  if (comm.rank() == 0) pending = find_pending(study, run, slice);
  comm.broadcast_value(pending);
  n_done = pending.n_done;
  return pending.items;
}

void Texts::finish_writes() {
  std::exception_ptr error;
  for (auto& w : writing) {
    try {
      w.get();
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  writing.clear();
  if (error) std::rethrow_exception(error);
}

Texts label_texts(const Study& study, const io::RunDir& run, const std::vector<std::size_t>& pending,
                  const io::Communicator& comm) {
  const auto& m = study.manifest;
  Texts texts;
  const int threads = threads_per_rank(m.compute, local_rank_count(comm));
  for (const auto i : pending) {
    const auto& model = m.models[study.plan.items[i].model_idx];
    const auto key = model.tokenizer.string();
    if (texts.text.count(key) || texts.failed.count(key)) continue;
    stages::TextJob job;
    job.path_tokenizer = model.tokenizer;
    job.documents = study.documents;
    job.corpus_sha256 = study.corpus_sha256;
    job.max_tokens = m.text.max_tokens;
    job.min_tokens = m.text.min_tokens;
    job.bos = m.text.bos;
    job.special_tokens_as_labels = m.text.special_tokens_as_labels;
    job.orders = m.estimator.orders;
    job.min_count = m.estimator.min_count;
    job.null = m.estimator.null;
    job.seed = m.estimator.seed;
    job.run_dir = run.root();
    job.defer_writes = true;  // taken only by a rank working alone (stages/labels.h)
    // Rank 0 labels alone on the node: it may use the threads of the whole node, but no
    // more than it has CPUs (each thread holds a sort of the whole sample: 32 bytes per
    // position).
    job.threads = comm.size() > 1 ? std::min(usable_cpus(), threads * std::max(1, local_rank_count(comm))) : threads;
    try {
      const auto& text = texts.text.emplace(key, stages::label_text(job, &comm)).first->second;
      // The map's nodes stay where they are, and nothing changes `text` from here on.
      if (!text.unwritten.tokens.empty() || !text.unwritten.labels.empty()) {
        texts.writing.push_back(std::async(std::launch::async, [&text] { stages::write_text_files(text); }));
      }
    } catch (const Error& e) {  // every rank throws (stages/labels.h): its items fail, the others go on
      io::log_error("label pass for " + key + " failed: " + e.what());
      texts.failed.emplace(key, e.what());
      continue;
    }
    if (m.preference) {
      stages::PreferenceJob pj;
      pj.path_tokenizer = model.tokenizer;
      pj.pairs = study.pairs;
      pj.pairs_sha256 = study.pairs_sha256;
      pj.max_tokens = m.preference->max_tokens;
      pj.bos = m.text.bos;
      pj.prompt_labelled = m.preference->prompt_labelled;
      pj.min_count = m.estimator.min_count;
      texts.preference.emplace(key, stages::label_preference(pj));
    }
  }
  // The label pass's transient heap (the n-gram sorts, the tokenizer's and the
  // threads' buffers) goes back to the system: the tables are planned from the resident
  // memory that follows, and allocated with mmap, so that freed heap is never reused.
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  return texts;
}

}  // namespace ibzoo::pipeline
