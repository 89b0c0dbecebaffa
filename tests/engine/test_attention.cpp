// labels: fast
// ATen first: glog (pulled in by c10) defines its own CHECK, which doctest's must replace.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cmath>

#include "atelier/error.h"
#include "models/attention.h"
#include "runtime/tensors.h"

using atelier::relative_l2;

// softmax(q k^T * scale) v, materialising the whole score matrix, in float64.
static at::Tensor naive(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
    const at::Tensor s = at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-1, -2)) * scale;
    return at::matmul(at::softmax(s, -1), v.to(at::kDouble)).to(q.scalar_type());
}

TEST_CASE("chunked attention equals the naive softmax attention to float32 rounding") {
    at::manual_seed(0);
    struct Case { int64_t B, H, Tq, Tk, d, dv; int64_t budget; };
    const Case cases[] = {
        {2, 8, 300, 77, 40, 40, 77 * 64},      // query chunks of 64 rows; 300 is not a multiple of 64
        {1, 2, 257, 513, 16, 24, 4096},        // keys split too: online softmax over key blocks
        {2, 3, 33, 70, 8, 8, 1 << 21},         // everything in one block (several heads at once)
        {1, 1, 5, 1000, 4, 4, 7},              // tiny budget: one row of 7 keys per block
    };
    for (const Case& c : cases) {
        CAPTURE(c.Tq); CAPTURE(c.Tk); CAPTURE(c.budget);
        // Spread-out scores (x3) so the softmax is far from uniform.
        const at::Tensor q = at::randn({c.B, c.H, c.Tq, c.d}) * 3, k = at::randn({c.B, c.H, c.Tk, c.d}),
                         v = at::randn({c.B, c.H, c.Tk, c.dv});
        const double scale = 1.0 / std::sqrt(double(c.d));
        const at::Tensor ref = naive(q, k, v, scale);
        const at::Tensor got = atelier::attention_chunked(q, k, v, scale, false, c.budget);
        CHECK((got.sizes() == ref.sizes()));
        const float err = relative_l2(got, ref);
        MESSAGE("relative L2 " << err);
        CHECK(err < 1e-6);
        CHECK(relative_l2(atelier::attention(q, k, v, scale), ref) < 1e-6);
    }
}

TEST_CASE("attention accepts non-contiguous inputs and a non-default scale, and the test would catch a wrong one") {
    at::manual_seed(1);
    const at::Tensor q = at::randn({2, 50, 4, 16}).transpose(1, 2);  // [B, heads, T, d] as a view
    const at::Tensor k = at::randn({2, 60, 4, 16}).transpose(1, 2), v = at::randn({2, 60, 4, 16}).transpose(1, 2);
    const at::Tensor ref = naive(q, k, v, 0.7);
    CHECK(relative_l2(atelier::attention_chunked(q, k, v, 0.7, false, 200), ref) < 1e-6);
    CHECK(relative_l2(atelier::attention_chunked(q, k, v, 0.25, false, 200), ref) > 1e-2);
}

TEST_CASE("attention in bfloat16 on CPU is computed in float32 and returned in bfloat16") {
    at::manual_seed(2);
    const at::Tensor q = at::randn({1, 2, 40, 8}), k = at::randn({1, 2, 50, 8}), v = at::randn({1, 2, 50, 8});
    const at::Tensor got = atelier::attention_chunked(q.to(at::kBFloat16), k.to(at::kBFloat16), v.to(at::kBFloat16),
                                                      0.35, true, 128);
    CHECK((got.scalar_type() == at::kBFloat16));
    CHECK(relative_l2(got.to(at::kFloat), naive(q, k, v, 0.35)) < 2e-2);
}

TEST_CASE("attention rejects mismatched shapes with a message naming them") {
    const at::Tensor q = at::zeros({1, 2, 3, 4}), k = at::zeros({1, 2, 5, 8}), v = at::zeros({1, 2, 5, 4});
    CHECK_THROWS_WITH_AS(atelier::attention(q, k, v, 0.5), doctest::Contains("[1, 2, 5, 8]"), atelier::Error);
}
