// The text-to-video parts of generate() (internal), following diffusers v0.25.1
// pipelines/animatediff/pipeline_animatediff.py (AnimateDiffPipeline): latents [B, C, F, h, w].
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

#include "atelier/engine.h"

namespace atelier {

// 0 for an image request (frames 0 or 1); else the frame count, checked against the model's motion
// module (throws atelier::Error naming the field when a video cannot be made).
int64_t video_frames_of(const Model::Impl& m, const GenerateRequest& request);

// Frames per row of the preview contact strip.
constexpr int64_t kPreviewStripColumns = 8;

// Preview of video 0 as one contact strip: frame f at row f / 8, column f % 8 (min(F, 8) columns, no
// gaps). x0 is the scheduler's estimate [B, C, F, h, w] in model space; cheap latent projections are
// at latent size per frame, full decodes (frame by frame) at pixel size. -> [1, 3, rows*H, cols*W] in [0, 1].
at::Tensor video_preview_strip(Model::Impl& m, const at::Tensor& x0, bool full_decode);

// vae.decode(latents / scaling_factor) for latents [B, C, F, h, w], one frame at a time (memory of one
// frame), -> raw decodes [B*F, 3, H, W] float32 (row b*F + f). `keep_going` is asked before each frame;
// when it returns false an undefined tensor is returned.
at::Tensor decode_video(Model::Impl& m, const at::Tensor& latents, const std::function<bool()>& keep_going);

}  // namespace atelier
