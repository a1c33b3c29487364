// The run directory's lock (io/run_lock.h): one file per holder, created by link(2) so
// that it appears complete or not at all, kept fresh by a heartbeat thread.
#include "io/run_lock.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ibzoo::io {

namespace fs = std::filesystem;

namespace {

std::string this_host() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

// Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot.
// With the pid it names one process for the life of the machine (pids are reused).
// nullopt when no such process runs: none exists, or only its zombie (a killed process
// whose parent has not reaped it, as happens to ranks of a killed mpirun in a container).
std::optional<unsigned long long> process_start_ticks(long long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return std::nullopt;
    if (i == 3 && (field == "Z" || field == "X" || field == "x")) return std::nullopt;
  }
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string utc_now() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

fs::path locks_dir(const fs::path& run_dir) { return run_dir / "locks"; }

std::optional<LockHolder> read_holder(const fs::path& path) {
  std::error_code ec;
  const auto mtime = fs::last_write_time(path, ec);
  if (ec) return std::nullopt;
  LockHolder h;
  h.path = path;
  h.age_s = std::chrono::duration<double>(fs::file_time_type::clock::now() - mtime).count();
  try {
    const auto j = nlohmann::json::parse(read_file(path, 1 << 16));
    h.host = j.value("host", "");
    h.pid = j.value("pid", 0LL);
    h.start_ticks = j.value("start_ticks", 0ULL);
    h.started = j.value("started", "");
    h.command = j.value("command", "");
    h.slurm_job_id = j.value("slurm_job_id", "");
  } catch (const std::exception&) {
    // An unreadable lock (a half-copied directory, a hand edit) names no holder: it
    // counts as live until it ages out, like a lock of another host.
  }
  return h;
}

// Why the holder is known to be gone, or "" when it may be alive.
std::string why_stale(const LockHolder& h, const LockOptions& options) {
  // Slurm requeues a job under its own id, possibly on another node: the lock of an
  // earlier incarnation of this very job (killed hard, e.g. with its node) is ours.
  const char* job = std::getenv("SLURM_JOB_ID");
  const bool me = h.host == this_host() && h.pid == static_cast<long long>(::getpid());
  if (job && *job && h.slurm_job_id == job && !me) {
    return "it was taken by an earlier run of this Slurm job (" + h.slurm_job_id + "), which was requeued";
  }
  if (!h.host.empty() && h.host == this_host() && h.pid > 0) {
    const auto ticks = process_start_ticks(h.pid);
    if (!ticks) return "no process " + std::to_string(h.pid) + " runs on " + h.host;
    if (h.start_ticks != 0 && *ticks != h.start_ticks) {
      return "process " + std::to_string(h.pid) + " on " + h.host + " is another program now (the pid was reused)";
    }
    return "";
  }
  if (h.age_s > static_cast<double>(options.stale_after.count())) {
    return "its holder on " + (h.host.empty() ? std::string("an unknown host") : h.host) + " has not touched it for " +
           std::to_string(static_cast<long long>(h.age_s)) + " s (it touches it every " +
           std::to_string(options.heartbeat.count()) + " s while it runs)";
  }
  return "";
}

bool conflicts(const std::string& mine, bool extracts, const std::string& theirs) {
  if (mine == "run.lock") return theirs == "run.lock" || extracts;
  return theirs == "run.lock" || theirs == mine;
}

std::string lock_name(const LockOptions& options) { return options.scope + ".lock"; }

std::string refusal_text(const fs::path& run_dir, const LockHolder& h, const LockOptions& options) {
  std::ostringstream os;
  os << run_dir.string() << ": another ibzoo process is working in this run directory (" << h.describe()
     << "; lock " << h.path.string() << "). Wait for it to finish or stop it; two runs in one directory would "
     << "compute the same items twice. If that process is gone (e.g. its machine crashed), delete "
     << h.path.string() << " or wait: a lock of another host counts as stale "
     << options.stale_after.count() << " s after its last heartbeat";
  return os.str();
}

// Removes a stale lock, unless someone replaced it since we read it: it is renamed to a
// private name first (atomic), and put back if its content is no longer the stale one.
bool remove_stale(const fs::path& path, const std::string& stale_text) {
  const auto aside = temp_path_for(path.parent_path() / (path.filename().string() + ".stale"));
  std::error_code ec;
  fs::rename(path, aside, ec);
  if (ec) return !fs::exists(path, ec);
  std::string now_text;
  try {
    now_text = read_file(aside, 1 << 16);
  } catch (const std::exception&) {
  }
  if (now_text != stale_text) {
    // A fresh lock was taken between our read and the rename: give it back (link: only
    // where no third process has taken the name meanwhile). If that fails, its file stays
    // aside, named in a warning.
    if (::link(aside.c_str(), path.c_str()) != 0) {
      log_warn("could not put back the lock " + path.string() + " taken while a stale one was removed (" +
               std::strerror(errno) + "); it stays at " + aside.string());
      return false;
    }
    fs::remove(aside, ec);
    return false;
  }
  fs::remove(aside, ec);
  return true;
}

// Removes the stale lock at `path` (held by `holder`, stale for `why`) and says so.
void clear_stale(const fs::path& path, const LockHolder& holder, const std::string& why) {
  std::string stale_text;
  try {
    stale_text = read_file(path, 1 << 16);
  } catch (const std::exception&) {
    return;
  }
  if (remove_stale(path, stale_text)) {
    log_warn("removed the stale lock " + path.string() + " (" + holder.describe() + "): " + why);
  }
}

// What a lock file says: who holds it, since when, for what.
std::string lock_text(const LockOptions& options) {
  const auto ticks = process_start_ticks(static_cast<long long>(::getpid()));
  nlohmann::json j{{"host", this_host()}, {"pid", static_cast<long long>(::getpid())},
                   {"start_ticks", ticks.value_or(0)}, {"started", utc_now()}, {"scope", options.scope},
                   {"command", options.command}};
  if (const char* job = std::getenv("SLURM_JOB_ID")) j["slurm_job_id"] = job;
  return j.dump(2) + "\n";
}

// The live holder of another lock in `dir` that conflicts with ours (`name`), taken
// before ours or at the same moment (then both refuse, and neither works); stale ones
// on the way are removed.
std::optional<LockHolder> live_conflict(const fs::path& dir, const std::string& name, const LockOptions& options) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto other = it->path().filename().string();
    if (other == name || !other.ends_with(".lock") || other.starts_with(".")) continue;
    if (!conflicts(name, options.extracts, other)) continue;
    const auto holder = read_holder(it->path());
    if (!holder) continue;
    if (const auto why = why_stale(*holder, options); !why.empty()) {
      clear_stale(it->path(), *holder, why);
      continue;
    }
    return holder;
  }
  return std::nullopt;
}

}  // namespace

std::string LockHolder::describe() const {
  std::string s = "host " + (host.empty() ? std::string("?") : host) + ", pid " + std::to_string(pid);
  if (!slurm_job_id.empty()) s += ", Slurm job " + slurm_job_id;
  if (!started.empty()) s += ", started " + started;
  if (!command.empty()) s += ": " + command;
  return s;
}

std::vector<LockHolder> live_lock_holders(const fs::path& run_dir, const LockOptions& options) {
  std::vector<LockHolder> out;
  std::error_code ec;
  for (fs::directory_iterator it(locks_dir(run_dir), ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (!name.ends_with(".lock") || name.starts_with(".")) continue;
    const auto h = read_holder(it->path());
    if (h && why_stale(*h, options).empty()) out.push_back(*h);
  }
  return out;
}

struct RunLock::State {
  fs::path path;
  std::string text;
  std::chrono::seconds heartbeat{60};
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  std::thread beater;

  void beat() {
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, heartbeat, [&] { return stop; })) {
      // Best effort: a failed touch only makes the lock look older to other hosts.
      ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
    }
  }
};

RunLock::RunLock(std::unique_ptr<State> state) : state_(std::move(state)) {
  state_->beater = std::thread([s = state_.get()] { s->beat(); });
}
RunLock::RunLock(RunLock&&) noexcept = default;
RunLock& RunLock::operator=(RunLock&&) noexcept = default;

RunLock::~RunLock() {
  if (!state_) return;
  {
    const std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
  if (state_->beater.joinable()) state_->beater.join();
  try {
    if (read_file(state_->path, 1 << 16) == state_->text) {
      std::error_code ec;
      fs::remove(state_->path, ec);
      fs::remove(state_->path.parent_path(), ec);  // locks/, when no other lock is in it
    }
  } catch (const std::exception&) {
  }
}

const fs::path& RunLock::path() const { return state_->path; }

std::optional<RunLock> RunLock::acquire(const fs::path& run_dir, const LockOptions& options, std::string* refusal) {
  const auto dir = locks_dir(run_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw WriteError(dir.string() + ": cannot create the lock directory: " + ec.message());
  const auto name = lock_name(options);
  const auto path = dir / name;
  const auto text = lock_text(options);

  // The content goes to a private name first; link() then publishes it whole, or fails
  // with EEXIST when the lock is taken.
  const auto temp = temp_path_for(path);
  write_file_atomic(temp, text);
  bool taken = false;
  for (int attempt = 0; attempt < 2 && !taken; ++attempt) {
    if (::link(temp.c_str(), path.c_str()) == 0) {
      taken = true;
      break;
    }
    const int err = errno;
    if (err != EEXIST) {
      fs::remove(temp, ec);
      throw WriteError(path.string() + ": cannot create the run lock: " + std::strerror(err));
    }
    const auto holder = read_holder(path);
    if (!holder) continue;  // released between link() and the read: try again
    const auto why = why_stale(*holder, options);
    if (why.empty()) {
      fs::remove(temp, ec);
      *refusal = refusal_text(run_dir, *holder, options);
      return std::nullopt;
    }
    clear_stale(path, *holder, why);
  }
  fs::remove(temp, ec);
  if (!taken) {
    const auto holder = read_holder(path);
    *refusal = holder ? refusal_text(run_dir, *holder, options)
                      : path.string() + ": cannot take the run lock (it keeps changing); try again";
    return std::nullopt;
  }
  auto state = std::make_unique<State>();
  state->path = path;
  state->text = text;
  state->heartbeat = options.heartbeat;
  RunLock lock(std::move(state));

  if (const auto holder = live_conflict(dir, name, options)) {
    *refusal = refusal_text(run_dir, *holder, options);
    return std::nullopt;  // `lock` releases ours
  }
  return lock;
}

}  // namespace ibzoo::io
