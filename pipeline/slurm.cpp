// Slurm: turns a run's plan into sbatch scripts and job arrays, records the job ids,
// and asks squeue/scancel about them. Slurm clients run as argv subprocesses, never a shell.
#include "pipeline/slurm.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"

#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

extern char** environ;

namespace ibzoo::pipeline {

namespace fs = std::filesystem;

constexpr int kSlurmDefaultMaxArraySize = 1001;  // Slurm's own default

// ---------------------------------------------------------------------------------------
// Parsing the manifest's slurm: section
// ---------------------------------------------------------------------------------------
namespace {

const std::vector<std::string> kKnownKeys = {
    "partition",     "account",        "qos",         "time",           "nodes",
    "ntasks_per_node", "gpus_per_node", "cpus_per_task", "mem",          "array_throttle",
    "items_per_task", "max_array_size", "launcher",    "extra_flags",    "signal_grace_s"};

std::string join(const std::vector<std::string>& words, const std::string& sep) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream is(text);
  std::vector<std::string> words;
  for (std::string w; is >> w;) words.push_back(w);
  return words;
}

bool has_control_chars(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Collects "FILE:LINE: slurm.KEY: message" errors while reading one key at a time.
class SectionReader {
 public:
  SectionReader(const std::string& path, std::vector<std::string>& errors) : path_(path), errors_(errors) {}

  void error(const YAML::Node& node, const std::string& key, const std::string& message) {
    std::ostringstream os;
    os << path_ << ":" << node.Mark().line + 1 << ": slurm." << key << ": " << message;
    errors_.push_back(os.str());
  }

  // A string without control characters; `pattern` (if given) must match the whole value.
  void text(const YAML::Node& node, const std::string& key, std::string& out,
            const std::string& pattern = "", const std::string& expected = "") {
    if (!node.IsScalar()) return error(node, key, "expected a string, got a " + kind(node));
    const auto value = node.Scalar();
    if (value.empty()) return error(node, key, "expected a non-empty string; remove the key to use the cluster default");
    if (has_control_chars(value)) return error(node, key, "contains a control character (newline, tab, ...)");
    if (!pattern.empty() && !std::regex_match(value, std::regex(pattern))) {
      return error(node, key, "expected " + expected + ", got \"" + value + "\"");
    }
    out = value;
  }

  void integer(const YAML::Node& node, const std::string& key, int& out, int min, int max) {
    const std::string value = node.IsScalar() ? node.Scalar() : "";
    if (!node.IsScalar() || !std::regex_match(value, std::regex("[+-]?[0-9]{1,9}"))) {
      return error(node, key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                                  "], got " + (node.IsScalar() ? "\"" + value + "\"" : "a " + kind(node)));
    }
    const int v = std::stoi(value);
    if (v < min || v > max) {
      return error(node, key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                                  "], got " + value);
    }
    out = v;
  }

  static std::string kind(const YAML::Node& node) {
    if (node.IsMap()) return "map";
    if (node.IsSequence()) return "list";
    if (node.IsNull()) return "null value";
    return "scalar";
  }

 private:
  const std::string& path_;
  std::vector<std::string>& errors_;
};

// Slurm time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or UNLIMITED/infinite.
const char* const kTimePattern =
    R"(([0-9]+(:[0-9]{1,2}){0,2})|([0-9]+-[0-9]{1,2}(:[0-9]{1,2}){0,2})|UNLIMITED|unlimited|INFINITE|infinite)";
const char* const kMemPattern = R"([0-9]+[KMGT]?)";
const char* const kNamePattern = R"([A-Za-z0-9_.,:@+-]+)";

void read_key(SectionReader& r, const std::string& key, const YAML::Node& v, SlurmConfig& c) {
  const std::string name_expected = "a Slurm name (letters, digits, _ . , : @ + -)";
  if (key == "partition") return r.text(v, key, c.partition, kNamePattern, name_expected);
  if (key == "account") return r.text(v, key, c.account, kNamePattern, name_expected);
  if (key == "qos") return r.text(v, key, c.qos, kNamePattern, name_expected);
  if (key == "time") {
    return r.text(v, key, c.time, kTimePattern, "a Slurm time limit such as \"02:00:00\" or \"1-12:00:00\"");
  }
  if (key == "mem") return r.text(v, key, c.mem, kMemPattern, "a memory size such as \"16G\" or \"4000M\"");
  if (key == "nodes") return r.integer(v, key, c.nodes, 1, 100000);
  if (key == "ntasks_per_node") return r.integer(v, key, c.ntasks_per_node, 1, 100000);
  if (key == "gpus_per_node") return r.integer(v, key, c.gpus_per_node, 0, 1024);
  if (key == "cpus_per_task") return r.integer(v, key, c.cpus_per_task, 1, 100000);
  if (key == "array_throttle") return r.integer(v, key, c.array_throttle, 0, 1000000);
  if (key == "items_per_task") return r.integer(v, key, c.items_per_task, 1, 100000000);
  if (key == "max_array_size") return r.integer(v, key, c.max_array_size, 1, 100000000);
  if (key == "signal_grace_s") return r.integer(v, key, c.signal_grace_s, 0, 65535);
  if (key == "launcher") {
    std::string text;
    r.text(v, key, text);
    if (!text.empty()) c.launcher = split_words(text);
    return;
  }
  if (key == "extra_flags") {
    if (!v.IsSequence()) return r.error(v, key, "expected a list of sbatch options, got a " + SectionReader::kind(v));
    std::vector<std::string> flags;
    for (const auto& item : v) {
      std::string flag;
      r.text(item, key, flag, R"(--?[A-Za-z].*)", "an sbatch option starting with '-', e.g. \"--constraint=a100\"");
      if (!flag.empty()) flags.push_back(flag);
    }
    c.extra_flags = flags;
  }
}

}  // namespace

SlurmSection parse_slurm_section(const YAML::Node& slurm, const std::string& path_manifest) {
  SlurmSection section;
  if (!slurm.IsDefined() || slurm.IsNull()) return section;
  SectionReader reader(path_manifest, section.errors);
  if (!slurm.IsMap()) {
    reader.error(slurm, "", "expected a map of Slurm settings, got a " + SectionReader::kind(slurm));
    return section;
  }
  for (const auto& kv : slurm) {
    const auto key = kv.first.as<std::string>();
    if (std::find(kKnownKeys.begin(), kKnownKeys.end(), key) == kKnownKeys.end()) {
      reader.error(kv.first, key, "unknown key; known keys: " + join(kKnownKeys, ", "));
      continue;
    }
    read_key(reader, key, kv.second, section.config);
  }
  return section;
}

nlohmann::json to_json(const SlurmConfig& c) {
  return {{"partition", c.partition},         {"account", c.account},
          {"qos", c.qos},                     {"time", c.time},
          {"nodes", c.nodes},                 {"ntasks_per_node", c.ntasks_per_node},
          {"gpus_per_node", c.gpus_per_node}, {"cpus_per_task", c.cpus_per_task},
          {"mem", c.mem},                     {"array_throttle", c.array_throttle},
          {"items_per_task", c.items_per_task}, {"max_array_size", c.max_array_size},
          {"launcher", c.launcher},           {"extra_flags", c.extra_flags},
          {"signal_grace_s", c.signal_grace_s}};
}

SlurmConfig slurm_config_from_json(const nlohmann::json& j) {
  SlurmConfig c;
  if (j.is_null() || (j.is_object() && j.empty())) return c;
  try {
    c.partition = j.value("partition", c.partition);
    c.account = j.value("account", c.account);
    c.qos = j.value("qos", c.qos);
    c.time = j.value("time", c.time);
    c.nodes = j.value("nodes", c.nodes);
    c.ntasks_per_node = j.value("ntasks_per_node", c.ntasks_per_node);
    c.gpus_per_node = j.value("gpus_per_node", c.gpus_per_node);
    c.cpus_per_task = j.value("cpus_per_task", c.cpus_per_task);
    c.mem = j.value("mem", c.mem);
    c.array_throttle = j.value("array_throttle", c.array_throttle);
    c.items_per_task = j.value("items_per_task", c.items_per_task);
    c.max_array_size = j.value("max_array_size", c.max_array_size);
    c.launcher = j.value("launcher", c.launcher);
    c.extra_flags = j.value("extra_flags", c.extra_flags);
    c.signal_grace_s = j.value("signal_grace_s", c.signal_grace_s);
  } catch (const nlohmann::json::exception& e) {
    throw ManifestError(std::string("manifest JSON: slurm section is malformed (") + e.what() +
                        "); regenerate it from the YAML manifest");
  }
  return c;
}

// ---------------------------------------------------------------------------------------
// Slices and arrays
// ---------------------------------------------------------------------------------------

std::pair<std::size_t, std::size_t> slice_bounds(std::size_t n_items, int k, int n) {
  const auto nn = static_cast<std::size_t>(n);
  const auto kk = static_cast<std::size_t>(k);
  return {kk * n_items / nn, (kk + 1) * n_items / nn};
}

int count_slices(std::size_t n_items, int items_per_task) {
  const auto per = static_cast<std::size_t>(std::max(items_per_task, 1));
  return static_cast<int>((n_items + per - 1) / per);
}

std::vector<int> unfinished_slices(const fs::path& path_run, const std::vector<std::string>& item_ids,
                                   int n_slices) {
  std::vector<int> slices;
  for (int k = 0; k < n_slices; ++k) {
    const auto [first, last] = slice_bounds(item_ids.size(), k, n_slices);
    for (auto i = first; i < last; ++i) {
      if (!fs::exists(path_run / "items" / item_ids[i] / "DONE")) {
        slices.push_back(k);
        break;
      }
    }
  }
  return slices;
}

std::string compress_ranges(const std::vector<int>& sorted) {
  std::string out;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(sorted[i]);
    if (j > i) out += "-" + std::to_string(sorted[j]);
    i = j + 1;
  }
  return out;
}

std::vector<ArrayChunk> split_into_arrays(const std::vector<int>& slices, int max_array_size,
                                          int array_throttle) {
  std::map<int, ArrayChunk> by_offset;
  for (const int s : slices) {
    const int offset = (s / max_array_size) * max_array_size;
    auto& chunk = by_offset[offset];
    chunk.offset = offset;
    chunk.indices.push_back(s - offset);
  }
  std::vector<ArrayChunk> chunks;
  for (auto& [offset, chunk] : by_offset) {
    std::sort(chunk.indices.begin(), chunk.indices.end());
    chunk.array_spec = compress_ranges(chunk.indices);
    if (array_throttle > 0) chunk.array_spec += "%" + std::to_string(array_throttle);
    chunks.push_back(chunk);
  }
  return chunks;
}

// ---------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------

std::string to_string(JobKind kind) {
  switch (kind) {
    case JobKind::kAccumulate: return "accumulate";
    case JobKind::kMetrics: return "metrics";
    case JobKind::kAnalyze: return "analyze";
  }
  return "unknown";
}

namespace {

JobKind job_kind_from_string(const std::string& s) {
  // "extract" and "reduce": the names of these jobs before the streaming estimate.
  if (s == "accumulate" || s == "extract") return JobKind::kAccumulate;
  if (s == "metrics" || s == "reduce") return JobKind::kMetrics;
  if (s == "analyze") return JobKind::kAnalyze;
  throw CorruptDataError("jobs.json: unknown job kind \"" + s + "\"; expected accumulate, metrics or analyze");
}

std::vector<std::string> resource_lines(const SlurmConfig& c, JobKind kind) {
  std::vector<std::string> lines;
  if (!c.partition.empty()) lines.push_back("--partition=" + c.partition);
  if (!c.account.empty()) lines.push_back("--account=" + c.account);
  if (!c.qos.empty()) lines.push_back("--qos=" + c.qos);
  if (!c.time.empty()) lines.push_back("--time=" + c.time);
  if (kind == JobKind::kAccumulate) {
    lines.push_back("--nodes=" + std::to_string(c.nodes));
    lines.push_back("--ntasks-per-node=" + std::to_string(c.ntasks_per_node));
    if (c.gpus_per_node > 0) lines.push_back("--gpus-per-node=" + std::to_string(c.gpus_per_node));
  } else {
    // Reduce and analysis merge small per-item files: one task on one node.
    lines.push_back("--nodes=1");
    lines.push_back("--ntasks=1");
  }
  lines.push_back("--cpus-per-task=" + std::to_string(c.cpus_per_task));
  if (!c.mem.empty()) lines.push_back("--mem=" + c.mem);
  lines.push_back("--requeue");
  lines.push_back("--open-mode=append");
  if (c.signal_grace_s > 0) lines.push_back("--signal=B:USR1@" + std::to_string(c.signal_grace_s));
  for (const auto& f : c.extra_flags) lines.push_back(f);
  return lines;
}

// Runs the step in the background so that the batch shell can catch Slurm's signals:
// USR1 (time limit near) and TERM (cancel, preemption) go to the launcher as USR1, which
// srun and mpirun pass on to every rank without ending the step (a TERM to srun cancels
// the step and SIGKILLs the ranks after KillWait); ibzoo then finishes its current item and
// exits non-zero. After USR1 an unfinished job requeues itself; finished items are skipped
// on the next attempt.
const char* const kSignalBlock = R"(child=0
requeue=0
forward() {
  echo "ibzoo job ${SLURM_JOB_ID}: caught SIG$1; asking the step to finish its current item" >&2
  if [ "$1" = USR1 ]; then requeue=1; fi
  if [ "$child" -ne 0 ]; then kill -USR1 "$child" 2>/dev/null || true; fi
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM
)";

const char* const kWaitBlock = R"(child=$!
rc=0
while true; do
  wait "$child" && rc=0 || rc=$?
  kill -0 "$child" 2>/dev/null || break   # a trapped signal interrupted wait: keep waiting
done
if [ "$rc" -ne 0 ] && [ "$requeue" -eq 1 ]; then
  echo "ibzoo job ${SLURM_JOB_ID}: time limit near and step unfinished (exit $rc); requeueing" >&2
  scontrol requeue "${SLURM_JOB_ID}"
fi
)";

}  // namespace

std::string shell_quote(const std::string& word) {
  static const std::regex safe(R"([A-Za-z0-9_./:=@%+,-]+)");
  if (!word.empty() && std::regex_match(word, safe)) return word;
  std::string out = "'";
  for (const char ch : word) out += (ch == '\'') ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

std::string make_script(const SubmitContext& ctx, JobKind kind) {
  std::ostringstream os;
  os << "#!/bin/bash\n";
  os << "#SBATCH --job-name=ibzoo-" << to_string(kind) << "\n";
  for (const auto& line : resource_lines(ctx.config, kind)) os << "#SBATCH " << line << "\n";
  os << "# Generated by `ibzoo submit`: the " << to_string(kind) << " stage of one ibzoo run.\n";
  if (kind == JobKind::kAccumulate) {
    os << "# Array task I runs slice OFFSET+I of the plan; OFFSET is this script's only argument.\n";
  }
  os << "set -euo pipefail\n\n";
  os << "ibzoo=" << shell_quote(ctx.path_ibzoo.string()) << "\n";
  os << "manifest=" << shell_quote(ctx.path_manifest.string()) << "\n";
  os << "run_dir=" << shell_quote(ctx.path_run.string()) << "\n";
  std::string stage_args = "--stage " + to_string(kind);
  if (kind == JobKind::kAccumulate) {
    os << "n_slices=" << ctx.n_slices << "\n";
    os << "offset=${1:?usage: sbatch --array=... accumulate.sbatch OFFSET}\n";
    os << "slice=$((offset + SLURM_ARRAY_TASK_ID))\n";
    os << "echo \"ibzoo accumulate: job ${SLURM_JOB_ID} (array ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}), "
          "slice ${slice}/${n_slices}, nodes ${SLURM_JOB_NODELIST}, restart ${SLURM_RESTART_COUNT:-0}\"\n";
    stage_args += " --slice \"${slice}/${n_slices}\"";
  } else {
    os << "echo \"ibzoo " << to_string(kind)
       << ": job ${SLURM_JOB_ID}, nodes ${SLURM_JOB_NODELIST}, restart ${SLURM_RESTART_COUNT:-0}\"\n";
  }
  os << "\n" << kSignalBlock << "\n";
  std::string launcher;
  for (const auto& w : ctx.config.launcher) launcher += shell_quote(w) + " ";
  os << launcher << "\"$ibzoo\" run \"$manifest\" --run-dir \"$run_dir\" " << stage_args << " --quiet --progress lines &\n";
  os << kWaitBlock;
  if (kind == JobKind::kAnalyze) {
    os << "if [ \"$rc\" -eq 0 ]; then\n"
          "  printf '{\"job\": \"%s\", \"time\": \"%s\"}\\n' \"${SLURM_JOB_ID}\" \"$(date -u +%FT%TZ)\" "
          "> \"$run_dir/slurm/analyze.done\"\n"
          "fi\n";
  }
  os << "exit \"$rc\"\n";
  return os.str();
}

std::vector<std::string> sbatch_argv(const SubmitContext& ctx, JobKind kind, const std::optional<ArrayChunk>& chunk,
                                     const std::vector<std::string>& after_ok_job_ids) {
  const auto dir = ctx.path_run / "slurm";
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  const std::string log_name = kind == JobKind::kAccumulate ? "accumulate_%A_%a.out" : to_string(kind) + "_%j.out";
  argv.push_back("--output=" + (dir / "logs" / log_name).string());
  if (chunk) argv.push_back("--array=" + chunk->array_spec);
  if (!after_ok_job_ids.empty()) argv.push_back("--dependency=afterok:" + join(after_ok_job_ids, ":"));
  argv.push_back((dir / (to_string(kind) + ".sbatch")).string());
  if (chunk) argv.push_back(std::to_string(chunk->offset));
  return argv;
}

// ---------------------------------------------------------------------------------------
// Subprocesses
// ---------------------------------------------------------------------------------------

namespace {

struct FileActions {
  posix_spawn_file_actions_t actions;
  FileActions() { posix_spawn_file_actions_init(&actions); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
};

struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { close_now(); }
  void close_now() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(std::string("cannot create a pipe: ") + std::strerror(errno));
  read_end.fd = fds[0];
  write_end.fd = fds[1];
}

// Drains both pipes together so that neither can fill up and block the child.
void drain(Fd& out, Fd& err, std::string& out_text, std::string& err_text) {
  std::array<char, 4096> buf{};
  while (out.fd >= 0 || err.fd >= 0) {
    std::array<pollfd, 2> pfds = {pollfd{out.fd, POLLIN, 0}, pollfd{err.fd, POLLIN, 0}};
    if (::poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("poll failed: ") + std::strerror(errno));
    }
    for (std::size_t i = 0; i < pfds.size(); ++i) {
      if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
      Fd& fd = i == 0 ? out : err;
      const auto n = ::read(fd.fd, buf.data(), buf.size());
      if (n > 0) {
        (i == 0 ? out_text : err_text).append(buf.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fd.close_now();
      }
    }
  }
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv) {
  if (argv.empty()) throw Error("run_process: empty command");
  Fd out_r, out_w, err_r, err_w;
  make_pipe(out_r, out_w);
  make_pipe(err_r, err_w);
  FileActions fa;
  posix_spawn_file_actions_adddup2(&fa.actions, out_w.fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa.actions, err_w.fd, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&fa.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, cargv[0], &fa.actions, nullptr, cargv.data(), environ);
  if (rc != 0) {
    throw Error("cannot run '" + argv[0] + "': " + std::strerror(rc) +
                "; is it installed and on PATH (for Slurm: slurm-client)?");
  }
  out_w.close_now();
  err_w.close_now();
  ProcessResult result;
  drain(out_r, err_r, result.out, result.err);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (result.exit_code == 127 && result.out.empty() && result.err.empty()) {
    throw Error("cannot run '" + argv[0] + "': not found on PATH");
  }
  return result;
}

namespace {

// Runs a Slurm client; throws Error with its stderr when it fails.
std::string run_slurm(const std::vector<std::string>& argv) {
  const auto r = run_process(argv);
  if (r.exit_code != 0) {
    std::string err = r.err.empty() ? r.out : r.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    throw Error("'" + join(argv, " ") + "' failed (exit " + std::to_string(r.exit_code) + "): " + err +
                "; check that the cluster is reachable (SLURM_CONF, munge) and the options are valid");
  }
  // What the client says besides its answer (sbatch's warnings about the options, the
  // partition or the account) is for the user: pass it on.
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) io::log_warn(line);
  }
  return r.out;
}

std::string now_utc() {
  const auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

fs::path jobs_path(const fs::path& path_run) { return path_run / "slurm" / "jobs.json"; }

nlohmann::json read_jobs_file(const fs::path& path_run) {
  const auto path = jobs_path(path_run);
  if (!fs::exists(path)) return {{"submissions", nlohmann::json::array()}};
  try {
    auto j = nlohmann::json::parse(io::read_file(path));
    if (!j.contains("submissions") || !j["submissions"].is_array()) throw CorruptDataError("");
    return j;
  } catch (const std::exception&) {
    throw CorruptDataError(path.string() + ": not a valid jobs record (expected {\"submissions\": [...]}); "
                           "cancel the run's jobs by hand with scancel and delete the file to start over");
  }
}

struct RecordedJob {
  std::string job_id;
  JobKind kind;
};

std::vector<RecordedJob> recorded_jobs(const nlohmann::json& submission) {
  std::vector<RecordedJob> jobs;
  for (const auto& j : submission.value("jobs", nlohmann::json::array())) {
    const auto id = j.value("job_id", std::string());
    if (!id.empty()) jobs.push_back({id, job_kind_from_string(j.value("kind", std::string()))});
  }
  return jobs;
}

// squeue -t all lists jobs slurmctld still remembers (MinJobAge), array tasks one by one.
std::vector<JobState> squeue_states(const std::vector<RecordedJob>& jobs) {
  std::vector<JobState> states;
  if (jobs.empty()) return states;
  const auto out = run_slurm({"squeue", "--noheader", "--array", "--states=all", "--format=%F|%i|%T|%r"});
  std::map<std::string, JobKind> kinds;
  for (const auto& j : jobs) kinds[j.job_id] = j.kind;
  std::set<std::string> seen;
  std::istringstream is(out);
  for (std::string line; std::getline(is, line);) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string field; std::getline(ls, field, '|');) f.push_back(field);
    if (f.size() < 4) continue;
    // %F is the array job id (the job id itself for a non-array job).
    const auto it = kinds.find(f[0]);
    if (it == kinds.end()) continue;
    seen.insert(f[0]);
    states.push_back({f[1], it->second, f[2], f[3] == "None" ? "" : f[3]});
  }
  for (const auto& j : jobs) {
    if (!seen.count(j.job_id)) states.push_back({j.job_id, j.kind, "UNKNOWN", "no longer known to slurmctld"});
  }
  return states;
}

}  // namespace

bool is_active_state(const std::string& state) {
  static const std::set<std::string> active = {"PENDING",    "RUNNING",    "CONFIGURING", "COMPLETING", "REQUEUED",
                                               "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING",  "SUSPENDED",  "STAGE_OUT",
                                               "SIGNALING",  "STOPPED",    "RESV_DEL_HOLD"};
  return active.count(state) > 0;
}

std::vector<JobState> query_jobs(const fs::path& path_run) {
  const auto record = read_jobs_file(path_run);
  if (record["submissions"].empty()) return {};
  return squeue_states(recorded_jobs(record["submissions"].back()));
}

std::vector<std::string> cancel_jobs(const fs::path& path_run) {
  const auto record = read_jobs_file(path_run);
  std::vector<RecordedJob> all;
  for (const auto& s : record["submissions"]) {
    for (auto& j : recorded_jobs(s)) all.push_back(j);
  }
  std::set<std::string> to_cancel;
  for (const auto& st : squeue_states(all)) {
    if (!is_active_state(st.state)) continue;
    // Array tasks ("123_4") are cancelled through their array job.
    to_cancel.insert(st.job_id.substr(0, st.job_id.find('_')));
  }
  std::vector<std::string> ids(to_cancel.begin(), to_cancel.end());
  if (ids.empty()) return ids;
  std::vector<std::string> argv = {"scancel"};
  argv.insert(argv.end(), ids.begin(), ids.end());
  const auto r = run_process(argv);
  // scancel fails when some task of an array (or a job, in a race) has already ended; that is
  // only an error if one of the jobs is still queued or running afterwards.
  if (r.exit_code != 0) {
    for (const auto& st : squeue_states(all)) {
      const bool ours = to_cancel.count(st.job_id.substr(0, st.job_id.find('_'))) > 0;
      if (ours && (st.state == "PENDING" || st.state == "RUNNING")) {
        throw Error("'scancel " + join(ids, " ") + "' failed (exit " + std::to_string(r.exit_code) + "): " + r.err +
                    "; job " + st.job_id + " is still " + st.state);
      }
    }
  }
  return ids;
}

int cluster_max_array_size() {
  const auto out = run_slurm({"scontrol", "show", "config"});
  static const std::regex line(R"(MaxArraySize\s*=\s*([0-9]+))");
  std::smatch m;
  if (!std::regex_search(out, m, line)) {
    throw Error("'scontrol show config' printed no MaxArraySize; set slurm.max_array_size in the manifest");
  }
  return std::stoi(m[1].str());
}

// ---------------------------------------------------------------------------------------
// Submission
// ---------------------------------------------------------------------------------------

namespace {

// Jobs of earlier submissions that are still queued or running block a resubmission,
// except those that can never run (an afterok on a failed or cancelled job).
void check_no_active_jobs(const fs::path& path_run) {
  const auto record = read_jobs_file(path_run);
  std::vector<RecordedJob> all;
  for (const auto& s : record["submissions"]) {
    for (auto& j : recorded_jobs(s)) all.push_back(j);
  }
  std::vector<std::string> dead, active;
  for (const auto& st : squeue_states(all)) {
    if (!is_active_state(st.state)) continue;
    (st.reason == "DependencyNeverSatisfied" ? dead : active).push_back(st.job_id);
  }
  if (!active.empty()) {
    throw Error("run " + path_run.string() + " still has queued or running jobs (" + join(active, ", ") +
                "); wait for them, or stop them with `ibzoo cancel " + path_run.string() + "`, then submit again");
  }
  if (!dead.empty()) {
    std::vector<std::string> argv = {"scancel"};
    argv.insert(argv.end(), dead.begin(), dead.end());
    run_slurm(argv);
  }
}

struct JobPlan {
  std::vector<std::pair<JobKind, std::optional<ArrayChunk>>> jobs;
};

JobPlan plan_jobs(const SubmitOptions& opt, const std::vector<int>& todo, int max_array_size) {
  JobPlan plan;
  const bool all_done = todo.empty();
  if (all_done && fs::exists(opt.path_run / "slurm" / "analyze.done")) return plan;
  for (const auto& chunk : split_into_arrays(todo, max_array_size, opt.config.array_throttle)) {
    plan.jobs.emplace_back(JobKind::kAccumulate, chunk);
  }
  plan.jobs.emplace_back(JobKind::kMetrics, std::nullopt);
  plan.jobs.emplace_back(JobKind::kAnalyze, std::nullopt);
  return plan;
}

std::string sbatch_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + shell_quote(a);
  return out;
}

void append_record(const SubmitOptions& opt, const SubmitResult& result) {
  auto record = read_jobs_file(opt.path_run);
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& j : result.jobs) {
    jobs.push_back({{"job_id", j.job_id}, {"kind", to_string(j.kind)}, {"sbatch", j.argv}, {"slices", j.slices}});
  }
  record["submissions"].push_back({{"time", now_utc()},
                                   {"manifest", opt.path_manifest.string()},
                                   {"n_items", opt.item_ids.size()},
                                   {"n_slices", result.n_slices},
                                   {"items_per_task", opt.config.items_per_task},
                                   {"max_array_size", result.max_array_size},
                                   {"jobs", jobs}});
  io::write_file_atomic(jobs_path(opt.path_run), record.dump(2) + "\n");
}

}  // namespace

SubmitResult submit(const SubmitOptions& opt) {
  SubmitResult result;
  result.n_slices = count_slices(opt.item_ids.size(), opt.config.items_per_task);
  result.max_array_size = opt.config.max_array_size;
  try {
    const int cluster = cluster_max_array_size();
    result.max_array_size = result.max_array_size > 0 ? std::min(result.max_array_size, cluster) : cluster;
  } catch (const Error& e) {
    // A dry run may be made away from the cluster: fall back to the manifest or Slurm's default.
    if (!opt.dry_run) throw;
    if (result.max_array_size <= 0) result.max_array_size = kSlurmDefaultMaxArraySize;
    io::log_warn(std::string("submit --dry-run: cannot ask the cluster for MaxArraySize (") + e.what() +
                 "); assuming " + std::to_string(result.max_array_size));
  }
  if (!opt.dry_run) check_no_active_jobs(opt.path_run);

  const SubmitContext ctx{opt.path_ibzoo, opt.path_manifest, opt.path_run, opt.config, result.n_slices};
  const auto todo = unfinished_slices(opt.path_run, opt.item_ids, result.n_slices);
  result.n_slices_submitted = static_cast<int>(todo.size());
  const auto plan = plan_jobs(opt, todo, result.max_array_size);
  if (plan.jobs.empty()) return result;

  std::ostringstream dry;
  const auto dir = opt.path_run / "slurm";
  for (const auto kind : {JobKind::kAccumulate, JobKind::kMetrics, JobKind::kAnalyze}) {
    const auto text = make_script(ctx, kind);
    if (opt.dry_run) {
      dry << "==> " << (dir / (to_string(kind) + ".sbatch")).string() << " <==\n" << text << "\n";
    } else {
      fs::create_directories(dir / "logs");
      io::write_file_atomic(dir / (to_string(kind) + ".sbatch"), text);
    }
  }
  if (!opt.dry_run) fs::remove(dir / "analyze.done");

  // In a dry run the job ids are placeholders such as <accumulate-0>.
  std::vector<std::string> array_ids;
  std::string metrics_id;
  try {
    for (const auto& [kind, chunk] : plan.jobs) {
      const auto after = kind == JobKind::kAccumulate  ? std::vector<std::string>{}
                         : kind == JobKind::kMetrics ? array_ids
                                                    : std::vector<std::string>{metrics_id};
      SubmittedJob job;
      job.kind = kind;
      job.argv = sbatch_argv(ctx, kind, chunk, after);
      if (chunk) {
        for (const int i : chunk->indices) job.slices.push_back(chunk->offset + i);
      }
      if (opt.dry_run) {
        dry << sbatch_line(job.argv) << "\n";
        job.job_id = "<" + to_string(kind) + (chunk ? "-" + std::to_string(array_ids.size()) : "") + ">";
      } else {
        const auto out = run_slurm(job.argv);
        job.job_id = out.substr(0, out.find_first_of(";\n"));  // --parsable prints "id" or "id;cluster"
        io::log_info(sbatch_line(job.argv) + ": submitted job " + job.job_id);
      }
      if (kind == JobKind::kAccumulate) array_ids.push_back(job.job_id);
      if (kind == JobKind::kMetrics) metrics_id = job.job_id;
      result.jobs.push_back(job);
    }
  } catch (const Error&) {
    // Record what did get submitted, so that `ibzoo cancel` and `status` still see it.
    if (!opt.dry_run && !result.jobs.empty()) append_record(opt, result);
    throw;
  }
  result.dry_run_text = dry.str();
  if (!opt.dry_run) append_record(opt, result);
  return result;
}

}  // namespace ibzoo::pipeline
