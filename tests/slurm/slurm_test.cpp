// Tests of slurm/ without a cluster: the slurm: section parser, slicing and array
// splitting, the generated scripts (syntax, quoting, signal forwarding with fake
// ibzoo/scontrol executables) and the subprocess runner. The real-cluster tests are
// tests/scripts/slurm_*_test.sh.
#include "slurm/arrays.h"
#include "slurm/config.h"
#include "slurm/jobs.h"
#include "slurm/process.h"
#include "slurm/script.h"
#include "slurm/submit.h"

#include "errors/error.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace ibzoo::slurm {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("ibzoo_slurm_test_" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string all_errors(const SlurmSection& s) {
  std::string out;
  for (const auto& e : s.errors) out += e + "\n";
  return out;
}

// --- the slurm: section ------------------------------------------------------------------

TEST(SlurmSectionTest, ReadsEveryKey) {
  const auto yaml = YAML::Load(R"(
partition: gpu
account: proj-42
qos: normal
time: "1-02:00:00"
nodes: 2
ntasks_per_node: 4
gpus_per_node: 4
cpus_per_task: 8
mem: 64G
array_throttle: 10
items_per_task: 3
max_array_size: 500
launcher: mpirun -x LD_LIBRARY_PATH
extra_flags: ["--constraint=a100", "--exclusive"]
signal_grace_s: 300
)");
  const auto s = parse_slurm_section(yaml, "m.yaml");
  ASSERT_TRUE(s.errors.empty()) << all_errors(s);
  SlurmConfig want;
  want.partition = "gpu";
  want.account = "proj-42";
  want.qos = "normal";
  want.time = "1-02:00:00";
  want.nodes = 2;
  want.ntasks_per_node = 4;
  want.gpus_per_node = 4;
  want.cpus_per_task = 8;
  want.mem = "64G";
  want.array_throttle = 10;
  want.items_per_task = 3;
  want.max_array_size = 500;
  want.launcher = {"mpirun", "-x", "LD_LIBRARY_PATH"};
  want.extra_flags = {"--constraint=a100", "--exclusive"};
  want.signal_grace_s = 300;
  EXPECT_EQ(s.config, want);
}

TEST(SlurmSectionTest, MissingSectionGivesDefaults) {
  const auto yaml = YAML::Load("study: x\n");
  const auto s = parse_slurm_section(yaml["slurm"], "m.yaml");
  EXPECT_TRUE(s.errors.empty());
  EXPECT_EQ(s.config, SlurmConfig{});
  EXPECT_EQ(s.config.launcher, (std::vector<std::string>{"srun", "--mpi=pmix"}));
}

TEST(SlurmSectionTest, ReportsEveryProblemWithFileAndLine) {
  const auto yaml = YAML::Load(R"(slurm:
  partiton: gpu
  time: two hours
  nodes: 0
  ntasks_per_node: four
  mem: lots
  extra_flags: --exclusive
  signal_grace_s: 70000
  account: [a, b]
)");
  const auto s = parse_slurm_section(yaml["slurm"], "sweeps/big.yaml");
  ASSERT_EQ(s.errors.size(), 8u) << all_errors(s);
  EXPECT_EQ(s.errors[0].rfind("sweeps/big.yaml:2: slurm.partiton: unknown key; known keys:", 0), 0u) << s.errors[0];
  EXPECT_NE(s.errors[1].find("sweeps/big.yaml:3: slurm.time: expected a Slurm time limit"), std::string::npos);
  EXPECT_NE(s.errors[1].find("got \"two hours\""), std::string::npos);
  EXPECT_NE(s.errors[2].find(":4: slurm.nodes: expected an integer in [1, 100000], got 0"), std::string::npos);
  EXPECT_NE(s.errors[3].find(":5: slurm.ntasks_per_node: expected an integer"), std::string::npos);
  EXPECT_NE(s.errors[3].find("\"four\""), std::string::npos);
  EXPECT_NE(s.errors[4].find(":6: slurm.mem: expected a memory size"), std::string::npos);
  EXPECT_NE(s.errors[5].find(":7: slurm.extra_flags: expected a list of sbatch options"), std::string::npos);
  EXPECT_NE(s.errors[6].find(":8: slurm.signal_grace_s: expected an integer in [0, 65535], got 70000"),
            std::string::npos);
  EXPECT_NE(s.errors[7].find(":9: slurm.account: expected a string, got a list"), std::string::npos);
}

TEST(SlurmSectionTest, RejectsNewlinesAndFlagsThatAreNotOptions) {
  const auto yaml = YAML::Load("launcher: \"srun\\n rm -rf /\"\nextra_flags: [\"--exclusive\", \"rm\"]\n");
  const auto s = parse_slurm_section(yaml, "m.yaml");
  ASSERT_EQ(s.errors.size(), 2u) << all_errors(s);
  EXPECT_NE(s.errors[0].find("slurm.launcher: contains a control character"), std::string::npos);
  EXPECT_NE(s.errors[1].find("slurm.extra_flags: expected an sbatch option starting with '-'"), std::string::npos);
}

TEST(SlurmSectionTest, RejectsASectionThatIsNotAMap) {
  const auto s = parse_slurm_section(YAML::Load("[1, 2]"), "m.yaml");
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_NE(s.errors[0].find("expected a map of Slurm settings, got a list"), std::string::npos);
}

TEST(SlurmSectionTest, RoundTripsThroughJson) {
  SlurmConfig c;
  c.partition = "p";
  c.time = "10:00";
  c.gpus_per_node = 2;
  c.launcher = {"mpirun"};
  c.extra_flags = {"--exclusive"};
  EXPECT_EQ(slurm_config_from_json(to_json(c)), c);
  EXPECT_EQ(slurm_config_from_json(nlohmann::json::object()), SlurmConfig{});
  EXPECT_THROW(slurm_config_from_json({{"nodes", "two"}}), ManifestError);
}

// --- slices and arrays ---------------------------------------------------------------------

TEST(SlurmSliceTest, SlicesCoverEveryItemOnceInOrderWithBalancedSizes) {
  for (std::size_t n_items : {1u, 2u, 7u, 12u, 100u}) {
    for (int per : {1, 2, 3, 5, 200}) {
      const int n = count_slices(n_items, per);
      ASSERT_EQ(n, static_cast<int>((n_items + static_cast<std::size_t>(per) - 1) / static_cast<std::size_t>(per)));
      std::size_t next = 0, smallest = n_items, largest = 0;
      for (int k = 0; k < n; ++k) {
        const auto [first, last] = slice_bounds(n_items, k, n);
        EXPECT_EQ(first, next) << n_items << " items, slice " << k << "/" << n;
        smallest = std::min(smallest, last - first);
        largest = std::max(largest, last - first);
        next = last;
      }
      EXPECT_EQ(next, n_items);
      EXPECT_LE(largest, static_cast<std::size_t>(per));
      EXPECT_LE(largest - smallest, 1u);
      EXPECT_GE(smallest, 1u);
    }
  }
}

TEST(SlurmSliceTest, CompressesRanges) {
  EXPECT_EQ(compress_ranges({}), "");
  EXPECT_EQ(compress_ranges({4}), "4");
  EXPECT_EQ(compress_ranges({0, 1, 2, 3, 5, 7, 8, 9}), "0-3,5,7-9");
  EXPECT_EQ(compress_ranges({1, 3}), "1,3");
}

TEST(SlurmSliceTest, SplitsArraysSoThatIndicesStayBelowMaxArraySize) {
  std::vector<int> all(12);
  for (int i = 0; i < 12; ++i) all[static_cast<std::size_t>(i)] = i;
  const auto chunks = split_into_arrays(all, 5, 2);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0], (ArrayChunk{0, {0, 1, 2, 3, 4}, "0-4%2"}));
  EXPECT_EQ(chunks[1], (ArrayChunk{5, {0, 1, 2, 3, 4}, "0-4%2"}));
  EXPECT_EQ(chunks[2], (ArrayChunk{10, {0, 1}, "0-1%2"}));
  // Every slice exactly once, every index below the limit.
  std::vector<int> seen;
  for (const auto& c : chunks) {
    for (int i : c.indices) {
      EXPECT_LT(i, 5);
      seen.push_back(c.offset + i);
    }
  }
  EXPECT_EQ(seen, all);
}

TEST(SlurmSliceTest, SplitsASparseResubmissionWithoutThrottle) {
  const auto chunks = split_into_arrays({3, 4, 6, 11}, 5, 0);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0], (ArrayChunk{0, {3, 4}, "3-4"}));
  EXPECT_EQ(chunks[1], (ArrayChunk{5, {1}, "1"}));
  EXPECT_EQ(chunks[2], (ArrayChunk{10, {1}, "1"}));
}

TEST(SlurmSliceTest, FindsSlicesWithUnfinishedItemsFromDoneMarkers) {
  TempDir tmp;
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e", "f", "g"};
  // 7 items in 4 slices: [a] [b c] [d e] [f g]... balanced: 0-1, 1-3, 3-5, 5-7.
  for (const auto& id : {"a", "b", "c", "e", "g"}) write_text(tmp.path() / "items" / id / "DONE", "{}");
  fs::create_directories(tmp.path() / "items" / "f");  // partial: no DONE marker
  EXPECT_EQ(unfinished_slices(tmp.path(), ids, 4), (std::vector<int>{2, 3}));
  write_text(tmp.path() / "items" / "d" / "DONE", "{}");
  write_text(tmp.path() / "items" / "f" / "DONE", "{}");
  EXPECT_TRUE(unfinished_slices(tmp.path(), ids, 4).empty());
}

// --- scripts --------------------------------------------------------------------------------

SubmitContext make_context(const fs::path& root) {
  SubmitContext ctx;
  ctx.path_ibzoo = root / "bin dir" / "ibzoo";
  ctx.path_manifest = root / "it's a manifest.yaml";
  ctx.path_run = root / "run";
  ctx.config.partition = "debug";
  ctx.config.time = "00:10:00";
  ctx.config.ntasks_per_node = 2;
  ctx.config.mem = "1G";
  ctx.config.extra_flags = {"--exclusive"};
  ctx.n_slices = 12;
  return ctx;
}

TEST(SlurmScriptTest, AccumulateScriptCarriesResourcesAndTheSliceCommand) {
  const auto ctx = make_context("/scratch/study");
  const auto s = make_script(ctx, JobKind::kAccumulate);
  EXPECT_EQ(s.rfind("#!/bin/bash\n", 0), 0u);
  for (const char* line : {"#SBATCH --partition=debug\n", "#SBATCH --time=00:10:00\n", "#SBATCH --nodes=1\n",
                           "#SBATCH --ntasks-per-node=2\n", "#SBATCH --mem=1G\n", "#SBATCH --requeue\n",
                           "#SBATCH --signal=B:USR1@120\n", "#SBATCH --exclusive\n", "set -euo pipefail\n",
                           "n_slices=12\n", "ibzoo='/scratch/study/bin dir/ibzoo'\n",
                           "manifest='/scratch/study/it'\\''s a manifest.yaml'\n", "trap 'forward USR1' USR1\n",
                           "SLURM_JOB_NODELIST", "srun --mpi=pmix \"$ibzoo\" run \"$manifest\" --run-dir "
                           "\"$run_dir\" --stage accumulate --slice \"${slice}/${n_slices}\" --quiet --progress lines &\n"}) {
    EXPECT_NE(s.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << s;
  }
  EXPECT_EQ(s.find("--gpus-per-node"), std::string::npos);
  EXPECT_EQ(s.find("--account"), std::string::npos);
  EXPECT_EQ(s.find("analyze.done"), std::string::npos);
}

TEST(SlurmScriptTest, MetricsAndAnalysisRunOneTaskAndAnalysisMarksItsSuccess) {
  auto ctx = make_context("/r");
  ctx.config.gpus_per_node = 4;
  const auto metrics = make_script(ctx, JobKind::kMetrics);
  EXPECT_NE(metrics.find("#SBATCH --ntasks=1\n"), std::string::npos);
  EXPECT_EQ(metrics.find("--gpus-per-node"), std::string::npos);
  EXPECT_NE(metrics.find("--stage metrics --quiet --progress lines &"), std::string::npos);
  const auto analyze = make_script(ctx, JobKind::kAnalyze);
  EXPECT_NE(analyze.find("--stage analyze --quiet --progress lines &"), std::string::npos);
  EXPECT_NE(analyze.find("$run_dir/slurm/analyze.done"), std::string::npos);
  EXPECT_NE(make_script(ctx, JobKind::kAccumulate).find("#SBATCH --gpus-per-node=4\n"), std::string::npos);
}

TEST(SlurmScriptTest, ScriptsAreValidBash) {
  TempDir tmp;
  const auto ctx = make_context(tmp.path());
  for (const auto kind : {JobKind::kAccumulate, JobKind::kMetrics, JobKind::kAnalyze}) {
    const auto path = tmp.path() / (to_string(kind) + ".sbatch");
    write_text(path, make_script(ctx, kind));
    const auto r = run_process({"bash", "-n", path.string()});
    EXPECT_EQ(r.exit_code, 0) << to_string(kind) << ": " << r.err;
  }
}

TEST(SlurmScriptTest, SbatchLineHasArrayDependencyLogAndOffset) {
  const auto ctx = make_context("/r");
  const auto argv = sbatch_argv(ctx, JobKind::kAccumulate, ArrayChunk{5, {0, 1}, "0-1%2"}, {});
  EXPECT_EQ(argv, (std::vector<std::string>{"sbatch", "--parsable", "--output=/r/run/slurm/logs/accumulate_%A_%a.out",
                                            "--array=0-1%2", "/r/run/slurm/accumulate.sbatch", "5"}));
  const auto metrics = sbatch_argv(ctx, JobKind::kMetrics, std::nullopt, {"11", "12"});
  EXPECT_EQ(metrics, (std::vector<std::string>{"sbatch", "--parsable", "--output=/r/run/slurm/logs/metrics_%j.out",
                                              "--dependency=afterok:11:12", "/r/run/slurm/metrics.sbatch"}));
}

// Runs the generated accumulate script outside Slurm with a fake ibzoo and a fake scontrol.
class FakeJob {
 public:
  explicit FakeJob(const std::string& ibzoo_body) {
    ctx_ = make_context(tmp_.path());
    ctx_.config.launcher = {"env"};  // stands in for srun: runs the command as is
    write_text(ctx_.path_ibzoo, "#!/bin/bash\n" + ibzoo_body);
    fs::permissions(ctx_.path_ibzoo, fs::perms::owner_all);
    write_text(bin() / "scontrol", "#!/bin/bash\necho \"$@\" > \"" + (tmp_.path() / "scontrol.args").string() + "\"\n");
    fs::permissions(bin() / "scontrol", fs::perms::owner_all);
    write_text(script(), make_script(ctx_, JobKind::kAccumulate));
  }
  fs::path bin() const { return tmp_.path() / "fakebin"; }
  fs::path script() const { return tmp_.path() / "accumulate.sbatch"; }
  const fs::path& root() const { return tmp_.path(); }
  // bash -c wrapper: sets the Slurm variables, starts the script, optionally signals it.
  ProcessResult run(const std::string& signal_after_start) const {
    const std::string cmd = "export PATH=" + shell_quote(bin().string()) +
                            ":$PATH SLURM_JOB_ID=77 SLURM_ARRAY_JOB_ID=70 SLURM_ARRAY_TASK_ID=2 "
                            "SLURM_JOB_NODELIST=node1; bash " + shell_quote(script().string()) + " 5 & pid=$!; " +
                            (signal_after_start.empty()
                                 ? ""
                                 : "while [ ! -e " + shell_quote((root() / "started").string()) +
                                       " ]; do sleep 0.05; done; kill -" + signal_after_start + " $pid; ") +
                            "wait $pid";
    return run_process({"bash", "-c", cmd});
  }

 private:
  TempDir tmp_;
  SubmitContext ctx_;
};

TEST(SlurmScriptTest, AccumulateScriptRunsItsSliceOfThePlan) {
  FakeJob job("printf '%s\\n' \"$@\" > \"$(dirname \"$0\")/../args\"\n");
  const auto r = job.run("");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("job 77 (array 70_2), slice 7/12, nodes node1"), std::string::npos) << r.out;
  const auto args = read_text(job.root() / "args");
  EXPECT_EQ(args, "run\n" + (job.root() / "it's a manifest.yaml").string() + "\n--run-dir\n" +
                      (job.root() / "run").string() + "\n--stage\naccumulate\n--slice\n7/12\n--quiet\n--progress\nlines\n");
  EXPECT_FALSE(fs::exists(job.root() / "scontrol.args"));
}

// USR1 (time limit near): the step gets USR1, finishes its item, and the job requeues itself.
TEST(SlurmScriptTest, TimeLimitSignalIsForwardedAndTheJobRequeuesItself) {
  FakeJob job("trap 'echo wrote-last-item > \"$(dirname \"$0\")/../finished\"; exit 3' USR1\n"
              "touch \"$(dirname \"$0\")/../started\"\nwhile true; do sleep 0.05; done\n");
  const auto r = job.run("USR1");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_EQ(read_text(job.root() / "finished"), "wrote-last-item\n");
  EXPECT_EQ(read_text(job.root() / "scontrol.args"), "requeue 77\n");
  EXPECT_NE(r.err.find("caught SIGUSR1"), std::string::npos) << r.err;
}

// TERM (scancel, preemption): forwarded as USR1 too, but the job does not requeue itself.
TEST(SlurmScriptTest, CancelSignalIsForwardedWithoutRequeue) {
  FakeJob job("trap 'touch \"$(dirname \"$0\")/../finished\"; exit 4' USR1\n"
              "touch \"$(dirname \"$0\")/../started\"\nwhile true; do sleep 0.05; done\n");
  const auto r = job.run("TERM");
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_TRUE(fs::exists(job.root() / "finished"));
  EXPECT_FALSE(fs::exists(job.root() / "scontrol.args"));
}

// --- records, subprocesses, quoting ----------------------------------------------------------

TEST(SlurmRecordTest, RunWithoutJobsHasNoStatesAndNothingToCancel) {
  TempDir tmp;
  EXPECT_TRUE(query_jobs(tmp.path()).empty());
  EXPECT_TRUE(cancel_jobs(tmp.path()).empty());
}

TEST(SlurmRecordTest, CorruptJobsFileIsReportedWithWhatToDo) {
  TempDir tmp;
  write_text(tmp.path() / "slurm" / "jobs.json", "{\"submissions\": 3");
  try {
    query_jobs(tmp.path());
    FAIL() << "expected CorruptDataError";
  } catch (const CorruptDataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("jobs.json: not a valid jobs record"), std::string::npos) << what;
    EXPECT_NE(what.find("scancel"), std::string::npos) << what;
  }
}

TEST(SlurmProcessTest, CapturesOutputErrorAndExitCode) {
  const auto r = run_process({"bash", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(SlurmProcessTest, PassesArgumentsWithoutAShell) {
  const auto r = run_process({"printf", "%s|", "a b", "$(touch /tmp/x)", "'q'"});
  EXPECT_EQ(r.out, "a b|$(touch /tmp/x)|'q'|");
}

TEST(SlurmProcessTest, MissingProgramIsAnError) {
  try {
    run_process({"ibzoo-no-such-program-xyz"});
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run 'ibzoo-no-such-program-xyz'"), std::string::npos) << e.what();
  }
}

TEST(SlurmProcessTest, ShellQuotingSurvivesBash) {
  for (const std::string word : {"plain", "with space", "it's", "$HOME", "a\"b", "*", "", "x;rm -rf y", "--a=b"}) {
    const auto r = run_process({"bash", "-c", "printf %s " + shell_quote(word)});
    EXPECT_EQ(r.out, word) << shell_quote(word);
  }
}

}  // namespace
}  // namespace ibzoo::slurm
