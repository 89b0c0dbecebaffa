// Scaled dot-product attention without O(Tq x Tk) memory (internal).
// Online softmax over key blocks as in Rabe & Staats 2021, "Self-attention Does Not Need O(n^2) Memory";
// the fused at::scaled_dot_product_attention is used where the libtorch we build against has it.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace atelier {

// softmax(q k^T * scale) v for q [B, heads, Tq, d], k [B, heads, Tk, d], v [B, heads, Tk, dv]
// -> [B, heads, Tq, dv] (contiguous, dtype of q). float16/bfloat16 inputs: on CPU the work is done in
// float32; on CUDA the scores and softmax are taken in float32 when `upcast` is set (diffusers'
// upcast_attention / upcast_softmax), the running sums always in float32.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                     bool upcast = false);

// The chunked implementation, always (tests and benchmarks call it directly). No score block holds
// more than `max_block_elements` values (at least one row of one key block): the queries are split
// into chunks, and when a row of all keys does not fit, the keys too, merged with an online softmax.
at::Tensor attention_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                             bool upcast = false, int64_t max_block_elements = int64_t(1) << 21);

// Whether attention() uses libtorch's fused kernel in this build (libtorch >= 2.1, or 2.0 on CUDA).
bool attention_has_fused_kernel();

}  // namespace atelier
