// Training of one demo-zoo model: the only torch code of the zoo. zoo/train
// prepares the tokens and the directory layout and calls train_model per model.
#include "models/trainer.h"

#include "errors/error.h"
#include "analysis/reference_points.h"
#include "hf/safetensors.h"
#include "hf/random_model.h"
#include "models/transformer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <set>

namespace ibzoo::models {

namespace fs = std::filesystem;

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "cosine") return LrSchedule::Cosine;
  if (name == "linear") return LrSchedule::Linear;
  if (name == "constant") return LrSchedule::Constant;
  throw UsageError("learning-rate schedule \"" + name + "\" is unknown; use cosine, linear or constant");
}

std::string lr_schedule_name(LrSchedule schedule) {
  switch (schedule) {
    case LrSchedule::Cosine: return "cosine";
    case LrSchedule::Linear: return "linear";
    case LrSchedule::Constant: return "constant";
  }
  return "cosine";
}

double learning_rate(const TrainerOptions& o, std::int64_t step) {
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  if (o.schedule == LrSchedule::Constant) return o.lr;
  const auto n_decay = std::max<std::int64_t>(1, o.steps - o.warmup_steps);
  const double t = std::min(1.0, static_cast<double>(step - o.warmup_steps) / static_cast<double>(n_decay));
  const double shape = o.schedule == LrSchedule::Cosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * t)) : 1.0 - t;
  return o.lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * shape);
}

std::vector<std::int64_t> log_spaced_steps(std::int64_t steps, std::int64_t n_checkpoints) {
  if (steps < 1 || n_checkpoints < 2) {
    throw UsageError("checkpoints: need at least 1 step and 2 checkpoints, got " + std::to_string(steps) +
                     " steps and " + std::to_string(n_checkpoints) + " checkpoints");
  }
  std::set<std::int64_t> out = {0, steps};
  const auto n_log = n_checkpoints - 1;  // points from 1 to steps
  for (std::int64_t k = 0; k < n_log; ++k) {
    const double frac = n_log == 1 ? 1.0 : static_cast<double>(k) / static_cast<double>(n_log - 1);
    out.insert(std::llround(std::pow(static_cast<double>(steps), frac)));
  }
  return {out.begin(), out.end()};
}

namespace {

void validate(const TrainerOptions& o, std::span<const std::int32_t> tokens,
              const std::vector<std::int64_t>& checkpoint_steps) {
  if (o.steps < 1 || o.batch_size < 1 || o.context < 2 || o.threads < 1 || !(o.lr > 0) || o.warmup_steps < 0) {
    throw UsageError("training: steps, batch_size and threads must be >= 1, context >= 2, lr > 0 and "
                     "warmup_steps >= 0");
  }
  if (o.context > o.config.max_position_embeddings) {
    throw UsageError("training: context " + std::to_string(o.context) + " exceeds the model's max_position_embeddings " +
                     std::to_string(o.config.max_position_embeddings));
  }
  if (static_cast<std::int64_t>(tokens.size()) < o.context + 2) {
    throw UsageError("training: the token stream has " + std::to_string(tokens.size()) +
                     " tokens, fewer than context + 2 = " + std::to_string(o.context + 2) + "; give more text");
  }
  const auto bad = std::find_if(tokens.begin(), tokens.end(),
                                [&](std::int32_t t) { return t < 0 || t >= o.config.vocab_size; });
  if (bad != tokens.end()) {
    throw UsageError("training: token id " + std::to_string(*bad) + " is outside the model vocabulary of " +
                     std::to_string(o.config.vocab_size) + "; set the model vocab to the tokenizer's");
  }
  for (const auto s : checkpoint_steps) {
    if (s < 0 || s > o.steps) {
      throw UsageError("training: checkpoint step " + std::to_string(s) + " is outside [0, " +
                       std::to_string(o.steps) + "]");
    }
  }
}

Transformer initial_model(const TrainerOptions& o, const fs::path& scratch) {
  hf::RandomModelOptions init{o.config, o.seed, o.init_std};
  hf::make_random_model(init, scratch);
  auto model = load_transformer(hf::WeightStore::open_dir(scratch), init.config, torch::kFloat, torch::kCPU);
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return model;
}

torch::optim::AdamW make_optimizer(const TransformerImpl& model, const TrainerOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model.parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  auto opts = torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(1e-8).weight_decay(o.weight_decay);
  auto opts_nd = opts;
  opts_nd.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(opts_nd));
  return torch::optim::AdamW(std::move(groups), opts);
}

torch::Tensor draw_batch(std::span<const std::int32_t> tokens, const TrainerOptions& o, analysis::SplitMix64Stream& rng) {
  const auto n_starts = static_cast<std::uint64_t>(static_cast<std::int64_t>(tokens.size()) - o.context);
  auto batch = torch::empty({o.batch_size, o.context + 1}, torch::kLong);
  auto acc = batch.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < o.batch_size; ++b) {
    const auto start = static_cast<std::size_t>(rng.next() % n_starts);
    for (std::int64_t t = 0; t <= o.context; ++t) acc[b][t] = tokens[start + static_cast<std::size_t>(t)];
  }
  return batch;
}

void copy_if_present(const fs::path& from, const fs::path& to) {
  if (!fs::exists(from)) return;
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw WriteError(to.string() + ": cannot copy " + from.string() + " (" + ec.message() + ")");
}

void save_checkpoint(const TransformerImpl& model, const fs::path& dir, const fs::path& tokenizer_dir,
                     std::int64_t step) {
  const fs::path tmp = dir.string() + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw WriteError(tmp.string() + ": cannot create the checkpoint directory (" + ec.message() + ")");
  const auto tensors = to_hf_tensors(model);
  std::vector<hf::TensorToWrite> out;
  for (const auto& [name, t] : tensors) {
    std::vector<std::int64_t> shape(t.sizes().begin(), t.sizes().end());
    out.push_back({name, hf::DType::F32, shape,
                   {reinterpret_cast<const std::byte*>(t.data_ptr<float>()), static_cast<std::size_t>(t.numel()) * 4}});
  }
  hf::ModelConfig config = model.config();
  config.dtype = "float32";
  hf::write_model_config(tmp, config);
  hf::write_safetensors(tmp / "model.safetensors", out, {{"format", "pt"}, {"ibzoo_step", std::to_string(step)}});
  copy_if_present(tokenizer_dir / "tokenizer.json", tmp / "tokenizer.json");
  copy_if_present(tokenizer_dir / "tokenizer_config.json", tmp / "tokenizer_config.json");
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) throw WriteError(dir.string() + ": cannot rename the finished checkpoint into place (" + ec.message() + ")");
}

}  // namespace

TrainResult train_model(const TrainerOptions& o, std::span<const std::int32_t> tokens,
                        const std::vector<std::int64_t>& checkpoint_steps,
                        const std::function<fs::path(std::int64_t step)>& checkpoint_dir,
                        const fs::path& tokenizer_dir, const CheckpointCallback& on_checkpoint) {
  validate(o, tokens, checkpoint_steps);
  const auto start = std::chrono::steady_clock::now();
  torch::set_num_threads(o.threads);
  const std::set<std::int64_t> save_at(checkpoint_steps.begin(), checkpoint_steps.end());
  auto model = initial_model(o, checkpoint_dir(0).string() + ".init");
  auto optimizer = make_optimizer(*model, o);
  // Portable batch order: the same windows on every machine and torch version.
  analysis::SplitMix64Stream rng(o.seed ^ 0x5eedba7c4e5ull);
  const std::vector<std::int64_t> lengths(static_cast<std::size_t>(o.batch_size), o.context);
  const auto save = [&](std::int64_t step) {
    if (!save_at.count(step)) return;
    save_checkpoint(*model, checkpoint_dir(step), tokenizer_dir, step);
    if (on_checkpoint) on_checkpoint(step, checkpoint_dir(step));
  };
  TrainResult result;
  result.n_parameters = model->n_parameters();
  save(0);
  for (std::int64_t step = 0; step < o.steps; ++step) {
    const double lr = learning_rate(o, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    const auto batch = draw_batch(tokens, o, rng);
    const auto inputs = batch.slice(1, 0, o.context);
    const auto targets = batch.slice(1, 1, o.context + 1);
    optimizer.zero_grad();
    const auto logits = model->forward(inputs, lengths, {}, ForwardOptions{true, true});
    const auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, o.config.vocab_size}),
                                                           targets.reshape({-1}));
    loss.backward();
    if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), o.grad_clip);
    optimizer.step();
    result.log.push_back({step, loss.item<double>(), lr});
    save(step + 1);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ibzoo::models
