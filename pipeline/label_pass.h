// The label pass of a study, across the ranks of a job, before any forward pass:
//   - pending_items: which items (one per model checkpoint) are still to compute;
//   - label_texts: the label pass, once per tokenizer the pending items use.
// Torch-free: `ibzoo plan --count-labels` runs it too.
// Collective: every rank of `comm` calls each function with the same arguments.
#pragma once

#include "io/mpi.h"
#include "io/run_dir.h"
#include "pipeline/run.h"
#include "stages/labels.h"

#include <cstddef>
#include <cstdint>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::pipeline {

// Plan indices of the items to compute (of --slice K/N when given): every item
// without a valid DONE. n_done: how many of the slice were done already.
std::vector<std::size_t> pending_items(const Study& study, const io::RunDir& run,
                                       const std::optional<std::pair<int, int>>& slice, const io::Communicator& comm,
                                       std::int64_t& n_done);

// The label pass's results for the pending items' tokenizers (by tokenizer path):
// the sample and, with data.preference, the preference pairs; or why the pass failed
// for a tokenizer (its items then fail alone, with that message).
struct Texts {
  std::map<std::string, stages::LabelledText> text;
  std::map<std::string, stages::LabelledText> preference;
  std::map<std::string, std::string> failed;
  // A rank working alone writes the label pass's files (stages::write_text_files) beside
  // its first items rather than before them. finish_writes() waits for them and throws
  // the first write error. Destroying Texts waits for them (`writing` goes before `text`).
  std::vector<std::future<void>> writing;
  void finish_writes();
};
Texts label_texts(const Study& study, const io::RunDir& run, const std::vector<std::size_t>& pending,
                  const io::Communicator& comm);

}  // namespace ibzoo::pipeline
