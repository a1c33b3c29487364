// The shared decoder block and its loader. Family differences are data (which
// weights exist, which norm, which residual layout), not code paths per family.
#include "models/transformer.h"
#include "models/transformer_ops.h"

#include "errors/check.h"
#include "errors/error.h"
#include "io/log.h"
#include "hf/layout.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numbers>
#include <sstream>

namespace ibzoo::models {

using hf::Family;
using torch::indexing::Slice;


TransformerImpl::TransformerImpl(hf::ModelConfig config, torch::Dtype dtype, torch::Device device)
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
  const bool ln = c.norm_kind() == hf::NormKind::LayerNorm;
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
    case hf::NormKind::LayerNorm:
      return torch::layer_norm(x, {x.size(-1)}, w, b, eps);
    case hf::NormKind::RmsNorm: {
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
    case hf::NormKind::RmsNormOnePlus: {
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
  const auto qkv = linear_rows(x, lw.wqkv, lw.bqkv, fixed_rows_);
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
  const auto out = attend_layer(q, k, v, mask, lengths);
  return linear_rows(out.transpose(1, 2).reshape({b, t, qd}), lw.wo, lw.bo, fixed_rows_);
}

torch::Tensor TransformerImpl::attend_layer(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                          const torch::Tensor& mask, const Lengths& lengths) const {
  const auto& c = config_;
  return fixed_attention() ? attend_fixed(q, k, v, mask, c.attention_scale, c.attn_logit_softcap, lengths)
                           : attend(q, k, v, mask, c.attention_scale, c.attn_logit_softcap, lengths);
}

torch::Tensor TransformerImpl::mlp(const torch::Tensor& x, const LayerWeights& lw) const {
  const auto h = linear_rows(x, lw.w_in, lw.b_in, fixed_rows_);
  if (!config_.gated_mlp()) return linear_rows(activate(h, config_.activation), lw.w_out, lw.b_out, fixed_rows_);
  const auto ff = config_.intermediate_size;
  const auto gated = activate(h.narrow(-1, 0, ff), config_.activation) * h.narrow(-1, ff, ff);
  return linear_rows(gated, lw.w_out, lw.b_out, fixed_rows_);
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
  const auto out = attend_layer(q, k, v, mask, lengths);
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
  const auto attn = fast_attention(linear_rows(attn_in, lw.wqkv, lw.bqkv, fixed_rows_), cos, sin_signed, mask, lengths);
  addmm_rows_(xf, attn, lw.wo, fixed_rows_);
  if (lw.bo.defined()) xf.add_(lw.bo);
  const auto mlp_in = lw.norm_mlp_w.defined() ? norm(x, lw.norm_mlp_w, lw.norm_mlp_b) : x;
  auto h = linear_rows(mlp_in, lw.w_in, lw.b_in, fixed_rows_).view({n, -1});
  if (c.gated_mlp()) {
    const auto ff = c.intermediate_size;
    if (c.activation == hf::Activation::Silu) {
      h = silu_mul(h.narrow(1, 0, ff), h.narrow(1, ff, ff));
    } else {
      auto gate = h.narrow(1, 0, ff);
      activate_out(gate, gate, c.activation);
      h = gate.mul_(h.narrow(1, ff, ff));  // [n, ff] with row stride 2 ff: the GEMM reads it in place
    }
  } else {
    activate_out(h, h, c.activation);
  }
  addmm_rows_(xf, h, lw.w_out, fixed_rows_);
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
  const auto y = linear_rows(xn, f.w_in, f.b_in, fixed_rows_);  // [n, qkv_cols + ff]
  cat_buf.narrow(1, 0, qd).copy_(fast_attention(y.view({b, t, qkv_cols + ff}), cos, sin_signed, mask, lengths));
  auto act = cat_buf.narrow(1, qd, ff);
  activate_out(act, y.narrow(1, qkv_cols, ff), c.activation);
  addmm_rows_(xf, cat_buf, f.w_out, fixed_rows_);
}

std::pair<torch::Tensor, torch::Tensor> rotary_tables(const hf::ModelConfig& c, const torch::Tensor& positions) {
  const auto rot = c.rotary_dims();
  const auto fopts = torch::TensorOptions().dtype(torch::kFloat).device(positions.device());
  const auto exponents = torch::arange(0, rot, 2, fopts.dtype(torch::kLong)).to(torch::kFloat) / static_cast<double>(rot);
  auto inv_freq = 1.0 / torch::pow(torch::scalar_tensor(c.rope.theta, fopts), exponents);
  if (c.rope.type == hf::RopeType::Linear) inv_freq = inv_freq / c.rope.factor;
  if (c.rope.type == hf::RopeType::Llama3) {
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

namespace {

// Checks a batch's shape and lengths against the model; whether any row is padded.
bool check_batch(const hf::ModelConfig& c, const torch::Tensor& ids, const std::vector<std::int64_t>& lengths) {
  IBZOO_CHECK(ids.dim() == 2 && ids.size(0) == static_cast<std::int64_t>(lengths.size()),
              "ids " << ids.sizes() << " lengths " << lengths.size());
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
  return padded;
}

// The rotary tables of one batch in the layout its block path wants.
struct RotaryTables {
  torch::Tensor cos, sin, sin_signed;
};

// Positions restart at 0 in every row: one rotary table [1, T, rot] serves the batch.
RotaryTables batch_rotary(const hf::ModelConfig& c, const torch::Tensor& positions, torch::Dtype dtype, bool fast) {
  RotaryTables r;
  if (!c.use_rope) return r;
  auto [cf, sf] = rotary_tables(c, positions.narrow(0, 0, 1));
  cf = cf.to(dtype);
  sf = sf.to(dtype);
  if (fast) {  // [1, T, 1, rot] against [B, T, heads, rot]
    const auto half = sf.size(-1) / 2;
    r.cos = cf.unsqueeze(2);
    r.sin_signed = torch::cat({-sf.narrow(-1, 0, half), sf.narrow(-1, half, half)}, -1).unsqueeze(2);
  } else {  // [1, 1, T, rot] against [B, heads, T, rot]
    r.cos = cf.unsqueeze(1);
    r.sin = sf.unsqueeze(1);
  }
  return r;
}

// Masks (bool [B, 1, T, T], true = may attend); none when causal alone suffices.
struct Masks {
  torch::Tensor full, sliding;
};

// lengths_dev: each row's valid tokens on the device, or undefined when no row is padded.
Masks batch_masks(const hf::ModelConfig& c, std::int64_t t, const torch::TensorOptions& iopts,
                  const torch::Tensor& lengths_dev) {
  Masks m;
  const auto qi = torch::arange(t, iopts).unsqueeze(1);
  const auto kj = torch::arange(t, iopts).unsqueeze(0);
  const auto causal = kj.le(qi);
  if (lengths_dev.defined()) {
    const auto key_valid = torch::arange(t, iopts).unsqueeze(0).lt(lengths_dev.unsqueeze(1));  // [B, T]
    m.full = causal.unsqueeze(0).logical_and(key_valid.unsqueeze(1)).unsqueeze(1);
  }
  if (c.sliding_window) {
    const auto window = (qi - kj).lt(*c.sliding_window);
    // The diagonal keeps padded queries far past their row's end from having no
    // visible key at all (a NaN row would leak into valid rows through 0 * NaN).
    m.sliding = (m.full.defined() ? m.full : causal.view({1, 1, t, t})).logical_and(window).logical_or(qi.eq(kj));
  }
  return m;
}

}  // namespace

torch::Tensor TransformerImpl::first_hidden(const torch::Tensor& ids_dev, const torch::Tensor& positions,
                                            const ForwardOptions& options) const {
  const auto& c = config_;
  if (options.first_layer > 0) {
    IBZOO_CHECK(options.first_layer < static_cast<int>(layers.size()) && options.start.defined() &&
                    options.start.size(0) == ids_dev.size(0) && options.start.size(1) == ids_dev.size(1),
                "resume at layer " << options.first_layer << " of " << layers.size() << " blocks");
    return options.start.to(device_, dtype_, /*non_blocking=*/false, /*copy=*/true);  // the blocks add to x in place
  }
  auto x = torch::embedding(embed, ids_dev);
  if (c.family == Family::Gemma2) x = x * torch::scalar_tensor(std::sqrt(static_cast<double>(c.hidden_size)), x.options());
  if (pos_embed.defined()) x = x + torch::embedding(pos_embed, positions);
  return x;
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& ids, const std::vector<std::int64_t>& lengths,
                                       const LayerCallback& on_layer, const ForwardOptions& options) const {
  const auto& c = config_;
  const bool padded = check_batch(c, ids, lengths);
  const auto b = ids.size(0);
  const auto t = ids.size(1);
  // Host inputs go through pinned memory without blocking: a copy from pageable
  // memory would first wait for everything already queued on the device.
  const auto upload = [&](const torch::Tensor& host) {
    return device_.is_cuda() && host.device().is_cpu() ? host.pin_memory().to(device_, /*non_blocking=*/true)
                                                        : host.to(device_);
  };
  const auto ids_dev = upload(ids.to(torch::kLong));
  const auto iopts = torch::TensorOptions().dtype(torch::kLong).device(device_);
  const auto positions = torch::arange(t, iopts).unsqueeze(0).expand({b, t});

  const auto n_blocks = static_cast<int>(layers.size());
  const int first = options.first_layer;
  auto x = first_hidden(ids_dev, positions, options);

  const bool fast = fast_path();
  const auto rope = batch_rotary(c, positions, dtype_, fast);
  // Causal attention needs no key mask for right padding (valid queries see valid keys
  // only); fixed shapes give none, so padded and unpadded batches take one kernel.
  const bool key_mask = padded && !fixed_attention();
  const auto masks = batch_masks(c, t, iopts, key_mask ? upload(torch::tensor(lengths, torch::kLong)) : torch::Tensor());
  const bool folded = fast && folds_current();
  torch::Tensor cat_buf;
  if (folded) {
    const auto cols = c.n_heads * c.head_dim + c.intermediate_size;
    cat_buf = torch::empty({b * t, cols + kFoldPad}, x.options());
    cat_buf.narrow(1, cols, kFoldPad).zero_();
    cat_buf.select(1, cols).fill_(1);
  }
  const bool stop_early = !options.want_logits && options.last_layer >= 0 && options.last_layer < n_blocks;
  if (on_layer && first == 0) on_layer(0, x);
  if (stop_early && options.last_layer <= first) return {};
  for (auto l = static_cast<std::size_t>(first); l < layers.size(); ++l) {
    const auto li = static_cast<int>(l);
    if (fast) {
      const auto& mask = c.layer_sliding[l] ? masks.sliding : masks.full;
      if (!x.is_contiguous()) x = x.contiguous();
      if (folded) {
        folded_block(x, folded_[l], rope.cos, rope.sin_signed, mask, cat_buf, lengths);
      } else {
        fast_block(x, layers[l], li, rope.cos, rope.sin_signed, mask, lengths);
      }
    } else {
      x = block(x, layers[l], li, rope.cos, rope.sin, masks.full, masks.sliding, lengths);
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

}  // namespace ibzoo::models
