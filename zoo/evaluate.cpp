// Evaluate stage: trained checkpoints + task files -> lm-evaluation-harness results
// JSON, which the study manifest lists as benchmarks (regress joins them).
#include "zoo/evaluate.h"

#include "errors/error.h"
#include "io/fs.h"
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
                                   std::int64_t batch_size) {
  std::vector<double> ll(requests.size(), 0.0);
  const auto v = model.vocab_size();
  for (std::size_t start = 0; start < requests.size(); start += static_cast<std::size_t>(batch_size)) {
    const auto end = std::min(requests.size(), start + static_cast<std::size_t>(batch_size));
    std::vector<std::vector<std::int32_t>> seqs;
    for (std::size_t i = start; i < end; ++i) seqs.push_back(requests[i].ids);
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

TaskScore score_task(const models::Model& model, const hf::Tokenizer& tok, const fs::path& path,
                     const EvaluateJob& job) {
  auto items = read_task_file(path);
  if (job.limit > 0 && static_cast<std::int64_t>(items.size()) > job.limit) items.resize(static_cast<std::size_t>(job.limit));
  const auto ll = choice_log_likelihoods(model, tok, items, job.batch_size);
  TaskScore s{path.stem().string(), static_cast<std::int64_t>(items.size()), 0, 0, 0, 0, 0};
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

}  // namespace

std::vector<double> choice_log_likelihoods(const models::Model& model, const hf::Tokenizer& tokenizer,
                                           const std::vector<TaskItem>& items, std::int64_t batch_size) {
  std::vector<Request> requests;
  const auto eot = end_of_text(tokenizer);
  for (const auto& it : items) {
    for (const auto& c : it.choices) {
      requests.push_back(make_request(tokenizer, it.context, c, model.config().max_position_embeddings, eot));
    }
  }
  return score_requests(model, requests, batch_size);
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
  j["config"] = {{"model", "ibzoo"}, {"model_args", "pretrained=" + job.model_dir.string()},
                 {"batch_size", job.batch_size}, {"limit", job.limit == 0 ? nlohmann::json(nullptr) : nlohmann::json(job.limit)}};
  j["model_name"] = name;
  j["total_evaluation_time_seconds"] = std::to_string(result.seconds);
  return j;
}

EvaluateResult evaluate(const EvaluateJob& job) {
  const auto start = std::chrono::steady_clock::now();
  const auto files = expand_task_paths(job.task_paths);
  models::RunOptions options;
  options.threads = job.threads;
  const auto model = models::Model::load(job.model_dir, options);
  const auto tok = hf::Tokenizer::from_file(job.model_dir);
  EvaluateResult result;
  for (const auto& f : files) result.tasks.push_back(score_task(*model, tok, f, job));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::error_code ec;
  if (job.path_out.has_parent_path()) fs::create_directories(job.path_out.parent_path(), ec);
  if (ec) throw WriteError(job.path_out.string() + ": cannot create its directory (" + ec.message() + ")");
  io::write_file_atomic(job.path_out, results_json(job, result).dump(2) + "\n");
  return result;
}

}  // namespace ibzoo::zoo
