// Inside models/ only: the transformer's kernels (linear, activations, SwiGLU, rotary
// embeddings, attention) and which fused paths this torch build has.
#pragma once

#include "models/transformer.h"

#include <torch/version.h>

#include <cstdint>
#include <vector>

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

namespace ibzoo::models {

inline bool has_post_norms(hf::Family f) { return f == hf::Family::Olmo2 || f == hf::Family::Gemma2; }

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);
// A zero [rows, a.size(1)] block laid out as a's rows (the same row stride), its first
// a.size(0) rows a's: the padded last block of a blocked product reads memory as the
// others do (fixed shapes, RunOptions::fixed_rows).
torch::Tensor padded_rows(const torch::Tensor& a, std::int64_t rows);
// linear(x, w, b) over the rows of x ([..., k]) in blocks of exactly `rows` rows, the
// last padded with zeros, so that every GEMM has one shape whatever x's row count
// (rows <= 0: one GEMM, as linear()).
torch::Tensor linear_rows(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, std::int64_t rows);
// out [n, m] += a [n, k] w^T, the same way (rows <= 0: one out.addmm_).
void addmm_rows_(const torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& w, std::int64_t rows);
torch::Tensor activate(const torch::Tensor& x, hf::Activation a);
void activate_out(torch::Tensor& out, const torch::Tensor& in, hf::Activation a);
torch::Tensor silu_mul(torch::Tensor gate, const torch::Tensor& up);
void rope_in_place(const torch::Tensor& xr, const torch::Tensor& cos, const torch::Tensor& sin_signed);
torch::Tensor rope_qk(const torch::Tensor& qk, const torch::Tensor& cos, const torch::Tensor& sin_signed);
bool fused_block_enabled();
bool parallel_fold_applies(const hf::ModelConfig& c);
torch::Tensor rotate_half(const torch::Tensor& x);
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
inline constexpr bool kFusedGqa = IBZOO_HAVE_SDPA_GQA != 0;
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask,
                     double scale, double softcap, const std::vector<std::int64_t>& lengths);
// The explicit attend() of each row (sequence) alone, trimmed to its valid tokens
// (lengths; empty: every row is whole), so that a sequence's result does not depend on
// the batch it sits in. Needs K/V repeated to every query head; padded rows get zeros.
torch::Tensor attend_each_sequence(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   const torch::Tensor& mask, double scale, double softcap,
                                   const std::vector<std::int64_t>& lengths);
// attend() for fixed shapes (RunOptions::fixed_rows): on a GPU, torch's
// memory-efficient kernel, whose result for a query does not depend on the batch
// (SDPA would take flash attention, which splits a small batch's keys over several
// blocks, by a heuristic on the batch's size); with a logit softcap (Gemma 2), which no
// fused kernel applies, attend_each_sequence(). Elsewhere attend().
torch::Tensor attend_fixed(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const torch::Tensor& mask, double scale, double softcap,
                           const std::vector<std::int64_t>& lengths);
#if IBZOO_HAVE_FUSED_RMS_NORM
bool fused_norm_enabled();
#endif

}  // namespace ibzoo::models
