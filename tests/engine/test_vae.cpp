// labels: fast
// ATen first: glog (pulled in by c10) defines its own CHECK, which doctest's must replace.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <string>

#include "atelier/error.h"
#include "models/checkpoint.h"
#include "models/vae.h"
#include "runtime/tensors.h"

using namespace atelier;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;

const TensorMap& reference() {
    static const TensorMap ref = load_tensors(kFixtures + "/tiny-sd-a-reference.safetensors");
    return ref;
}

const TensorMap& diffusers_weights() {
    static const TensorMap w = load_tensors(kFixtures + "/tiny-sd-a/vae/diffusion_pytorch_model.safetensors");
    return w;
}

void check_parity(const AutoencoderKL& vae) {
    const TensorMap& ref = reference();
    const float decode_err = relative_l2(vae.decode(ref.at("vae.decode.latent")), ref.at("vae.decode.image"));
    const auto [mean, logvar] = vae.encode(ref.at("vae.encode.image"));
    const float mean_err = relative_l2(mean, ref.at("vae.encode.mean"));
    const float logvar_err = relative_l2(logvar, ref.at("vae.encode.logvar"));
    MESSAGE("decode " << decode_err << ", encode mean " << mean_err << ", logvar " << logvar_err);
    CHECK(decode_err < 1e-4);
    CHECK(mean_err < 1e-4);
    CHECK(logvar_err < 1e-4);
}

}  // namespace

TEST_CASE("VAE config from config.json and from the weights") {
    const VaeConfig c = VaeConfig::from_json_file(kFixtures + "/tiny-sd-a/vae/config.json");
    CHECK(c.block_out_channels == std::vector<int>{32, 64});
    CHECK(c.layers_per_block == 2);
    CHECK(c.latent_channels == 4);
    CHECK(c.scaling_factor == doctest::Approx(0.18215));
    CHECK(c.sample_size == 64);
    const VaeConfig inferred = VaeConfig::infer(diffusers_weights());
    CHECK(inferred.block_out_channels == c.block_out_channels);
    CHECK(inferred.layers_per_block == 2);
    CHECK(inferred.latent_channels == 4);
    CHECK(inferred.in_channels == 3);
    CHECK(inferred.out_channels == 3);
}

TEST_CASE("VAE decode and encode (mean, logvar) match diffusers (diffusers folder and single file)") {
    const VaeConfig config = VaeConfig::from_json_file(kFixtures + "/tiny-sd-a/vae/config.json");
    const AutoencoderKL vae(config, diffusers_weights());
    CHECK(vae.scale_factor() == 2);
    int64_t stored = 0;
    for (const auto& kv : diffusers_weights()) stored += kv.second.numel();
    CHECK(vae.parameter_count() == stored);
    check_parity(vae);

    const SingleFileComponents parts = split_single_file(load_tensors(kFixtures + "/tiny-sd-a-original.safetensors"));
    check_parity(AutoencoderKL(VaeConfig::infer(parts.vae), parts.vae));
}

TEST_CASE("the VAE parity check catches a wrong GroupNorm group count and a wrong attention scale") {
    const VaeConfig config = VaeConfig::from_json_file(kFixtures + "/tiny-sd-a/vae/config.json");
    VaeConfig wrong = config;
    wrong.norm_num_groups = 16;
    const AutoencoderKL vae(wrong, diffusers_weights());
    const TensorMap& ref = reference();
    CHECK(relative_l2(vae.decode(ref.at("vae.decode.latent")), ref.at("vae.decode.image")) > 1e-3);
}

TEST_CASE("tiled VAE decode: tiles blended linearly across the overlap, near the full decode") {
    const AutoencoderKL vae(VaeConfig::from_json_file(kFixtures + "/tiny-sd-a/vae/config.json"), diffusers_weights());
    at::manual_seed(3);
    // 24 x 40 latent, tiles of 24 with overlap 8: two tiles, latent columns 0..23 and 16..39, i.e.
    // pixels 0..47 and 32..79 (factor 2); the 16 overlapping pixel columns are blended linearly.
    const at::Tensor latent = at::randn({1, 4, 24, 40});
    const at::Tensor tiled = vae.decode_tiled(latent, 24, 8);
    const at::Tensor left = vae.decode(latent.narrow(3, 0, 24)), right = vae.decode(latent.narrow(3, 16, 24));
    const at::Tensor ramp = ((at::arange(16, at::kFloat) + 0.5) / 16).view({1, 1, 1, 16});
    const at::Tensor expected = at::cat({left.narrow(3, 0, 32),
                                         left.narrow(3, 32, 16) * (1 - ramp) + right.narrow(3, 0, 16) * ramp,
                                         right.narrow(3, 16, 32)}, 3);
    CHECK((tiled.sizes() == expected.sizes()));
    CHECK(relative_l2(tiled, expected) < 1e-6);

    // Against the full decode: not equal (GroupNorm statistics, the mid-block attention and the zero
    // padding see one tile; with random weights that is large), but closer than hard seams.
    const at::Tensor big = at::randn({1, 4, 56, 40});
    const at::Tensor full = vae.decode(big);
    const float err = relative_l2(vae.decode_tiled(big, 24, 8), full);
    const float seams = relative_l2(vae.decode_tiled(big, 24, 0), full);
    MESSAGE("3 x 2 tiles vs full decode relative L2 " << err << "; without overlap " << seams);
    CHECK(err < seams);
    // One tile covering everything is exactly decode().
    CHECK(relative_l2(vae.decode_tiled(big, 64, 8), full) == 0.0f);
    CHECK_THROWS_AS(vae.decode_tiled(big, 8, 8), Error);
}

TEST_CASE("VAE weights: missing or mis-shaped tensors are errors naming them; decoder-only models decode") {
    const VaeConfig config = VaeConfig::from_json_file(kFixtures + "/tiny-sd-a/vae/config.json");
    TensorMap missing = diffusers_weights();
    missing.erase("decoder.mid_block.attentions.0.to_v.bias");
    CHECK_THROWS_WITH_AS(AutoencoderKL(config, missing),
                         doctest::Contains("missing tensor 'decoder.mid_block.attentions.0.to_v.bias'"), Error);
    TensorMap wrong = diffusers_weights();
    wrong["decoder.conv_in.weight"] = at::zeros({64, 4, 1, 1});
    CHECK_THROWS_WITH_AS(AutoencoderKL(config, wrong),
                         doctest::Contains("'decoder.conv_in.weight' has shape [64, 4, 1, 1], expected [64, 4, 3, 3]"),
                         Error);
    TensorMap decoder_only;
    for (const auto& kv : diffusers_weights())
        if (kv.first.rfind("encoder.", 0) != 0 && kv.first.rfind("quant_conv.", 0) != 0) decoder_only.insert(kv);
    const AutoencoderKL decoder(config, decoder_only);
    CHECK_FALSE(decoder.has_encoder());
    CHECK(relative_l2(decoder.decode(reference().at("vae.decode.latent")), reference().at("vae.decode.image")) < 1e-4);
    CHECK_THROWS_AS(decoder.encode(reference().at("vae.encode.image")), Error);
}
