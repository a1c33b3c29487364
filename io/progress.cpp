// Study progress over all ranks (io/progress.h): per-rank counter files, summed by a
// thread on rank 0 that prints a line per interval or redraws a live line.
#include "io/progress.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

namespace ibzoo::io {

namespace fs = std::filesystem;

namespace {

std::string duration_text(double seconds) {
  char buf[32];
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}

std::string rate_text(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

// One rank's counts.
struct Counts {
  std::int64_t items = 0;
  std::int64_t failed = 0;
  std::int64_t positions = 0;
  double weight = 0;
  std::string now;  // the item in progress ("" between items)
};

nlohmann::json to_json(const Counts& c) {
  return {{"items", c.items}, {"failed", c.failed}, {"positions", c.positions}, {"weight", c.weight}, {"now", c.now}};
}

std::optional<Counts> read_counts(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(in);
    return Counts{j.at("items"), j.at("failed"), j.at("positions"), j.at("weight"), j.at("now")};
  } catch (const std::exception&) {
    return std::nullopt;  // a file being replaced: the next tick reads it
  }
}

}  // namespace

ProgressMode parse_progress_mode(const std::string& text) {
  if (text == "auto") return ProgressMode::kAuto;
  if (text == "lines") return ProgressMode::kLines;
  if (text == "live") return ProgressMode::kLive;
  if (text == "off") return ProgressMode::kOff;
  throw UsageError("--progress must be auto, lines, live or off, got '" + text + "'");
}

std::string format_progress(const std::string& what, const ProgressSnapshot& s) {
  std::string line = what + ": " + std::to_string(s.n_done) + "/" + std::to_string(s.n_total) + " items";
  if (s.n_total > 0) line += " (" + std::to_string(100 * s.n_done / s.n_total) + "%)";
  if (s.n_failed > 0) line += ", " + std::to_string(s.n_failed) + " failed";
  line += ", " + rate_text(s.positions_per_s) + " positions/s";
  if (s.final) return line + ", " + duration_text(s.elapsed_s) + " in all";
  line += ", elapsed " + duration_text(s.elapsed_s);
  line += s.left_s >= 0 ? ", left ~" + duration_text(s.left_s) : ", left ?";
  if (!s.now.empty()) line += "; now " + s.now;
  return line;
}

struct StudyProgress::State {
  ProgressOptions options;
  const Communicator* comm = nullptr;
  bool enabled = false;  // the same on every rank
  bool live = false;     // rank 0: redraw a live line
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  std::mutex mutex;  // guards own, stop
  Counts own;
  bool stop = false;
  std::condition_variable wake;
  std::thread printer;

  fs::path own_file() const { return options.dir / ("rank-" + std::to_string(comm->rank()) + ".json"); }

  // Other ranks publish their counts for rank 0; best effort (progress never fails a run).
  void publish() {
    if (!enabled || comm->size() == 1 || comm->rank() == 0) return;
    const auto path = own_file();
    const auto temp = temp_path_for(path);
    {
      std::ofstream out(temp);
      const std::lock_guard lock(mutex);
      out << to_json(own).dump();
    }
    std::error_code ec;
    fs::rename(temp, path, ec);
    if (ec) fs::remove(temp, ec);
  }

  ProgressSnapshot snapshot() {
    std::vector<Counts> all;
    {
      const std::lock_guard lock(mutex);
      all.push_back(own);
    }
    for (int r = 1; r < comm->size(); ++r) {
      if (auto c = read_counts(options.dir / ("rank-" + std::to_string(r) + ".json"))) all.push_back(*c);
    }
    ProgressSnapshot s;
    s.n_total = options.n_done_before + options.n_items;
    s.n_done = options.n_done_before;
    double weight = 0;
    std::map<std::string, int> now;
    for (const auto& c : all) {
      s.n_done += c.items;
      s.n_failed += c.failed;
      s.n_positions += c.positions;
      weight += c.weight;
      if (!c.now.empty()) ++now[c.now];
    }
    s.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.positions_per_s = s.elapsed_s > 0 ? static_cast<double>(s.n_positions) / s.elapsed_s : 0;
    const double total = options.total_weight > 0 ? options.total_weight : static_cast<double>(options.n_items);
    if (weight > 0) s.left_s = std::max(0.0, s.elapsed_s * (total - weight) / weight);
    int shown = 0;
    for (const auto& [label, n] : now) {
      if (shown++ == 2) {
        s.now += ", +" + std::to_string(now.size() - 2) + " more";
        break;
      }
      s.now += (s.now.empty() ? "" : ", ") + label;
      if (comm->size() > 1) s.now += " (" + std::to_string(n) + (n == 1 ? " rank)" : " ranks)");
    }
    return s;
  }

  void show(const ProgressSnapshot& s) {
    if (options.sink) {
      options.sink(s);
      return;
    }
    const auto line = format_progress(options.what, s);
    if (s.final) {
      if (live) set_live_line("");
      log_progress(line);
    } else if (live) {
      set_live_line(line);
    } else {
      log_progress(line);
    }
  }

  void run_printer() {
    const auto tick = live ? std::chrono::milliseconds(1000) : options.interval;
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, tick, [&] { return stop; })) {
      lock.unlock();
      show(snapshot());
      lock.lock();
    }
  }
};

StudyProgress::StudyProgress(ProgressOptions options, const Communicator& comm) : state_(std::make_unique<State>()) {
  auto& s = *state_;
  s.options = std::move(options);
  s.comm = &comm;
  s.enabled = s.options.mode != ProgressMode::kOff;
  if (!s.enabled) return;
  if (comm.size() > 1) {
    std::error_code ec;
    fs::create_directories(s.options.dir, ec);
  }
  if (comm.rank() != 0) return;
  s.live = s.options.mode == ProgressMode::kLive || (s.options.mode == ProgressMode::kAuto && stderr_is_terminal());
  s.printer = std::thread([&s] { s.run_printer(); });
}

StudyProgress::~StudyProgress() {
  if (!state_) return;
  {
    const std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
  if (state_->printer.joinable()) state_->printer.join();
  if (state_->live) set_live_line("");
}

void StudyProgress::start_item(const std::string& label) {
  {
    const std::lock_guard lock(state_->mutex);
    state_->own.now = label;
  }
  state_->publish();
}

void StudyProgress::advance_item(std::int64_t n_positions, double weight) {
  {
    const std::lock_guard lock(state_->mutex);
    state_->own.positions += n_positions;
    state_->own.weight += state_->options.total_weight > 0 ? weight : 0.0;
  }
  state_->publish();
}

void StudyProgress::end_item(std::int64_t n_positions, double weight, bool failed) {
  {
    const std::lock_guard lock(state_->mutex);
    auto& c = state_->own;
    ++c.items;
    if (failed) ++c.failed;
    c.positions += n_positions;
    c.weight += state_->options.total_weight > 0 ? weight : 1.0;
    c.now.clear();
  }
  state_->publish();
}

void StudyProgress::finish() {
  auto& s = *state_;
  if (!s.enabled) return;
  {
    const std::lock_guard lock(s.mutex);
    s.stop = true;
  }
  s.wake.notify_all();
  if (s.printer.joinable()) s.printer.join();
  s.comm->barrier();  // every rank's last counts are on disk
  if (s.comm->rank() != 0) return;
  auto snap = s.snapshot();
  snap.final = true;
  // A loop shorter than one interval stays silent in the logs, as before.
  if (s.live || s.options.sink || snap.elapsed_s * 1000 >= static_cast<double>(s.options.interval.count())) s.show(snap);
  if (s.live) s.live = false;
  std::error_code ec;
  if (s.comm->size() > 1) {
    // Only the files this reporter wrote; the directories go when empty.
    for (int r = 1; r < s.comm->size(); ++r) fs::remove(s.options.dir / ("rank-" + std::to_string(r) + ".json"), ec);
    fs::remove(s.options.dir, ec);
    fs::remove(s.options.dir.parent_path(), ec);
  }
}

}  // namespace ibzoo::io
