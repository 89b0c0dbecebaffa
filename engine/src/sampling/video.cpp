// Text-to-video helpers of the pipeline: checks, contact-strip previews and frame-by-frame VAE decoding,
// following diffusers v0.25.1 AnimateDiffPipeline (decode_latents, prepare_latents).
#include "sampling/video.h"

#include <ATen/ATen.h>

#include "atelier/error.h"
#include "models/motion_module.h"
#include "runtime/model_impl.h"
#include "sampling/pipeline.h"

namespace atelier {

int64_t video_frames_of(const Model::Impl& m, const GenerateRequest& request) {
    if (request.frames <= 1) {
        if (request.frames < 0) throw Error("generate: frames must be >= 0, got " + std::to_string(request.frames));
        return 0;
    }
    const auto& adapter = m.unet->motion_adapter();
    if (!adapter)
        throw Error("generate: frames = " + std::to_string(request.frames) +
                    " needs a motion module (LoadOptions::motion_module or Model::set_motion_module)");
    if (request.frames > adapter->max_frames())
        throw Error("generate: frames = " + std::to_string(request.frames) + ", but the motion module (" +
                    adapter->source() + ") supports at most " + std::to_string(adapter->max_frames()));
    if (request.init_image)
        throw Error("generate: an init image (img2img) cannot start a video (frames = " +
                    std::to_string(request.frames) + "); give init_latents [B, C, F, h, w] instead");
    if (!(request.fps > 0.0f && request.fps <= 100.0f))
        throw Error("generate: fps must be in (0, 100], got " + std::to_string(request.fps));
    return request.frames;
}

namespace {

// [F, 3, H, W] -> [1, 3, rows*H, cols*W], frame f at (f / cols, f % cols); empty cells black.
at::Tensor tile(const at::Tensor& frames) {
    const int64_t F = frames.size(0), C = frames.size(1), H = frames.size(2), W = frames.size(3);
    const int64_t cols = std::min(F, kPreviewStripColumns), rows = (F + cols - 1) / cols;
    at::Tensor padded = frames;
    if (rows * cols > F) padded = at::cat({frames, at::zeros({rows * cols - F, C, H, W}, frames.options())}, 0);
    return padded.view({rows, cols, C, H, W}).permute({2, 0, 3, 1, 4}).reshape({1, C, rows * H, cols * W});
}

}  // namespace

at::Tensor video_preview_strip(Model::Impl& m, const at::Tensor& x0, bool full_decode) {
    const at::Tensor video0 = x0[0].transpose(0, 1);  // [F, C, h, w]
    at::Tensor rgb;
    if (full_decode || video0.size(1) != 4) {
        const double scaling = m.vae->config().scaling_factor;
        std::vector<at::Tensor> frames;
        for (int64_t f = 0; f < video0.size(0); ++f) {
            const at::Tensor decoded = m.vae->decode((video0.slice(0, f, f + 1) / scaling).to(m.dtype));
            frames.push_back((decoded.to(at::kFloat) / 2.0 + 0.5).clamp(0.0, 1.0));
        }
        rgb = at::cat(frames, 0);
    } else {
        rgb = latent_rgb_preview(video0);
    }
    return tile(rgb.to(at::kCPU));
}

at::Tensor decode_video(Model::Impl& m, const at::Tensor& latents, const std::function<bool()>& keep_going) {
    const double scaling = m.vae->config().scaling_factor;
    const int64_t B = latents.size(0), F = latents.size(2);
    const int64_t lh = latents.size(3), lw = latents.size(4);
    std::vector<at::Tensor> rows;
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t f = 0; f < F; ++f) {
            if (keep_going && !keep_going()) return at::Tensor();
            const at::Tensor z = (latents.select(0, b).select(1, f).unsqueeze(0) / scaling).to(m.dtype);
            const bool large = lh * lw > 128 * 128;  // as for images: tiles beyond 1024x1024 pixels
            rows.push_back((large ? m.vae->decode_tiled(z) : m.vae->decode(z)).to(at::kFloat));
        }
    }
    return at::cat(rows, 0);
}

}  // namespace atelier
