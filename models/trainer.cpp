// Training of one zoo model: the only torch code of the zoo. zoo/train
// prepares the tokens and the directory layout and calls train_model per model.
#include "models/trainer.h"

#include "errors/error.h"
#include "analysis/reference_points.h"
#include "io/fs.h"
#include "hf/safetensors.h"
#include "models/adamw.h"
#include "hf/random_model.h"
#include "models/transformer.h"

#include <nlohmann/json.hpp>
#include <torch/version.h>

// The device-generic C++ autocast API (set_autocast_enabled(device_type, ...)) exists
// from torch 2.4; older versions (Debian's 1.13) train in float32 or TF32.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#include <ATen/autocast_mode.h>
#define IBZOO_HAVE_AUTOCAST 1
#else
#define IBZOO_HAVE_AUTOCAST 0
#endif
// From torch 2.1 deterministic mode also fills every torch::empty with NaN (a kernel per
// allocation); the trainer never reads memory it has not written, so that is turned off.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define IBZOO_HAVE_DETERMINISTIC_FILL 1
#else
#define IBZOO_HAVE_DETERMINISTIC_FILL 0
#endif
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
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

Precision parse_precision(const std::string& name) {
  if (name == "auto") return Precision::Auto;
  if (name == "float32") return Precision::Float32;
  if (name == "tf32") return Precision::Tf32;
  if (name == "bfloat16") return Precision::BFloat16;
  throw UsageError("training precision \"" + name + "\" is unknown; use auto, float32, tf32 or bfloat16");
}

std::string precision_name(Precision precision) {
  switch (precision) {
    case Precision::Auto: return "auto";
    case Precision::Float32: return "float32";
    case Precision::Tf32: return "tf32";
    case Precision::BFloat16: return "bfloat16";
  }
  return "auto";
}

bool autocast_available() { return IBZOO_HAVE_AUTOCAST != 0; }

Precision resolve_precision(Precision precision, Device device) {
  if (device == Device::Cpu) {
    if (precision == Precision::Auto || precision == Precision::Float32) return Precision::Float32;
    throw UsageError("training precision " + precision_name(precision) +
                     " needs a CUDA device; on the CPU the trainer runs in float32 (precision: auto or float32)");
  }
  if (precision == Precision::Auto) return autocast_available() ? Precision::BFloat16 : Precision::Tf32;
  if (precision == Precision::BFloat16 && !autocast_available()) {
    throw UsageError(std::string("training precision bfloat16 needs torch >= 2.4 (C++ autocast); this libtorch is ") +
                     TORCH_VERSION + "; use tf32 or float32");
  }
  return precision;
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

std::vector<std::int64_t> log_even_steps(std::int64_t steps, std::int64_t n_checkpoints, std::int64_t even_from) {
  if (n_checkpoints < 3 || even_from < 1 || even_from >= steps) {
    throw UsageError("checkpoints: log-even spacing needs at least 3 checkpoints and 1 <= checkpoint_even_from < steps, "
                     "got " + std::to_string(n_checkpoints) + " checkpoints, checkpoint_even_from " +
                     std::to_string(even_from) + ", " + std::to_string(steps) + " steps");
  }
  const auto n_rest = n_checkpoints - 1;
  const auto n_log = (n_rest + 1) / 2;  // 1 .. even_from, log-spaced (even_from included)
  const auto n_even = n_rest - n_log;   // after even_from, evenly spaced, ending at steps
  std::set<std::int64_t> out = {0};
  const auto log_part = log_spaced_steps(even_from, n_log + 1);
  out.insert(log_part.begin(), log_part.end());
  for (std::int64_t k = 1; k <= n_even; ++k) {
    const double frac = static_cast<double>(k) / static_cast<double>(n_even);
    out.insert(even_from + std::llround(frac * static_cast<double>(steps - even_from)));
  }
  out.insert(steps);
  return {out.begin(), out.end()};
}

namespace {

void validate(const TrainerOptions& o, std::span<const std::int32_t> tokens, std::span<const std::int32_t> heldout,
              const std::vector<std::int64_t>& checkpoint_steps) {
  if (o.steps < 1 || o.batch_size < 1 || o.context < 2 || o.threads < 1 || !(o.lr > 0) || o.warmup_steps < 0 ||
      o.eval_tokens < 0) {
    throw UsageError("training: steps, batch_size and threads must be >= 1, context >= 2, lr > 0, "
                     "warmup_steps >= 0 and eval_tokens >= 0");
  }
  if (o.context > o.config.max_position_embeddings) {
    throw UsageError("training: context " + std::to_string(o.context) + " exceeds the model's max_position_embeddings " +
                     std::to_string(o.config.max_position_embeddings));
  }
  if (static_cast<std::int64_t>(tokens.size()) < o.context + 2) {
    throw UsageError("training: the token stream has " + std::to_string(tokens.size()) +
                     " tokens, fewer than context + 2 = " + std::to_string(o.context + 2) + "; give more text");
  }
  for (const auto stream : {tokens, heldout}) {
    const auto bad = std::find_if(stream.begin(), stream.end(),
                                  [&](std::int32_t t) { return t < 0 || t >= o.config.vocab_size; });
    if (bad != stream.end()) {
      throw UsageError("training: token id " + std::to_string(*bad) + " is outside the model vocabulary of " +
                       std::to_string(o.config.vocab_size) + "; set the model vocab to the tokenizer's");
    }
  }
  for (const auto s : checkpoint_steps) {
    if (s < 0 || s > o.steps) {
      throw UsageError("training: checkpoint step " + std::to_string(s) + " is outside [0, " +
                       std::to_string(o.steps) + "]");
    }
  }
  if (o.device == Device::Cuda && !cuda_available()) {
    throw UsageError("training: device cuda requested but this build of torch sees no CUDA device; "
                     "use device cpu or run on a GPU machine");
  }
}

torch::Device torch_device(const TrainerOptions& o) {
  if (o.device == Device::Cuda) return {torch::kCUDA, static_cast<c10::DeviceIndex>(o.cuda_device_idx)};
  return torch::Device(torch::kCPU);
}

Transformer initial_model(const TrainerOptions& o, const fs::path& scratch) {
  hf::RandomModelOptions init{o.config, o.seed, o.init_std};
  hf::make_random_model(init, scratch);
  auto model = load_transformer(hf::WeightStore::open_dir(scratch), init.config, torch::kFloat, torch_device(o));
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return model;
}

// Process-wide numerics of a CUDA training run, restored when training ends:
// deterministic algorithms and TF32 matrix products.
class CudaNumerics {
 public:
  CudaNumerics(const TrainerOptions& o, Precision precision) : active_(o.device == Device::Cuda) {
    if (!active_) return;
    auto& ctx = at::globalContext();
    deterministic_ = ctx.deterministicAlgorithms();
    warn_only_ = ctx.deterministicAlgorithmsWarnOnly();
    tf32_ = ctx.allowTF32CuBLAS();
    if (o.deterministic) {
      // Read when cuBLAS's workspace is first set up (the first matrix product).
      ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
      ctx.setDeterministicAlgorithms(true, /*warn_only=*/true);
#if IBZOO_HAVE_DETERMINISTIC_FILL
      fill_ = ctx.deterministicFillUninitializedMemory();
      ctx.setDeterministicFillUninitializedMemory(false);
#endif
    }
    ctx.setAllowTF32CuBLAS(precision == Precision::Tf32);
  }
  ~CudaNumerics() {
    if (!active_) return;
    auto& ctx = at::globalContext();
    ctx.setDeterministicAlgorithms(deterministic_, warn_only_);
    ctx.setAllowTF32CuBLAS(tf32_);
#if IBZOO_HAVE_DETERMINISTIC_FILL
    ctx.setDeterministicFillUninitializedMemory(fill_);
#endif
  }
  CudaNumerics(const CudaNumerics&) = delete;
  CudaNumerics& operator=(const CudaNumerics&) = delete;

 private:
  bool active_ = false;
  bool deterministic_ = false, warn_only_ = false, tf32_ = false;
  [[maybe_unused]] bool fill_ = true;
};

// bfloat16 autocast on CUDA around the forward pass and the loss, as `with
// torch.autocast("cuda", torch.bfloat16)` in Python: the cast weights are cached
// within the scope and dropped when it ends (before the backward pass).
class AutocastScope {
 public:
  explicit AutocastScope(bool on) : on_(on) {
#if IBZOO_HAVE_AUTOCAST
    if (!on_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::increment_nesting();
#endif
  }
  ~AutocastScope() {
#if IBZOO_HAVE_AUTOCAST
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#endif
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  [[maybe_unused]] bool on_ = false;
};

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

// The held-out windows: consecutive [context + 1] slices of the first eval_tokens
// tokens, as int64 [n, context + 1] on the device (undefined when there are none).
torch::Tensor heldout_windows(std::span<const std::int32_t> heldout, const TrainerOptions& o) {
  const auto width = o.context + 1;
  const auto usable = std::min<std::int64_t>(static_cast<std::int64_t>(heldout.size()), o.eval_tokens + 1);
  const auto n = usable >= width ? 1 + (usable - width) / o.context : 0;
  if (n == 0) return {};
  auto w = torch::empty({n, width}, torch::kLong);
  auto acc = w.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t t = 0; t < width; ++t) acc[i][t] = heldout[static_cast<std::size_t>(i * o.context + t)];
  }
  return w.to(torch_device(o));
}

// Next-token cross-entropy of [n, context + 1] windows: the mean, or the sum over tokens.
torch::Tensor next_token_loss(const TransformerImpl& model, const torch::Tensor& batch, std::int64_t context, bool sum) {
  const auto inputs = batch.slice(1, 0, context);
  const auto targets = batch.slice(1, 1, context + 1).reshape({-1});
  const std::vector<std::int64_t> lengths(static_cast<std::size_t>(batch.size(0)), context);
  ForwardOptions options;
  options.want_logits = true;
  const auto logits = model.forward(inputs, lengths, {}, options).reshape({-1, model.config().vocab_size});
  namespace F = torch::nn::functional;
  if (sum) return F::cross_entropy(logits, targets, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  return F::cross_entropy(logits, targets);
}

// Mean next-token cross-entropy over the held-out windows, in float32 (no autocast),
// without autograd. NaN when there are no windows.
double heldout_loss(const TransformerImpl& model, const torch::Tensor& windows, const TrainerOptions& o) {
  if (!windows.defined()) return std::numeric_limits<double>::quiet_NaN();
  torch::NoGradGuard no_grad;
  auto sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(windows.device()));
  for (std::int64_t start = 0; start < windows.size(0); start += o.batch_size) {
    const auto batch = windows.narrow(0, start, std::min(o.batch_size, windows.size(0) - start));
    sum += next_token_loss(model, batch, o.context, true).to(torch::kDouble);
  }
  return sum.item<double>() / static_cast<double>(windows.size(0) * o.context);
}

void copy_if_present(const fs::path& from, const fs::path& to) {
  if (!fs::exists(from)) return;
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw WriteError(to.string() + ": cannot copy " + from.string() + " (" + ec.message() + ")");
}

// The Hugging Face Trainer's trainer_state.json for this checkpoint: what
// transformers' own checkpoints carry, and what ibzoo's accumulate stage reads back
// (eval_loss, loss) into the study's metrics.
std::string trainer_state_json(const CheckpointEval& e, double lr, const TrainResult& r, const TrainerOptions& o) {
  nlohmann::json history = nlohmann::json::array();
  if (std::isfinite(e.train_loss)) history.push_back({{"step", e.step}, {"loss", e.train_loss}, {"learning_rate", lr}});
  if (std::isfinite(e.heldout_loss)) {
    history.push_back({{"step", e.step}, {"eval_loss", e.heldout_loss}, {"eval_tokens", e.heldout_tokens}});
  }
  nlohmann::json j = {{"global_step", e.step},
                      {"max_steps", o.steps},
                      {"train_batch_size", o.batch_size},
                      {"log_history", history},
                      {"ibzoo", {{"device", r.device}, {"precision", r.precision}, {"optimizer", r.optimizer},
                                 {"context", o.context}, {"seed", o.seed}}}};
  return j.dump(2) + "\n";
}

void save_checkpoint(const TransformerImpl& model, const fs::path& dir, const fs::path& tokenizer_dir,
                     std::int64_t step, const std::string& trainer_state) {
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
  io::write_file_atomic(tmp / "trainer_state.json", trainer_state);
  copy_if_present(tokenizer_dir / "tokenizer.json", tmp / "tokenizer.json");
  copy_if_present(tokenizer_dir / "tokenizer_config.json", tmp / "tokenizer_config.json");
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) throw WriteError(dir.string() + ": cannot rename the finished checkpoint into place (" + ec.message() + ")");
}

// Mean of the batch losses kept on the device since the last call (NaN if none).
double drain_mean(std::vector<torch::Tensor>& pending, std::vector<double>& host_log) {
  if (pending.empty()) return std::numeric_limits<double>::quiet_NaN();
  const auto values = torch::stack(pending).to(torch::kCPU, torch::kDouble).contiguous();
  const auto* v = values.data_ptr<double>();
  double sum = 0.0;
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    host_log.push_back(v[i]);
    sum += v[i];
  }
  pending.clear();
  return sum / static_cast<double>(values.numel());
}

}  // namespace

TrainResult train_model(const TrainerOptions& o, std::span<const std::int32_t> tokens,
                        std::span<const std::int32_t> heldout, const std::vector<std::int64_t>& checkpoint_steps,
                        const std::function<fs::path(std::int64_t step)>& checkpoint_dir,
                        const fs::path& tokenizer_dir, const CheckpointCallback& on_checkpoint) {
  validate(o, tokens, heldout, checkpoint_steps);
  const auto precision = resolve_precision(o.precision, o.device);
  const auto start = std::chrono::steady_clock::now();
  torch::set_num_threads(o.threads);
  const CudaNumerics numerics(o, precision);
  const std::set<std::int64_t> save_at(checkpoint_steps.begin(), checkpoint_steps.end());
  auto model = initial_model(o, checkpoint_dir(0).string() + ".init");
  model->train();
  AdamW optimizer(model->parameters(), {o.beta1, o.beta2, o.weight_decay, o.device == Device::Cuda});
  const auto device = torch_device(o);
  const auto windows = heldout_windows(heldout, o);
  // Portable batch order: the same windows on every machine and torch version.
  analysis::SplitMix64Stream rng(o.seed ^ 0x5eedba7c4e5ull);
  TrainResult result;
  result.n_parameters = model->n_parameters();
  result.device = device_name(o.device);
  result.precision = precision_name(precision);
  result.optimizer = optimizer.name();
  std::vector<torch::Tensor> pending;  // batch losses not yet copied to the host
  std::vector<double> losses;
  const auto save = [&](std::int64_t step, double lr) {
    if (!save_at.count(step)) return;
    CheckpointEval e{step, heldout_loss(*model, windows, o), drain_mean(pending, losses),
                     windows.defined() ? windows.size(0) * o.context : 0};
    save_checkpoint(*model, checkpoint_dir(step), tokenizer_dir, step, trainer_state_json(e, lr, result, o));
    result.checkpoints.push_back(e);
    if (on_checkpoint) on_checkpoint(step, checkpoint_dir(step), e);
  };
  const bool autocast = precision == Precision::BFloat16;
  std::vector<double> lrs;
  save(0, learning_rate(o, 0));
  for (std::int64_t step = 0; step < o.steps; ++step) {
    const double lr = learning_rate(o, step);
    lrs.push_back(lr);
    const auto batch = draw_batch(tokens, o, rng);
    optimizer.zero_grad();
    torch::Tensor loss;
    {
      const AutocastScope scope(autocast);
      loss = next_token_loss(*model, device.is_cuda() ? batch.pin_memory().to(device, true) : batch, o.context, false);
    }
    loss.backward();
    if (o.grad_clip > 0) clip_gradients(model->parameters(), o.grad_clip);
    optimizer.step(lr);
    pending.push_back(loss.detach());
    save(step + 1, lr);
  }
  drain_mean(pending, losses);
  for (std::size_t i = 0; i < losses.size(); ++i) result.log.push_back({static_cast<std::int64_t>(i), losses[i], lrs[i]});
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ibzoo::models
