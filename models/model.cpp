// The torch-free facade over the shared transformer: loads a model directory,
// batches sequences, and streams each layer's rows out as float32.
#include "models/model.h"

#include "errors/check.h"
#include "errors/error.h"
#include "hf/safetensors.h"
#include "models/model_impl.h"
#include "models/transformer.h"

#include <torch/version.h>

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#define IBZOO_CUDA_MEMORY_INFO 1
#else
#define IBZOO_CUDA_MEMORY_INFO 0
#endif

#if __has_include(<c10/cuda/CUDAGuard.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define IBZOO_CUDA_STREAMS 1
#else
#define IBZOO_CUDA_STREAMS 0
#endif

#include <dlfcn.h>

#include <map>
#include <mutex>
#include <optional>

#include <algorithm>
#include <numeric>
#include <cmath>

namespace ibzoo::models {


bool cuda_available() { return torch::cuda::is_available(); }

int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

std::optional<DeviceMemory> device_memory(const Model& model) {
#if IBZOO_CUDA_MEMORY_INFO
  if (model.options().device != Device::Cuda) return std::nullopt;
  c10::cuda::CUDACachingAllocator::emptyCache();
  std::size_t free = 0, total = 0;
  const int previous = [] {
    int d = 0;
    cudaGetDevice(&d);
    return d;
  }();
  cudaSetDevice(model.options().cuda_device_idx);
  const auto status = cudaMemGetInfo(&free, &total);
  cudaSetDevice(previous);
  if (status != cudaSuccess) return std::nullopt;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(
      static_cast<c10::DeviceIndex>(model.options().cuda_device_idx));
  // allocated_bytes[0]: the AGGREGATE statistic (both pools); its enum moved between
  // torch versions, its index did not.
  return DeviceMemory{static_cast<std::int64_t>(free), static_cast<std::int64_t>(total), stats.allocated_bytes[0].peak};
#else
  (void)model;
  return std::nullopt;
#endif
}

void reset_peak_device_memory(const Model& model) {
#if IBZOO_CUDA_MEMORY_INFO
  if (model.options().device != Device::Cuda) return;
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(model.options().cuda_device_idx));
#else
  (void)model;
#endif
}

bool dtype_supported(Device device, DType dtype) {
#if TORCH_VERSION_MAJOR < 2
  return !(device == Device::Cpu && dtype == DType::Float16);
#else
  (void)device;
  (void)dtype;
  return true;
#endif
}

std::string device_name(Device device) { return device == Device::Cuda ? "cuda" : "cpu"; }

std::string dtype_name(DType dtype) {
  return dtype == DType::BFloat16 ? "bfloat16" : dtype == DType::Float16 ? "float16" : "float32";
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  throw UsageError("device \"" + name + "\" is unknown; use cpu or cuda");
}

DType parse_dtype(const std::string& name) {
  if (name == "float32") return DType::Float32;
  if (name == "bfloat16") return DType::BFloat16;
  if (name == "float16") return DType::Float16;
  throw UsageError("dtype \"" + name + "\" is unknown; use float32, bfloat16 or float16");
}

namespace {

torch::Dtype torch_dtype(DType d) {
  return d == DType::BFloat16 ? torch::kBFloat16 : d == DType::Float16 ? torch::kHalf : torch::kFloat;
}

}  // namespace

Batch make_batch(const std::vector<std::vector<std::int32_t>>& sequences, std::int64_t vocab, const std::string& dir) {
  if (sequences.empty()) throw ModelError(dir + ": forward called with no sequences");
  std::int64_t t = 0;
  Batch b;
  for (const auto& s : sequences) {
    if (s.empty()) throw ModelError(dir + ": an empty sequence cannot be run (every sequence needs >= 1 token)");
    b.lengths.push_back(static_cast<std::int64_t>(s.size()));
    t = std::max(t, static_cast<std::int64_t>(s.size()));
  }
  const auto n = static_cast<std::int64_t>(sequences.size());
  b.ids = torch::zeros({n, t}, torch::kLong);
  auto acc = b.ids.accessor<std::int64_t, 2>();
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& s = sequences[static_cast<std::size_t>(i)];
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (s[j] < 0 || s[j] >= vocab) {
        throw ModelError(dir + ": token id " + std::to_string(s[j]) + " at position " + std::to_string(j) +
                         " of sequence " + std::to_string(i) + " is outside the vocabulary [0, " +
                         std::to_string(vocab) + "); the tokenizer does not match this model");
      }
      acc[i][static_cast<std::int64_t>(j)] = s[j];
      rows.push_back(i * t + static_cast<std::int64_t>(j));
    }
  }
  if (static_cast<std::int64_t>(rows.size()) != n * t) b.valid_rows = torch::tensor(rows, torch::kLong);
  return b;
}

torch::Tensor to_device(const torch::Tensor& host, const torch::Device& device) {
  if (!device.is_cuda()) return host.to(device);
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

torch::Tensor padded_rows(const Batch& batch, std::span<const std::int64_t> rows, const std::string& dir) {
  // Row r of the concatenated unpadded rows -> its index in the flattened [B * T] batch.
  const auto t = batch.ids.size(1);
  std::vector<std::int64_t> starts{0};
  for (const auto len : batch.lengths) starts.push_back(starts.back() + len);
  std::vector<std::int64_t> padded(rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const auto r = rows[k];
    if (r < 0 || r >= starts.back()) {
      throw ModelError(dir + ": estimator row " + std::to_string(r) + " is outside the batch's " +
                       std::to_string(starts.back()) + " tokens");
    }
    const auto seq = std::upper_bound(starts.begin(), starts.end(), r) - starts.begin() - 1;
    padded[k] = seq * t + (r - starts[static_cast<std::size_t>(seq)]);
  }
  return torch::tensor(padded, torch::kLong);
}

namespace {

// [B, T, X] on any device -> float32 contiguous CPU [n_valid, X] in input order.
torch::Tensor unpad_to_host(const torch::Tensor& h, const Batch& batch) {
  auto flat = h.reshape({-1, h.size(-1)});
  if (batch.valid_rows.defined()) flat = flat.index_select(0, batch.valid_rows.to(h.device()));
  return flat.to(torch::kCPU, torch::kFloat).contiguous();
}

// torch's CPU matrix products go through the BLAS it was built with (OpenBLAS on
// Debian), whose own thread pool defaults to the cores in the process's affinity
// mask: a rank that mpirun binds to one core and one that is unbound then split
// products differently and get different rounding. Pinning the BLAS pool to the
// same count as torch's makes results independent of how the job was launched.
void set_cpu_threads(int threads) {
  torch::set_num_threads(threads);
  using SetThreads = void (*)(int);
  if (auto* set_blas = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set_blas(threads);
  }
}

// torch's thread count is the calling thread's (OpenMP's per-thread setting): a model
// loaded on another thread (pipeline/model_cache.h) sets it again on the thread that
// runs it.
void use_threads(const RunOptions& options) {
  if (options.threads > 0 && torch::get_num_threads() != options.threads) set_cpu_threads(options.threads);
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

namespace {

// Runs `load` with the device's copies on a stream of their own, one per device (so that
// a freed model's blocks go back to the stream the next load allocates on), and waits
// for them: a checkpoint loaded in the background (pipeline/model_cache.h) then copies
// beside the kernels of the one computing on the default stream instead of between them.
template <typename Load>
void load_on_side_stream(const torch::Device& device, const Load& load) {
#if IBZOO_CUDA_STREAMS
  if (device.is_cuda()) {
    static std::mutex mutex;
    static std::map<c10::DeviceIndex, c10::cuda::CUDAStream> streams;
    std::optional<c10::cuda::CUDAStream> stream;
    {
      const std::lock_guard lock(mutex);
      auto it = streams.find(device.index());
      if (it == streams.end()) it = streams.emplace(device.index(), c10::cuda::getStreamFromPool(false, device.index())).first;
      stream = it->second;
    }
    const c10::cuda::CUDAStreamGuard guard(*stream);
    load();
    stream->synchronize();
    return;
  }
#endif
  (void)device;
  load();
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, const RunOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  impl->config = hf::read_model_config(dir);
  if (!dtype_supported(options.device, options.dtype)) {
    throw ModelError(dir.string() + ": float16 on CPU is not supported by this libtorch (" + TORCH_VERSION +
                     "; needs torch >= 2); use --dtype bfloat16 or float32, or --device cuda");
  }
  if (options.threads > 0) set_cpu_threads(options.threads);
  torch::Device device(torch::kCPU);
  if (options.device == Device::Cuda) {
    if (!torch::cuda::is_available()) {
      throw ModelError(dir.string() + ": --device cuda requested but this build of torch sees no CUDA device; "
                       "use --device cpu or run on a GPU machine");
    }
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(options.cuda_device_idx));
  }
  const auto weights = hf::WeightStore::open_dir(dir);
  load_on_side_stream(device, [&] { impl->module = load_transformer(weights, impl->config, torch_dtype(options.dtype), device); });
  impl->module->eval();
  impl->module->set_fixed_rows(options.fixed_rows);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const hf::ModelConfig& Model::config() const { return impl_->config; }
const RunOptions& Model::options() const { return impl_->options; }
const std::filesystem::path& Model::dir() const { return impl_->dir; }
int Model::n_layers() const { return static_cast<int>(impl_->config.n_layers); }
std::int64_t Model::hidden_size() const { return impl_->config.hidden_size; }
std::int64_t Model::vocab_size() const { return impl_->config.vocab_size; }
std::int64_t Model::n_parameters() const { return impl_->module->n_parameters(); }

namespace {

// One forward pass; with from_layer > 0 it resumes from hidden state from_layer, whose
// unpadded rows are `start` (Model::forward_layers_from).
std::vector<std::vector<float>> run(const Model::Impl& impl, const std::vector<std::vector<std::int32_t>>& sequences,
                                    const LayerSink* sink, std::span<const int> layers, bool want_logits,
                                    int from_layer = 0, std::span<const float> start = {}) {
  use_threads(impl.options);
  c10::InferenceMode guard;
  const auto batch = make_batch(sequences, impl.config.vocab_size, impl.dir.string());
  LayerCallback on_layer;
  if (sink && *sink) {
    on_layer = [&](int layer_idx, const torch::Tensor& h) {
      if (!layers.empty() && std::find(layers.begin(), layers.end(), layer_idx) == layers.end()) return;
      const auto rows = unpad_to_host(h, batch);
      (*sink)(layer_idx, rows.data_ptr<float>(), rows.size(0), rows.size(1));
    };
  }
  ForwardOptions fo;
  fo.final_norm = impl.options.final_norm;
  fo.want_logits = want_logits;
  // Without logits, the pass ends at the last requested layer.
  if (!want_logits && !layers.empty()) fo.last_layer = *std::max_element(layers.begin(), layers.end());
  if (from_layer > 0) {
    const auto d = impl.config.hidden_size;
    const auto b = batch.ids.size(0), t = batch.ids.size(1);
    const auto n_valid = std::accumulate(batch.lengths.begin(), batch.lengths.end(), std::int64_t{0});
    if (from_layer >= impl.config.n_layers || static_cast<std::int64_t>(start.size()) != n_valid * d) {
      throw ModelError(impl.dir.string() + ": cannot resume at layer " + std::to_string(from_layer) + " from " +
                       std::to_string(start.size()) + " values (want " + std::to_string(n_valid) + " tokens x " +
                       std::to_string(d) + ", a layer below " + std::to_string(impl.config.n_layers) + ")");
    }
    auto rows = torch::from_blob(const_cast<float*>(start.data()), {n_valid, d}, torch::kFloat);
    if (batch.valid_rows.defined()) rows = torch::zeros({b * t, d}, torch::kFloat).index_copy_(0, batch.valid_rows, rows);
    fo.first_layer = from_layer;
    fo.start = rows.view({b, t, d});
  }
  const auto logits = impl.module->forward(batch.ids, batch.lengths, on_layer, fo);
  std::vector<std::vector<float>> out;
  if (!want_logits) return out;
  const auto v = logits.size(-1);
  const auto host = logits.to(torch::kCPU).contiguous();
  const float* base = host.data_ptr<float>();
  const auto t = host.size(1);
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    const auto n = static_cast<std::int64_t>(sequences[i].size());
    const float* p = base + static_cast<std::int64_t>(i) * t * v;
    out.emplace_back(p, p + n * v);
  }
  return out;
}

}  // namespace

void Model::forward_layers(const std::vector<std::vector<std::int32_t>>& sequences, const LayerSink& sink,
                           std::span<const int> layers) const {
  run(*impl_, sequences, &sink, layers, false);
}

void Model::forward_layers_from(const std::vector<std::vector<std::int32_t>>& sequences, int from_layer,
                                std::span<const float> start, const LayerSink& sink, std::span<const int> layers) const {
  run(*impl_, sequences, &sink, layers, false, from_layer, start);
}

std::vector<std::vector<float>> Model::logits(const std::vector<std::vector<std::int32_t>>& sequences) const {
  return run(*impl_, sequences, nullptr, {}, true);
}

std::vector<std::vector<float>> Model::next_token_log_probs(const std::vector<std::vector<std::int32_t>>& sequences) const {
  use_threads(impl_->options);
  c10::InferenceMode guard;
  const auto& impl = *impl_;
  const auto batch = make_batch(sequences, impl.config.vocab_size, impl.dir.string());
  ForwardOptions fo;
  fo.final_norm = impl.options.final_norm;
  fo.want_logits = true;
  const auto logits = impl.module->forward(batch.ids, batch.lengths, {}, fo);
  std::vector<std::vector<float>> out(sequences.size());
  const auto t = batch.ids.size(1);
  if (t < 2) {
    for (std::size_t i = 0; i < sequences.size(); ++i) out[i].clear();
    return out;
  }
  const auto targets = batch.ids.narrow(1, 1, t - 1).to(logits.device()).unsqueeze(-1);
  const auto logp = torch::log_softmax(logits.narrow(1, 0, t - 1), -1).gather(-1, targets).squeeze(-1);
  const auto host = logp.to(torch::kCPU, torch::kFloat).contiguous();
  const float* base = host.data_ptr<float>();
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    const auto n = static_cast<std::int64_t>(sequences[i].size()) - 1;
    const float* p = base + static_cast<std::int64_t>(i) * (t - 1);
    if (n > 0) out[i].assign(p, p + n);
  }
  return out;
}

std::vector<std::vector<float>> Model::forward_layers_and_logits(
    const std::vector<std::vector<std::int32_t>>& sequences, const LayerSink& sink, std::span<const int> layers) const {
  return run(*impl_, sequences, &sink, layers, true);
}

void Model::forward_only(const std::vector<std::vector<std::int32_t>>& sequences, int last_layer) const {
  use_threads(impl_->options);
  c10::InferenceMode guard;
  const auto batch = make_batch(sequences, impl_->config.vocab_size, impl_->dir.string());
  ForwardOptions fo;
  fo.final_norm = impl_->options.final_norm;
  fo.last_layer = last_layer;
  impl_->module->forward(batch.ids, batch.lengths, {}, fo);
}

void Model::synchronize() const {
  if (impl_->options.device == Device::Cuda) torch::cuda::synchronize(impl_->options.cuda_device_idx);
}

torch::Tensor split_bfloat16(const torch::Tensor& w) {
  const auto hi = w.to(torch::kBFloat16);
  const auto rest = w - hi.to(torch::kFloat);  // exact: w and hi agree in their top bits
  const auto mid = rest.to(torch::kBFloat16);
  const auto lo = (rest - mid.to(torch::kFloat)).to(torch::kBFloat16);
  const auto sum = (hi.to(torch::kFloat) + mid.to(torch::kFloat)) + lo.to(torch::kFloat);
  if (!torch::equal(sum, w)) return {};
  return torch::cat({hi, mid, lo}, 1);
}

torch::Tensor mm_split(const torch::Tensor& z, const torch::Tensor& w_split) {
  const auto k = w_split.size(1) / 3;
#if IBZOO_HAVE_MM_OUT_DTYPE
  const auto parts = at::mm(z, w_split, torch::kFloat);
#else
  const auto parts = torch::mm(z.to(torch::kFloat), w_split.to(torch::kFloat));  // not reached: no split without it
#endif
  return (parts.narrow(1, 2 * k, k) + parts.narrow(1, k, k)).add_(parts.narrow(1, 0, k));
}

DeviceAssigner::DeviceAssigner(const Model& model, std::span<const float> w, std::int64_t n_bins, std::int64_t dim,
                               double eps)
    : impl_(std::make_unique<Impl>()) {
  if (dim != model.hidden_size()) {
    throw UsageError("reference points have dimension " + std::to_string(dim) + " but model " +
                     model.dir().string() + " has hidden size " + std::to_string(model.hidden_size()));
  }
  IBZOO_CHECK(static_cast<std::int64_t>(w.size()) == n_bins * dim && eps > 0.0, "W " << w.size() << " eps " << eps);
  // W / eps in double, rounded to float: the values analysis::SoftAssigner uses.
  const double inv_eps = 1.0 / eps;
  std::vector<float> scaled(w.size());
  for (std::size_t k = 0; k < w.size(); ++k) scaled[k] = static_cast<float>(static_cast<double>(w[k]) * inv_eps);
  const auto host = torch::from_blob(scaled.data(), {n_bins, dim}, torch::kFloat);
  impl_->w_scaled_t = host.t().contiguous().to(model.impl().module->device());
  impl_->n_bins = n_bins;
  if (IBZOO_HAVE_MM_OUT_DTYPE && impl_->w_scaled_t.is_cuda()) impl_->w_split_t = split_bfloat16(impl_->w_scaled_t);
}

DeviceAssigner::~DeviceAssigner() = default;
std::int64_t DeviceAssigner::n_bins() const { return impl_->n_bins; }

void log_softmax_rows(std::span<float> values, std::int64_t n_cols) {
  const auto cols = static_cast<std::size_t>(n_cols);
  for (std::size_t start = 0; start + cols <= values.size(); start += cols) {
    const auto row = values.subspan(start, cols);
    const float max = *std::max_element(row.begin(), row.end());
    double sum = 0.0;
    for (const float x : row) sum += std::exp(static_cast<double>(x) - max);
    const double log_z = static_cast<double>(max) + std::log(sum);
    for (float& x : row) x = static_cast<float>(static_cast<double>(x) - log_z);
  }
}

}  // namespace ibzoo::models
