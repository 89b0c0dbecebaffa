// labels: fast
// ATen first: glog (pulled in by c10) defines its own CHECK, which doctest's must replace.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "atelier/error.h"
#include "models/checkpoint.h"
#include "models/unet.h"
#include "runtime/tensors.h"

using namespace atelier;

namespace {

// The issue asks for 1e-4; we are at ~2e-6 (float32 rounding, thread-count dependent), and a tolerance
// of 1e-5 is what makes a GroupNorm eps of 1e-6 instead of 1e-5 visible (6e-5 on this model).
constexpr float kTolerance = 1e-5f;

const std::string kFixtures = ATELIER_FIXTURES_DIR;

const TensorMap& reference() {
    static const TensorMap ref = load_tensors(kFixtures + "/tiny-sd-a-reference.safetensors");
    return ref;
}

const TensorMap& diffusers_weights() {
    static const TensorMap w = load_tensors(kFixtures + "/tiny-sd-a/unet/diffusion_pytorch_model.safetensors");
    return w;
}

// Relative L2 error of the UNet on the three reference timesteps (the worst of them).
float worst_error(const UNet2DCondition& unet, std::vector<int64_t> timesteps = {999, 500, 1}) {
    const TensorMap& ref = reference();
    float worst = 0;
    for (int64_t t : timesteps) {
        const at::Tensor out = unet.forward(ref.at("unet.sample"), at::scalar_tensor(t, at::kLong),
                                            ref.at("unet.encoder_hidden_states"));
        const float err = relative_l2(out, ref.at("unet.out.t" + std::to_string(t)));
        MESSAGE("t=" << t << " relative L2 " << err);
        worst = std::max(worst, err);
    }
    return worst;
}

}  // namespace

TEST_CASE("the UNet config is read from the diffusers config.json and inferred from the weights alike") {
    const UNetConfig c = UNetConfig::from_json_file(kFixtures + "/tiny-sd-a/unet/config.json");
    CHECK(c.block_out_channels == std::vector<int>{32, 64});
    CHECK(c.down_block_types == std::vector<std::string>{"CrossAttnDownBlock2D", "DownBlock2D"});
    CHECK(c.up_block_types == std::vector<std::string>{"UpBlock2D", "CrossAttnUpBlock2D"});
    CHECK(c.heads(0) == 8);  // attention_head_dim 8 = the number of heads
    CHECK(c.cross_attention_dim == 32);
    CHECK(c.layers_per_block == 2);
    CHECK(c.sample_size == 32);
    CHECK(c.flip_sin_to_cos);
    CHECK(c.time_embed_dim() == 128);

    const UNetConfig inferred = UNetConfig::infer(diffusers_weights());
    CHECK(inferred.block_out_channels == c.block_out_channels);
    CHECK(inferred.down_block_types == c.down_block_types);
    CHECK(inferred.up_block_types == c.up_block_types);
    CHECK(inferred.heads(0) == 8);
    CHECK(inferred.heads(1) == 8);
    CHECK(inferred.cross_attention_dim == 32);
    CHECK(inferred.layers_per_block == 2);
    CHECK(inferred.use_linear_projection == false);
    CHECK(inferred.transformer_layers(0) == 1);
    CHECK(inferred.time_embed_dim() == 128);
}

TEST_CASE("UNet matches diffusers at t = 999, 500, 1 (diffusers folder and single file)") {
    const UNetConfig config = UNetConfig::from_json_file(kFixtures + "/tiny-sd-a/unet/config.json");
    const UNet2DCondition unet(config, diffusers_weights());
    int64_t stored = 0;
    for (const auto& kv : diffusers_weights()) stored += kv.second.numel();
    CHECK(unet.parameter_count() == stored);  // every stored tensor is used
    CHECK(worst_error(unet) < kTolerance);

    // Timesteps as a [B] float tensor give the same result as an int64 scalar.
    const TensorMap& ref = reference();
    const at::Tensor out = unet.forward(ref.at("unet.sample"), at::full({2}, 500.0, at::kFloat),
                                        ref.at("unet.encoder_hidden_states"));
    CHECK(relative_l2(out, ref.at("unet.out.t500")) < kTolerance);

    const SingleFileComponents parts = split_single_file(load_tensors(kFixtures + "/tiny-sd-a-original.safetensors"));
    const UNet2DCondition from_single(UNetConfig::infer(parts.unet), parts.unet);
    CHECK(worst_error(from_single) < kTolerance);
}

TEST_CASE("the UNet parity check catches a wrong attention scale, GroupNorm eps or time-embedding order") {
    const UNetConfig config = UNetConfig::from_json_file(kFixtures + "/tiny-sd-a/unet/config.json");
    SUBCASE("attention heads (scale 1/sqrt(head dim)) wrong: 4 heads instead of 8") {
        UNetConfig wrong = config;
        wrong.attention_head_dim = {4};
        CHECK(worst_error(UNet2DCondition(wrong, diffusers_weights()), {500}) > 1e-3);
    }
    SUBCASE("GroupNorm eps 1e-6 instead of 1e-5: beyond our 1e-5 tolerance") {
        UNetConfig wrong = config;
        wrong.norm_eps = 1e-6;
        CHECK(worst_error(UNet2DCondition(wrong, diffusers_weights()), {500}) > 3 * kTolerance);
    }
    SUBCASE("GroupNorm eps 1e-3 instead of 1e-5: beyond even the issue's 1e-4") {
        UNetConfig wrong = config;
        wrong.norm_eps = 1e-3;
        CHECK(worst_error(UNet2DCondition(wrong, diffusers_weights()), {500}) > 1e-4);
    }
    SUBCASE("time embedding sin/cos order flipped") {
        UNetConfig wrong = config;
        wrong.flip_sin_to_cos = false;
        CHECK(worst_error(UNet2DCondition(wrong, diffusers_weights()), {500}) > 1e-3);
    }
    SUBCASE("freq_shift 1 instead of 0") {
        UNetConfig wrong = config;
        wrong.freq_shift = 1;
        CHECK(worst_error(UNet2DCondition(wrong, diffusers_weights()), {999, 500}) > 1e-3);
    }
}

TEST_CASE("UNet weights: a missing or mis-shaped tensor is an error naming it") {
    const UNetConfig config = UNetConfig::from_json_file(kFixtures + "/tiny-sd-a/unet/config.json");
    const std::string name = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight";
    TensorMap missing = diffusers_weights();
    missing.erase(name);
    CHECK_THROWS_WITH_AS(UNet2DCondition(config, missing), doctest::Contains(("missing tensor '" + name + "'").c_str()),
                         Error);
    TensorMap wrong = diffusers_weights();
    wrong[name] = at::zeros({32, 16});
    CHECK_THROWS_WITH_AS(UNet2DCondition(config, wrong),
                         doctest::Contains(("'" + name + "' has shape [32, 16], expected [32, 32]").c_str()), Error);
    UNetConfig bad = config;
    bad.down_block_types[0] = "SimpleCrossAttnDownBlock2D";
    CHECK_THROWS_WITH_AS(UNet2DCondition(bad, diffusers_weights()), doctest::Contains("SimpleCrossAttnDownBlock2D"),
                         Error);
}

TEST_CASE("UNet runs on odd latent sizes and batches and exposes its Linear layers by diffusers name") {
    const UNetConfig config = UNetConfig::from_json_file(kFixtures + "/tiny-sd-a/unet/config.json");
    UNet2DCondition unet(config, diffusers_weights());
    const at::Tensor out = unet.forward(at::randn({3, 4, 13, 10}), at::scalar_tensor(10, at::kLong),
                                        at::randn({3, 5, 32}));
    CHECK((out.sizes() == at::IntArrayRef({3, 4, 13, 10})));
    CHECK(bool(out.isfinite().all().item<bool>()));
    int count = 0;
    bool found = false;
    unet.for_each_linear([&](Linear& l) {
        ++count;
        found = found || l.name == "up_blocks.1.attentions.2.transformer_blocks.0.attn1.to_q";
    });
    CHECK(found);
    // 2 down + 1 mid + 3 up transformers x (8 attention projections + 2 feed-forward), 2 time-embedding
    // linears, and the time_emb_proj of 4 down + 2 mid + 6 up resnets.
    CHECK(count == 6 * 10 + 2 + 12);
}
