// labels: fast
// ATen first: glog (pulled in by c10) defines its own CHECK, which doctest's must replace.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <string>

#include "atelier/error.h"
#include "io/checkpoint_keys.h"
#include "models/checkpoint.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "models/vae.h"
#include "runtime/tensors.h"

using namespace atelier;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;

const TensorMap& original() {
    static const TensorMap w = load_tensors(kFixtures + "/tiny-sd-a-original.safetensors");
    return w;
}

// Same key set, and every tensor equal bit for bit (dtype, shape and values).
void check_identical(const TensorMap& converted, const TensorMap& expected, const char* what) {
    CAPTURE(what);
    for (const auto& kv : expected) {
        CAPTURE(kv.first);
        const auto it = converted.find(kv.first);
        REQUIRE_MESSAGE(it != converted.end(), "missing after conversion");
        CHECK((it->second.scalar_type() == kv.second.scalar_type()));
        CHECK((it->second.sizes() == kv.second.sizes()));
        CHECK(at::equal(it->second.contiguous(), kv.second));
    }
    for (const auto& kv : converted) {
        CAPTURE(kv.first);
        CHECK_MESSAGE(expected.count(kv.first) == 1, "left over after conversion");
    }
    CHECK(converted.size() == expected.size());
}

}  // namespace

TEST_CASE("key maps: the LDM -> diffusers names diffusers' converter uses (SD 1.5 layout)") {
    LdmUNetLayout sd15;
    sd15.levels = 4;
    sd15.num_res_blocks = 2;
    sd15.model_channels = 320;
    sd15.attention = {true, true, true, false};
    const std::pair<const char*, const char*> unet[] = {
        {"input_blocks.0.0.weight", "conv_in.weight"},
        {"time_embed.0.weight", "time_embedding.linear_1.weight"},
        {"time_embed.2.bias", "time_embedding.linear_2.bias"},
        {"input_blocks.1.0.in_layers.0.weight", "down_blocks.0.resnets.0.norm1.weight"},
        {"input_blocks.2.1.transformer_blocks.0.attn1.to_q.weight",
         "down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q.weight"},
        {"input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"},
        {"input_blocks.4.0.skip_connection.bias", "down_blocks.1.resnets.0.conv_shortcut.bias"},
        {"input_blocks.11.0.out_layers.3.weight", "down_blocks.3.resnets.1.conv2.weight"},
        {"middle_block.0.emb_layers.1.weight", "mid_block.resnets.0.time_emb_proj.weight"},
        {"middle_block.1.proj_in.weight", "mid_block.attentions.0.proj_in.weight"},
        {"middle_block.2.in_layers.2.bias", "mid_block.resnets.1.conv1.bias"},
        {"output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"},
        {"output_blocks.3.1.norm.weight", "up_blocks.1.attentions.0.norm.weight"},
        {"output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"},
        {"output_blocks.11.1.proj_out.weight", "up_blocks.3.attentions.2.proj_out.weight"},
        {"out.0.weight", "conv_norm_out.weight"},
        {"out.2.bias", "conv_out.bias"},
    };
    for (const auto& [from, to] : unet) {
        CAPTURE(from);
        CHECK(ldm_unet_key_to_diffusers(from, sd15).diffusers == to);
    }
    for (const char* bad : {"input_blocks.3.1.conv.weight", "output_blocks.11.2.conv.weight", "input_blocks.12.0.op.weight",
                            "output_blocks.2.1.norm.weight", "label_emb.0.0.weight", "middle_block.3.in_layers.0.weight"}) {
        CAPTURE(bad);
        CHECK(ldm_unet_key_to_diffusers(bad, sd15).diffusers.empty());
    }

    LdmVaeLayout vae{4, 2};
    const std::pair<const char*, const char*> vae_keys[] = {
        {"encoder.down.0.block.1.conv2.weight", "encoder.down_blocks.0.resnets.1.conv2.weight"},
        {"encoder.down.1.block.0.nin_shortcut.weight", "encoder.down_blocks.1.resnets.0.conv_shortcut.weight"},
        {"encoder.down.2.downsample.conv.bias", "encoder.down_blocks.2.downsamplers.0.conv.bias"},
        {"encoder.norm_out.weight", "encoder.conv_norm_out.weight"},
        {"decoder.up.3.block.2.norm1.weight", "decoder.up_blocks.0.resnets.2.norm1.weight"},
        {"decoder.up.0.block.0.nin_shortcut.bias", "decoder.up_blocks.3.resnets.0.conv_shortcut.bias"},
        {"decoder.up.1.upsample.conv.weight", "decoder.up_blocks.2.upsamplers.0.conv.weight"},
        {"decoder.mid.attn_1.proj_out.weight", "decoder.mid_block.attentions.0.to_out.0.weight"},
        {"decoder.mid.attn_1.norm.bias", "decoder.mid_block.attentions.0.group_norm.bias"},
        {"decoder.mid.block_2.conv1.weight", "decoder.mid_block.resnets.1.conv1.weight"},
        {"post_quant_conv.weight", "post_quant_conv.weight"},
    };
    for (const auto& [from, to] : vae_keys) {
        CAPTURE(from);
        CHECK(ldm_vae_key_to_diffusers(from, vae).diffusers == to);
    }
    CHECK(ldm_vae_key_to_diffusers("decoder.mid.attn_1.q.weight", vae).squeeze_1x1_conv);
    CHECK_FALSE(ldm_vae_key_to_diffusers("decoder.mid.attn_1.q.bias", vae).squeeze_1x1_conv);
    CHECK(ldm_vae_key_to_diffusers("decoder.up.0.upsample.conv.weight", vae).diffusers.empty());  // top level: none
    CHECK(ldm_vae_key_to_diffusers("encoder.down.3.downsample.conv.weight", vae).diffusers.empty());
    CHECK(ldm_vae_key_to_diffusers("loss.logvar", vae).diffusers.empty());
}

TEST_CASE("the layout of the fixture's single file is inferred from its key names") {
    const ShapeMap shapes = shapes_of(original());
    const LdmUNetLayout unet = infer_ldm_unet_layout(strip_prefix(shapes, kLdmUNetPrefix));
    CHECK(unet.levels == 2);
    CHECK(unet.num_res_blocks == 2);
    CHECK(unet.model_channels == 32);
    CHECK((unet.attention == std::vector<bool>{true, false}));
    const LdmVaeLayout vae = infer_ldm_vae_layout(strip_prefix(shapes, kLdmVaePrefix));
    CHECK(vae.levels == 2);
    CHECK(vae.num_res_blocks == 2);
}

TEST_CASE("the single file converts to exactly the diffusers folder's tensors, with nothing left over") {
    const SingleFileComponents parts = split_single_file(original());
    check_identical(parts.unet, load_tensors(kFixtures + "/tiny-sd-a/unet/diffusion_pytorch_model.safetensors"), "unet");
    check_identical(parts.vae, load_tensors(kFixtures + "/tiny-sd-a/vae/diffusion_pytorch_model.safetensors"), "vae");
    check_identical(clip_text_weights_from_checkpoint(parts.text_encoder),
                    load_tensors(kFixtures + "/tiny-sd-a/text_encoder/model.safetensors"), "text_encoder");
    CHECK(parts.unused.empty());
    CHECK(parts.unet.size() + parts.vae.size() + parts.text_encoder.size() == original().size());
}

TEST_CASE("single file: missing, mis-shaped or unknown tensors are errors naming them") {
    const UNetConfig unet_config = UNetConfig::from_json_file(kFixtures + "/tiny-sd-a/unet/config.json");
    const VaeConfig vae_config = VaeConfig::from_json_file(kFixtures + "/tiny-sd-a/vae/config.json");
    SUBCASE("a missing UNet tensor is named when the UNet is built or inferred") {
        TensorMap ckpt = original();
        ckpt.erase("model.diffusion_model.input_blocks.1.1.proj_in.weight");
        const SingleFileComponents parts = split_single_file(ckpt);
        CHECK_THROWS_WITH_AS(UNet2DCondition(unet_config, parts.unet),
                             doctest::Contains("missing tensor 'down_blocks.0.attentions.0.proj_in.weight'"), Error);
        CHECK_THROWS_WITH_AS(UNetConfig::infer(parts.unet),
                             doctest::Contains("'down_blocks.0.attentions.0.proj_in.weight'"), Error);
    }
    SUBCASE("a mis-shaped UNet tensor is named with expected and found shapes") {
        TensorMap ckpt = original();
        ckpt["model.diffusion_model.output_blocks.4.0.emb_layers.1.weight"] = at::zeros({32, 100});
        const SingleFileComponents parts = split_single_file(ckpt);
        CHECK_THROWS_WITH_AS(UNet2DCondition(unet_config, parts.unet),
                             doctest::Contains("'up_blocks.1.resnets.1.time_emb_proj.weight' has shape [32, 100], "
                                               "expected [32, 128]"),
                             Error);
    }
    SUBCASE("a VAE attention weight that is not [C, C, 1, 1]") {
        TensorMap ckpt = original();
        ckpt["first_stage_model.decoder.mid.attn_1.q.weight"] = at::zeros({64, 32, 1, 1});
        CHECK_THROWS_WITH_AS(split_single_file(ckpt),
                             doctest::Contains("'first_stage_model.decoder.mid.attn_1.q.weight' has shape [64, 32, 1, 1]"),
                             Error);
    }
    SUBCASE("a missing VAE tensor") {
        TensorMap ckpt = original();
        ckpt.erase("first_stage_model.decoder.up.0.block.2.conv2.bias");
        const SingleFileComponents parts = split_single_file(ckpt);
        CHECK_THROWS_WITH_AS(AutoencoderKL(vae_config, parts.vae),
                             doctest::Contains("missing tensor 'decoder.up_blocks.1.resnets.2.conv2.bias'"), Error);
    }
    SUBCASE("an unknown key inside the UNet prefix") {
        TensorMap ckpt = original();
        ckpt["model.diffusion_model.input_blocks.1.0.in_layers.9.weight"] = at::zeros({3});
        CHECK_THROWS_WITH_AS(split_single_file(ckpt),
                             doctest::Contains("'model.diffusion_model.input_blocks.1.0.in_layers.9.weight'"), Error);
    }
    SUBCASE("no UNet at all") {
        TensorMap ckpt;
        for (const auto& kv : original())
            if (kv.first.rfind(kLdmUNetPrefix, 0) != 0) ckpt.insert(kv);
        CHECK_THROWS_WITH_AS(split_single_file(ckpt), doctest::Contains("model.diffusion_model."), Error);
    }
    SUBCASE("keys outside the three components are reported as unused, not converted") {
        TensorMap ckpt = original();
        ckpt["model_ema.decay"] = at::zeros({});
        ckpt["first_stage_model.loss.logvar"] = at::zeros({});
        const SingleFileComponents parts = split_single_file(ckpt);
        CHECK((parts.unused == std::vector<std::string>{"first_stage_model.loss.logvar", "model_ema.decay"}));
    }
}
