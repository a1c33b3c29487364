// Pack: one shared representations file per checkpoint (storage.layout: per_checkpoint).
//
// extract writes each item's stored layers to items/<id>/reps.h5, atomically, so that a
// killed run resumes item by item. Once every item of a checkpoint is done, the ranks
// copy those rows together into reps/<model>/<checkpoint>.h5 (parallel HDF5, collective
// MPI-IO writes), in plan order, and then remove the per-item files. Layout:
// docs/RUN_LAYOUT.md.
#pragma once

#include "io/mpi.h"
#include "io/run_dir.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::stages {

struct PackJob {
  io::RunDir run;
  std::string model;
  std::string checkpoint;
  std::vector<std::string> item_ids;                                 // in plan order
  std::vector<std::pair<std::int64_t, std::int64_t>> documents;      // each item's [begin, end) of the sample
  bool keep_item_files = false;                                      // else remove items/<id>/reps.h5 once packed
  std::int64_t chunk_rows = 4096;                                    // rows per collective write (memory per rank)
};

// <run>/reps/<model>/<checkpoint>.h5
std::filesystem::path packed_reps_path(const io::RunDir& run, const std::string& model, const std::string& checkpoint);

// Collective over comm. Returns false (and only tidies leftover per-item files) when the
// packed file exists already. Throws UsageError without parallel HDF5, CorruptDataError
// naming the item when a reps.h5 is missing or its layers or width differ from the
// first item's, WriteError. The file is written under a temporary name and renamed, so
// a killed pack leaves the per-item files and no packed file: it is simply redone.
bool pack_representations(const PackJob& job, const io::Communicator& comm);

}  // namespace ibzoo::stages
