// AnimateDiff motion modules (Guo et al. 2023, arXiv 2307.04725), following diffusers v0.25.1
// `models/transformer_temporal.py` (TransformerTemporalModel) and `models/unets/unet_motion_model.py`
// (MotionAdapter) (internal).
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/layers.h"
#include "runtime/tensors.h"

namespace atelier {

// One temporal transformer: attention across the F frames at every pixel of every video.
// Input and output [(B*F), C, H, W], frame-minor rows (row b*F + f = frame f of video b).
struct MotionModule {
    struct TemporalAttention {  // self-attention over frames: to_q/k/v without bias, to_out.0 with
        Linear to_q, to_k, to_v, to_out;
        int64_t heads = 4;
        at::Tensor forward(const at::Tensor& x) const;  // [N, F, C]
    };

    struct Block {  // diffusers BasicTransformerBlock with double self-attention and positions
        LayerNorm norm1, norm2, norm3;
        TemporalAttention attn1, attn2;
        Linear ff_in, ff_out;  // GEGLU: [8C, C] then [C, 4C]
        at::Tensor pe;         // [max_frames, C]: added to the normalised input of attn1 and attn2
        at::Tensor forward(const at::Tensor& x) const;  // [N, F, C]
    };

    GroupNorm norm;             // eps 1e-6
    Linear proj_in, proj_out;   // Linear(C, C) with bias
    std::vector<Block> blocks;  // 1 in every published AnimateDiff module
    // false (diffusers): GroupNorm statistics over all frames of a video together; true (the
    // original AnimateDiff code): per frame.
    bool per_frame_groupnorm = false;

    int64_t channels() const { return proj_in.weight.size(0); }
    int64_t max_frames() const { return blocks.front().pe.size(0); }
    at::Tensor forward(const at::Tensor& x, int64_t frames) const;

    // The sinusoidal table of AnimateDiff / diffusers SinusoidalPositionalEmbedding: [max_frames, C].
    static at::Tensor sinusoidal_table(int64_t max_frames, int64_t channels);
};

// Where the modules sit in a UNet of `levels` levels with `layers_per_block` resnets per down block.
struct MotionAdapterConfig {
    std::vector<int> block_out_channels{320, 640, 1280, 1280};
    int layers_per_block = 2;        // per down block; up blocks have one more
    int mid_layers = 1;              // 0: no mid-block module (AnimateDiff v1.4/v1.5)
    int heads = 8;
    int norm_groups = 32;
    int max_frames = 32;             // motion_max_seq_length (rows of the positional table)
};

class MotionAdapter {
public:
    // A diffusers MotionAdapter folder (config.json + diffusion_pytorch_model.safetensors) or an
    // ORIGINAL AnimateDiff .safetensors (`<block>.motion_modules.M.temporal_transformer.*`, v1.5/v2/v3);
    // in the original layout the configuration is read from the shapes. Heads cannot be read from
    // shapes: `heads` > 0 wins, else the folder's config.json, else 8 (every published module).
    // Errors name the file and the tensor.
    static std::shared_ptr<MotionAdapter> load(const std::string& path, int heads = 0);
    // The weights of such a folder or file, named in diffusers' layout (original names converted).
    static TensorMap read_weights(const std::string& path);
    // From tensors in either layout (original names are converted); `config` as given.
    MotionAdapter(MotionAdapterConfig config, const TensorMap& weights, const std::string& where);

    // The configuration read from tensor names and shapes (either layout); heads cannot be read: 8.
    static MotionAdapterConfig infer(const TensorMap& weights, const std::string& where);
    // Original AnimateDiff names -> diffusers names (the inverse of diffusers'
    // convert_animatediff_motion_module_to_diffusers); `pos_encoder.pe` becomes `pos_embed.pe`.
    static TensorMap convert_original(const TensorMap& weights);
    // One original name -> its diffusers name ("...motion_modules.0.temporal_transformer.transformer_blocks.0.
    // attention_blocks.1.to_q" -> "...motion_modules.0.transformer_blocks.0.attn2.to_q"); others unchanged.
    static std::string diffusers_name(const std::string& original);

    // Throws atelier::Error unless every module fits a UNet with these channels and resnet counts,
    // naming the module and the expected vs found size.
    void check_fits(const std::vector<int>& unet_block_out_channels, int unet_layers_per_block,
                    const std::string& where) const;

    const MotionAdapterConfig& config() const { return config_; }
    const std::string& source() const { return source_; }
    int max_frames() const { return config_.max_frames; }
    void set_per_frame_groupnorm(bool on);
    void to(at::Device device, at::ScalarType dtype);
    int64_t parameter_count() const;
    // Every Linear of every module (named in diffusers' layout), e.g. for a motion LoRA's adapters.
    void for_each_linear(const std::function<void(Linear&)>& visitor);

    // The modules, indexed like the UNet's blocks: down[level][layer], mid[layer], up[index][layer].
    std::vector<std::vector<MotionModule>> down, up;
    std::vector<MotionModule> mid;

private:
    MotionAdapterConfig config_;
    std::string source_;
};

}  // namespace atelier
