// The trainer's optimiser and gradient clipping (models/trainer.cpp), in libtorch.
// Inside models/ only (torch header), like transformer.h.
//
// AdamW with decoupled weight decay on matrices only (parameters of rank >= 2; norms
// and biases get none), the arithmetic of torch::optim::AdamW:
//   p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),  eps = 1e-8.
// One multi-tensor (_foreach) update per group, bitwise equal to torch::optim::AdamW on
// the CPU (tests/models/adamw_test.cpp); on CUDA with torch >= 2.1, torch's fused
// kernel (_fused_adamw_), which computes the bias corrections in float32 on the device.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace ibzoo::models {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double weight_decay = 0.01;  // on matrices only
  bool fused = false;          // use the fused CUDA kernel where this libtorch has it
};

class AdamW {
 public:
  AdamW(const std::vector<torch::Tensor>& params, const AdamWOptions& options);
  // "AdamW (fused CUDA kernel)" or "AdamW (multi-tensor)": what step() runs.
  std::string name() const;
  // Drops every gradient (the next backward pass writes fresh ones).
  void zero_grad();
  // One update at learning rate lr; a parameter without a gradient counts as a zero gradient.
  void step(double lr);

 private:
  struct Group {
    std::vector<torch::Tensor> params, exp_avg, exp_avg_sq, state_steps;
    double weight_decay = 0.0;
  };
  void multi_tensor_step(Group& g, const std::vector<torch::Tensor>& grads, double lr) const;

  AdamWOptions options_;
  std::vector<Group> groups_;
  std::int64_t t_ = 0;
  bool fused_ = false;
};

// Scales every gradient so that their global L2 norm is at most max_norm, with the
// arithmetic of torch::nn::utils::clip_grad_norm_ (coefficient min(1, max_norm /
// (norm + 1e-6))) but without waiting for the device: clip_grad_norm_ returns the norm
// as a double, which synchronises every step.
void clip_gradients(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace ibzoo::models
