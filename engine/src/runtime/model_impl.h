// What a loaded Model holds (internal): the four components, the scheduler defaults, device and dtype.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "atelier/engine.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "models/vae.h"
#include "sampling/scheduler.h"
#include "text/clip_tokenizer.h"

namespace atelier {

struct LoraFile;

struct Model::Impl {
    ModelInfo info;
    std::string name;                 // folder or file stem: the "Model:" of generation records
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;  // weights and UNet/text/VAE compute; latents stay float32

    std::unique_ptr<ClipTokenizer> tokenizer;
    std::unique_ptr<ClipTextModel> text_encoder;
    std::unique_ptr<UNet2DCondition> unet;
    std::unique_ptr<AutoencoderKL> vae;
    SchedulerConfig scheduler_config;  // as found (the pipeline applies diffusers' SD rewrites)
    // The motion adapter folder's cross-attention LoRA (kMotionTextLoraFile), applied to clips only.
    std::shared_ptr<const LoraFile> motion_text_lora;
    // The motion adapter folder's motion LoRAs by phrase (kMotionLorasFile), applied to clips whose prompt
    // holds the phrase.
    struct MotionWord {
        std::string phrase;
        std::shared_ptr<const LoraFile> lora;
        float strength = 1.0f;
    };
    std::vector<MotionWord> motion_words;
};

// The short content id of weight files: FNV-1a 64 over (size, first MiB, last MiB) of each file, in the
// given order, as 10 hex digits. Not A1111's sha256 "Model hash": fast on multi-GB files.
std::string weights_content_id(const std::vector<std::string>& paths);

}  // namespace atelier
