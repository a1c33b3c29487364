// Progress of a study's long loop, over ALL ranks of the job: items done of the whole
// study, positions per second, time left, and what the ranks work on now.
//
//   extract: 37/120 items (31%), 12.4k positions/s, elapsed 2m10s, left ~4m42s; now tiny-gpt2/final (4 ranks)
//
// Rank 0 prints one line per interval (logs, Slurm output files) or redraws a live line
// on a terminal, from a background thread, so that a line comes on time even while
// rank 0 computes a long item. Every rank records its counts in a small file of a shared
// directory (the run directory is shared by all ranks: claims already require it) after
// each item; rank 0's thread adds them up. No MPI call happens in the loop, so ranks may
// do different numbers of items (work stealing).
//
// Time left = elapsed x (work left / work done), where work is the items' weights (e.g.
// documents x parameters), or items when no weights are given.
//
// Files: <dir>/rank-<R>.json ({"items", "failed", "positions", "weight", "now"}),
// written to a temporary name and renamed (no fsync: they are not results). finish()
// removes <dir>.
#pragma once

#include "io/mpi.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace ibzoo::io {

enum class ProgressMode {
  kAuto,   // live line when stderr is a terminal, else lines
  kLines,  // one line per interval
  kLive,   // a live line, redrawn every second, and the final line
  kOff,
};
// "auto", "lines", "live", "off". Throws UsageError.
ProgressMode parse_progress_mode(const std::string& text);

// What rank 0 knows at one moment.
struct ProgressSnapshot {
  std::int64_t n_done = 0;          // of the whole study, including n_done_before
  std::int64_t n_total = 0;         // the whole study's items
  std::int64_t n_failed = 0;
  std::int64_t n_positions = 0;     // this invocation, all ranks
  double elapsed_s = 0;             // since the reporter started
  double positions_per_s = 0;
  double left_s = -1;               // estimated time left; < 0 when unknown (nothing done yet)
  std::string now;                  // what the ranks work on: "m/c (3 ranks), m2/c (1 rank)"
  bool final = false;
};
std::string format_progress(const std::string& what, const ProgressSnapshot& s);

struct ProgressOptions {
  std::string what = "extract";               // line prefix
  std::filesystem::path dir;                  // shared by the ranks; created by the constructor
  std::int64_t n_items = 0;                   // items this invocation computes (all ranks)
  std::int64_t n_done_before = 0;             // items of the study finished by earlier runs
  double total_weight = 0;                    // sum of the n_items' weights; 0: weight 1 each
  std::chrono::milliseconds interval{std::chrono::seconds(30)};  // between lines (kLines)
  ProgressMode mode = ProgressMode::kAuto;
  // Tests: receives each snapshot rank 0 prints (instead of printing it).
  std::function<void(const ProgressSnapshot&)> sink;
};

class StudyProgress {
 public:
  // Not collective; every rank constructs one with the same options.
  StudyProgress(ProgressOptions options, const Communicator& comm);
  StudyProgress(const StudyProgress&) = delete;
  StudyProgress& operator=(const StudyProgress&) = delete;
  ~StudyProgress();

  // This rank starts an item ("model/checkpoint" for the line's "now").
  void start_item(const std::string& label);
  // Part of the item this rank works on is done: n_positions more, and `weight` more of
  // the item's weight (a share of it; only with total_weight). For long items.
  void advance_item(std::int64_t n_positions, double weight);
  // This rank finished (or failed) the item it started; n_positions and weight are what
  // advance_item has not counted yet (weight as in total_weight).
  void end_item(std::int64_t n_positions, double weight = 1.0, bool failed = false);
  // Collective: every rank calls this once, after its last item. Rank 0 prints the
  // final line (when the loop ran for at least one interval, or in live mode) and
  // removes the directory.
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ibzoo::io
