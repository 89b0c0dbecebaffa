// AutoencoderKL of Stable Diffusion (Rombach et al. 2022; Kingma & Welling 2014), following diffusers
// v0.25.1 `models/autoencoders/autoencoder_kl.py` and `vae.py` (Encoder, Decoder) (internal).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "models/layers.h"
#include "runtime/tensors.h"

namespace atelier {

// diffusers `vae/config.json`; defaults are SD 1.x/2.x's.
struct VaeConfig {
    int in_channels = 3;
    int out_channels = 3;
    std::vector<int> block_out_channels{128, 256, 512, 512};
    int layers_per_block = 2;
    int latent_channels = 4;
    int norm_num_groups = 32;
    double scaling_factor = 0.18215;
    int sample_size = 512;

    size_t levels() const { return block_out_channels.size(); }
    void validate(const std::string& where = "VAE config") const;
    // Block types other than DownEncoderBlock2D / UpDecoderBlock2D, or act_fn other than silu, are errors.
    static VaeConfig from_json_file(const std::string& path);
    // From diffusers tensor names and shapes; scaling_factor and sample_size keep SD1's defaults.
    static VaeConfig infer(const TensorMap& weights);
};

class AutoencoderKL {
public:
    // `weights` use diffusers names ("encoder.down_blocks.0.resnets.0.conv1.weight",
    // "decoder.mid_block.attentions.0.to_q.weight", ...). A map with only the decoder (and
    // post_quant_conv) gives a decode-only model; encode() then throws.
    AutoencoderKL(VaeConfig config, const TensorMap& weights);

    // image [B, in_channels, H, W] in [-1, 1] -> (mean, logvar clamped to [-30, 20]), each
    // [B, latent_channels, H/f, W/f]. Not multiplied by scaling_factor.
    std::pair<at::Tensor, at::Tensor> encode(const at::Tensor& image) const;
    // latent [B, latent_channels, h, w] as is (divide by scaling_factor before, as pipelines do) ->
    // image [B, out_channels, h*f, w*f], unclamped.
    at::Tensor decode(const at::Tensor& latent) const;
    // decode() in overlapping tiles of `tile_latent` latent pixels, blended linearly across the
    // overlaps: memory bounded by one tile. Close to, not equal to, decode(): GroupNorm statistics
    // and the mid-block attention see one tile at a time (as in diffusers' tiled decode).
    at::Tensor decode_tiled(const at::Tensor& latent, int tile_latent = 64, int overlap_latent = 8) const;

    int scale_factor() const { return 1 << (int(config_.levels()) - 1); }
    bool has_encoder() const { return has_encoder_; }
    // Random weights of the right names and shapes for `config` (benchmarks; no download needed).
    static TensorMap random_weights(const VaeConfig& config, uint64_t seed = 0);

    const VaeConfig& config() const { return config_; }
    void to(at::Device device, at::ScalarType dtype);
    int64_t parameter_count() const;
    at::Device device() const;
    at::ScalarType dtype() const;

    struct ResnetBlock {
        GroupNorm norm1, norm2;
        Conv2d conv1, conv2, conv_shortcut;
        at::Tensor forward(const at::Tensor& x) const;
    };
    struct AttentionBlock {  // single head, GroupNorm 1e-6, residual
        GroupNorm group_norm;
        Linear to_q, to_k, to_v, to_out;
        at::Tensor forward(const at::Tensor& x) const;
    };
    struct MidBlock {
        ResnetBlock resnet0, resnet1;
        AttentionBlock attention;
        at::Tensor forward(const at::Tensor& x) const;
    };
    struct Level {
        std::vector<ResnetBlock> resnets;
        bool has_sampler = false;
        Conv2d sampler;  // encoder: stride 2 after zero padding right/bottom; decoder: after 2x nearest
    };

private:
    AutoencoderKL() = default;
    void load(WeightReader& reader, bool with_encoder);
    template <class F> void visit_all(F&& f);

    VaeConfig config_;
    bool has_encoder_ = false;
    Conv2d enc_conv_in, enc_conv_out, quant_conv;
    std::vector<Level> enc_levels;
    MidBlock enc_mid;
    GroupNorm enc_norm_out;
    Conv2d post_quant_conv, dec_conv_in, dec_conv_out;
    MidBlock dec_mid;
    std::vector<Level> dec_levels;  // diffusers up_blocks order (lowest resolution first)
    GroupNorm dec_norm_out;
};

}  // namespace atelier
