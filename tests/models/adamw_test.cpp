#include "models/adamw.h"

#include <gtest/gtest.h>

namespace {

using ibzoo::models::AdamW;

// Three parameters (a matrix, a vector, a scalar-like vector) and a fixed gradient schedule.
std::vector<torch::Tensor> make_params() {
  torch::manual_seed(3);
  return {torch::randn({4, 3}).requires_grad_(), torch::randn({3}).requires_grad_(), torch::randn({1}).requires_grad_()};
}

void set_grads(const std::vector<torch::Tensor>& params, int step) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i].mutable_grad() = torch::sin(torch::arange(params[i].numel(), torch::kFloat).reshape(params[i].sizes()) *
                                          static_cast<double>(step + 1) + static_cast<double>(i));
  }
}

std::vector<torch::Tensor> clones(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

TEST(AdamWTest, MultiTensorStepIsBitwiseTorchAdamWWithDecayOnMatricesOnly) {
  const auto ours = make_params();
  const auto theirs = clones(ours);
  const double wd = 0.1;
  AdamW opt(ours, {0.9, 0.95, wd, false});
  EXPECT_EQ(opt.name(), "AdamW (multi-tensor)");
  auto decay = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(wd);
  auto no_decay = decay;
  no_decay.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{theirs[0]}, std::make_unique<torch::optim::AdamWOptions>(decay));
  groups.emplace_back(std::vector<torch::Tensor>{theirs[1], theirs[2]}, std::make_unique<torch::optim::AdamWOptions>(no_decay));
  torch::optim::AdamW reference(std::move(groups), decay);
  for (int step = 0; step < 7; ++step) {
    const double lr = 1e-2 * (step + 1) / 7.0;
    for (auto& g : reference.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    set_grads(ours, step);
    set_grads(theirs, step);
    opt.step(lr);
    reference.step();
  }
  for (std::size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(torch::equal(ours[i], theirs[i])) << "parameter " << i;
}

TEST(AdamWTest, ZeroGradDropsGradientsAndAMissingGradientCountsAsZero) {
  const auto params = make_params();
  AdamW opt(params, {});
  set_grads(params, 0);
  opt.zero_grad();
  for (const auto& p : params) EXPECT_FALSE(p.grad().defined());
  const auto before = params[1].detach().clone();
  opt.step(1e-2);  // no gradients, no decay on vectors: nothing moves
  EXPECT_TRUE(torch::equal(params[1], before));
}

TEST(AdamWTest, ClippingMatchesClipGradNorm) {
  const auto ours = make_params();
  const auto theirs = clones(ours);
  for (double max_norm : {0.5, 100.0}) {
    set_grads(ours, 2);
    set_grads(theirs, 2);
    ibzoo::models::clip_gradients(ours, max_norm);
    torch::nn::utils::clip_grad_norm_(theirs, max_norm);
    for (std::size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(torch::equal(ours[i].grad(), theirs[i].grad())) << "parameter " << i << " max_norm " << max_norm;
    }
  }
}

}  // namespace
