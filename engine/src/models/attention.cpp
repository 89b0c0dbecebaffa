// Memory-efficient attention: query chunks x key blocks with an online softmax (Rabe & Staats 2021).
#include "models/attention.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>

#include "atelier/error.h"
#include "models/layers.h"

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
#define ATELIER_SDPA_WITH_SCALE 1
#elif defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR == 2
#define ATELIER_SDPA_NO_SCALE 1
#endif

namespace atelier {

namespace {

void check_shapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    const bool ok = q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && q.size(0) == k.size(0) &&
                    q.size(0) == v.size(0) && q.size(1) == k.size(1) && q.size(1) == v.size(1) &&
                    q.size(3) == k.size(3) && k.size(2) == v.size(2);
    if (!ok)
        throw Error("attention: expected q [B, heads, Tq, d], k [B, heads, Tk, d], v [B, heads, Tk, dv]; found q " +
                    shape_string(q.sizes()) + ", k " + shape_string(k.sizes()) + ", v " + shape_string(v.sizes()));
}

}  // namespace

bool attention_has_fused_kernel() {
#if defined(ATELIER_SDPA_WITH_SCALE)
    return true;
#else
    return false;
#endif
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale, bool upcast) {
    check_shapes(q, k, v);
    // Training: the chunked kernel works in place, which autograd cannot differentiate; plain softmax
    // attention instead (the small models trained here attend over at most a few hundred tokens).
    if (at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad()))
        return at::matmul(at::softmax(at::matmul(q * scale, k.transpose(-1, -2)), -1), v).contiguous();
#if defined(ATELIER_SDPA_WITH_SCALE)
    (void)upcast;  // the fused kernels accumulate the softmax in float32 themselves
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, scale).contiguous();
#elif defined(ATELIER_SDPA_NO_SCALE)
    // libtorch 2.0: fused only on CUDA (its CPU path materializes the scores); the scale is 1/sqrt(d).
    if (q.is_cuda()) {
        const double rescale = scale * std::sqrt(double(q.size(3)));
        return at::scaled_dot_product_attention(rescale == 1.0 ? q : q * rescale, k, v).contiguous();
    }
    return attention_chunked(q, k, v, scale, upcast);
#else
    return attention_chunked(q, k, v, scale, upcast);
#endif
}

at::Tensor attention_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                             bool upcast, int64_t max_block_elements) {
    check_shapes(q, k, v);
    const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), d = q.size(3), Tk = k.size(2), dv = v.size(3);
    const int64_t BH = B * H;
    const at::ScalarType out_dtype = q.scalar_type();
    const bool low_precision = out_dtype == at::kHalf || out_dtype == at::kBFloat16;
    // CPU half-precision matmuls are slow or missing: work in float32 there.
    const at::ScalarType score_dtype = (low_precision && (upcast || !q.is_cuda())) ? at::kFloat : out_dtype;
    const at::ScalarType value_dtype = q.is_cuda() ? v.scalar_type() : score_dtype;

    if (Tq == 0 || BH == 0) return at::zeros({B, H, Tq, dv}, v.options());
    // Scaling q (Tq x d values) instead of the scores (Tq x Tk) is the same product up to rounding.
    const at::Tensor qs = (q.reshape({BH, Tq, d}).to(score_dtype) * scale).contiguous();
    // k^T as a transposed view: BLAS multiplies by a transposed operand faster than by a copied one.
    const at::Tensor kt = k.reshape({BH, Tk, d}).to(score_dtype).contiguous().transpose(1, 2);  // [BH, d, Tk]
    const at::Tensor vv = v.reshape({BH, Tk, dv}).to(value_dtype).contiguous();

    const int64_t budget = std::max<int64_t>(max_block_elements, 1);
    const int64_t min_query_chunk = std::min<int64_t>(Tq, 64);
    int64_t query_chunk, key_chunk, head_chunk = 1;
    if (Tk * min_query_chunk <= budget) {
        key_chunk = Tk;
        query_chunk = std::min<int64_t>(Tq, budget / Tk);
        if (query_chunk == Tq) head_chunk = std::clamp<int64_t>(budget / (Tq * Tk), 1, BH);
    } else {
        query_chunk = std::max<int64_t>(1, std::min<int64_t>(min_query_chunk, budget));
        key_chunk = std::max<int64_t>(1, budget / query_chunk);
    }

    at::Tensor out = at::empty({BH, Tq, dv}, q.options().dtype(out_dtype));
    for (int64_t h = 0; h < BH; h += head_chunk) {
        const int64_t hn = std::min(head_chunk, BH - h);
        for (int64_t i = 0; i < Tq; i += query_chunk) {
            const int64_t qn = std::min(query_chunk, Tq - i);
            const at::Tensor qb = qs.narrow(0, h, hn).narrow(1, i, qn);
            at::Tensor result;
            if (key_chunk == Tk) {
                // One key block: exact softmax; normalising the [qn, dv] output instead of the
                // [qn, Tk] probabilities saves a pass over the scores.
                at::Tensor s = at::bmm(qb, kt.narrow(0, h, hn));
                s.sub_(at::amax(s, -1, true)).exp_();
                const at::Tensor sum = s.sum(-1, true, at::kFloat);
                result = at::bmm(s.to(value_dtype), vv.narrow(0, h, hn)).to(at::kFloat).div_(sum);
            } else {
                at::Tensor running_max, running_sum, acc;
                for (int64_t j = 0; j < Tk; j += key_chunk) {
                    const int64_t kn = std::min(key_chunk, Tk - j);
                    at::Tensor s = at::bmm(qb, kt.narrow(0, h, hn).narrow(2, j, kn)).to(at::kFloat);
                    const at::Tensor block_max = at::amax(s, -1, true);
                    const at::Tensor new_max = running_max.defined() ? at::maximum(running_max, block_max) : block_max;
                    s.sub_(new_max).exp_();
                    const at::Tensor block_sum = s.sum(-1, true);
                    const at::Tensor block_out =
                        at::bmm(s.to(value_dtype), vv.narrow(0, h, hn).narrow(1, j, kn)).to(at::kFloat);
                    if (!acc.defined()) {
                        running_sum = block_sum;
                        acc = block_out;
                    } else {
                        const at::Tensor correction = (running_max - new_max).exp_();
                        running_sum = running_sum * correction + block_sum;
                        acc = acc * correction + block_out;
                    }
                    running_max = new_max;
                }
                result = acc.div_(running_sum);
            }
            out.narrow(0, h, hn).narrow(1, i, qn).copy_(result);
        }
    }
    return out.view({B, H, Tq, dv});
}

}  // namespace atelier
