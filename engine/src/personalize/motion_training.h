// The pieces of motion-module training that tests and benchmarks reuse (internal; atelier/train_motion.h
// is the public entry).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>

#include "models/motion_module.h"
#include "models/unet.h"
#include "models/vae.h"
#include "runtime/tensors.h"

namespace atelier {

// A motion adapter that fits `unet`: its channels and resnets per block, a mid module when the UNet has a
// cross-attention mid block, `heads` heads, the UNet's norm groups (else the largest of 32, 16, ... that
// divides every level). Throws atelier::Error when a level's channels do not divide into `heads`.
MotionAdapterConfig motion_adapter_config_for(const UNetConfig& unet, int heads, int max_frames);

// The trainable tensors (diffusers names) with torch.nn default initialisation from `seed` and every
// module's proj_out zero: the adapter starts as the identity. No positional tables (they are fixed).
TensorMap init_motion_adapter_weights(const MotionAdapterConfig& config, uint64_t seed);
// Every block's `pos_embed.pe` [1, max_frames, C]: the sinusoidal table (a buffer, never trained).
TensorMap motion_positional_tables(const MotionAdapterConfig& config);
// diffusers MotionAdapter config.json.
std::string motion_adapter_config_json(const MotionAdapterConfig& config);

// Clips [n, F, 3, S, S] in [-1, 1] -> the autoencoder's posterior (mean, std), each [n, C, F, S/f, S/f],
// not scaled by scaling_factor.
std::pair<at::Tensor, at::Tensor> encode_clips(const AutoencoderKL& vae, const at::Tensor& clips);

// Epsilon-prediction MSE of `unet` (with whatever motion adapter it holds) on video latents x0
// [B, C, F, h, w] (already scaled) noised to timesteps t [B] of SD's training schedule with `noise`.
at::Tensor motion_epsilon_loss(const UNet2DCondition& unet, const at::Tensor& x0, const at::Tensor& context,
                               const at::Tensor& timesteps, const at::Tensor& noise);

}  // namespace atelier
