// Task files for the demo's evaluation: multiple-choice items made from held-out
// text (the train stage's text/heldout.txt: one verse per line, a blank line
// between chapters), in JSONL, one item per line:
//   {"context": "...", "choices": ["...", ...], "gold": 2}
// The tasks (docs/DEMO.md):
//   kjv_next_words   the first half of a verse; choices: its true second half and
//                    second halves of other held-out verses
//   kjv_next_verse   a verse; choices: the verse that follows it and other verses
//   kjv_missing_word the words of a verse before a content word; choices: the true
//                    word + the rest of the verse, and other held-out words + the rest
// Continuations start with the separator the text uses (" " or "\n"), as the
// lm-evaluation-harness expects (target_delimiter). Deterministic for a seed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::zoo {

struct TaskItem {
  std::string context;
  std::vector<std::string> choices;
  std::int64_t gold = 0;
  bool operator==(const TaskItem&) const = default;
};

struct MakeTasksJob {
  std::filesystem::path path_heldout;  // text/heldout.txt of the zoo
  std::filesystem::path out_dir;       // gets <task>.jsonl
  std::int64_t n_items = 200;          // per task (fewer if the text is short)
  std::int64_t n_choices = 4;
  std::uint64_t seed = 0;
  bool operator==(const MakeTasksJob&) const = default;
};

struct MakeTasksResult {
  std::vector<std::filesystem::path> files;  // one per task, sorted by task name
  std::vector<std::int64_t> n_items;         // per file
};

// The names of the task kinds, in the order above.
const std::vector<std::string>& task_names();

// Writes <out_dir>/<task>.jsonl for every task (atomically). Throws
// MissingInputError (no held-out file), CorruptDataError (too little text for
// n_choices distinct choices), UsageError (n_items < 1 or n_choices < 2), WriteError.
MakeTasksResult make_tasks(const MakeTasksJob& job);

// Reads a task JSONL file. Throws MissingInputError, CorruptDataError naming
// file:line and the field (not JSON, missing context/choices/gold, gold out of range,
// fewer than 2 choices, an empty choice).
std::vector<TaskItem> read_task_file(const std::filesystem::path& path);
void write_task_file(const std::filesystem::path& path, const std::vector<TaskItem>& items);

}  // namespace ibzoo::zoo
