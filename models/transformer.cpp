// The shared decoder block and its loader. Family differences are data (which
// weights exist, which norm, which residual layout), not code paths per family.
#include "models/transformer.h"

#include "analysis/check.h"
#include "analysis/error.h"
#include "io/log.h"
#include "models/hf_layout.h"

#include <torch/version.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numbers>
#include <sstream>

// Fused attention with an explicit scale exists from torch 2.1.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define IBZOO_HAVE_SDPA 1
#else
#define IBZOO_HAVE_SDPA 0
#endif
// Grouped-query attention inside the fused kernel (no repeated K/V) from torch 2.5.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define IBZOO_HAVE_SDPA_GQA 1
#else
#define IBZOO_HAVE_SDPA_GQA 0
#endif
// One fused RMSNorm kernel on CUDA from torch 2.8 (at::rms_norm exists from 2.4,
// composite before 2.8).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
#define IBZOO_HAVE_FUSED_RMS_NORM 1
#else
#define IBZOO_HAVE_FUSED_RMS_NORM 0
#endif

// One-pass SwiGLU on CUDA: torch's jiterator compiles a small elementwise kernel
// with NVRTC at first use. Only where the CUDA headers are at hand (a CUDA libtorch).
#if __has_include(<ATen/cuda/jiterator.h>) && __has_include(<cuda_runtime_api.h>)
#include <ATen/cuda/jiterator.h>
#if AT_USE_JITERATOR()
#define IBZOO_HAVE_JITERATOR 1
#endif
#endif
#ifndef IBZOO_HAVE_JITERATOR
#define IBZOO_HAVE_JITERATOR 0
#endif

namespace ibzoo::models {

using io::Family;
using torch::indexing::Slice;

namespace {

bool has_post_norms(Family f) { return f == Family::Olmo2 || f == Family::Gemma2; }

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return b.defined() ? torch::nn::functional::linear(x, w, b) : torch::nn::functional::linear(x, w);
}

torch::Tensor activate(const torch::Tensor& x, io::Activation a) {
  switch (a) {
    case io::Activation::GeluTanh:
      return torch::gelu(x, "tanh");
    case io::Activation::GeluExact:
      return torch::gelu(x);
    case io::Activation::Silu:
      return torch::silu(x);
  }
  IBZOO_CHECK(false, "unknown activation");
}

// out = activation(in); out may be in itself (same storage, same strides).
void activate_out(torch::Tensor& out, const torch::Tensor& in, io::Activation a) {
  switch (a) {
    case io::Activation::GeluTanh:
      at::gelu_out(out, in, "tanh");
      return;
    case io::Activation::GeluExact:
      at::gelu_out(out, in);
      return;
    case io::Activation::Silu:
      at::silu_out(out, in);
      return;
  }
  IBZOO_CHECK(false, "unknown activation");
}

#if IBZOO_HAVE_JITERATOR
std::atomic<bool> g_jit_silu_mul_failed{false};
// Computes in float and rounds once (silu then multiply in bfloat16 rounds twice).
constexpr const char* kSiluMulCode =
    "template <typename T> T ibzoo_silu_mul(T g, T u) {"
    "  float a = static_cast<float>(g);"
    "  return T(a / (1.0f + expf(-a)) * static_cast<float>(u)); }";
#endif

// silu(gate) * up for the gated MLP (gate, up: [n, ff] views into the projection).
// One kernel on CUDA where the jiterator is available, else silu in place and a
// multiply (two passes over the [n, ff] tensors).
torch::Tensor silu_mul(torch::Tensor gate, const torch::Tensor& up) {
#if IBZOO_HAVE_JITERATOR
  if (gate.is_cuda() && !g_jit_silu_mul_failed.load()) {
    try {
      return at::cuda::CompileAndLaunchKernel(kSiluMulCode, "ibzoo_silu_mul", 1, {gate, up}, {}, false)[0];
    } catch (const std::exception& e) {
      g_jit_silu_mul_failed = true;
      io::log_warn(std::string("the one-pass SwiGLU kernel failed to compile or run (") + e.what() +
                   "); using silu and a multiply instead");
    }
  }
#endif
  at::silu_out(gate, gate);
  return gate.mul_(up);
}

// Rotates xr [B, T, heads, rot] (a view into the projection's output) in place.
// cos: [1, T, 1, rot]; sin_signed: sin with its first half negated, so that
// rotate_half(x) * sin = cat(x2, x1) * sin_signed (one copy instead of neg + cat).
void rope_in_place(const torch::Tensor& xr, const torch::Tensor& cos, const torch::Tensor& sin_signed) {
  const auto half = xr.size(-1) / 2;
  const auto swapped = torch::cat({xr.narrow(-1, half, half), xr.narrow(-1, 0, half)}, -1);
  xr.mul_(cos).addcmul_(swapped, sin_signed);
}

#if IBZOO_HAVE_JITERATOR
std::atomic<bool> g_jit_rope_failed{false};
// Per element j of a [2, rot / 2] pair: x_j cos + x2 sin_a + x1 sin_b, where
// sin_a = (-sin, 0) and sin_b = (0, sin): x1 cos - x2 sin, then x2 cos + x1 sin.
constexpr const char* kRopeCode =
    "template <typename T> T ibzoo_rope(T x, T x1, T x2, T c, T sa, T sb) {"
    "  return T(static_cast<float>(x) * static_cast<float>(c) + static_cast<float>(x2) * static_cast<float>(sa)"
    "           + static_cast<float>(x1) * static_cast<float>(sb)); }";
#endif

// Rotary embedding of the q/k heads qk [B, T, heads, hd] (a view into the
// projection's output); cos, sin_signed: [1, T, 1, rot]. Returns the rotated heads:
// on CUDA a new tensor from one kernel when rot = hd (else rotated in place there),
// elsewhere qk itself, rotated in place.
torch::Tensor rope_qk(const torch::Tensor& qk, const torch::Tensor& cos, const torch::Tensor& sin_signed) {
  const auto rot = cos.size(-1);
  const auto xr = qk.narrow(-1, 0, rot);
#if IBZOO_HAVE_JITERATOR
  if (qk.is_cuda() && !g_jit_rope_failed.load()) {
    try {
      const auto half = rot / 2;
      const auto b = qk.size(0);
      const auto t = qk.size(1);
      const auto heads = qk.size(2);
      const auto xv = xr.view({b, t, heads, 2, half});
      const auto x1 = xv.narrow(3, 0, 1).expand_as(xv);
      const auto x2 = xv.narrow(3, 1, 1).expand_as(xv);
      const auto c = cos.view({1, t, 1, 2, half});
      const auto ss = sin_signed.view({1, t, 1, 2, half});
      const auto zero = torch::zeros_like(ss.narrow(3, 0, 1));
      const auto sa = torch::cat({ss.narrow(3, 0, 1), zero}, 3);
      const auto sb = torch::cat({zero, ss.narrow(3, 1, 1)}, 3);
      const auto out =
          at::cuda::CompileAndLaunchKernel(kRopeCode, "ibzoo_rope", 1, {xv, x1, x2, c, sa, sb}, {}, false)[0];
      if (rot == qk.size(-1)) return out.view(qk.sizes());
      xr.copy_(out.view(xr.sizes()));
      return qk;
    } catch (const std::exception& e) {
      g_jit_rope_failed = true;
      io::log_warn(std::string("the one-pass rotary kernel failed to compile or run (") + e.what() +
                   "); using the three-pass form instead");
    }
  }
#endif
  rope_in_place(xr, cos, sin_signed);
  return qk;
}

// IBZOO_FUSED_BLOCK=0 turns the inference block (in-place rotary, residual adds in
// the GEMMs, GPT-NeoX's folded LayerNorms) off: every forward takes the plain block.
bool fused_block_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("IBZOO_FUSED_BLOCK");
    return v == nullptr || std::string(v) != "0";
  }();
  return enabled;
}

bool parallel_fold_applies(const io::ModelConfig& c) {
  return c.use_parallel_residual && c.norm_kind() == io::NormKind::LayerNorm && !c.gated_mlp() &&
         c.family != Family::Olmo2 && !has_post_norms(c.family);
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// cos/sin: [B, 1, T, rot]; rotates the first rot dims of each head. The tables are cast
// to x's dtype (a no-op but under the trainer's autocast, where q and k come out of the
// projection in bfloat16 and must stay in v's dtype for the fused attention).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos_in, const torch::Tensor& sin_in) {
  const auto cos = cos_in.to(x.scalar_type());
  const auto sin = sin_in.to(x.scalar_type());
  const auto rot = cos.size(-1);
  const auto hd = x.size(-1);
  if (rot == hd) return x * cos + rotate_half(x) * sin;
  const auto xr = x.narrow(-1, 0, rot);
  return torch::cat({xr * cos + rotate_half(xr) * sin, x.narrow(-1, rot, hd - rot)}, -1);
}

// Whether attend() can take K/V with fewer heads than Q (grouped-query attention).
constexpr bool kFusedGqa = IBZOO_HAVE_SDPA_GQA != 0;

// lengths: each row's valid tokens (the explicit path trims each row to them).
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask,
                     double scale, double softcap, const std::vector<std::int64_t>& lengths) {
#if IBZOO_HAVE_SDPA
  if (softcap <= 0) {
#if IBZOO_HAVE_SDPA_GQA
    const bool gqa = k.size(1) != q.size(1);
    if (!mask.defined()) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, scale, gqa);
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale, gqa);
#else
    if (!mask.defined()) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, scale);
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
#endif
  }
#endif
  IBZOO_CHECK(k.size(1) == q.size(1), "the explicit attention path needs K/V repeated to every query head");
  // On the host, one sequence at a time, trimmed to its valid tokens: its result is
  // then the same bits whatever batch it sits in and however far that batch is padded
  // (the softmax's and the products' reductions run over the valid keys only), and one
  // sequence's [H, T, T] scores stay in malloc's heap (a batch's, tens of MB, were mapped,
  // zero-filled and unmapped per layer). Padded rows get zeros; nothing reads them.
  if (!q.is_cuda() && (q.size(0) > 1 || (!lengths.empty() && lengths.front() < q.size(-2)))) {
    IBZOO_CHECK(static_cast<std::int64_t>(lengths.size()) == q.size(0), lengths.size() << " lengths for " << q.size(0) << " rows");
    auto out = torch::zeros({q.size(0), q.size(1), q.size(2), v.size(3)}, q.options());
    for (std::int64_t b = 0; b < q.size(0); ++b) {
      const auto len = lengths[static_cast<std::size_t>(b)];
      const auto row = [&](const torch::Tensor& x) { return x.narrow(0, b, 1).narrow(2, 0, len); };
      const auto row_mask = mask.defined() ? mask.narrow(0, mask.size(0) == q.size(0) ? b : 0, 1).narrow(2, 0, len).narrow(3, 0, len)
                                           : mask;
      out.narrow(0, b, 1).narrow(2, 0, len).copy_(attend(row(q), row(k), row(v), row_mask, scale, softcap, {len}));
    }
    return out;
  }
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  if (softcap > 0) scores = torch::tanh(scores / softcap) * softcap;
  if (mask.defined()) {
    scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
  } else {
    const auto t = q.size(-2);
    const auto causal = torch::ones({t, t}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).tril();
    scores = scores.masked_fill(causal.logical_not(), -std::numeric_limits<double>::infinity());
  }
  const auto probs = torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
  return torch::matmul(probs, v);
}

#if IBZOO_HAVE_FUSED_RMS_NORM
// IBZOO_FUSED_NORM=0 turns the fused RMSNorm off (it rounds once where the
// explicit form, as transformers writes it, rounds twice in bfloat16/float16).
bool fused_norm_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("IBZOO_FUSED_NORM");
    return v == nullptr || std::string(v) != "0";
  }();
  return enabled;
}
#endif

}  // namespace

TransformerImpl::TransformerImpl(io::ModelConfig config, torch::Dtype dtype, torch::Device device)
    : config_(std::move(config)), dtype_(dtype), device_(device) {
  const auto& c = config_;
  const auto opts = torch::TensorOptions().dtype(dtype).device(device);
  const auto make = [&](const std::string& name, std::vector<std::int64_t> shape) {
    return register_parameter(name, torch::zeros(shape, opts));
  };
  const auto d = c.hidden_size;
  const auto qd = c.n_heads * c.head_dim;
  const auto kvd = c.n_kv_heads * c.head_dim;
  const auto ff = c.intermediate_size;
  const bool ln = c.norm_kind() == io::NormKind::LayerNorm;
  embed = make("embed", {c.vocab_size, d});
  if (!c.use_rope) pos_embed = make("pos_embed", {c.max_position_embeddings, d});
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "layer" + std::to_string(i) + "_";
    LayerWeights lw;
    if (c.family != Family::Olmo2) {
      lw.norm_attn_w = make(p + "norm_attn_w", {d});
      if (ln) lw.norm_attn_b = make(p + "norm_attn_b", {d});
      lw.norm_mlp_w = make(p + "norm_mlp_w", {d});
      if (ln) lw.norm_mlp_b = make(p + "norm_mlp_b", {d});
    }
    lw.wqkv = make(p + "wqkv", {qd + 2 * kvd, d});
    if (c.qkv_bias) lw.bqkv = make(p + "bqkv", {qd + 2 * kvd});
    if (c.family == Family::Olmo2) {
      lw.q_norm_w = make(p + "q_norm_w", {qd});
      lw.k_norm_w = make(p + "k_norm_w", {kvd});
    }
    lw.wo = make(p + "wo", {d, qd});
    if (c.out_bias) lw.bo = make(p + "bo", {d});
    if (has_post_norms(c.family)) {
      lw.norm_post_attn_w = make(p + "norm_post_attn_w", {d});
      lw.norm_post_mlp_w = make(p + "norm_post_mlp_w", {d});
    }
    lw.w_in = make(p + "w_in", {c.gated_mlp() ? 2 * ff : ff, d});
    if (c.mlp_bias) lw.b_in = make(p + "b_in", {c.gated_mlp() ? 2 * ff : ff});
    lw.w_out = make(p + "w_out", {d, ff});
    if (c.mlp_bias) lw.b_out = make(p + "b_out", {d});
    layers.push_back(lw);
  }
  final_norm_w = make("final_norm_w", {d});
  if (ln) final_norm_b = make("final_norm_b", {d});
  if (!c.tie_word_embeddings) lm_head = make("lm_head", {c.vocab_size, d});
}

std::int64_t TransformerImpl::n_parameters() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

torch::Tensor TransformerImpl::norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) const {
  const double eps = config_.norm_eps;
  switch (config_.norm_kind()) {
    case io::NormKind::LayerNorm:
      return torch::layer_norm(x, {x.size(-1)}, w, b, eps);
    case io::NormKind::RmsNorm: {
#if IBZOO_HAVE_FUSED_RMS_NORM
      // float32 keeps the explicit form: it is what the parity tests pin to 1e-4.
      if (x.scalar_type() != torch::kFloat && fused_norm_enabled()) {
        return at::rms_norm(x, {x.size(-1)}, w, eps);
      }
#endif
      auto xf = x.to(torch::kFloat);
      xf = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);
      // OLMo2 multiplies before casting back, Llama after; identical in float32.
      if (config_.family == Family::Olmo2) return (w * xf).to(x.scalar_type());
      return w * xf.to(x.scalar_type());
    }
    case io::NormKind::RmsNormOnePlus: {
      auto xf = x.to(torch::kFloat);
      xf = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);
      return (xf * (1.0 + w.to(torch::kFloat))).to(x.scalar_type());
    }
  }
  IBZOO_CHECK(false, "unknown norm kind");
}

torch::Tensor TransformerImpl::attention(const torch::Tensor& x, const LayerWeights& lw, int layer_idx,
                                         const torch::Tensor& cos, const torch::Tensor& sin,
                                         const torch::Tensor& mask, const Lengths& lengths) const {
  const auto& c = config_;
  const auto b = x.size(0);
  const auto t = x.size(1);
  const auto qd = c.n_heads * c.head_dim;
  const auto kvd = c.n_kv_heads * c.head_dim;
  const auto qkv = linear(x, lw.wqkv, lw.bqkv);
  auto q = qkv.narrow(-1, 0, qd);
  auto k = qkv.narrow(-1, qd, kvd);
  auto v = qkv.narrow(-1, qd + kvd, kvd);
  if (lw.q_norm_w.defined()) {
    q = norm(q, lw.q_norm_w, {});
    k = norm(k, lw.k_norm_w, {});
  }
  q = q.reshape({b, t, c.n_heads, c.head_dim}).transpose(1, 2);
  k = k.reshape({b, t, c.n_kv_heads, c.head_dim}).transpose(1, 2);
  v = v.reshape({b, t, c.n_kv_heads, c.head_dim}).transpose(1, 2);
  if (cos.defined()) {
    q = apply_rope(q, cos, sin);
    k = apply_rope(k, cos, sin);
  }
  const bool fused_gqa = kFusedGqa && c.attn_logit_softcap <= 0;
  if (c.n_kv_heads != c.n_heads && !fused_gqa) {
    k = k.repeat_interleave(c.n_heads / c.n_kv_heads, 1);
    v = v.repeat_interleave(c.n_heads / c.n_kv_heads, 1);
  }
  (void)layer_idx;
  const auto out = attend(q, k, v, mask, c.attention_scale, c.attn_logit_softcap, lengths);
  return linear(out.transpose(1, 2).reshape({b, t, qd}), lw.wo, lw.bo);
}

torch::Tensor TransformerImpl::mlp(const torch::Tensor& x, const LayerWeights& lw) const {
  const auto h = linear(x, lw.w_in, lw.b_in);
  if (!config_.gated_mlp()) return linear(activate(h, config_.activation), lw.w_out, lw.b_out);
  const auto ff = config_.intermediate_size;
  const auto gated = activate(h.narrow(-1, 0, ff), config_.activation) * h.narrow(-1, ff, ff);
  return linear(gated, lw.w_out, lw.b_out);
}

torch::Tensor TransformerImpl::block(const torch::Tensor& x, const LayerWeights& lw, int layer_idx,
                                     const torch::Tensor& cos, const torch::Tensor& sin,
                                     const torch::Tensor& full_mask, const torch::Tensor& sliding_mask,
                                     const Lengths& lengths) const {
  const bool sliding = config_.layer_sliding[static_cast<std::size_t>(layer_idx)];
  const auto& mask = sliding ? sliding_mask : full_mask;
  const auto attn_in = lw.norm_attn_w.defined() ? norm(x, lw.norm_attn_w, lw.norm_attn_b) : x;
  auto a = attention(attn_in, lw, layer_idx, cos, sin, mask, lengths);
  if (lw.norm_post_attn_w.defined()) a = norm(a, lw.norm_post_attn_w, {});
  if (config_.use_parallel_residual) {
    const auto m = mlp(norm(x, lw.norm_mlp_w, lw.norm_mlp_b), lw);
    return m + a + x;
  }
  const auto h = x + a;
  const auto mlp_in = lw.norm_mlp_w.defined() ? norm(h, lw.norm_mlp_w, lw.norm_mlp_b) : h;
  auto m = mlp(mlp_in, lw);
  if (lw.norm_post_mlp_w.defined()) m = norm(m, lw.norm_post_mlp_w, {});
  return h + m;
}

bool TransformerImpl::fast_path() const {
  const auto& c = config_;
  return fused_block_enabled() && !torch::GradMode::is_enabled() && !has_post_norms(c.family) &&
         c.family != Family::Olmo2 && c.attn_logit_softcap <= 0;
}

std::int64_t TransformerImpl::weight_version() const {
  // Version counters only grow, so the sum changes whenever any weight is written.
  std::int64_t v = 0;
  const auto add = [&](const torch::Tensor& t) {
    if (t.defined() && !t.is_inference()) v += static_cast<std::int64_t>(t._version());
  };
  for (const auto& lw : layers) {
    for (const auto* t : {&lw.norm_attn_w, &lw.norm_attn_b, &lw.norm_mlp_w, &lw.norm_mlp_b, &lw.wqkv, &lw.bqkv,
                          &lw.wo, &lw.bo, &lw.w_in, &lw.b_in, &lw.w_out, &lw.b_out}) {
      add(*t);
    }
  }
  return v;
}

bool TransformerImpl::folds_current() const {
  return !folded_.empty() && folded_version_ == weight_version();
}

void TransformerImpl::fold_for_inference() {
  folded_.clear();
  folded_version_ = -1;
  const auto& c = config_;
  if (!parallel_fold_applies(c)) return;
  torch::NoGradGuard no_grad;
  const auto d = c.hidden_size;
  const auto qd = c.n_heads * c.head_dim;
  const auto ff = c.intermediate_size;
  const auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat); };
  // W (n gamma + beta) + b = (W diag(gamma)) n + (W beta + b), n the weightless norm.
  const auto fold = [&](const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& gamma,
                        const torch::Tensor& beta) {
    const auto wf = f32(w);
    auto bias = torch::mv(wf, f32(beta));
    if (b.defined()) bias = bias + f32(b);
    return std::make_pair(wf * f32(gamma).unsqueeze(0), bias);
  };
  for (const auto& lw : layers) {
    const auto [wa, ba] = fold(lw.wqkv, lw.bqkv, lw.norm_attn_w, lw.norm_attn_b);
    const auto [wm, bm] = fold(lw.w_in, lw.b_in, lw.norm_mlp_w, lw.norm_mlp_b);
    Folded f;
    f.w_in = torch::cat({wa, wm}, 0).to(dtype_).contiguous();
    f.b_in = torch::cat({ba, bm}, 0).to(dtype_).contiguous();
    auto w_out = torch::zeros({d, qd + ff + kFoldPad}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
    w_out.narrow(1, 0, qd).copy_(lw.wo);
    w_out.narrow(1, qd, ff).copy_(lw.w_out);
    auto bias = w_out.select(1, qd + ff);
    if (lw.bo.defined()) bias.add_(f32(lw.bo));
    if (lw.b_out.defined()) bias.add_(f32(lw.b_out));
    f.w_out = w_out.to(dtype_).contiguous();
    folded_.push_back(std::move(f));
  }
  folded_version_ = weight_version();
}

// qkv: [B, T, C], its first (H + 2 KV) hd columns q, k, v (head-major). Rotates the
// q and k columns (in place, or into a new tensor: see rope_qk); returns the
// attention output [B T, H hd].
torch::Tensor TransformerImpl::fast_attention(const torch::Tensor& qkv, const torch::Tensor& cos,
                                              const torch::Tensor& sin_signed, const torch::Tensor& mask,
                                              const Lengths& lengths) const {
  const auto& c = config_;
  const auto b = qkv.size(0);
  const auto t = qkv.size(1);
  const auto hd = c.head_dim;
  auto qk = qkv.narrow(-1, 0, (c.n_heads + c.n_kv_heads) * hd).view({b, t, c.n_heads + c.n_kv_heads, hd});
  if (cos.defined()) qk = rope_qk(qk, cos, sin_signed);
  const auto q = qk.narrow(2, 0, c.n_heads).transpose(1, 2);
  auto k = qk.narrow(2, c.n_heads, c.n_kv_heads).transpose(1, 2);
  auto v = qkv.narrow(-1, (c.n_heads + c.n_kv_heads) * hd, c.n_kv_heads * hd)
               .view({b, t, c.n_kv_heads, hd})
               .transpose(1, 2);
  if (c.n_kv_heads != c.n_heads && !kFusedGqa) {
    k = k.repeat_interleave(c.n_heads / c.n_kv_heads, 1);
    v = v.repeat_interleave(c.n_heads / c.n_kv_heads, 1);
  }
  const auto out = attend(q, k, v, mask, c.attention_scale, c.attn_logit_softcap, lengths);
  // The fused kernels return [B, T, H, hd] memory transposed: this is a view there.
  return out.transpose(1, 2).reshape({b * t, c.n_heads * hd});
}

// Sequential residual: x += o_proj(attention(norm(x))); x += down(act(norm(x))), each
// add done by the output GEMM (beta = 1) instead of a separate pass.
void TransformerImpl::fast_block(torch::Tensor& x, const LayerWeights& lw, int layer_idx, const torch::Tensor& cos,
                                 const torch::Tensor& sin_signed, const torch::Tensor& mask, const Lengths& lengths) const {
  (void)layer_idx;
  const auto& c = config_;
  const auto n = x.size(0) * x.size(1);
  auto xf = x.view({n, x.size(2)});
  const auto attn_in = lw.norm_attn_w.defined() ? norm(x, lw.norm_attn_w, lw.norm_attn_b) : x;
  const auto attn = fast_attention(linear(attn_in, lw.wqkv, lw.bqkv), cos, sin_signed, mask, lengths);
  xf.addmm_(attn, lw.wo.t());
  if (lw.bo.defined()) xf.add_(lw.bo);
  const auto mlp_in = lw.norm_mlp_w.defined() ? norm(x, lw.norm_mlp_w, lw.norm_mlp_b) : x;
  auto h = linear(mlp_in, lw.w_in, lw.b_in).view({n, -1});
  if (c.gated_mlp()) {
    const auto ff = c.intermediate_size;
    if (c.activation == io::Activation::Silu) {
      h = silu_mul(h.narrow(1, 0, ff), h.narrow(1, ff, ff));
    } else {
      auto gate = h.narrow(1, 0, ff);
      activate_out(gate, gate, c.activation);
      h = gate.mul_(h.narrow(1, ff, ff));  // [n, ff] with row stride 2 ff: the GEMM reads it in place
    }
  } else {
    activate_out(h, h, c.activation);
  }
  xf.addmm_(h, lw.w_out.t());
  if (lw.b_out.defined()) xf.add_(lw.b_out);
}

// Parallel residual (GPT-NeoX) with the folds: x += [attn | act(h)] [wo | w_out]^T + biases,
// where [q k v | h] = layer_norm(x) (weightless) W_in^T + b_in. cat_buf: [B T, H hd + ff +
// kFoldPad], its column H hd + ff ones and the rest of the pad zeros.
void TransformerImpl::folded_block(torch::Tensor& x, const Folded& f, const torch::Tensor& cos,
                                   const torch::Tensor& sin_signed, const torch::Tensor& mask,
                                   const torch::Tensor& cat_buf, const Lengths& lengths) const {
  const auto& c = config_;
  const auto b = x.size(0);
  const auto t = x.size(1);
  const auto d = x.size(2);
  const auto n = b * t;
  const auto qd = c.n_heads * c.head_dim;
  const auto qkv_cols = qd + 2 * c.n_kv_heads * c.head_dim;
  const auto ff = c.intermediate_size;
  auto xf = x.view({n, d});
  const auto xn = torch::layer_norm(xf, {d}, {}, {}, c.norm_eps);
  const auto y = torch::addmm(f.b_in, xn, f.w_in.t());  // [n, qkv_cols + ff]
  cat_buf.narrow(1, 0, qd).copy_(fast_attention(y.view({b, t, qkv_cols + ff}), cos, sin_signed, mask, lengths));
  auto act = cat_buf.narrow(1, qd, ff);
  activate_out(act, y.narrow(1, qkv_cols, ff), c.activation);
  xf.addmm_(cat_buf, f.w_out.t());
}

std::pair<torch::Tensor, torch::Tensor> rotary_tables(const io::ModelConfig& c, const torch::Tensor& positions) {
  const auto rot = c.rotary_dims();
  const auto fopts = torch::TensorOptions().dtype(torch::kFloat).device(positions.device());
  const auto exponents = torch::arange(0, rot, 2, fopts.dtype(torch::kLong)).to(torch::kFloat) / static_cast<double>(rot);
  auto inv_freq = 1.0 / torch::pow(torch::scalar_tensor(c.rope.theta, fopts), exponents);
  if (c.rope.type == io::RopeType::Linear) inv_freq = inv_freq / c.rope.factor;
  if (c.rope.type == io::RopeType::Llama3) {
    const auto& r = c.rope;
    const double old_len = static_cast<double>(r.original_max_position_embeddings);
    const double low_freq_wavelen = old_len / r.low_freq_factor;
    const double high_freq_wavelen = old_len / r.high_freq_factor;
    const auto wavelen = 2.0 * std::numbers::pi / inv_freq;
    auto scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / r.factor, inv_freq);
    const auto smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
    const auto smoothed = (1.0 - smooth) * scaled / r.factor + smooth * scaled;
    const auto medium = wavelen.ge(high_freq_wavelen).logical_and(wavelen.le(low_freq_wavelen));
    inv_freq = torch::where(medium, smoothed, scaled);
  }
  const auto freqs = positions.to(torch::kFloat).unsqueeze(-1) * inv_freq.view({1, 1, -1});
  const auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& ids, const std::vector<std::int64_t>& lengths,
                                       const LayerCallback& on_layer, const ForwardOptions& options) const {
  const auto& c = config_;
  IBZOO_CHECK(ids.dim() == 2 && ids.size(0) == static_cast<std::int64_t>(lengths.size()),
              "ids " << ids.sizes() << " lengths " << lengths.size());
  const auto b = ids.size(0);
  const auto t = ids.size(1);
  bool padded = false;
  for (const auto len : lengths) {
    IBZOO_CHECK(len >= 1 && len <= t, "length " << len << " for T " << t);
    padded = padded || len < t;
  }
  if (t > c.max_position_embeddings && !c.use_rope) {
    throw ModelError("a sequence of " + std::to_string(t) + " tokens exceeds the model's " +
                     std::to_string(c.max_position_embeddings) +
                     " learned positions (max_position_embeddings); split the text into shorter sequences");
  }
  // Host inputs go through pinned memory without blocking: a copy from pageable
  // memory would first wait for everything already queued on the device.
  const auto upload = [&](const torch::Tensor& host) {
    return device_.is_cuda() && host.device().is_cpu() ? host.pin_memory().to(device_, /*non_blocking=*/true)
                                                        : host.to(device_);
  };
  const auto ids_dev = upload(ids.to(torch::kLong));
  const auto iopts = torch::TensorOptions().dtype(torch::kLong).device(device_);
  const auto positions = torch::arange(t, iopts).unsqueeze(0).expand({b, t});

  auto x = torch::embedding(embed, ids_dev);
  if (c.family == Family::Gemma2) {
    x = x * torch::scalar_tensor(std::sqrt(static_cast<double>(c.hidden_size)), x.options());
  }
  if (pos_embed.defined()) x = x + torch::embedding(pos_embed, positions);

  // Positions restart at 0 in every row: one rotary table [1, T, rot] serves the batch.
  const bool fast = fast_path();
  torch::Tensor cos, sin, sin_signed;
  if (c.use_rope) {
    auto [cf, sf] = rotary_tables(c, positions.narrow(0, 0, 1));
    cf = cf.to(dtype_);
    sf = sf.to(dtype_);
    if (fast) {  // [1, T, 1, rot] against [B, T, heads, rot]
      const auto half = sf.size(-1) / 2;
      cos = cf.unsqueeze(2);
      sin_signed = torch::cat({-sf.narrow(-1, 0, half), sf.narrow(-1, half, half)}, -1).unsqueeze(2);
    } else {  // [1, 1, T, rot] against [B, heads, T, rot]
      cos = cf.unsqueeze(1);
      sin = sf.unsqueeze(1);
    }
  }
  // Masks (bool [B, 1, T, T], true = may attend); none when causal alone suffices.
  torch::Tensor full_mask, sliding_mask;
  const auto qi = torch::arange(t, iopts).unsqueeze(1);
  const auto kj = torch::arange(t, iopts).unsqueeze(0);
  const auto causal = kj.le(qi);
  if (padded) {
    const auto len = upload(torch::tensor(lengths, torch::kLong));
    const auto key_valid = torch::arange(t, iopts).unsqueeze(0).lt(len.unsqueeze(1));  // [B, T]
    full_mask = causal.unsqueeze(0).logical_and(key_valid.unsqueeze(1)).unsqueeze(1);
  }
  if (c.sliding_window) {
    const auto window = (qi - kj).lt(*c.sliding_window);
    // The diagonal keeps padded queries far past their row's end from having no
    // visible key at all (a NaN row would leak into valid rows through 0 * NaN).
    sliding_mask = (full_mask.defined() ? full_mask : causal.view({1, 1, t, t})).logical_and(window).logical_or(qi.eq(kj));
  }

  const bool folded = fast && folds_current();
  torch::Tensor cat_buf;
  if (folded) {
    const auto cols = c.n_heads * c.head_dim + c.intermediate_size;
    cat_buf = torch::empty({b * t, cols + kFoldPad}, x.options());
    cat_buf.narrow(1, cols, kFoldPad).zero_();
    cat_buf.select(1, cols).fill_(1);
  }
  const auto n_blocks = static_cast<int>(layers.size());
  const bool stop_early = !options.want_logits && options.last_layer >= 0 && options.last_layer < n_blocks;
  if (on_layer) on_layer(0, x);
  if (stop_early && options.last_layer == 0) return {};
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto li = static_cast<int>(l);
    if (fast) {
      const auto& mask = c.layer_sliding[l] ? sliding_mask : full_mask;
      if (!x.is_contiguous()) x = x.contiguous();
      if (folded) {
        folded_block(x, folded_[l], cos, sin_signed, mask, cat_buf, lengths);
      } else {
        fast_block(x, layers[l], li, cos, sin_signed, mask, lengths);
      }
    } else {
      x = block(x, layers[l], li, cos, sin, full_mask, sliding_mask, lengths);
    }
    if (on_layer && l + 1 < layers.size()) on_layer(li + 1, x);
    if (stop_early && li + 1 == options.last_layer) return {};
  }
  const auto normed = norm(x, final_norm_w, final_norm_b);
  if (on_layer) on_layer(static_cast<int>(layers.size()), options.final_norm ? normed : x);
  if (!options.want_logits) return {};
  auto logits = linear(normed, lm_head.defined() ? lm_head : embed, torch::Tensor());
  if (c.final_logit_softcap > 0) logits = torch::tanh(logits / c.final_logit_softcap) * c.final_logit_softcap;
  return logits.to(torch::kFloat);
}

namespace {

torch::ScalarType scalar_type(io::DType d) {
  switch (d) {
    case io::DType::F64: return torch::kDouble;
    case io::DType::F32: return torch::kFloat;
    case io::DType::F16: return torch::kHalf;
    case io::DType::BF16: return torch::kBFloat16;
    case io::DType::I64: return torch::kLong;
    case io::DType::I32: return torch::kInt;
    case io::DType::I16: return torch::kShort;
    case io::DType::I8: return torch::kChar;
    case io::DType::U8: return torch::kByte;
    case io::DType::BOOL: return torch::kBool;
  }
  IBZOO_CHECK(false, "unknown dtype");
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// Reads HF tensors by name (tolerating a checkpoint saved without the base-model
// prefix, as GPT2Model.save_pretrained does) and checks their shapes.
class HfReader {
 public:
  HfReader(const io::WeightStore& w, const io::ModelConfig& c) : weights_(w) {
    for (const auto& spec : hf_param_specs(c)) expected_[spec.name] = spec.shape;
    prefix_ = hf_prefix(c.family);
    const auto first = hf_param_specs(c).front().name;
    strip_prefix_ = !w.find(first) && w.find(first.substr(prefix_.size()));
  }
  torch::Tensor operator()(const std::string& name) const {
    const std::string stored = strip_prefix_ && name.starts_with(prefix_) ? name.substr(prefix_.size()) : name;
    const auto& view = weights_.at(stored);
    const auto& want = expected_.at(name);
    if (view.shape != want) {
      throw ModelError(weights_.file_of(stored).string() + ": tensor \"" + stored + "\" has shape " + shape_str(view.shape) +
                       ", expected " + shape_str(want) + " from config.json (config and weights disagree)");
    }
    if (view.dtype != io::DType::F32 && view.dtype != io::DType::F16 && view.dtype != io::DType::BF16) {
      throw ModelError(weights_.file_of(stored).string() + ": tensor \"" + stored + "\" has dtype " +
                       std::string(io::dtype_name(view.dtype)) + ", expected F32, F16 or BF16");
    }
    auto out = torch::empty(want, torch::TensorOptions().dtype(scalar_type(view.dtype)));
    std::memcpy(out.data_ptr(), view.data.data(), view.data.size());
    return out;
  }

 private:
  const io::WeightStore& weights_;
  std::map<std::string, std::vector<std::int64_t>> expected_;
  std::string prefix_;
  bool strip_prefix_ = false;
};

void assign(torch::Tensor& param, const torch::Tensor& value) {
  IBZOO_CHECK(param.sizes() == value.sizes(), param.sizes() << " vs " << value.sizes());
  param.copy_(value);
}

// GPT-NeoX fuses q, k, v per head ([H, 3, hd] rows); ours is [3, H, hd].
torch::Tensor neox_to_qkv(const torch::Tensor& w, std::int64_t n_heads, std::int64_t head_dim) {
  const auto rest = w.dim() == 2 ? w.size(1) : 1;
  return w.reshape({n_heads, 3, head_dim, rest}).permute({1, 0, 2, 3}).reshape(w.sizes()).contiguous();
}
torch::Tensor qkv_to_neox(const torch::Tensor& w, std::int64_t n_heads, std::int64_t head_dim) {
  const auto rest = w.dim() == 2 ? w.size(1) : 1;
  return w.reshape({3, n_heads, head_dim, rest}).permute({1, 0, 2, 3}).reshape(w.sizes()).contiguous();
}

void load_layer(LayerWeights& lw, const HfReader& get, const io::ModelConfig& c, const std::string& p) {
  switch (c.family) {
    case Family::Gpt2:
      assign(lw.norm_attn_w, get(p + "ln_1.weight"));
      assign(lw.norm_attn_b, get(p + "ln_1.bias"));
      assign(lw.wqkv, get(p + "attn.c_attn.weight").t());
      assign(lw.bqkv, get(p + "attn.c_attn.bias"));
      assign(lw.wo, get(p + "attn.c_proj.weight").t());
      assign(lw.bo, get(p + "attn.c_proj.bias"));
      assign(lw.norm_mlp_w, get(p + "ln_2.weight"));
      assign(lw.norm_mlp_b, get(p + "ln_2.bias"));
      assign(lw.w_in, get(p + "mlp.c_fc.weight").t());
      assign(lw.b_in, get(p + "mlp.c_fc.bias"));
      assign(lw.w_out, get(p + "mlp.c_proj.weight").t());
      assign(lw.b_out, get(p + "mlp.c_proj.bias"));
      return;
    case Family::GptNeox:
      assign(lw.norm_attn_w, get(p + "input_layernorm.weight"));
      assign(lw.norm_attn_b, get(p + "input_layernorm.bias"));
      assign(lw.norm_mlp_w, get(p + "post_attention_layernorm.weight"));
      assign(lw.norm_mlp_b, get(p + "post_attention_layernorm.bias"));
      assign(lw.wqkv, neox_to_qkv(get(p + "attention.query_key_value.weight"), c.n_heads, c.head_dim));
      if (c.qkv_bias) assign(lw.bqkv, neox_to_qkv(get(p + "attention.query_key_value.bias"), c.n_heads, c.head_dim));
      assign(lw.wo, get(p + "attention.dense.weight"));
      if (c.out_bias) assign(lw.bo, get(p + "attention.dense.bias"));
      assign(lw.w_in, get(p + "mlp.dense_h_to_4h.weight"));
      assign(lw.b_in, get(p + "mlp.dense_h_to_4h.bias"));
      assign(lw.w_out, get(p + "mlp.dense_4h_to_h.weight"));
      assign(lw.b_out, get(p + "mlp.dense_4h_to_h.bias"));
      return;
    default:
      break;
  }
  const std::string a = p + "self_attn.";
  assign(lw.wqkv, torch::cat({get(a + "q_proj.weight"), get(a + "k_proj.weight"), get(a + "v_proj.weight")}, 0));
  if (c.qkv_bias) assign(lw.bqkv, torch::cat({get(a + "q_proj.bias"), get(a + "k_proj.bias"), get(a + "v_proj.bias")}, 0));
  assign(lw.wo, get(a + "o_proj.weight"));
  if (c.out_bias) assign(lw.bo, get(a + "o_proj.bias"));
  const std::string m = p + "mlp.";
  assign(lw.w_in, torch::cat({get(m + "gate_proj.weight"), get(m + "up_proj.weight")}, 0));
  if (c.mlp_bias) assign(lw.b_in, torch::cat({get(m + "gate_proj.bias"), get(m + "up_proj.bias")}, 0));
  assign(lw.w_out, get(m + "down_proj.weight"));
  if (c.mlp_bias) assign(lw.b_out, get(m + "down_proj.bias"));
  if (c.family == Family::Olmo2) {
    assign(lw.q_norm_w, get(a + "q_norm.weight"));
    assign(lw.k_norm_w, get(a + "k_norm.weight"));
    assign(lw.norm_post_attn_w, get(p + "post_attention_layernorm.weight"));
    assign(lw.norm_post_mlp_w, get(p + "post_feedforward_layernorm.weight"));
    return;
  }
  assign(lw.norm_attn_w, get(p + "input_layernorm.weight"));
  if (c.family == Family::Gemma2) {
    assign(lw.norm_post_attn_w, get(p + "post_attention_layernorm.weight"));
    assign(lw.norm_mlp_w, get(p + "pre_feedforward_layernorm.weight"));
    assign(lw.norm_post_mlp_w, get(p + "post_feedforward_layernorm.weight"));
    return;
  }
  assign(lw.norm_mlp_w, get(p + "post_attention_layernorm.weight"));
}

std::string layer_prefix(const io::ModelConfig& c, std::size_t i) {
  return hf_prefix(c.family) + (c.family == Family::Gpt2 ? "h." : "layers.") + std::to_string(i) + ".";
}

std::string final_norm_name(Family f) {
  return hf_prefix(f) + (f == Family::Gpt2 ? "ln_f" : f == Family::GptNeox ? "final_layer_norm" : "norm");
}

std::string embed_name(Family f) {
  return hf_prefix(f) + (f == Family::Gpt2 ? "wte" : f == Family::GptNeox ? "embed_in" : "embed_tokens") + ".weight";
}

}  // namespace

Transformer load_transformer(const io::WeightStore& weights, const io::ModelConfig& c, torch::Dtype dtype,
                             torch::Device device) {
  Transformer model(c, dtype, device);
  torch::NoGradGuard no_grad;
  const HfReader get(weights, c);
  assign(model->embed, get(embed_name(c.family)));
  if (c.family == Family::Gpt2) assign(model->pos_embed, get(hf_prefix(c.family) + "wpe.weight"));
  for (std::size_t i = 0; i < model->layers.size(); ++i) load_layer(model->layers[i], get, c, layer_prefix(c, i));
  assign(model->final_norm_w, get(final_norm_name(c.family) + ".weight"));
  if (model->final_norm_b.defined()) assign(model->final_norm_b, get(final_norm_name(c.family) + ".bias"));
  if (model->lm_head.defined()) assign(model->lm_head, get(hf_lm_head_name(c.family)));
  model->fold_for_inference();
  return model;
}

std::vector<std::pair<std::string, torch::Tensor>> to_hf_tensors(const TransformerImpl& model) {
  const auto& c = model.config();
  std::map<std::string, torch::Tensor> out;
  const auto put = [&](const std::string& name, const torch::Tensor& t) {
    out[name] = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  };
  put(embed_name(c.family), model.embed);
  if (model.pos_embed.defined()) put(hf_prefix(c.family) + "wpe.weight", model.pos_embed);
  const auto qd = c.n_heads * c.head_dim;
  const auto kvd = c.n_kv_heads * c.head_dim;
  const auto ff = c.intermediate_size;
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const auto& lw = model.layers[i];
    const std::string p = layer_prefix(c, i);
    if (c.family == Family::Gpt2) {
      put(p + "ln_1.weight", lw.norm_attn_w);
      put(p + "ln_1.bias", lw.norm_attn_b);
      put(p + "attn.c_attn.weight", lw.wqkv.t());
      put(p + "attn.c_attn.bias", lw.bqkv);
      put(p + "attn.c_proj.weight", lw.wo.t());
      put(p + "attn.c_proj.bias", lw.bo);
      put(p + "ln_2.weight", lw.norm_mlp_w);
      put(p + "ln_2.bias", lw.norm_mlp_b);
      put(p + "mlp.c_fc.weight", lw.w_in.t());
      put(p + "mlp.c_fc.bias", lw.b_in);
      put(p + "mlp.c_proj.weight", lw.w_out.t());
      put(p + "mlp.c_proj.bias", lw.b_out);
      continue;
    }
    if (c.family == Family::GptNeox) {
      put(p + "input_layernorm.weight", lw.norm_attn_w);
      put(p + "input_layernorm.bias", lw.norm_attn_b);
      put(p + "post_attention_layernorm.weight", lw.norm_mlp_w);
      put(p + "post_attention_layernorm.bias", lw.norm_mlp_b);
      put(p + "attention.query_key_value.weight", qkv_to_neox(lw.wqkv, c.n_heads, c.head_dim));
      if (c.qkv_bias) put(p + "attention.query_key_value.bias", qkv_to_neox(lw.bqkv, c.n_heads, c.head_dim));
      put(p + "attention.dense.weight", lw.wo);
      if (c.out_bias) put(p + "attention.dense.bias", lw.bo);
      put(p + "mlp.dense_h_to_4h.weight", lw.w_in);
      put(p + "mlp.dense_h_to_4h.bias", lw.b_in);
      put(p + "mlp.dense_4h_to_h.weight", lw.w_out);
      put(p + "mlp.dense_4h_to_h.bias", lw.b_out);
      continue;
    }
    const std::string a = p + "self_attn.";
    put(a + "q_proj.weight", lw.wqkv.narrow(0, 0, qd));
    put(a + "k_proj.weight", lw.wqkv.narrow(0, qd, kvd));
    put(a + "v_proj.weight", lw.wqkv.narrow(0, qd + kvd, kvd));
    if (c.qkv_bias) {
      put(a + "q_proj.bias", lw.bqkv.narrow(0, 0, qd));
      put(a + "k_proj.bias", lw.bqkv.narrow(0, qd, kvd));
      put(a + "v_proj.bias", lw.bqkv.narrow(0, qd + kvd, kvd));
    }
    put(a + "o_proj.weight", lw.wo);
    if (c.out_bias) put(a + "o_proj.bias", lw.bo);
    put(p + "mlp.gate_proj.weight", lw.w_in.narrow(0, 0, ff));
    put(p + "mlp.up_proj.weight", lw.w_in.narrow(0, ff, ff));
    if (c.mlp_bias) {
      put(p + "mlp.gate_proj.bias", lw.b_in.narrow(0, 0, ff));
      put(p + "mlp.up_proj.bias", lw.b_in.narrow(0, ff, ff));
    }
    put(p + "mlp.down_proj.weight", lw.w_out);
    if (c.mlp_bias) put(p + "mlp.down_proj.bias", lw.b_out);
    if (c.family == Family::Olmo2) {
      put(a + "q_norm.weight", lw.q_norm_w);
      put(a + "k_norm.weight", lw.k_norm_w);
      put(p + "post_attention_layernorm.weight", lw.norm_post_attn_w);
      put(p + "post_feedforward_layernorm.weight", lw.norm_post_mlp_w);
      continue;
    }
    put(p + "input_layernorm.weight", lw.norm_attn_w);
    if (c.family == Family::Gemma2) {
      put(p + "post_attention_layernorm.weight", lw.norm_post_attn_w);
      put(p + "pre_feedforward_layernorm.weight", lw.norm_mlp_w);
      put(p + "post_feedforward_layernorm.weight", lw.norm_post_mlp_w);
    } else {
      put(p + "post_attention_layernorm.weight", lw.norm_mlp_w);
    }
  }
  put(final_norm_name(c.family) + ".weight", model.final_norm_w);
  if (model.final_norm_b.defined()) put(final_norm_name(c.family) + ".bias", model.final_norm_b);
  if (model.lm_head.defined()) put(hf_lm_head_name(c.family), model.lm_head);
  std::vector<std::pair<std::string, torch::Tensor>> ordered;
  for (const auto& spec : hf_param_specs(c)) {
    IBZOO_CHECK(out.count(spec.name), "no tensor for " << spec.name);
    ordered.emplace_back(spec.name, out.at(spec.name));
  }
  return ordered;
}

}  // namespace ibzoo::models
