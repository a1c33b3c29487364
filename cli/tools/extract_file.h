// Stage behind `ibzoo extract`: one text file -> tokenizer -> model -> one HDF5 file
// with the token ids and every layer's hidden states (and optionally the logits).
// It is the single-file, single-process counterpart of the manifest-driven extract.
#pragma once

#include "models/model.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace ibzoo::tools {

struct ExtractFileJob {
  std::filesystem::path model_dir;   // config.json, safetensors weights, tokenizer.json
  std::filesystem::path text_file;   // UTF-8 text, tokenized as one sequence
  std::filesystem::path out;         // the HDF5 file to write
  models::RunOptions run;            // device, dtype, threads, final_norm
  bool logits = false;               // also write /logits
  bool add_special_tokens = false;   // let the tokenizer's post-processor add e.g. a BOS
  bool operator==(const ExtractFileJob&) const = default;
};

struct ExtractFileResult {
  std::int64_t n_tokens = 0;
  int n_layers = 0;                  // L; /hidden_states has L + 1 entries
  std::int64_t hidden_size = 0;
  bool operator==(const ExtractFileResult&) const = default;
};

// Writes job.out (temp name in the same directory, then renamed):
//   /input_ids      int64   [T]
//   /hidden_states  float32 [L + 1, T, d]   HF convention (0 = embeddings, L = final norm)
//   /logits         float32 [T, V]          only with job.logits
// and root attributes model_dir, text_file, model_type, device, dtype, final_norm,
// add_special_tokens, ibzoo_version. Throws MissingInputError (model, tokenizer or
// text missing), CorruptDataError (bad files; empty text gives "no tokens"),
// ModelError (unknown architecture, text longer than learned positions), WriteError.
// Not collective.
ExtractFileResult extract_file(const ExtractFileJob& job);

}  // namespace ibzoo::tools
