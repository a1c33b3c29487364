// The torch half of the demo zoo's training (zoo/train drives it): seeded
// initialisation through make_random_model, next-token cross-entropy, AdamW with
// warm-up and a cosine or linear decay, gradient clipping, and checkpoints saved in
// the Hugging Face layout at the requested steps. Torch-free header.
//
// Deterministic: the same options, tokens and thread count give byte-identical
// checkpoints (batches come from a portable splitmix64 stream, not from torch).
#pragma once

#include "hf/config.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::models {

enum class LrSchedule { Cosine, Linear, Constant };
// "cosine", "linear", "constant"; throws UsageError otherwise.
LrSchedule parse_lr_schedule(const std::string& name);
std::string lr_schedule_name(LrSchedule schedule);

struct TrainerOptions {
  hf::ModelConfig config;            // e.g. hf::default_model_config(family, sizes)
  std::uint64_t seed = 1;            // initial weights (make_random_model) and batch order
  double init_std = 0.02;
  std::int64_t steps = 200;          // optimiser steps
  std::int64_t batch_size = 16;      // sequences per step
  std::int64_t context = 64;         // tokens per sequence (the model sees context, predicts context)
  double lr = 3e-3;                  // peak learning rate
  double min_lr_ratio = 0.1;         // final lr = lr x min_lr_ratio (cosine, linear)
  std::int64_t warmup_steps = 20;    // linear warm-up from lr / warmup_steps
  LrSchedule schedule = LrSchedule::Cosine;
  double weight_decay = 0.01;        // AdamW, on matrices only (not norms, biases)
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;            // max global L2 norm; 0: off
  int threads = 2;                   // torch intra-op threads (set explicitly: part of determinism)
};

// The learning rate at `step` (0-based optimiser step).
double learning_rate(const TrainerOptions& options, std::int64_t step);

// Steps 0, then n_checkpoints - 1 log-spaced steps from 1 to `steps` (rounded,
// duplicates removed, always ending at `steps`). n_checkpoints >= 2.
std::vector<std::int64_t> log_spaced_steps(std::int64_t steps, std::int64_t n_checkpoints);

struct TrainLogEntry {
  std::int64_t step = 0;  // optimiser steps taken before this batch
  double loss = 0.0;      // mean next-token cross-entropy (nats) of the batch
  double lr = 0.0;
};

struct TrainResult {
  std::vector<TrainLogEntry> log;     // one entry per step
  std::int64_t n_parameters = 0;
  double seconds = 0.0;
};

// Called after checkpoint `step` was written to `dir` (for progress lines).
using CheckpointCallback = std::function<void(std::int64_t step, const std::filesystem::path& dir)>;

// Trains one model on `tokens` (one long stream; windows of context + 1 tokens are
// drawn uniformly at random) and writes each step in `checkpoint_steps` (sorted,
// within [0, steps]) to checkpoint_dir(step): config.json, model.safetensors, and a
// copy of tokenizer.json / tokenizer_config.json from `tokenizer_dir`. Each
// checkpoint directory is written under a temporary name and renamed into place.
// Throws UsageError (bad options, stream shorter than context + 1, token ids outside
// the vocabulary), WriteError.
TrainResult train_model(const TrainerOptions& options, std::span<const std::int32_t> tokens,
                        const std::vector<std::int64_t>& checkpoint_steps,
                        const std::function<std::filesystem::path(std::int64_t step)>& checkpoint_dir,
                        const std::filesystem::path& tokenizer_dir, const CheckpointCallback& on_checkpoint = {});

}  // namespace ibzoo::models
