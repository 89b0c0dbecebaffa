// atelier/concepts.h - enroll a concept (a subject or a style) from a few pictures, and use concept files
// users already have: textual inversion, LoRA, and key-locked rank-1 edits (Perfusion).
//
//     atelier::TrainConceptRequest request;
//     request.method = "textual_inversion";          // or "lora", "rank1"
//     request.images = {...};                         // 3-20 pictures of the subject
//     request.token = "<my-mug>";  request.class_word = "mug";
//     request.out_path = "my-mug.safetensors";
//     request.on_progress = [](const atelier::TrainConceptProgress& p) { ... };
//     atelier::TrainConceptResult result = atelier::train_concept(*model, request);
//
//     atelier::GenerateRequest g;                      // then, in engine.h:
//     g.prompt = "a photo of <my-mug> on a beach";
//     g.concepts.push_back({result.artifact_path, 1.0f});
//
// Files (safetensors): textual inversion in the diffusers layout ({token: [N, dim]}); LoRA with kohya keys
// (lora_unet_*, .lora_down/.lora_up/.alpha); rank-1 edits: the word embedding, i*, the gate direction, i_class and one value
// target per cross-attention (about 60 KB on SD 1.5).
// Each carries metadata atelier.method / atelier.token / atelier.class_word.
//
// Thread safety: train_concept uses the Model exclusively (like generate) and leaves it as it found it;
// run it on a worker thread; callbacks run on that thread; the cancel token may be set from any thread.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "atelier/engine.h"

namespace atelier {

struct TrainConceptProgress {
    int64_t step = 0, total = 0;
    double loss = 0, loss_avg = 0;
    double lr = 0;
    double step_seconds = 0, eta_seconds = 0;
};

struct TrainConceptRequest {
    std::string method = "textual_inversion";  // "textual_inversion" (or "ti"), "lora", "rank1"
    std::vector<Image> images;                 // centre-cropped and resized to width x height
    std::vector<Image> class_images;           // optional prior preservation: pictures of the class word
    float prior_weight = 1.0f;                 // weight of their loss (DreamBooth's lambda)
    std::string token;                         // the new word, e.g. "<my-mug>"
    std::string class_word;                    // e.g. "mug": initialises TI / rank-1, the key lock of rank-1
    int64_t steps = 0;                         // 0: the method's default (TI 400, LoRA 300, rank-1 300)
    double lr = 0;                             // 0: the method's default (TI 5e-3, LoRA 1e-3, rank-1 5e-3)
    int batch = 4;
    int vectors = 1;                           // TI: vectors of the token
    int rank = 4;                              // LoRA rank
    float alpha = 0;                           // LoRA alpha; 0: = rank
    bool lora_text_encoder = false;            // LoRA: also adapters on the text encoder's attention (lora_te_*)
    // LoRA: also adapters on the UNet's resnet 3x3 convolutions (kohya / LyCORIS "LoCon", lora_unet_*_conv1):
    // they reach the levels where a small UNet has no attention and outlines are drawn (on the embedded
    // model a new shape is found in 64 % of pictures against 20 % with attention alone; bench_concepts).
    // false: the attention projections only (the classic LoRA).
    bool lora_convolutions = true;
    bool flip = true;                          // also train on mirrored pictures
    int width = 0, height = 0;                 // training size (multiples of 8); 0: the model's default
    // Recompute each UNet block's activations in the backward pass instead of keeping them: the same
    // artifact in less memory (0.42x the activations of an SD 1.5 step at 512 px), one more forward per block.
    bool gradient_checkpointing = false;
    float gate_bias = 0.75f, gate_temperature = 0.1f;  // rank-1 gate during training (stored as defaults)
    std::vector<std::string> prompt_templates; // "{}" is the token; empty: "a {}", "a photo of a {}", ...
    // One caption per picture ("{}" is the token), e.g. "a red {} on a striped blue background": what a caption
    // names is not learnt into the token (kohya-style captions). Empty: the templates. With `flip`, name nothing
    // a mirror changes (left / right).
    std::vector<std::string> captions;
    uint64_t seed = 1;                         // same seed, images and settings: same artifact
    int threads = 0;                           // at::set_num_threads when > 0
    std::string out_path;                      // the artifact
    std::string checkpoint_path;               // empty: out_path + ".ckpt"
    int64_t checkpoint_every = 100;
    bool resume = false;                       // continue from checkpoint_path if it exists
    std::function<void(const TrainConceptProgress&)> on_progress;
    const CancelToken* cancel = nullptr;
};

struct TrainConceptResult {
    bool cancelled = false;                // the checkpoint holds the progress; resume to continue
    std::string method, artifact_path, token;
    int64_t steps = 0;
    int64_t artifact_bytes = 0;
    int64_t trained_parameters = 0;
    double seconds = 0;
    double loss_avg = 0;                   // final running average of the training loss
    // The diffusion loss on a fixed batch (every picture, fixed timesteps and noise) before and after.
    double eval_loss_before = 0, eval_loss_after = 0;
};

TrainConceptResult train_concept(Model& model, const TrainConceptRequest& request);

// One entry of `captions` from what a person wrote (a kohya-style PICTURE.txt, the Concepts page): surrounding
// whitespace dropped, the concept written as {} or as `token` (its first occurrence becomes {}). Throws Error
// when the caption names neither. Needs no model.
std::string concept_caption(const std::string& text, const std::string& token);

// What a concept file is: method "textual_inversion" / "lora" / "rank1", format "a1111", "diffusers",
// "kohya", "peft" or "atelier".
struct ConceptFileInfo {
    std::string path, method, format, token, class_word;
    int64_t size_bytes = 0;
    int64_t parameters = 0;
    int64_t vectors = 0;   // TI
    int64_t rank = 0;      // LoRA (largest)
    int64_t layers = 0;    // LoRA / rank-1 modules
    bool motion = false;   // LoRA: every layer is in the motion modules (an AnimateDiff motion LoRA: clips only)
    std::map<std::string, std::string> metadata;
};
ConceptFileInfo inspect_concept_file(const std::string& path);

// Rewrites a TI file as "a1111" or "diffusers", or a LoRA file as "kohya" or "peft" (needs the model to
// resolve kohya names). Same numbers, other keys.
void convert_concept_file(Model& model, const std::string& in_path, const std::string& out_path,
                          const std::string& format);

// Adds a LoRA into the model's weights for good (UNet and text encoder).
void merge_lora(Model& model, const LoraSpec& lora);

// Takes `<lora:name:0.8>` / `<lora:name>` out of a prompt; appends them to `found` when given.
std::string strip_lora_tags(const std::string& prompt, std::vector<LoraSpec>* found = nullptr);

}  // namespace atelier
