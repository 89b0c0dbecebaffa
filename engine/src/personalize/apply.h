// Concepts, LoRAs and embeddings applied to a Model for one request, and undone afterwards (internal).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "atelier/concepts.h"
#include "atelier/engine.h"
#include "models/layers.h"
#include "models/unet.h"
#include "runtime/model_impl.h"
#include "personalize/embeddings.h"
#include "personalize/lora.h"
#include "personalize/rank1.h"
#include "text/clip_tokenizer.h"

namespace atelier {

// While alive: UNet LoRA deltas and rank-1 edits ride on the Linears as adapters, text-encoder LoRAs are
// merged into its weights, and textual-inversion rows are added (with a tokenizer that knows their words).
// The destructor puts everything back.
class AppliedPersonalization {
public:
    AppliedPersonalization(Model::Impl& model, const GenerateRequest& request);
    ~AppliedPersonalization();
    AppliedPersonalization(const AppliedPersonalization&) = delete;
    AppliedPersonalization& operator=(const AppliedPersonalization&) = delete;

    const ClipTokenizer& tokenizer() const;
    // `<lora:...>` tags taken out, multi-vector tokens expanded.
    std::string prompt(const std::string& text) const;

    void add_lora(const LoraFile& lora, double strength);
    void add_embedding(const TextualInversion& ti);
    void add_rank1(const Rank1Edit& edit, double strength, double bias, double temperature);
    void add_concept(const ConceptSpec& spec);

private:
    void undo();
    Linear& unet_linear(const std::string& name);
    bool is_unet_linear(const std::string& name);
    void attach(Linear& linear, std::shared_ptr<const LinearAdapter> adapter);
    // Adds the layer's change into `weight` until undo (convolutions, the text encoder, motion modules).
    void merge(at::Tensor& weight, const LoraLayer& layer, double strength);

    Model::Impl& m_;
    std::unique_ptr<ClipTokenizer> tokenizer_;
    std::vector<std::pair<std::string, int64_t>> expansions_;  // token, vectors
    std::vector<at::Tensor> new_rows_;
    at::Tensor old_extra_;
    bool extra_changed_ = false;
    std::vector<std::pair<Linear*, size_t>> attached_;          // linear, adapters before
    std::vector<std::pair<at::Tensor*, at::Tensor>> merged_;    // merged weight, original
    std::map<std::string, Linear*> linears_;
    std::map<std::string, Conv2d*> convs_;
};

LoraTargets lora_targets(Model::Impl& model);
// The Linears a LoRA may address by diffusers name: the UNet's and, when one is loaded, its motion
// modules' (a motion LoRA).
std::map<std::string, Linear*> adaptable_linears(UNet2DCondition& unet);
std::string resolve_lora_path(const std::string& name, const std::string& lora_dir);

}  // namespace atelier
