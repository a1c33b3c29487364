// What the study's progress line (io/progress.h) is told about the accumulate loop of a
// `run`: the items, their weights, where the ranks' counters go, and how it prints.
// Kept apart from pipeline/run.cpp so that any loop over a plan's items can use it.
#pragma once

#include "io/progress.h"
#include "pipeline/manifest.h"
#include "pipeline/plan.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::pipeline {

// Progress of the `pending` plan items (indices into the plan, with weights `cost` by
// plan index), n_done_before already finished. The ranks' counters go to
// <run>/progress/<attempt>. A slice's lines say which slice they count.
io::ProgressOptions accumulate_progress_options(const std::vector<std::size_t>& pending, const std::vector<double>& cost,
                                             std::int64_t n_done_before, const std::filesystem::path& run_root,
                                             const std::string& attempt,
                                             const std::optional<std::pair<int, int>>& slice, io::ProgressMode mode,
                                             std::chrono::milliseconds interval);

// "model/checkpoint": what a rank works on.
std::string item_label(const Manifest& manifest, const WorkItem& item);

}  // namespace ibzoo::pipeline
