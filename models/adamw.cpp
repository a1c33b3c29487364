// The trainer's optimiser step: multi-tensor on any device, torch's fused kernel on CUDA.
#include "models/adamw.h"

#include <torch/version.h>

#include <cmath>

// torch's fused AdamW kernel (one launch for every parameter of a group) and the
// multi-tensor norm and tensor-scalar multiply the clipping uses on CUDA, from torch 2.1.
#if (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)) && \
    __has_include(<ATen/ops/_fused_adamw.h>)
#define IBZOO_HAVE_FUSED_ADAMW 1
#else
#define IBZOO_HAVE_FUSED_ADAMW 0
#endif

namespace ibzoo::models {

namespace {
constexpr double kEps = 1e-8;
}

AdamW::AdamW(const std::vector<torch::Tensor>& params, const AdamWOptions& options) : options_(options) {
  Group decay, no_decay;
  decay.weight_decay = options.weight_decay;
  for (const auto& p : params) (p.dim() >= 2 ? decay : no_decay).params.push_back(p);
  for (auto* g : {&decay, &no_decay}) {
    if (g->params.empty()) continue;
    for (const auto& p : g->params) {
      g->exp_avg.push_back(torch::zeros_like(p));
      g->exp_avg_sq.push_back(torch::zeros_like(p));
    }
    groups_.push_back(std::move(*g));
  }
#if IBZOO_HAVE_FUSED_ADAMW
  fused_ = options.fused && !groups_.empty() && groups_.front().params.front().is_cuda();
  for (auto& g : groups_) {
    for (const auto& p : g.params) {
      g.state_steps.push_back(torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(p.device())));
    }
  }
#endif
}

std::string AdamW::name() const { return fused_ ? "AdamW (fused CUDA kernel)" : "AdamW (multi-tensor)"; }

void AdamW::zero_grad() {
  for (auto& g : groups_) {
    for (auto& p : g.params) p.mutable_grad() = torch::Tensor();
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++t_;
  for (auto& g : groups_) {
    std::vector<torch::Tensor> grads;
    for (const auto& p : g.params) grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
#if IBZOO_HAVE_FUSED_ADAMW
    if (fused_) {
      at::_foreach_add_(g.state_steps, 1);
      at::_fused_adamw_(g.params, grads, g.exp_avg, g.exp_avg_sq, {}, g.state_steps, lr, options_.beta1,
                        options_.beta2, g.weight_decay, kEps, /*amsgrad=*/false, /*maximize=*/false);
      continue;
    }
#endif
    multi_tensor_step(g, grads, lr);
  }
}

void AdamW::multi_tensor_step(Group& g, const std::vector<torch::Tensor>& grads, double lr) const {
  const double t = static_cast<double>(t_);
  const double bias1 = 1.0 - std::pow(options_.beta1, t);
  const double bias2 = 1.0 - std::pow(options_.beta2, t);
  if (g.weight_decay != 0.0) at::_foreach_mul_(g.params, 1.0 - lr * g.weight_decay);
  at::_foreach_mul_(g.exp_avg, options_.beta1);
  at::_foreach_add_(g.exp_avg, grads, 1.0 - options_.beta1);
  at::_foreach_mul_(g.exp_avg_sq, options_.beta2);
  at::_foreach_addcmul_(g.exp_avg_sq, grads, grads, 1.0 - options_.beta2);
  auto denom = at::_foreach_sqrt(g.exp_avg_sq);
  at::_foreach_div_(denom, std::sqrt(bias2));
  at::_foreach_add_(denom, kEps);
  at::_foreach_addcdiv_(g.params, g.exp_avg, denom, -lr / bias1);
}

void clip_gradients(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return;
#if IBZOO_HAVE_FUSED_ADAMW
  // On CUDA, one multi-tensor kernel for the norms and one for the scaling.
  if (grads.front().is_cuda()) {
    const auto total = torch::stack(at::_foreach_norm(grads, 2.0)).norm(2.0);
    at::_foreach_mul_(grads, torch::clamp_max(max_norm / (total + 1e-6), 1.0));
    return;
  }
#endif
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.norm(2.0));
  const auto total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2.0);
  const auto coef = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  for (auto& g : grads) g.mul_(coef);
}

}  // namespace ibzoo::models
