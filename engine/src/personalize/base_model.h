// The embedded default model's architecture, weight initialisation and training data (internal).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "atelier/world.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "models/vae.h"
#include "runtime/tensors.h"

namespace atelier {

// atelier-tiny: 64x64 RGB, an 8x autoencoder (4x8x8 latents), a 4-layer 128-wide CLIP text encoder with
// the real CLIP vocabulary, a two-level UNet2DCondition with cross-attention at both levels.
struct BaseModelConfigs {
    ClipTextConfig text;
    UNetConfig unet;
    VaeConfig vae;
    int image_size = 64;
};
BaseModelConfigs base_model_configs();

// Fresh weights with PyTorch/diffusers/transformers default initialisation, from `seed`:
// Linear and Conv2d kaiming-uniform(a = sqrt(5)) weights and U(+-1/sqrt(fan_in)) biases (nn.Linear /
// nn.Conv2d reset_parameters), norms weight 1 bias 0, CLIP embeddings N(0, 0.02) (token) and N(0, 0.01)
// (position). The UNet's conv_out is zero (the first prediction is 0: a common diffusion choice).
TensorMap init_clip_text_weights(const ClipTextConfig& config, uint64_t seed);
TensorMap init_unet_weights(const UNetConfig& config, uint64_t seed);
TensorMap init_vae_weights(const VaeConfig& config, uint64_t seed);

// diffusers / transformers config.json text.
std::string unet_config_json(const UNetConfig& config);
std::string vae_config_json(const VaeConfig& config);
std::string clip_text_config_json(const ClipTextConfig& config);

// model_index.json, scheduler/scheduler_config.json (DPM-Solver++ 2M, SD's training schedule, "trailing"
// spacing) and tokenizer/ (the shipped CLIP vocabulary) of a diffusers folder.
void write_base_model_metadata(const std::string& dir);

// Scenes index .. index+n-1 of the data set with seed `base` (world::derive_seed), HeldOut::exclude.
struct SceneBatch {
    at::Tensor images;  // [n, 3, size, size] float32 in [-1, 1]
    std::vector<world::Scene> scenes;
    std::vector<std::string> captions;  // world::caption (full, varied wording)
};
SceneBatch render_scene_batch(uint64_t base, int64_t index, int n, int size = 64,
                              world::HeldOut held_out = world::HeldOut::exclude);
// 8-bit RGB images <-> [n, 3, H, W] float32 in [-1, 1].
at::Tensor images_to_tensor(const std::vector<Image>& images);
Image tensor_to_image(const at::Tensor& chw);

// The data-set seeds: training scenes use base_model_train_base(seed); evaluation never overlaps.
constexpr uint64_t kBaseModelEvalBase = 0x5EEDE7A1ull;
// Another held-out stream for choosing a model's generation defaults, so the evaluation captions stay unseen.
constexpr uint64_t kBaseModelValidationBase = 0x7A11DA7Eull;
uint64_t base_model_train_base(uint64_t seed);

// What people add to prompts in words the world never uses (a memory rule, a habit from other models): the
// evaluation appends one to each held-out caption; the model should still draw the caption.
constexpr const char* kForeignPromptWords[10] = {
    "warm colours", "highly detailed", "cinematic lighting", "trending on artstation", "masterpiece, best quality",
    "dreamy focus", "vibrant", "minimalist poster", "studio photograph", "by a famous painter"};

// The SD 1.x training noise schedule (scaled_linear 0.00085 .. 0.012, 1000 steps): alphas_cumprod [1000].
at::Tensor sd_alphas_cumprod();

}  // namespace atelier
