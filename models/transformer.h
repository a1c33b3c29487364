// The one decoder-only transformer of ibzoo, in libtorch: a shared block whose
// per-family switches (norm kind, fused-QKV layout, rotary fraction, parallel or
// sequential residual, post-sublayer norms, q/k norms, gated MLP, softcaps, sliding
// windows) come from hf::ModelConfig. Used only inside models/ (Model wraps it for
// the rest of ibzoo) and by the trainer, so it runs with autograd too: forward()
// sets no inference guard itself.
//
// Internal layout (not the HF one; load_transformer maps HF tensors onto it):
//   embed [V, d], pos_embed [P, d] (learned positions only), final_norm_{w,b},
//   lm_head [V, d] (absent when tied), and per layer:
//   norm_attn_{w,b}   norm before attention (absent for OLMo2)
//   wqkv [(H + 2 KV) hd, d], bqkv    q rows, then k rows, then v rows, head-major
//   q_norm_w [H hd], k_norm_w [KV hd]          (OLMo2)
//   wo [d, H hd], bo
//   norm_post_attn_w  norm of the attention output before the residual (OLMo2, Gemma2)
//   norm_mlp_{w,b}    norm before the MLP (absent for OLMo2)
//   norm_post_mlp_w   norm of the MLP output before the residual (OLMo2, Gemma2)
//   w_in [ff, d] or [2 ff, d] (gated: gate rows, then up rows), b_in; w_out [d, ff], b_out
#pragma once

#include "hf/config.h"
#include "hf/safetensors.h"

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace ibzoo::models {

struct LayerWeights {
  torch::Tensor norm_attn_w, norm_attn_b;
  torch::Tensor wqkv, bqkv;
  torch::Tensor q_norm_w, k_norm_w;
  torch::Tensor wo, bo;
  torch::Tensor norm_post_attn_w;
  torch::Tensor norm_mlp_w, norm_mlp_b;
  torch::Tensor norm_post_mlp_w;
  torch::Tensor w_in, b_in, w_out, b_out;
};

// Called with (layer_idx, hidden [B, T, d]) for layer_idx = 0 (embeddings) .. L
// (after the final norm, or the raw last block output when final_norm is false).
// The tensor is only valid during the call: without autograd the next block adds
// its output to it in place. Work queued on the device stream during the call
// (as forward_assignments does) still reads the value it was called with.
using LayerCallback = std::function<void(int layer_idx, const torch::Tensor& hidden)>;

struct ForwardOptions {
  bool final_norm = true;   // index L: after the final norm (HF) or the raw last block
  bool want_logits = false; // compute the LM head (float32 [B, T, V]); else skipped
  int last_layer = -1;      // >= 0 (without logits): stop once hidden state last_layer is out
  // Resume: with first_layer > 0, `start` ([B, T, d], the model's dtype and device) is
  // hidden state first_layer, a residual stream (first_layer < blocks) that an earlier
  // pass gave; the blocks after it run, and on_layer sees only the layers after it.
  int first_layer = 0;
  torch::Tensor start;
};

class TransformerImpl : public torch::nn::Module {
 public:
  // The valid tokens of each row of a right-padded batch.
  using Lengths = std::vector<std::int64_t>;
  // Parameters are allocated uninitialised (zeros) in `dtype` on `device`.
  TransformerImpl(hf::ModelConfig config, torch::Dtype dtype, torch::Device device);

  // ids: int64 [B, T], right-padded; lengths[b] <= T valid tokens of row b
  // (positions restart at 0 in every row; padding is never attended to).
  // Returns logits (float32 [B, T, V]) if options.want_logits, else an undefined tensor.
  torch::Tensor forward(const torch::Tensor& ids, const std::vector<std::int64_t>& lengths,
                        const LayerCallback& on_layer, const ForwardOptions& options) const;

  const hf::ModelConfig& config() const { return config_; }
  torch::Dtype dtype() const { return dtype_; }
  torch::Device device() const { return device_; }
  std::int64_t n_parameters() const;  // the model's (tied head counted once)

  // The inference block of the parallel-residual LayerNorm families (GPT-NeoX):
  // both LayerNorms' weights and biases folded into one input GEMM [(H + 2 KV) hd
  // + ff, d] on the weightless normalisation of x, and both output projections and
  // their biases in one output GEMM that adds into the residual stream. Computed in
  // float32, then cast to the model's dtype; not parameters (n_parameters, the
  // trainer and to_hf_tensors see the HF-shaped weights only). load_transformer
  // calls it; a forward pass uses the folds only while no weight they came from has
  // changed since (the tensors' version counters), else the unfused block. Costs
  // one more copy of the block weights on the device. No-op for other families.
  void fold_for_inference();

  // RunOptions::fixed_rows (models/model.h): > 0 runs the projections in blocks of
  // exactly this many rows and attention without a padding mask, by one kernel, or
  // with logit soft-capping (Gemma 2) one sequence at a time (attend_fixed).
  void set_fixed_rows(std::int64_t rows) { fixed_rows_ = rows; }
  bool fixed_attention() const { return fixed_rows_ > 0; }

  // Exposed for the loader and the trainer.
  torch::Tensor embed, pos_embed, final_norm_w, final_norm_b, lm_head;
  std::vector<LayerWeights> layers;

 private:
  torch::Tensor norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) const;
  torch::Tensor attention(const torch::Tensor& x, const LayerWeights& lw, int layer_idx, const torch::Tensor& cos,
                          const torch::Tensor& sin, const torch::Tensor& mask, const Lengths& lengths) const;
  torch::Tensor mlp(const torch::Tensor& x, const LayerWeights& lw) const;
  // Attention of both blocks: attend_fixed under fixed_attention(), else attend().
  torch::Tensor attend_layer(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& mask, const Lengths& lengths) const;
  // Hidden state 0 (the embeddings) of ids_dev, or options.start when resuming.
  torch::Tensor first_hidden(const torch::Tensor& ids_dev, const torch::Tensor& positions, const ForwardOptions& options) const;
  torch::Tensor block(const torch::Tensor& x, const LayerWeights& lw, int layer_idx, const torch::Tensor& cos,
                      const torch::Tensor& sin, const torch::Tensor& full_mask,
                      const torch::Tensor& sliding_mask, const Lengths& lengths) const;

  // The inference path (no autograd; families without post-sublayer or q/k norms):
  // rotary applied in place to the q/k columns of the fused projection, residual
  // adds inside the output GEMMs (x is updated in place).
  struct Folded {
    torch::Tensor w_in, b_in;  // [(H + 2 KV) hd + ff, d], its bias
    torch::Tensor w_out;       // [d, H hd + ff + kFoldPad]: wo | w_out | (bo + b_out) | 0
  };
  static constexpr std::int64_t kFoldPad = 8;  // a ones column (the bias) and zeros: rows stay 16-byte aligned
  bool fast_path() const;
  bool folds_current() const;
  torch::Tensor fast_attention(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin_signed,
                               const torch::Tensor& mask, const Lengths& lengths) const;
  void fast_block(torch::Tensor& x, const LayerWeights& lw, int layer_idx, const torch::Tensor& cos,
                  const torch::Tensor& sin_signed, const torch::Tensor& mask, const Lengths& lengths) const;
  void folded_block(torch::Tensor& x, const Folded& f, const torch::Tensor& cos, const torch::Tensor& sin_signed,
                    const torch::Tensor& mask, const torch::Tensor& cat_buf, const Lengths& lengths) const;

  hf::ModelConfig config_;
  torch::Dtype dtype_;
  torch::Device device_;
  std::vector<Folded> folded_;               // per layer; empty when not folded
  std::int64_t folded_version_ = -1;         // weight_version() when folded
  std::int64_t fixed_rows_ = 0;              // set_fixed_rows
  std::int64_t weight_version() const;
};
TORCH_MODULE(Transformer);

// Builds the model and copies every weight from `weights` (any of F32/F16/BF16)
// into `dtype` on `device`. Throws ModelError naming the directory and the tensor
// when one is missing or has the wrong shape.
Transformer load_transformer(const hf::WeightStore& weights, const hf::ModelConfig& config, torch::Dtype dtype,
                             torch::Device device);

// Inverse of the loader: the HF tensors (float32, CPU, contiguous) in
// hf_param_specs order, for writing a trained model with hf::write_safetensors.
std::vector<std::pair<std::string, torch::Tensor>> to_hf_tensors(const TransformerImpl& model);

// Rotary tables cos, sin: float32 [B, T, rotary_dims] for int64 positions [B, T].
std::pair<torch::Tensor, torch::Tensor> rotary_tables(const hf::ModelConfig& config, const torch::Tensor& positions);

}  // namespace ibzoo::models
