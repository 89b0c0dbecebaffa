// The Stable Diffusion pipeline (internal): text-to-image and img2img with classifier-free guidance,
// following diffusers v0.25.1 pipelines/stable_diffusion/pipeline_stable_diffusion(_img2img).py.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

#include "atelier/engine.h"

namespace atelier {

// Everything the parity tests observe, recorded when a trace is passed to generate_traced().
// Tensors are float32 CPU copies; per-step lists have one entry per step run.
struct PipelineTrace {
    at::Tensor prompt_ids, negative_prompt_ids;        // [1, 77] int64
    at::Tensor prompt_embeds, negative_prompt_embeds;  // [1, 77, D]
    std::vector<double> timesteps;                     // fed to the UNet
    std::vector<at::Tensor> unet_in;                   // [2B or B, C, h, w] before scale_model_input
    std::vector<at::Tensor> unet_out;                  // before guidance
    std::vector<at::Tensor> step_latents;              // after each scheduler step
    at::Tensor final_latents, vae_decoded, image;      // image: clamp(decoded / 2 + 0.5, 0, 1)
};

GenerateResult generate_traced(Model& model, const GenerateRequest& request, PipelineTrace* trace);

// The cheap preview: x0 latents [B, 4, h, w] (model space, i.e. already x scaling_factor) -> RGB [B, 3, h, w]
// in [0, 1] through a fixed 4x3 projection (see pipeline.cpp for the source of the factors).
at::Tensor latent_rgb_preview(const at::Tensor& x0_latents);

// [B, 3, H, W] in [0, 1] -> 8-bit images (round(x * 255), as diffusers' numpy_to_pil).
std::vector<Image> tensor_to_images(const at::Tensor& rgb01);
// An 8-bit RGB image -> [1, 3, H, W] float32 in [-1, 1] (diffusers VaeImageProcessor.preprocess).
at::Tensor image_to_tensor(const Image& image);

}  // namespace atelier
