// UNet2DConditionModel of Stable Diffusion 1.x/2.x (Rombach et al. 2022, "High-Resolution Image Synthesis
// with Latent Diffusion Models"), following diffusers v0.25.1 `models/unets/unet_2d_condition.py` (internal).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/layers.h"
#include "runtime/tensors.h"

namespace atelier {

// The diffusers `config.json` fields that SD 1.x/2.x use; defaults are SD 1.5's.
struct UNetConfig {
    int in_channels = 4;
    int out_channels = 4;
    std::vector<int> block_out_channels{320, 640, 1280, 1280};
    std::vector<std::string> down_block_types{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                              "CrossAttnDownBlock2D", "DownBlock2D"};
    std::vector<std::string> up_block_types{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                            "CrossAttnUpBlock2D"};
    std::string mid_block_type = "UNetMidBlock2DCrossAttn";
    int layers_per_block = 2;
    int cross_attention_dim = 768;
    // diffusers' naming quirk: in SD configs `attention_head_dim` is the NUMBER of heads (8 for SD1;
    // [5, 10, 20, 20] for SD2, i.e. head dim 64). One value for all blocks, or one per down block.
    std::vector<int> attention_head_dim{8};
    // diffusers' newer field; when given it wins (`num_attention_heads or attention_head_dim`).
    std::vector<int> num_attention_heads;
    int norm_num_groups = 32;
    double norm_eps = 1e-5;
    bool flip_sin_to_cos = true;
    double freq_shift = 0;
    bool use_linear_projection = false;
    bool upcast_attention = false;
    std::vector<int> transformer_layers_per_block{1};  // one value, or one per down block
    int sample_size = 64;
    int time_embedding_dim = 0;  // 0: 4 x block_out_channels[0]

    // Heads / transformer depth of down block `i` (up block j uses down block levels-1-j; the mid
    // block uses the last level), resolved as diffusers does.
    int heads(size_t level) const;
    int transformer_layers(size_t level) const;
    bool down_has_attention(size_t level) const;
    bool up_has_attention(size_t up_index) const;
    int time_embed_dim() const { return time_embedding_dim > 0 ? time_embedding_dim : 4 * block_out_channels.at(0); }
    size_t levels() const { return block_out_channels.size(); }

    // Throws atelier::Error naming the field when the combination is not supported.
    void validate(const std::string& where = "UNet config") const;

    // diffusers `unet/config.json`. Fields SD never sets must keep their defaults (class embeddings,
    // addition embeddings, scale-shift time conditioning, ...); otherwise an error names the field.
    static UNetConfig from_json_file(const std::string& path);
    // From diffusers tensor names and shapes. Heads cannot be read from shapes: with a 768-wide text
    // (or a 1x1-conv proj_in) they are 8 per block (SD1), with a 1024-wide text and linear
    // projections head dim 64 (SD2: 5, 10, 20, 20). `upcast_attention` stays false.
    static UNetConfig infer(const TensorMap& weights);
};

class MotionAdapter;

class UNet2DCondition {
public:
    // `weights` use diffusers names ("conv_in.weight",
    // "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight", ...). Missing or
    // mis-shaped tensors throw atelier::Error naming the tensor and the expected vs found shape.
    UNet2DCondition(UNetConfig config, const TensorMap& weights);

    // sample [B, C, H, W], timesteps [B] or a scalar (int64 or float), encoder_hidden_states [B, T, D]
    // -> predicted noise (or v) [B, out_channels, H, W]. Any H, W (skips are matched by size).
    // A video sample [B, C, F, H, W] gives [B, out_channels, F, H, W] (diffusers UNetMotionModel): the
    // frames run through the spatial layers as a batch of B*F images (frame-minor) with the timestep and
    // text of their video (or, given [B*F, T, D], each frame its own text: prompt travel), and the motion
    // adapter, if set, mixes the F frames of each video.
    at::Tensor forward(const at::Tensor& sample, const at::Tensor& timesteps,
                       const at::Tensor& encoder_hidden_states) const;

    // The encoder half only: the activations after the mid block [B, C_top, H/2^(L-1), W/2^(L-1)], what the
    // UNet "sees" in a noisy latent (pooled, the taste model's model features). Same inputs as forward.
    at::Tensor mid_block_output(const at::Tensor& sample, const at::Tensor& timesteps,
                                const at::Tensor& encoder_hidden_states) const;

    // AnimateDiff motion modules (models/motion_module.h): one after each resnet(+transformer) of every
    // down and up block and one after the mid block's transformer; the skips are the states after them.
    // Throws atelier::Error if the adapter does not fit this UNet; nullptr removes it.
    void set_motion_adapter(std::shared_ptr<MotionAdapter> adapter);
    const std::shared_ptr<MotionAdapter>& motion_adapter() const { return motion_; }

    // Random weights of the right names and shapes for `config` (benchmarks; no download needed).
    static TensorMap random_weights(const UNetConfig& config, uint64_t seed = 0);

    const UNetConfig& config() const { return config_; }
    // Training on large models: each resnet, transformer and motion block keeps no activations for the
    // backward pass and runs again there (runtime/recompute.h). Same gradients; off for inference.
    void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }
    bool gradient_checkpointing() const { return gradient_checkpointing_; }
    void to(at::Device device, at::ScalarType dtype);
    int64_t parameter_count() const;
    at::Device device() const;
    at::ScalarType dtype() const;

    // Every Linear by its diffusers name (attention projections, feed-forward, proj_in/out when
    // linear, time embedding): the place where LoRA deltas attach later.
    void for_each_linear(const std::function<void(Linear&)>& visitor);
    // The motion adapter's Linears ("down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q", ...);
    // none without one. Apart from for_each_linear, so a concept's LoRA never lands on the motion modules.
    void for_each_motion_linear(const std::function<void(Linear&)>& visitor);
    // Both: every Linear a LoRA file may address.
    void for_each_lora_linear(const std::function<void(Linear&)>& visitor) {
        for_each_linear(visitor);
        for_each_motion_linear(visitor);
    }
    // Every Conv2d by its diffusers name (proj_in/out when 1x1 convolutions, resnet convs): LoRA merges.
    void for_each_conv(const std::function<void(Conv2d&)>& visitor);

    // Sinusoidal timestep features [B, dim] (diffusers `get_timestep_embedding`, float32).
    static at::Tensor timestep_features(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                        double freq_shift);

    // The blocks are kept explicit (resnet i, then its transformer i) so that a motion module can be
    // inserted after each pair later.
    struct ResnetBlock {
        GroupNorm norm1, norm2;
        Conv2d conv1, conv2, conv_shortcut;  // conv_shortcut.weight undefined when channels agree
        Linear time_emb_proj;
        at::Tensor forward(const at::Tensor& x, const at::Tensor& temb_silu) const;
    };
    struct Attention {
        Linear to_q, to_k, to_v, to_out;
        int64_t heads = 8;
        bool upcast = false;
        at::Tensor forward(const at::Tensor& x, const at::Tensor& context /* undefined: self */) const;
    };
    struct TransformerBlock {  // diffusers BasicTransformerBlock
        LayerNorm norm1, norm2, norm3;
        Attention attn1, attn2;
        Linear ff_in, ff_out;  // GEGLU: ff.net.0.proj [2*inner, dim], ff.net.2 [dim, inner]
        at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;
    };
    struct Transformer2D {
        GroupNorm norm;
        bool linear_projection = false;
        Conv2d proj_in_conv, proj_out_conv;
        Linear proj_in_linear, proj_out_linear;
        std::vector<TransformerBlock> blocks;
        at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;
    };
    struct DownBlock {
        std::vector<ResnetBlock> resnets;
        std::vector<Transformer2D> attentions;  // empty for DownBlock2D, else one per resnet
        bool has_downsampler = false;
        Conv2d downsampler;
    };
    struct MidBlock {
        std::vector<ResnetBlock> resnets;  // 2
        std::vector<Transformer2D> attentions;  // 1
    };
    struct UpBlock {
        std::vector<ResnetBlock> resnets;  // layers_per_block + 1
        std::vector<Transformer2D> attentions;
        bool has_upsampler = false;
        Conv2d upsampler;
    };

private:
    UNet2DCondition() = default;
    void load(WeightReader& reader);
    template <class F> void visit_all(F&& f);
    // `frames` > 0: sample holds videos of that many frames in its batch (unet_motion.cpp).
    // `stop_at_mid`: return the mid block's output (mid_block_output).
    at::Tensor forward_frames(const at::Tensor& sample, const at::Tensor& timesteps,
                              const at::Tensor& encoder_hidden_states, int64_t frames, bool stop_at_mid = false) const;
    at::Tensor forward_video(const at::Tensor& sample, const at::Tensor& timesteps,
                             const at::Tensor& encoder_hidden_states) const;

    UNetConfig config_;
    Linear time_linear_1, time_linear_2;
    Conv2d conv_in, conv_out;
    GroupNorm conv_norm_out;
    std::vector<DownBlock> down_blocks;
    MidBlock mid_block;
    std::vector<UpBlock> up_blocks;
    std::shared_ptr<MotionAdapter> motion_;
    bool gradient_checkpointing_ = false;
};

}  // namespace atelier
