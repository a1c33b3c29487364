// Inside stages/ only: the accumulate stage's
// opt-in per-position outputs it writes on the host (Outputs: soft assignments,
// stored representations). Torch-free.
#pragma once

#include "stages/accumulate.h"
#include "stages/batches.h"

#include "io/float16.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/state_h5.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::stages::accumulate_parts {

// Opt-in per-position outputs of one part, written on the host in batch order.
class Outputs {
 public:
  Outputs(const AccumulateJob& job, const std::string& part, const analysis::StateLayout& layout, std::int64_t dim) {
    const auto suffix = part == "text" ? std::string() : "." + part;
    if (job.assignments_float16) {
      assignments_path_ = job.run.item_dir(job.item_id) / ("assignments" + suffix + ".h5");
      assignments_temp_ = io::temp_path_for(assignments_path_);
      assignments_.emplace(io::H5File::create(assignments_temp_));
      io::write_assignments_header(*assignments_, layout);
      float16_ = *job.assignments_float16;
      n_bins_ = layout.n_bins;
    }
    if (job.storage.enabled) {
      const auto& base = job.storage.path;
      reps_path_ = suffix.empty() ? base : base.parent_path() / (base.stem().string() + suffix + ".h5");
      std::error_code ec;
      std::filesystem::create_directories(reps_path_.parent_path(), ec);
      reps_temp_ = io::temp_path_for(reps_path_);
      reps_.emplace(io::H5File::create(reps_temp_));
      stored_ = job.storage.layers;
      for (int l : stored_) {
        reps_->create_rows(io::layer_group(l), dim, {{job.storage.chunk_tokens}, job.storage.compression, job.storage.float16});
      }
    }
  }
  bool wants_assignments() const { return assignments_.has_value(); }
  bool stores(int layer) const { return reps_ && std::find(stored_.begin(), stored_.end(), layer) != stored_.end(); }
  const std::vector<int>& stored_layers() const { return stored_; }

  void add_representations(int layer, std::span<const float> rows, std::int64_t n_rows) {
    reps_->append_rows(io::layer_group(layer), rows, n_rows);
  }
  // p: [layers][n][m] of one batch.
  void add_assignments(const std::vector<int>& layers, std::span<const float> p, const Batch& batch, bool first_pass) {
    const auto n = batch.n_positions();
    for (std::size_t slot = 0; slot < layers.size(); ++slot) {
      const int layer = layers[slot];
      if (std::find(created_.begin(), created_.end(), layer) == created_.end()) {
        io::create_assignments(*assignments_, layer, n_bins_, float16_);
        created_.push_back(layer);
      }
      const auto values = p.subspan(slot * static_cast<std::size_t>(n * n_bins_), static_cast<std::size_t>(n * n_bins_));
      if (float16_) {
        half_.resize(values.size());
        io::float_to_f16(values, half_);
        io::append_assignments(*assignments_, layer, half_, n);
      } else {
        io::append_assignments(*assignments_, layer, values, n);
      }
    }
    if (!first_pass) return;
    if (labels_.empty()) labels_.resize(batch.label_ids.size());
    for (std::size_t s = 0; s < batch.label_ids.size(); ++s) {
      labels_[s].insert(labels_[s].end(), batch.label_ids[s].begin(), batch.label_ids[s].end());
    }
    doc_ids_.insert(doc_ids_.end(), batch.doc_ids.begin(), batch.doc_ids.end());
  }
  void add_documents(const Batch& batch) {
    for (std::size_t k = 0; k < batch.sequences.size(); ++k) {
      reps_docs_.push_back(batch.doc_ids_of_sequences[k]);
      reps_offsets_.push_back(reps_offsets_.back() + static_cast<std::int64_t>(batch.sequences[k].size()));
    }
  }

  void commit() {
    if (assignments_) {
      io::write_positions(*assignments_, labels_, doc_ids_);
      assignments_->close();
      io::commit_file(assignments_temp_, assignments_path_);
    }
    if (reps_) {
      const auto n_docs = static_cast<std::int64_t>(reps_docs_.size());
      reps_->write("/doc_ids", std::span<const std::int64_t>(reps_docs_), {n_docs});
      reps_->write("/doc_offsets", std::span<const std::int64_t>(reps_offsets_), {n_docs + 1});
      reps_->close();
      io::commit_file(reps_temp_, reps_path_);
    }
  }

 private:
  std::optional<io::H5File> assignments_;
  std::filesystem::path assignments_path_, assignments_temp_;
  bool float16_ = false;
  std::int64_t n_bins_ = 0;
  std::vector<int> created_;
  std::vector<std::uint16_t> half_;
  std::vector<std::vector<std::int32_t>> labels_;
  std::vector<std::int64_t> doc_ids_;
  std::optional<io::H5File> reps_;
  std::filesystem::path reps_path_, reps_temp_;
  std::vector<int> stored_;
  std::vector<std::int64_t> reps_docs_;
  std::vector<std::int64_t> reps_offsets_{0};
};

}  // namespace ibzoo::stages::accumulate_parts
