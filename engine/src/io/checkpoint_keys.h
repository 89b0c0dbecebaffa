// Key names of original CompVis/LDM single-file Stable Diffusion checkpoints -> diffusers names, for the
// UNet and the VAE (internal, torch-free). Follows the inverse of what diffusers v0.25.1's
// `convert_from_ckpt.py` (convert_ldm_unet_checkpoint / convert_ldm_vae_checkpoint) does.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace atelier {

// Tensor name -> shape: enough to infer an architecture without touching tensor data.
using ShapeMap = std::map<std::string, std::vector<int64_t>>;

inline constexpr const char* kLdmUNetPrefix = "model.diffusion_model.";
inline constexpr const char* kLdmVaePrefix = "first_stage_model.";
inline constexpr const char* kLdmTextPrefix = "cond_stage_model.";

// The entries of `shapes` whose names start with `prefix`, with the prefix removed.
ShapeMap strip_prefix(const ShapeMap& shapes, const std::string& prefix);

// LDM `openaimodel.UNetModel` layout, read from the key names (prefix already removed).
struct LdmUNetLayout {
    int levels = 0;                 // len(channel_mult)
    int num_res_blocks = 0;         // layers_per_block
    int model_channels = 0;         // block_out_channels[0]
    std::vector<bool> attention;    // per level (input side; the output side mirrors it)
};
// Throws atelier::Error naming the key it looked for when the layout is not a SD UNet.
LdmUNetLayout infer_ldm_unet_layout(const ShapeMap& unet_shapes);

// LDM `autoencoder.AutoencoderKL` (Encoder/Decoder) layout.
struct LdmVaeLayout {
    int levels = 0;          // len(ch_mult)
    int num_res_blocks = 0;  // encoder resnets per level (the decoder has one more)
};
LdmVaeLayout infer_ldm_vae_layout(const ShapeMap& vae_shapes);

// Where one original tensor goes.
struct MappedKey {
    std::string diffusers;          // diffusers name
    bool squeeze_1x1_conv = false;  // [C, C, 1, 1] conv weight that diffusers stores as Linear [C, C]
};

// The diffusers name of one original key (prefix removed); an empty `diffusers` when the key has no
// place in the layout.
MappedKey ldm_unet_key_to_diffusers(const std::string& key, const LdmUNetLayout& layout);
MappedKey ldm_vae_key_to_diffusers(const std::string& key, const LdmVaeLayout& layout);

struct KeyMapping {
    std::map<std::string, MappedKey> mapped;  // original (prefix removed) -> diffusers
    std::vector<std::string> unmapped;        // original keys with no place in the layout
};
// Maps every key of `shapes` (prefix removed); inferring the layout first. Duplicate targets throw.
KeyMapping map_ldm_unet_keys(const ShapeMap& unet_shapes);
KeyMapping map_ldm_vae_keys(const ShapeMap& vae_shapes);

}  // namespace atelier
