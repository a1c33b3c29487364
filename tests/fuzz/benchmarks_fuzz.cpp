// libFuzzer target: the benchmark-score readers (scores/benchmarks.h), every format.
// The input is written once as a .json and once as a .csv file and read by
// read_lm_eval_json (with and without normalisation, with a metric and filter),
// read_every_eval_ever, read_leaderboard_csv (v2 both column sets, v1, every
// duplicates policy), read_long_csv and read_benchmark_file (detected format); scores
// that come out are joined to two model ids, and per checkpoint. Any ibzoo::Error is an expected rejection; anything else is a
// finding.
#include "errors/error.h"
#include "scores/benchmarks.h"
#include "io/log.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <functional>

namespace {

void join(const std::vector<ibzoo::scores::BenchmarkScore>& scores) {
  try {
    (void)ibzoo::scores::join_scores(scores, {"pythia-160m", "EleutherAI/pythia-410m"}, true);
  } catch (const ibzoo::Error&) {
  }
  try {
    ibzoo::scores::JoinOptions o;
    o.ignore_unknown_models = true;
    o.aliases = {{"Pythia", "pythia-160m"}};
    o.checkpoints["pythia-160m"] = {{"step1000", 1000}, {"final", 143000}};
    (void)ibzoo::scores::join_scores(scores, {{"pythia-160m", "step1000"}, {"pythia-160m", "final"}}, o);
  } catch (const ibzoo::Error&) {
  }
}

void attempt(const std::function<std::vector<ibzoo::scores::BenchmarkScore>()>& read) {
  try {
    join(read());
  } catch (const ibzoo::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace io = ibzoo::io;
  namespace scores = ibzoo::scores;
  static const bool quiet = [] {
    io::set_quiet(true);
    return true;
  }();
  (void)quiet;
  const auto json = ibzoo::fuzz::write_input("results.json", data, size);
  const auto csv = ibzoo::fuzz::write_input("scores.csv", data, size);
  scores::BenchmarkOptions plain;
  scores::BenchmarkOptions normalised;
  normalised.normalise = true;
  normalised.baseline_by_task = {{"arc_easy", 0.25}};
  scores::BenchmarkOptions chosen;
  chosen.tasks = {"arc_easy", "leaderboard_musr"};
  chosen.metric_by_task = {{"arc_easy", "acc,none"}};
  chosen.model = "pythia-160m";
  scores::BenchmarkOptions metric;
  metric.metric = "exact_match";
  metric.filter = "strict-match";
  metric.allow_limit = true;
  for (const auto* options : {&plain, &normalised, &chosen, &metric}) {
    attempt([&] { return scores::read_lm_eval_json(json, *options); });
  }
  attempt([&] { return scores::read_every_eval_ever(json, plain); });
  attempt([&] { return scores::read_benchmark_file(json, plain); });
  attempt([&] { return scores::read_leaderboard_csv(csv, plain); });
  attempt([&] { return scores::read_leaderboard_csv(csv, normalised); });
  for (const char* policy : {"first", "best", "error"}) {
    scores::BenchmarkOptions o;
    o.format = "leaderboard-v1";
    o.duplicates = policy;
    attempt([&] { return scores::read_leaderboard_csv(csv, o); });
  }
  attempt([&] { return scores::read_long_csv(csv); });
  attempt([&] { return scores::read_benchmarks(csv, plain); });
  return 0;
}
