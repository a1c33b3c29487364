// Preflight: before anything runs, open every checkpoint's config.json, safetensors
// headers (model.safetensors, or the index and every shard) and every model's
// tokenizer.json once, and report every problem of every checkpoint in one list.
// `ibzoo plan` calls it after the manifest is read; `ibzoo run` calls it before its
// first forward pass. Reads files only (weights are memory-mapped, headers parsed;
// no tensor is read).
#pragma once

#include "io/mpi.h"
#include "pipeline/manifest.h"

#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::pipeline {

struct PreflightProblem {
  std::string model;
  std::string checkpoint;  // "" for a model-level problem (its tokenizer)
  std::string message;     // names the file, what was expected and what was found
  bool operator==(const PreflightProblem&) const = default;
};

// Checks, per checkpoint: config.json parses and names an architecture ibzoo
// implements; its model_type agrees with the manifest's family when that family names
// an architecture (pythia -> gpt_neox, smollm2 -> llama, ...); the safetensors
// headers are valid and hold every tensor the architecture needs, with the shapes
// config.json implies and a float dtype. Per model: tokenizer.json loads. Each file
// is opened once even when checkpoints share it. Not collective; never throws for a
// problem of the files (they are returned).
std::vector<PreflightProblem> preflight(const Manifest& manifest);

// "<manifest>: N problems with the models, nothing was run:\n  model/ckpt: ..." ("" when none).
std::string describe_problems(const Manifest& manifest, const std::vector<PreflightProblem>& problems);

// preflight(), and a ManifestError (exit code 2) with describe_problems() when there is a problem.
void check_models(const Manifest& manifest);

// Collective: every rank calls this. Rank 0 runs check_models and broadcasts the
// outcome; every rank then returns or throws the same ManifestError.
void check_models_collective(const Manifest& manifest, io::Communicator& comm);

// The model_type(s) a family label stands for ("pythia" -> {"gpt_neox"}); empty for a
// free label that names no architecture (then nothing is checked).
std::vector<std::string> model_types_of_family(const std::string& family);

}  // namespace ibzoo::pipeline
