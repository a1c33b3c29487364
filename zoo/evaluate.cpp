// Evaluate stage: trained checkpoints + task files -> lm-evaluation-harness results
// JSON, which the study manifest lists as benchmarks (regress joins them).
#include "zoo/evaluate.h"

#include "errors/error.h"
#include "io/fs.h"
#include "hf/config.h"
#include "hf/tokenizer.h"
#include "models/model.h"
#include "zoo/tasks.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <cmath>

namespace ibzoo::zoo {

namespace fs = std::filesystem;

std::size_t argmax_first(const std::vector<double>& values) {
  return static_cast<std::size_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

double mean_stderr(const std::vector<double>& values) {
  const auto n = values.size();
  if (n < 2) return 0.0;
  double mean = 0.0;
  for (const auto v : values) mean += v;
  mean /= static_cast<double>(n);
  double ss = 0.0;
  for (const auto v : values) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(n - 1)) / std::sqrt(static_cast<double>(n));
}

std::vector<fs::path> expand_task_paths(const std::vector<fs::path>& paths) {
  std::vector<fs::path> out;
  for (const auto& p : paths) {
    if (!fs::exists(p)) throw MissingInputError(p.string() + ": task file or directory not found");
    if (!fs::is_directory(p)) {
      out.push_back(p);
      continue;
    }
    std::vector<fs::path> in_dir;
    for (const auto& e : fs::directory_iterator(p)) {
      if (e.is_regular_file() && e.path().extension() == ".jsonl") in_dir.push_back(e.path());
    }
    if (in_dir.empty()) throw MissingInputError(p.string() + ": no *.jsonl task files in this directory; run make-tasks");
    std::sort(in_dir.begin(), in_dir.end());
    out.insert(out.end(), in_dir.begin(), in_dir.end());
  }
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) { return a.stem() < b.stem(); });
  return out;
}

namespace {

// One (item, choice) scoring request: the whole token sequence and where the choice starts.
struct Request {
  std::vector<std::int32_t> ids;
  std::size_t first_choice_token = 0;
};

Request make_request(const hf::Tokenizer& tok, const std::string& context, const std::string& choice,
                     std::int64_t max_len, std::int32_t eot) {
  auto ctx = tok.encode(context, false);
  auto whole = tok.encode(context + choice, false);
  if (ctx.empty()) {
    ctx = {eot};
    whole.insert(whole.begin(), eot);
  }
  // The harness splits the joint encoding where the context's encoding ends.
  std::size_t split = std::min(ctx.size(), whole.size() - 1);
  if (split == 0) split = 1;
  const auto over = static_cast<std::int64_t>(whole.size()) - max_len;
  if (over > 0) {  // cut the context from the left, as the harness does
    const auto cut = static_cast<std::size_t>(std::min<std::int64_t>(over, static_cast<std::int64_t>(split) - 1));
    whole.erase(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
    split -= cut;
  }
  return {std::move(whole), split};
}

std::vector<double> score_requests(const models::Model& model, const std::vector<Request>& requests,
                                   std::int64_t batch_size, bool on_device) {
  std::vector<double> ll(requests.size(), 0.0);
  const auto v = model.vocab_size();
  for (std::size_t start = 0; start < requests.size(); start += static_cast<std::size_t>(batch_size)) {
    const auto end = std::min(requests.size(), start + static_cast<std::size_t>(batch_size));
    std::vector<std::vector<std::int32_t>> seqs;
    for (std::size_t i = start; i < end; ++i) seqs.push_back(requests[i].ids);
    if (on_device) {
      // log p of token j given the tokens before it is logp[j - 1].
      const auto logp = model.next_token_log_probs(seqs);
      for (std::size_t i = start; i < end; ++i) {
        const auto& r = requests[i];
        double sum = 0.0;
        for (std::size_t j = r.first_choice_token; j < r.ids.size(); ++j) sum += logp[i - start][j - 1];
        ll[i] = sum;
      }
      continue;
    }
    auto logits = model.logits(seqs);
    for (std::size_t i = start; i < end; ++i) {
      auto& rows = logits[i - start];
      const auto& r = requests[i];
      const auto n_cols = static_cast<std::size_t>(v);
      // Only the rows that predict the choice's tokens need normalising.
      const std::span<float> needed(rows.data() + (r.first_choice_token - 1) * n_cols,
                                    (r.ids.size() - r.first_choice_token) * n_cols);
      models::log_softmax_rows(needed, v);
      double sum = 0.0;
      for (std::size_t j = r.first_choice_token; j < r.ids.size(); ++j) {
        sum += needed[(j - r.first_choice_token) * n_cols + static_cast<std::size_t>(r.ids[j])];
      }
      ll[i] = sum;
    }
  }
  return ll;
}

std::int32_t end_of_text(const hf::Tokenizer& tok) { return tok.eos_id() ? *tok.eos_id() : tok.bos_id() ? *tok.bos_id() : 0; }

std::vector<Request> make_requests(const hf::Tokenizer& tokenizer, const std::vector<TaskItem>& items, std::int64_t max_len) {
  std::vector<Request> requests;
  const auto eot = end_of_text(tokenizer);
  for (const auto& it : items) {
    for (const auto& c : it.choices) requests.push_back(make_request(tokenizer, it.context, c, max_len, eot));
  }
  return requests;
}

// acc and acc_norm of one task from its (item, choice) log-likelihoods.
TaskScore score_items(const std::string& task, const std::vector<TaskItem>& items, const std::vector<double>& ll) {
  TaskScore s{task, static_cast<std::int64_t>(items.size()), 0, 0, 0, 0, 0};
  std::vector<double> acc, acc_norm;
  std::size_t k = 0;
  for (const auto& it : items) {
    std::vector<double> raw, norm;
    for (const auto& c : it.choices) {
      raw.push_back(ll[k]);
      norm.push_back(ll[k] / static_cast<double>(c.size()));
      ++k;
    }
    s.n_choices = std::max(s.n_choices, static_cast<std::int64_t>(it.choices.size()));
    acc.push_back(argmax_first(raw) == static_cast<std::size_t>(it.gold) ? 1.0 : 0.0);
    acc_norm.push_back(argmax_first(norm) == static_cast<std::size_t>(it.gold) ? 1.0 : 0.0);
  }
  const auto mean = [](const std::vector<double>& x) {
    double m = 0.0;
    for (const auto y : x) m += y;
    return m / static_cast<double>(x.size());
  };
  s.acc = mean(acc);
  s.acc_norm = mean(acc_norm);
  s.acc_stderr = mean_stderr(acc);
  s.acc_norm_stderr = mean_stderr(acc_norm);
  return s;
}

struct LoadedTask {
  std::string name;
  std::vector<TaskItem> items;
};

std::vector<LoadedTask> load_tasks(const std::vector<fs::path>& paths, std::int64_t limit) {
  std::vector<LoadedTask> tasks;
  for (const auto& f : expand_task_paths(paths)) {
    auto items = read_task_file(f);
    if (limit > 0 && static_cast<std::int64_t>(items.size()) > limit) items.resize(static_cast<std::size_t>(limit));
    tasks.push_back({f.stem().string(), std::move(items)});
  }
  return tasks;
}

models::RunOptions run_options(const std::string& device, int threads) {
  models::RunOptions options;
  options.device = models::parse_device(device);
  options.threads = threads;
  return options;
}

void write_results(const EvaluateJob& job, const EvaluateResult& result) {
  std::error_code ec;
  if (job.path_out.has_parent_path()) fs::create_directories(job.path_out.parent_path(), ec);
  if (ec) throw WriteError(job.path_out.string() + ": cannot create its directory (" + ec.message() + ")");
  io::write_file_atomic(job.path_out, results_json(job, result).dump(2) + "\n");
}

}  // namespace

std::vector<double> choice_log_likelihoods(const models::Model& model, const hf::Tokenizer& tokenizer,
                                           const std::vector<TaskItem>& items, std::int64_t batch_size, bool on_device) {
  const auto requests = make_requests(tokenizer, items, model.config().max_position_embeddings);
  return score_requests(model, requests, batch_size, on_device || model.options().device == models::Device::Cuda);
}

nlohmann::json results_json(const EvaluateJob& job, const EvaluateResult& result) {
  nlohmann::json j = {{"results", nlohmann::json::object()}, {"group_subtasks", nlohmann::json::object()},
                      {"configs", nlohmann::json::object()}, {"versions", nlohmann::json::object()},
                      {"n-shot", nlohmann::json::object()}, {"n-samples", nlohmann::json::object()}};
  for (const auto& t : result.tasks) {
    j["results"][t.task] = {{"alias", t.task},
                            {"acc,none", t.acc},
                            {"acc_stderr,none", t.acc_stderr},
                            {"acc_norm,none", t.acc_norm},
                            {"acc_norm_stderr,none", t.acc_norm_stderr}};
    j["group_subtasks"][t.task] = nlohmann::json::array();
    j["configs"][t.task] = {{"task", t.task},
                            {"output_type", "multiple_choice"},
                            {"num_fewshot", 0},
                            {"target_delimiter", ""},
                            {"metric_list", {{{"metric", "acc"}}, {{"metric", "acc_norm"}}}}};
    j["versions"][t.task] = 1.0;
    j["n-shot"][t.task] = 0;
    j["n-samples"][t.task] = {{"original", t.n_items}, {"effective", t.n_items}};
  }
  const std::string name = job.model_name.empty() ? job.model_dir.filename().string() : job.model_name;
  const std::string revision = job.revision.empty() ? std::string() : ",revision=" + job.revision;
  j["config"] = {{"model", "ibzoo"}, {"model_args", "pretrained=" + job.model_dir.string() + revision},
                 {"batch_size", job.batch_size}, {"limit", job.limit == 0 ? nlohmann::json(nullptr) : nlohmann::json(job.limit)}};
  j["model_name"] = name;
  j["total_evaluation_time_seconds"] = std::to_string(result.seconds);
  return j;
}

EvaluateResult evaluate(const EvaluateJob& job) {
  const auto start = std::chrono::steady_clock::now();
  const auto tasks = load_tasks(job.task_paths, job.limit);
  const auto model = models::Model::load(job.model_dir, run_options(job.device, job.threads));
  const auto tok = hf::Tokenizer::from_file(job.model_dir);
  EvaluateResult result;
  for (const auto& t : tasks) {
    result.tasks.push_back(score_items(t.name, t.items, choice_log_likelihoods(*model, tok, t.items, job.batch_size)));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_results(job, result);
  return result;
}

EvaluateZooResult evaluate_zoo(const EvaluateZooJob& job) {
  const auto start = std::chrono::steady_clock::now();
  const auto zoo_json = job.zoo_dir / "zoo.json";
  if (!fs::exists(zoo_json)) {
    throw MissingInputError(zoo_json.string() + " not found: give the out_dir of a zoo trained by ibzoo train");
  }
  nlohmann::json zoo;
  try {
    zoo = nlohmann::json::parse(io::read_file(zoo_json));
  } catch (const nlohmann::json::exception& e) {
    throw CorruptDataError(zoo_json.string() + ": not valid JSON (" + e.what() + "); retrain with ibzoo train --force");
  }
  const auto tasks = load_tasks(job.task_paths, job.limit);
  const auto options = run_options(job.device, job.threads);
  EvaluateZooResult result;
  for (const auto& m : zoo.value("models", nlohmann::json::array())) {
    const auto id = m.value("id", "");
    auto checkpoints = m.value("checkpoints", nlohmann::json::array());
    if (id.empty() || checkpoints.empty()) {
      throw CorruptDataError(zoo_json.string() + ": a model without an id or checkpoints; retrain with ibzoo train --force");
    }
    if (!job.all_checkpoints) checkpoints = nlohmann::json::array({checkpoints.back()});
    const fs::path first = checkpoints.front().value("path", "");
    const auto tok = hf::Tokenizer::from_file(first);
    const auto max_len = hf::read_model_config(first).max_position_embeddings;
    std::vector<std::vector<Request>> requests;  // per task: the same for every checkpoint of the model
    for (const auto& t : tasks) requests.push_back(make_requests(tok, t.items, max_len));
    for (const auto& c : checkpoints) {
      EvaluateJob one;
      one.model_dir = c.value("path", "");
      one.task_paths = job.task_paths;
      one.model_name = id;
      one.revision = c.value("name", "");
      one.limit = job.limit;
      one.batch_size = job.batch_size;
      one.threads = job.threads;
      one.device = job.device;
      one.path_out = job.out_dir / id / (one.revision + ".json");
      if (!fs::exists(one.model_dir)) {
        throw MissingInputError(one.model_dir.string() + ": checkpoint directory of " + id + " (zoo.json) not found; "
                                "retrain the zoo with ibzoo train");
      }
      const auto t0 = std::chrono::steady_clock::now();
      const auto model = models::Model::load(one.model_dir, options);
      EvaluateResult r;
      for (std::size_t k = 0; k < tasks.size(); ++k) {
        r.tasks.push_back(score_items(tasks[k].name, tasks[k].items,
                                      score_requests(*model, requests[k], job.batch_size, options.device == models::Device::Cuda)));
      }
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      write_results(one, r);
      result.files.push_back(one.path_out);
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ibzoo::zoo
