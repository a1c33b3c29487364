#include "io/run_dir.h"

#include "errors/error.h"
#include "io/fs.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <set>

#include <fcntl.h>
#include <unistd.h>

namespace ibzoo::io {

namespace fs = std::filesystem;

namespace {

std::string utc_now() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

RunDir::RunDir(fs::path root) : root_(std::move(root)) {}

std::string RunDir::foreign_directory_problem() const {
  // What ibzoo itself writes at the top of a run (docs/RUN_LAYOUT.md), and the temporary
  // names of its atomic writes: a directory holding only these is a run being started
  // (two array slices may start one at once), not someone else's directory.
  static const std::set<std::string> kOwn{"manifest.json", "plan.json", "identity.json", "tokens", "labels", "reference_points",
                                          "items", "reps", "results", "report", "claims", "locks", "progress", "slurm"};
  std::error_code ec;
  if (!fs::exists(root_, ec)) return "";
  if (!fs::is_directory(root_, ec)) return root_.string() + ": the run directory exists and is not a directory";
  // An earlier run (started by `run`, or by `submit`): what else its owner keeps there is theirs.
  if (fs::exists(root_ / "manifest.json", ec) || fs::exists(root_ / "plan.json", ec) ||
      fs::exists(root_ / "identity.json", ec)) {
    return "";
  }
  fs::directory_iterator it(root_, ec);
  if (ec) return root_.string() + ": cannot read the run directory: " + ec.message();
  for (; it != fs::directory_iterator{}; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (kOwn.contains(name) || (name.starts_with(".") && name.find(".tmp.") != std::string::npos)) continue;
    return root_.string() + ": the run directory is not empty and is not an ibzoo run (it holds '" + name +
           "', which ibzoo does not write). ibzoo writes only into a new or empty directory, or into an earlier "
           "run of a study: set run_dir in the manifest, or --run-dir, to such a directory";
  }
  if (ec) return root_.string() + ": cannot read the run directory: " + ec.message();
  return "";
}

fs::path RunDir::item_dir(const std::string& item_id) const { return root_ / "items" / item_id; }

bool RunDir::is_done(const std::string& item_id, std::string* why_not_done) const {
  const auto marker = item_dir(item_id) / "DONE";
  std::error_code ec;
  if (!fs::exists(marker, ec)) return false;
  auto fail = [&](const std::string& why) {
    if (why_not_done) *why_not_done = why;
    return false;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(marker, 1 << 20));
  } catch (const std::exception& e) {
    return fail(marker.string() + ": unreadable done marker (" + e.what() + ")");
  }
  if (!j.contains("state_sha256") || !j["state_sha256"].is_string()) {
    return fail(marker.string() + ": done marker has no state_sha256");
  }
  const auto state = item_state(item_id);
  if (!fs::exists(state, ec)) return fail(state.string() + ": missing although the item is marked done");
  if (sha256_file(state) != j["state_sha256"].get<std::string>()) {
    return fail(state.string() + ": checksum differs from the one in DONE (truncated or corrupted)");
  }
  return true;
}

ItemState RunDir::state(const std::string& item_id) const {
  if (is_done(item_id)) return ItemState::kDone;
  std::error_code ec;
  if (fs::exists(item_dir(item_id) / "error.json", ec)) return ItemState::kFailed;
  return ItemState::kPending;
}

std::optional<nlohmann::json> RunDir::failure(const std::string& item_id) const {
  const auto path = item_dir(item_id) / "error.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    return nlohmann::json::parse(read_file(path, 1 << 20));
  } catch (const std::exception& e) {
    return nlohmann::json{{"item", item_id}, {"error", std::string("unreadable error.json: ") + e.what()}};
  }
}

fs::path RunDir::begin_item(const std::string& item_id) const {
  const auto dir = item_dir(item_id);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw WriteError(dir.string() + ": cannot create the item directory: " + ec.message());
  return dir;
}

void RunDir::mark_done(const std::string& item_id, nlohmann::json extra) const {
  extra["item"] = item_id;
  extra["state_sha256"] = sha256_file(item_state(item_id));
  extra["finished"] = utc_now();
  write_file_atomic(item_dir(item_id) / "DONE", extra.dump(2) + "\n");
}

void RunDir::record_failure(const std::string& item_id, const std::string& error) const {
  const auto dir = item_dir(item_id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const nlohmann::json j{{"item", item_id}, {"error", error}, {"time", utc_now()}};
  write_file_atomic(dir / "error.json", j.dump(2) + "\n");
}

void RunDir::begin_attempt(const std::string& attempt) const {
  const auto dir = claims() / attempt;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw WriteError(dir.string() + ": cannot create the claim directory of this run attempt: " + ec.message());
}

bool RunDir::try_claim(const std::string& attempt, const std::string& item_id, const std::string& owner) const {
  const auto path = claim_path(attempt, item_id);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    throw WriteError(path.string() + ": cannot create the claim of item " + item_id + ": " + std::strerror(errno) +
                     "; check that " + claims().string() + " is writable by every rank");
  }
  // The content is for people only; a short write does not make the claim less atomic.
  const auto text = owner + "\n";
  [[maybe_unused]] const auto n = ::write(fd, text.data(), text.size());
  ::close(fd);
  return true;
}

bool RunDir::is_claimed(const std::string& attempt, const std::string& item_id) const {
  std::error_code ec;
  return fs::exists(claim_path(attempt, item_id), ec);
}

std::vector<std::string> RunDir::remove_stale_attempts(const std::string& keep, const std::string& scope,
                                                       std::chrono::seconds max_age) const {
  std::vector<std::string> removed;
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(claims(), ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name == keep) continue;
    const bool same_scope = name.rfind(scope + ".", 0) == 0;
    std::error_code time_ec;
    const auto mtime = fs::last_write_time(it->path(), time_ec);
    const bool old = !time_ec && now - mtime > max_age;
    if (!same_scope && !old) continue;
    std::error_code rm_ec;
    fs::remove_all(it->path(), rm_ec);
    if (!rm_ec) removed.push_back(name);
  }
  return removed;
}

}  // namespace ibzoo::io
