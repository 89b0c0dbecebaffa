// The video forward of UNet2DCondition: diffusers v0.25.1 UNetMotionModel.forward (unet_motion_model.py),
// i.e. the image UNet run on B*F frames with AnimateDiff motion modules mixing the frames of each video.
#include <ATen/ATen.h>

#include "atelier/error.h"
#include "models/motion_module.h"
#include "models/unet.h"

namespace atelier {

void UNet2DCondition::set_motion_adapter(std::shared_ptr<MotionAdapter> adapter) {
    if (adapter) {
        adapter->check_fits(config_.block_out_channels, config_.layers_per_block, "UNet");
        if (adapter->mid.size() > 1)
            throw Error("UNet: the motion module (" + adapter->source() + ") has " + std::to_string(adapter->mid.size()) +
                        " mid-block modules, the UNet's mid block has 1 transformer");
    }
    motion_ = std::move(adapter);
}

void UNet2DCondition::for_each_motion_linear(const std::function<void(Linear&)>& visitor) {
    if (motion_) motion_->for_each_linear(visitor);
}

at::Tensor UNet2DCondition::forward_video(const at::Tensor& sample, const at::Tensor& timesteps,
                                          const at::Tensor& encoder_hidden_states) const {
    const int64_t B = sample.size(0), C = sample.size(1), F = sample.size(2), H = sample.size(3), W = sample.size(4);
    if (F < 1) throw Error("UNet: a video sample needs at least one frame, found " + shape_string(sample.sizes()));
    if (motion_ && F > motion_->max_frames())
        throw Error("UNet: " + std::to_string(F) + " frames, but the motion module (" + motion_->source() +
                    ") supports at most " + std::to_string(motion_->max_frames()));
    if (encoder_hidden_states.dim() != 3 || (encoder_hidden_states.size(0) != B && encoder_hidden_states.size(0) != B * F))
        throw Error("UNet: encoder_hidden_states must be [" + std::to_string(B) + ", T, D] for " + std::to_string(B) +
                    " videos (or [" + std::to_string(B * F) + ", T, D], one text per frame), found " +
                    shape_string(encoder_hidden_states.sizes()));
    if (!(timesteps.numel() == 1 || (timesteps.dim() == 1 && timesteps.size(0) == B)))
        throw Error("UNet: timesteps must be a scalar or [" + std::to_string(B) + "], found " +
                    shape_string(timesteps.sizes()));
    // [B, C, F, H, W] -> [B, F, C, H, W] -> [(B*F), C, H, W]: row b*F + f is frame f of video b; every
    // frame gets its video's timestep and text (repeat_interleave), or its own text (prompt travel).
    const at::Tensor frames = sample.permute({0, 2, 1, 3, 4}).reshape({B * F, C, H, W});
    const at::Tensor t = timesteps.reshape({-1}).expand({B}).repeat_interleave(F, 0);
    const at::Tensor context =
        encoder_hidden_states.size(0) == B * F && F > 1 ? encoder_hidden_states : encoder_hidden_states.repeat_interleave(F, 0);
    const at::Tensor out = forward_frames(frames, t, context, F);
    return out.reshape({B, F, out.size(1), H, W}).permute({0, 2, 1, 3, 4}).contiguous();
}

}  // namespace atelier
