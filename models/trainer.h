// The torch half of the zoo's training (zoo/train drives it): seeded
// initialisation through hf::make_random_model, next-token cross-entropy, AdamW with
// warm-up and a cosine or linear decay, weight decay on matrices only, gradient
// clipping, the held-out loss at every checkpoint, and checkpoints saved in the
// Hugging Face layout at the requested steps. On the CPU or a CUDA GPU. Torch-free header.
//
// Numerics (docs/REPRODUCTION.md, "Training"):
//   - weights, gradients and optimiser state are float32 everywhere;
//   - precision bfloat16 (the default on CUDA where this libtorch has the C++ autocast
//     API, torch >= 2.4): the forward pass and the loss run under CUDA autocast to
//     bfloat16 (matrix products and attention in bfloat16, norms, softmax and the loss
//     in float32), as torch.autocast does in Python; tf32: float32 with TF32 matrix
//     products; float32: plain float32 (the only choice on the CPU);
//   - AdamW: torch's fused CUDA kernel (_fused_adamw_, torch >= 2.1) on CUDA, else one
//     multi-tensor (_foreach) step per parameter group, the same arithmetic as
//     torch::optim::AdamW (bitwise on the CPU, tested);
//   - nothing waits for the device between steps: the losses stay on the device until a
//     checkpoint, the gradient norm is clipped with device tensors.
//
// Deterministic: on the CPU the same options, tokens and thread count give
// byte-identical checkpoints (batches come from a portable splitmix64 stream, not from
// torch). On CUDA with `deterministic`, torch's deterministic algorithms are switched
// on (warn-only) and cuBLAS gets a fixed workspace (CUBLAS_WORKSPACE_CONFIG=:4096:8,
// unless already set), which is what the hardware allows; docs/REPRODUCTION.md says
// what was measured.
#pragma once

#include "hf/config.h"
#include "models/model.h"

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

// auto: bfloat16 on CUDA (tf32 where this libtorch lacks the C++ autocast API),
// float32 on the CPU.
enum class Precision { Auto, Float32, Tf32, BFloat16 };
// "auto", "float32", "tf32", "bfloat16"; throws UsageError otherwise.
Precision parse_precision(const std::string& name);
std::string precision_name(Precision precision);
// What `precision` means on `device` with this libtorch. Throws UsageError for
// bfloat16 or tf32 on the CPU, or bfloat16 where autocast is not available.
Precision resolve_precision(Precision precision, Device device);
// Whether this libtorch has the C++ autocast API the bfloat16 precision needs.
bool autocast_available();

struct TrainerOptions {
  hf::ModelConfig config;            // e.g. hf::default_model_config(family, sizes)
  std::uint64_t seed = 1;            // initial weights (hf::make_random_model) and batch order
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
  Device device = Device::Cpu;
  int cuda_device_idx = 0;
  Precision precision = Precision::Auto;
  bool deterministic = true;         // CUDA: deterministic algorithms and a fixed cuBLAS workspace
  std::int64_t eval_tokens = 8192;   // held-out tokens scored at every checkpoint (0: no held-out loss)
};

// The learning rate at `step` (0-based optimiser step).
double learning_rate(const TrainerOptions& options, std::int64_t step);

// Steps 0, then n_checkpoints - 1 log-spaced steps from 1 to `steps` (rounded,
// duplicates removed, always ending at `steps`). n_checkpoints >= 2.
std::vector<std::int64_t> log_spaced_steps(std::int64_t steps, std::int64_t n_checkpoints);

// Log-spaced early, evenly spaced later: step 0, then half of the remaining
// n_checkpoints - 1 points log-spaced from 1 to `even_from`, then the rest evenly
// spaced after `even_from` up to `steps` (rounded, duplicates removed, always ending at
// `steps`). Needs 1 <= even_from < steps and n_checkpoints >= 3; throws UsageError.
std::vector<std::int64_t> log_even_steps(std::int64_t steps, std::int64_t n_checkpoints, std::int64_t even_from);

struct TrainLogEntry {
  std::int64_t step = 0;  // optimiser steps taken before this batch
  double loss = 0.0;      // mean next-token cross-entropy (nats) of the batch
  double lr = 0.0;
};

// What was measured at one checkpoint.
struct CheckpointEval {
  std::int64_t step = 0;
  double heldout_loss = 0.0;         // mean next-token cross-entropy (nats) on the held-out windows; NaN without
  double train_loss = 0.0;           // mean batch loss of the steps since the previous checkpoint; NaN at step 0
  std::int64_t heldout_tokens = 0;   // predicted tokens the held-out loss averages over
};

struct TrainResult {
  std::vector<TrainLogEntry> log;     // one entry per step
  std::vector<CheckpointEval> checkpoints;
  std::int64_t n_parameters = 0;
  double seconds = 0.0;
  std::string device;                 // "cpu", "cuda"
  std::string precision;              // what ran: "float32", "tf32", "bfloat16"
  std::string optimizer;              // "AdamW (fused CUDA kernel)" or "AdamW (multi-tensor)"
};

// Called after checkpoint `step` was written to `dir` (for progress lines).
using CheckpointCallback =
    std::function<void(std::int64_t step, const std::filesystem::path& dir, const CheckpointEval& eval)>;

// Trains one model on `tokens` (one long stream; windows of context + 1 tokens are
// drawn uniformly at random) and writes each step in `checkpoint_steps` (sorted,
// within [0, steps]) to checkpoint_dir(step): config.json, model.safetensors,
// trainer_state.json (the Hugging Face Trainer's file: global_step and a log_history
// with the train loss and the held-out eval_loss of that step), and a copy of
// tokenizer.json / tokenizer_config.json from `tokenizer_dir`. The held-out loss is the
// mean cross-entropy over the first eval_tokens of `heldout`, cut into consecutive
// windows of context + 1 tokens (empty `heldout` or eval_tokens 0: none). Each
// checkpoint directory is written under a temporary name and renamed into place.
// Throws UsageError (bad options, stream shorter than context + 1, token ids outside
// the vocabulary, CUDA asked for but absent), WriteError.
TrainResult train_model(const TrainerOptions& options, std::span<const std::int32_t> tokens,
                        std::span<const std::int32_t> heldout, const std::vector<std::int64_t>& checkpoint_steps,
                        const std::function<std::filesystem::path(std::int64_t step)>& checkpoint_dir,
                        const std::filesystem::path& tokenizer_dir, const CheckpointCallback& on_checkpoint = {});

}  // namespace ibzoo::models
