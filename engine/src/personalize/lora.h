// LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685) for the
// UNet and the CLIP text encoder: files with kohya/A1111 keys and with diffusers/PEFT keys, the run-time
// delta on a Linear, and merging into the weights (internal).
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "models/layers.h"
#include "runtime/tensors.h"

namespace atelier {

class ClipTextModel;
class UNet2DCondition;

// One adapted module: delta W = scale * up @ down (flattened for convolutions).
struct LoraLayer {
    std::string component;  // "unet" or "text_encoder"
    std::string module;     // diffusers / Hugging Face name, e.g. "down_blocks.0...attn1.to_q",
                            // "text_model.encoder.layers.0.self_attn.q_proj"
    at::Tensor down;        // [r, in] (conv: [r, in, k, k]), as stored
    at::Tensor up;          // [out, r] (conv: [out, r, 1, 1])
    float alpha = 0;        // 0: none stored (scale 1)
    float scale() const;    // alpha / rank, or 1
};

struct LoraFile {
    std::string path;
    std::string format;  // "kohya" or "peft"
    std::vector<LoraLayer> layers;
    std::map<std::string, std::string> metadata;
};

// Module names a LoRA may address in this model: component -> names (UNet Linear and Conv2d names,
// text-encoder projections).
struct LoraTargets {
    std::map<std::string, std::pair<int64_t, int64_t>> unet;          // Linear name -> (in, out) features
    std::map<std::string, std::pair<int64_t, int64_t>> unet_conv;     // Conv2d name -> (in*k*k, out)
    std::map<std::string, std::pair<int64_t, int64_t>> text_encoder;  // "text_model.encoder.layers.N.*"
    static LoraTargets of(UNet2DCondition& unet, const ClipTextModel& text_encoder);
};

// Reads kohya keys (`lora_unet_<name with _>.lora_down.weight` / `.lora_up.weight` / `.alpha`,
// `lora_te_text_model_...`) or diffusers/PEFT keys (`unet.<name>.lora_A.weight` / `.lora_B.weight`,
// `text_encoder.<name>...`, the older `.lora.down/.lora.up` and `processor.to_q_lora.down` spellings).
// Every key must map to a module of `targets` with matching shapes; errors name the file and the key.
LoraFile read_lora(const std::string& path, const TensorMap& tensors, const LoraTargets& targets);
LoraFile read_lora(const std::string& path, const LoraTargets& targets);

// Writes `layers` with kohya keys (alpha stored) or PEFT keys (lora_A/lora_B, alpha in `<module>.alpha`
// when it differs from the rank; the factors in `dtype`).
void write_lora_kohya(const std::string& path, const std::vector<LoraLayer>& layers,
                      const std::map<std::string, std::string>& metadata = {});
void write_lora_peft(const std::string& path, const std::vector<LoraLayer>& layers,
                     const std::map<std::string, std::string>& metadata = {}, at::ScalarType dtype = at::kFloat);

// y + scale * up(down(x)) on a Linear's output; `down`/`up` may be trainable leaves.
class LoraAdapter : public LinearAdapter {
public:
    LoraAdapter(at::Tensor down, at::Tensor up, double scale) : down_(std::move(down)), up_(std::move(up)), scale_(scale) {}
    at::Tensor apply(const at::Tensor& x, at::Tensor y) const override;

private:
    at::Tensor down_, up_;
    double scale_;
};

// A fresh trainable pair for a layer whose weight is `weight` ([out, in] or a convolution's [out, in, k, k]):
// params[key + ".down"] ~ N(0, 1 / fan_in) of shape [rank, in(, k, k)], params[key + ".up"] zero, so the
// adapter starts as nothing.
void add_trainable_lora(TensorMap& params, const std::string& key, const at::Tensor& weight, int64_t rank,
                        at::Generator& gen);
// The trained pairs params[prefix + module + ".down" / ".up"] of `modules` as file layers (on the CPU).
std::vector<LoraLayer> trained_lora_layers(const TensorMap& params, const std::string& prefix,
                                           const std::vector<std::string>& modules, const std::string& component,
                                           float alpha);

// delta W of a layer at `strength` (flattened to the weight's shape), in `like`'s dtype and device.
at::Tensor lora_delta(const LoraLayer& layer, double strength, const at::Tensor& like);

}  // namespace atelier
