// The transformer's kernels: plain torch ops, with fused CUDA paths where this torch
// build has them (each falls back to the plain ops when its kernel fails to compile).
#include "models/transformer_ops.h"

#include "errors/check.h"
#include "errors/error.h"
#include "io/log.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numbers>
#include <optional>

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

using hf::Family;
using torch::indexing::Slice;

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return b.defined() ? torch::nn::functional::linear(x, w, b) : torch::nn::functional::linear(x, w);
}

torch::Tensor padded_rows(const torch::Tensor& a, std::int64_t rows) {
  const bool strided = a.stride(1) == 1 && a.stride(0) >= a.size(1);
  const auto base = torch::zeros({rows, strided ? a.stride(0) : a.size(1)}, a.options());
  auto block = base.narrow(1, 0, a.size(1));
  block.narrow(0, 0, a.size(0)).copy_(a);
  return block;
}

torch::Tensor linear_rows(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, std::int64_t rows) {
  if (rows <= 0) return linear(x, w, b);
  auto sizes = x.sizes().vec();
  const auto a = x.reshape({-1, sizes.back()});
  const auto n = a.size(0);
  auto out = torch::empty({n, w.size(0)}, a.options());
  // Every block, the padded last one too, through the same call.
  const auto gemm = [&](torch::Tensor dst, const torch::Tensor& src) {
    b.defined() ? torch::addmm_out(dst, b, src, w.t()) : torch::mm_out(dst, src, w.t());
  };
  for (std::int64_t r0 = 0; r0 < n; r0 += rows) {
    const auto len = std::min(rows, n - r0);
    if (len == rows) {
      gemm(out.narrow(0, r0, len), a.narrow(0, r0, len));
    } else {
      auto last = torch::empty({rows, w.size(0)}, a.options());
      gemm(last, padded_rows(a.narrow(0, r0, len), rows));
      out.narrow(0, r0, len).copy_(last.narrow(0, 0, len));
    }
  }
  sizes.back() = w.size(0);
  return out.view(sizes);
}

void addmm_rows_(const torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& w, std::int64_t rows) {
  if (rows <= 0) {
    out.addmm_(a, w.t());
    return;
  }
  const auto n = out.size(0);
  for (std::int64_t r0 = 0; r0 < n; r0 += rows) {
    const auto len = std::min(rows, n - r0);
    if (len == rows) {
      out.narrow(0, r0, len).addmm_(a.narrow(0, r0, len), w.t());
    } else {
      auto acc = padded_rows(out.narrow(0, r0, len), rows);
      acc.addmm_(padded_rows(a.narrow(0, r0, len), rows), w.t());
      out.narrow(0, r0, len).copy_(acc.narrow(0, 0, len));
    }
  }
}

torch::Tensor activate(const torch::Tensor& x, hf::Activation a) {
  switch (a) {
    case hf::Activation::GeluTanh:
      return torch::gelu(x, "tanh");
    case hf::Activation::GeluExact:
      return torch::gelu(x);
    case hf::Activation::Silu:
      return torch::silu(x);
  }
  IBZOO_CHECK(false, "unknown activation");
}

// out = activation(in); out may be in itself (same storage, same strides).
void activate_out(torch::Tensor& out, const torch::Tensor& in, hf::Activation a) {
  switch (a) {
    case hf::Activation::GeluTanh:
      at::gelu_out(out, in, "tanh");
      return;
    case hf::Activation::GeluExact:
      at::gelu_out(out, in);
      return;
    case hf::Activation::Silu:
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

bool parallel_fold_applies(const hf::ModelConfig& c) {
  return c.use_parallel_residual && c.norm_kind() == hf::NormKind::LayerNorm && !c.gated_mlp() &&
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

torch::Tensor attend_each_sequence(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   const torch::Tensor& mask, double scale, double softcap,
                                   const std::vector<std::int64_t>& lengths) {
  IBZOO_CHECK(lengths.empty() || static_cast<std::int64_t>(lengths.size()) == q.size(0),
              lengths.size() << " lengths for " << q.size(0) << " rows");
  auto out = torch::zeros({q.size(0), q.size(1), q.size(2), v.size(3)}, q.options());
  for (std::int64_t b = 0; b < q.size(0); ++b) {
    const auto len = lengths.empty() ? q.size(2) : lengths[static_cast<std::size_t>(b)];
    const auto row = [&](const torch::Tensor& x) { return x.narrow(0, b, 1).narrow(2, 0, len); };
    const auto row_mask = mask.defined() ? mask.narrow(0, mask.size(0) == q.size(0) ? b : 0, 1).narrow(2, 0, len).narrow(3, 0, len)
                                         : mask;
    out.narrow(0, b, 1).narrow(2, 0, len).copy_(attend(row(q), row(k), row(v), row_mask, scale, softcap, {len}));
  }
  return out;
}

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
    return attend_each_sequence(q, k, v, mask, scale, softcap, lengths);
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

#if IBZOO_HAVE_SDPA_GQA
namespace {
std::atomic<bool> g_efficient_attention_failed{false};  // once refused, attend() from then on
}  // namespace
#endif

torch::Tensor attend_fixed(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const torch::Tensor& mask, double scale, double softcap,
                           const std::vector<std::int64_t>& lengths) {
  // No fused kernel caps the logits: one sequence at a time, trimmed to its length,
  // gives each GEMM a shape of that sequence alone, on a GPU as on the host.
  if (softcap > 0) return attend_each_sequence(q, k, v, mask, scale, softcap, lengths);
#if IBZOO_HAVE_SDPA_GQA
  if (q.is_cuda() && !g_efficient_attention_failed.load()) {
    const auto group = q.size(1) / k.size(1);
    // The kernel reads 16-byte aligned rows and heads; a view that is not (a fused
    // projection of an odd width) is copied. Whether a copy is made depends on the
    // model's shapes only, never on the batch.
    const auto ready = [&](const torch::Tensor& x) {
      const auto bytes = static_cast<std::int64_t>(x.element_size());
      const bool aligned = reinterpret_cast<std::uintptr_t>(x.data_ptr()) % 16 == 0 && x.stride(0) * bytes % 16 == 0 &&
                           x.stride(1) * bytes % 16 == 0 && x.stride(2) * bytes % 16 == 0;
      return aligned ? x : x.contiguous();
    };
    const auto heads = [&](const torch::Tensor& x) { return group > 1 ? x.repeat_interleave(group, 1) : ready(x); };
    std::optional<at::Tensor> bias;
    if (mask.defined()) {
      // An additive bias whose rows start 16-element aligned, as the kernel reads them.
      const auto t_k = mask.size(-1);
      auto rows = torch::zeros({mask.size(0), mask.size(1), mask.size(2), (t_k + 15) / 16 * 16}, q.options()).narrow(-1, 0, t_k);
      rows.masked_fill_(mask.logical_not(), -std::numeric_limits<double>::infinity());
      bias = rows.expand({q.size(0), q.size(1), q.size(2), t_k});
    }
    try {
      return std::get<0>(at::_scaled_dot_product_efficient_attention(ready(q), heads(k), heads(v), bias,
                                                                     /*compute_log_sumexp=*/false, /*dropout_p=*/0.0,
                                                                     /*is_causal=*/!mask.defined(), scale));
    } catch (const c10::Error& e) {
      g_efficient_attention_failed = true;
      io::log_warn(std::string("fixed shapes: torch's memory-efficient attention refused this model (") + e.what_without_backtrace() +
                   "); using torch's attention choice, whose result may depend on the batch");
    }
  }
#else
  static std::atomic<bool> warned{false};
  if (q.is_cuda() && !warned.exchange(true)) {
    io::log_warn("fixed shapes: this torch (< 2.5) has no direct call of the memory-efficient attention; using "
                 "torch's attention choice, whose result may depend on the batch");
  }
#endif
  return attend(q, k, v, mask, scale, 0.0, lengths);
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

}  // namespace ibzoo::models
