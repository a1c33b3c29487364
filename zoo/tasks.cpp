// Task making: held-out text -> multiple-choice JSONL files that the evaluate
// stage scores (make-tasks runs between train and evaluate).
#include "zoo/tasks.h"

#include "errors/error.h"
#include "analysis/reference_points.h"
#include "io/fs.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <sstream>

namespace ibzoo::zoo {

namespace fs = std::filesystem;

namespace {

using analysis::SplitMix64Stream;

using Chapter = std::vector<std::string>;

std::vector<Chapter> read_chapters(const fs::path& path) {
  if (!fs::exists(path)) throw MissingInputError(path.string() + ": held-out text not found; run `ibzoo train` first");
  std::istringstream in(io::read_file(path));
  std::vector<Chapter> out(1);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (!out.back().empty()) out.emplace_back();
    } else {
      out.back().push_back(line);
    }
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

std::vector<std::string> words_of(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

std::string join(const std::vector<std::string>& w, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) out += (i > from ? " " : "") + w[i];
  return out;
}

bool is_content_word(const std::string& w) {
  return w.size() >= 4 && std::all_of(w.begin(), w.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

// Puts the gold answer among distractors drawn from `pool` (distinct from it and each other).
TaskItem with_distractors(std::string context, const std::string& gold, const std::vector<std::string>& pool,
                          std::int64_t n_choices, SplitMix64Stream& rng, const std::string& prefix,
                          const std::string& suffix) {
  std::set<std::string> used = {gold};
  std::vector<std::string> choices;
  for (int tries = 0; static_cast<std::int64_t>(choices.size()) + 1 < n_choices && tries < 1000; ++tries) {
    const auto& c = pool[rng.below(pool.size())];
    if (used.insert(c).second) choices.push_back(prefix + c + suffix);
  }
  if (static_cast<std::int64_t>(choices.size()) + 1 < n_choices) {
    throw CorruptDataError("make-tasks: the held-out text has too few distinct candidates for " +
                           std::to_string(n_choices) + " choices; hold out more books or use fewer choices");
  }
  const auto gold_idx = rng.below(static_cast<std::size_t>(n_choices));
  choices.insert(choices.begin() + static_cast<std::ptrdiff_t>(gold_idx), prefix + gold + suffix);
  return {std::move(context), std::move(choices), static_cast<std::int64_t>(gold_idx)};
}

std::vector<TaskItem> next_words(const std::vector<Chapter>& chapters, const MakeTasksJob& job, SplitMix64Stream& rng) {
  std::vector<std::vector<std::string>> verses;
  std::vector<std::string> halves;
  for (const auto& ch : chapters) {
    for (const auto& v : ch) {
      auto w = words_of(v);
      if (w.size() < 8) continue;
      halves.push_back(join(w, w.size() / 2, w.size()));
      verses.push_back(std::move(w));
    }
  }
  std::vector<TaskItem> out;
  for (std::int64_t i = 0; i < job.n_items && !verses.empty(); ++i) {
    const auto& w = verses[rng.below(verses.size())];
    out.push_back(with_distractors(join(w, 0, w.size() / 2), join(w, w.size() / 2, w.size()), halves, job.n_choices,
                                   rng, " ", ""));
  }
  return out;
}

std::vector<TaskItem> next_verse(const std::vector<Chapter>& chapters, const MakeTasksJob& job, SplitMix64Stream& rng) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<std::string> all;
  for (const auto& ch : chapters) {
    for (std::size_t i = 0; i < ch.size(); ++i) {
      all.push_back(ch[i]);
      if (i + 1 < ch.size()) pairs.emplace_back(ch[i], ch[i + 1]);
    }
  }
  std::vector<TaskItem> out;
  for (std::int64_t i = 0; i < job.n_items && !pairs.empty(); ++i) {
    const auto& [v, next] = pairs[rng.below(pairs.size())];
    out.push_back(with_distractors(v, next, all, job.n_choices, rng, "\n", ""));
  }
  return out;
}

std::vector<TaskItem> missing_word(const std::vector<Chapter>& chapters, const MakeTasksJob& job, SplitMix64Stream& rng) {
  std::vector<std::vector<std::string>> verses;
  std::vector<std::string> pool;
  for (const auto& ch : chapters) {
    for (const auto& v : ch) {
      auto w = words_of(v);
      for (const auto& x : w) {
        if (is_content_word(x)) pool.push_back(x);
      }
      if (w.size() >= 6) verses.push_back(std::move(w));
    }
  }
  std::vector<TaskItem> out;
  for (std::int64_t i = 0, tries = 0; i < job.n_items && !verses.empty() && tries < 100 * job.n_items; ++tries) {
    const auto& w = verses[rng.below(verses.size())];
    const auto k = 2 + rng.below(w.size() - 3);  // a word in [2, len - 2]
    if (!is_content_word(w[k])) continue;
    const std::string rest = " " + join(w, k + 1, w.size());
    out.push_back(with_distractors(join(w, 0, k), w[k], pool, job.n_choices, rng, " ", rest));
    ++i;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> kNames = {"kjv_missing_word", "kjv_next_verse", "kjv_next_words"};
  return kNames;
}

MakeTasksResult make_tasks(const MakeTasksJob& job) {
  if (job.n_items < 1 || job.n_choices < 2) throw UsageError("make-tasks: need n_items >= 1 and n_choices >= 2");
  const auto chapters = read_chapters(job.path_heldout);
  std::error_code ec;
  fs::create_directories(job.out_dir, ec);
  if (ec) throw WriteError(job.out_dir.string() + ": cannot create the task directory (" + ec.message() + ")");
  MakeTasksResult result;
  for (std::size_t t = 0; t < task_names().size(); ++t) {
    const auto& name = task_names()[t];
    // One stream per task, so that adding a task never changes another's items.
    SplitMix64Stream rng(job.seed * 0x9e3779b97f4a7c15ull + t + 1);
    const auto items = name == "kjv_missing_word" ? missing_word(chapters, job, rng)
                       : name == "kjv_next_verse" ? next_verse(chapters, job, rng)
                                                  : next_words(chapters, job, rng);
    if (items.empty()) throw CorruptDataError(job.path_heldout.string() + ": too little held-out text to make " + name);
    const auto path = job.out_dir / (name + ".jsonl");
    write_task_file(path, items);
    result.files.push_back(path);
    result.n_items.push_back(static_cast<std::int64_t>(items.size()));
  }
  return result;
}

void write_task_file(const fs::path& path, const std::vector<TaskItem>& items) {
  std::string out;
  for (const auto& it : items) {
    out += nlohmann::json{{"context", it.context}, {"choices", it.choices}, {"gold", it.gold}}.dump() + "\n";
  }
  io::write_file_atomic(path, out);
}

std::vector<TaskItem> read_task_file(const fs::path& path) {
  if (!fs::exists(path)) throw MissingInputError(path.string() + ": task file not found");
  std::istringstream in(io::read_file(path));
  std::vector<TaskItem> items;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(line_no) + ": ";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw CorruptDataError(where + "not valid JSON (" + e.what() + "); expected {\"context\", \"choices\", \"gold\"}");
    }
    if (!j.is_object() || !j.contains("context") || !j["context"].is_string()) {
      throw CorruptDataError(where + "'context' must be a string");
    }
    if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].size() < 2) {
      throw CorruptDataError(where + "'choices' must be a list of at least 2 strings");
    }
    TaskItem it;
    it.context = j["context"].get<std::string>();
    for (const auto& c : j["choices"]) {
      if (!c.is_string() || c.get<std::string>().empty()) throw CorruptDataError(where + "every choice must be a non-empty string");
      it.choices.push_back(c.get<std::string>());
    }
    if (!j.contains("gold") || !j["gold"].is_number_integer() || j["gold"].get<std::int64_t>() < 0 ||
        j["gold"].get<std::int64_t>() >= static_cast<std::int64_t>(it.choices.size())) {
      throw CorruptDataError(where + "'gold' must be an integer index into 'choices' (0.." +
                             std::to_string(it.choices.size() - 1) + ")");
    }
    it.gold = j["gold"].get<std::int64_t>();
    items.push_back(std::move(it));
  }
  if (items.empty()) throw CorruptDataError(path.string() + ": no items; expected one JSON object per line");
  return items;
}

}  // namespace ibzoo::zoo
