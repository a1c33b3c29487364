// Extract: runs one model checkpoint over one document shard (a work item),
// turns every selected layer's rows into soft assignments (on the GPU when the
// model is there) and streams them, batch by batch, with each position's label
// ids, into <run>/items/<id>/state.h5 (format 2, io/state_h5.h; the reduce builds
// the label tables), and writes reps.h5 when representations are stored,
// provenance.json, and last the DONE marker.
// Idempotent at the caller: the pipeline skips items whose DONE is valid.
// Throws ModelError (NaN/Inf activations, model failures), WriteError. Not collective.
#pragma once

#include "analysis/estimator_state.h"
#include "analysis/soft_entropy.h"
#include "io/run_dir.h"
#include "stages/prepare.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ibzoo::models {
class Model;
}

namespace ibzoo::stages {

// The estimator configuration for one hidden width: W, eps and the state layout.
struct EstimatorSetup {
  analysis::SoftAssigner assigner;
  analysis::StateLayout layout;
  std::string calibration;
  std::string w_checksum;
};

struct RepresentationStorage {
  bool enabled = false;
  std::vector<int> layers;           // empty: all
  bool float16 = true;
  std::int64_t chunk_tokens = 1024;
  int compression = 4;
};

struct ExtractJob {
  std::string item_id;
  io::RunDir run;
  std::int64_t doc_begin = 0;        // sample documents [doc_begin, doc_end)
  std::int64_t doc_end = 0;
  std::vector<int> layers;           // layers to estimate; empty: all 0..L
  std::int64_t tokens_per_batch = 4096;
  int threads = 1;
  RepresentationStorage storage;
  bool assignments_float16 = false;  // state.h5 stores p as IEEE half (storage.assignments)
  nlohmann::json provenance;         // merged into provenance.json
};

struct ExtractResult {
  std::int64_t n_documents = 0;
  std::int64_t n_tokens = 0;
  std::int64_t n_positions = 0;
  double wall_s = 0;      // the whole item, up to the state file
  double forward_s = 0;   // in the forward pass (and, on a GPU, the soft assignments)
  double estimate_s = 0;  // writing assignments that the forward pass did not hide (GPU)
  double write_s = 0;     // writing labels and committing state.h5
  std::int64_t state_bytes = 0;
};

ExtractResult extract(const ExtractJob& job, const PreparedText& text, const models::Model& model,
                      const EstimatorSetup& setup);

// Which layers an item estimates: `wanted` (validated against the model) or all 0..L.
// Throws ModelError naming the layer when it does not exist.
std::vector<int> resolve_layers(const std::vector<int>& wanted, int n_layers, const std::string& model_id);

}  // namespace ibzoo::stages
