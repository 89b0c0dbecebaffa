// CLIP text encoder (Radford et al. 2021), following Hugging Face transformers' CLIPTextModel (internal).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "runtime/tensors.h"

namespace atelier {

struct ClipTextConfig {
    int vocab_size = 49408;
    int hidden_size = 768;
    int intermediate_size = 3072;
    int num_hidden_layers = 12;
    int num_attention_heads = 12;
    int max_position_embeddings = 77;
    std::string hidden_act = "quick_gelu";  // "quick_gelu" (SD1) or "gelu" (SD2 OpenCLIP)
    double layer_norm_eps = 1e-5;

    // A transformers `config.json` (text_encoder/config.json). Throws atelier::Error naming the file/field.
    static ClipTextConfig from_json_file(const std::string& path);
    // From the Hugging Face tensor names and shapes. Heads: hidden/64 (SD1 768 -> 12, SD2 1024 -> 16),
    // else the largest of 16/12/8/4/2/1 dividing hidden; hidden_act gelu for hidden 1024 (OpenCLIP).
    static ClipTextConfig infer(const TensorMap& weights);
};

class ClipTextModel {
public:
    // `weights` use Hugging Face names ("text_model.embeddings.token_embedding.weight", ...; a
    // leading "text_model." is optional). Missing or mis-shaped tensors throw atelier::Error naming
    // the tensor and its expected shape. Unused extra tensors (position_ids, projections) are ignored.
    ClipTextModel(ClipTextConfig config, const TensorMap& weights);

    // input_ids [B, T] int64 (T <= max_position_embeddings) -> hidden states [B, T, hidden].
    // clip_skip 1: last_hidden_state (after the final LayerNorm); 2: the penultimate layer's
    // output through the final LayerNorm (A1111/diffusers), and so on.
    at::Tensor forward(const at::Tensor& input_ids, int clip_skip = 1) const;
    // As forward(), from token embeddings [B, T, hidden] (before position embeddings are added).
    at::Tensor forward_embeddings(const at::Tensor& token_embeddings, int clip_skip = 1) const;
    // ids [B, T] -> token embeddings [B, T, hidden]; ids >= vocab_size use the extra rows.
    at::Tensor embed_tokens(const at::Tensor& ids) const;

    // Rows [N, hidden] for ids vocab_size .. vocab_size+N-1 (textual inversion); replaces earlier ones.
    void set_extra_embeddings(const at::Tensor& rows);
    int64_t extra_embedding_count() const;
    const at::Tensor& extra_embeddings() const { return extra_embeddings_; }  // undefined when none

    // A projection weight or bias by its Hugging Face name, "text_model." optional
    // ("encoder.layers.0.self_attn.q_proj.weight", "...mlp.fc1.bias"), or nullptr: where text-encoder
    // LoRA deltas are merged.
    at::Tensor* find_parameter(const std::string& name);

    const ClipTextConfig& config() const { return config_; }
    void to(at::Device device, at::ScalarType dtype);
    int64_t parameter_count() const;
    at::Device device() const;
    at::ScalarType dtype() const;

private:
    struct Layer {
        at::Tensor ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
    };
    std::vector<at::Tensor*> parameters();

    ClipTextConfig config_;
    at::Tensor token_embedding_, position_embedding_, extra_embeddings_;
    std::vector<Layer> layers_;
    at::Tensor final_ln_w_, final_ln_b_;
};

// Hugging Face CLIP text-encoder weights from an original single-file SD checkpoint:
// SD1 `cond_stage_model.transformer.text_model.*` (also `cond_stage_model.transformer.*` without
// `text_model`), and SD2 OpenCLIP `cond_stage_model.model.*` (fused in_proj split into q/k/v).
// `position_ids` and unrelated keys are dropped. Returns an empty map when none are present.
TensorMap clip_text_weights_from_checkpoint(const TensorMap& checkpoint);

}  // namespace atelier
