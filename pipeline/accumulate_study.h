// The accumulate stage of a study, across the ranks of a job (after the label pass,
// pipeline/label_pass.h): accumulate_items decides who computes which item. With at
// least as many pending items as ranks (and tables that fit one rank), each rank
// computes whole items, taken from a cost-balanced slice and stolen from others' when
// its own is done (pipeline/work_queue.h); otherwise all ranks form one team per item,
// in plan order, sharing its batches and its label rows (stages/accumulate.h). Models
// load once per checkpoint, the first one while the label pass runs and each next
// one's files read (and hashed) while the one before computes (pipeline/model_cache.h).
// Runs a model: linked into ibzoo-torch only (pipeline/no_model.cpp stands in for it
// in the torch-free ibzoo, which hands such runs over: cli/handoff.h).
// Collective: every rank of `comm` calls it with the same arguments.
#pragma once

#include "io/mpi.h"
#include "io/run_dir.h"
#include "pipeline/label_pass.h"
#include "pipeline/run.h"

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace ibzoo::pipeline {

class ModelCache;

// The stage's models; this rank's first pending checkpoint starts loading now, in the
// background, so that loading it overlaps the label pass.
std::shared_ptr<ModelCache> start_models(const Study& study, const std::vector<std::size_t>& pending,
                                         const RunOptions& options, const io::Communicator& comm);

// Computes the pending items. A failing item is recorded (error.json) and the
// others go on; `stop` (a signal number, or 0) ends the loop after the current item.
void accumulate_items(const Study& study, const Texts& texts, const std::vector<std::size_t>& pending,
                      ModelCache& models, const io::RunDir& run, const RunOptions& options, const io::Communicator& comm,
                      const std::atomic<int>& stop, RunSummary& summary);

}  // namespace ibzoo::pipeline
