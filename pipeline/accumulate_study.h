// The labels and accumulate stages of a study, across the ranks of a job:
//   - pending_items: which items (one per model checkpoint) are still to compute;
//   - label_texts: the label pass, once per tokenizer the pending items use;
//   - accumulate_items: who computes which item. With at least as many pending items
//     as ranks (and tables that fit one rank), each rank computes whole items, taken
//     from a cost-balanced slice and stolen from others' when its own is done
//     (pipeline/work_queue.h); otherwise all ranks form one team per item, in plan
//     order, sharing its batches and its label rows (stages/accumulate.h). Models
//     load once per checkpoint while the next checkpoint's files are read ahead.
// Collective: every rank of `comm` calls each function with the same arguments.
#pragma once

#include "io/mpi.h"
#include "io/run_dir.h"
#include "pipeline/run.h"
#include "stages/labels.h"

#include <atomic>
#include <cstddef>
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
};
Texts label_texts(const Study& study, const io::RunDir& run, const std::vector<std::size_t>& pending,
                  const io::Communicator& comm);

// Computes the pending items. A failing item is recorded (error.json) and the
// others go on; `stop` (a signal number, or 0) ends the loop after the current item.
void accumulate_items(const Study& study, const Texts& texts, const std::vector<std::size_t>& pending,
                      const io::RunDir& run, const RunOptions& options, const io::Communicator& comm,
                      const std::atomic<int>& stop, RunSummary& summary);

}  // namespace ibzoo::pipeline
