// atelier/engine.h - load a diffusion model and generate images from text.
//
//   atelier::LoadOptions options;
//   options.path = "models/tiny-sd-a";                 // a diffusers folder or a single .safetensors file
//   auto model = atelier::Model::load(options);
//   atelier::GenerateRequest request;
//   request.prompt = "a photo of a cat";
//   request.on_preview = [](int step, const atelier::Image& preview) { show(preview); };
//   atelier::GenerateResult result = atelier::generate(*model, request);
//
// Thread safety: a Model may be used by one generate() call at a time; it keeps no state of a
// request between calls. Callbacks run on the thread that called generate(). CancelToken may be
// set from any thread. All failures throw atelier::Error (see error.h); nothing aborts the process.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atelier/error.h"
#include "atelier/image.h"

namespace atelier {

// Set from any thread; the engine checks it at every step boundary.
class CancelToken {
public:
    void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
    void reset() { cancelled_.store(false, std::memory_order_relaxed); }
    bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> cancelled_{false};
};

// A dense float32 tensor crossing the public API (latents in and out), row-major.
struct FloatTensor {
    std::vector<int64_t> shape;
    std::vector<float> data;
};

struct LoadOptions {
    std::string path;                // diffusers folder (model_index.json) or single-file .safetensors
    std::string device = "auto";     // "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:N"
    std::string precision = "auto";  // "auto" (float16 on GPU, float32 on CPU), "float32", "float16", "bfloat16"
    std::string config_path;         // optional LDM yaml / diffusers config for a single file
};

// What was found in a model file: printed by `atelier-cli inspect`.
struct ModelInfo {
    std::string path;
    std::string format;             // "diffusers" or "single-file"
    std::string family;             // "sd1", "sd2"
    std::string id;                 // short content hash used in generation records
    std::string device;             // where it runs
    std::string precision;
    std::string prediction_type;    // "epsilon" or "v_prediction"
    std::string default_sampler;    // from the scheduler config
    int default_width = 512, default_height = 512;
    int latent_channels = 4, vae_scale_factor = 8;
    int text_hidden_size = 768;
    int64_t unet_parameters = 0, vae_parameters = 0, text_encoder_parameters = 0;
    std::vector<std::string> notes;  // human-readable details of what the loader inferred
};

class Model {
public:
    static std::shared_ptr<Model> load(const LoadOptions& options);
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const ModelInfo& info() const;

    struct Impl;
    Impl& impl() { return *impl_; }  // engine-internal

private:
    explicit Model(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Personalization for one request (training, file formats and merging: atelier/concepts.h). Files are
// safetensors; nothing stays applied to the Model after generate() returns.
struct LoraSpec {
    std::string path;        // a file, or a name looked up as <lora_dir>/<name>.safetensors
    float strength = 1.0f;   // multiplies the file's alpha/rank scale; 0 leaves the model untouched
};
struct EmbeddingSpec {       // textual inversion (A1111 `emb_params`/`string_to_param`, or diffusers {token: [N, dim]})
    std::string path;
    std::string token;       // empty: the diffusers key, else the file name without extension
};
struct ConceptSpec {         // an artifact of train_concept (TI, LoRA or rank-1 edit, read from its metadata)
    std::string path;
    float strength = 1.0f;   // LoRA scale; rank-1: scales the edit
    std::string token;       // empty: the token stored in the file
    std::optional<float> gate_bias, gate_temperature;  // rank-1 only: override the stored gate
};

struct GenerateRequest {
    std::string prompt;
    std::string negative_prompt;
    uint64_t seed = 0;                 // image i of the batch uses seed + i
    int steps = 20;
    float guidance = 7.5f;             // classifier-free guidance scale; <= 1 runs the conditional branch only
    std::string sampler;               // "ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"; empty: the model's default
    std::string timestep_spacing;      // "leading", "trailing", "linspace"; empty: the scheduler config's
    int width = 0, height = 0;         // multiples of 8; 0: the model's default size
    int batch = 1;
    int clip_skip = 1;                 // 2: use the penultimate text-encoder layer

    // img2img: start from this picture, noised to `strength` of the schedule.
    std::optional<Image> init_image;
    float strength = 0.75f;
    // Exactly diffusers' `latents=` argument ([B, C, H/f, W/f]); scaled by init_noise_sigma.
    std::optional<FloatTensor> init_latents;
    bool keep_final_latents = false;   // fill GenerateResult::final_latents (before VAE decode)

    // Live previews: every `preview_interval` steps, an RGB picture of the current x0 estimate
    // (a cheap latent-to-RGB projection, or a full VAE decode if `preview_full_decode`). The preview shows
    // image 0 of the batch; projections are at latent size (W/f x H/f), full decodes at W x H. `step` counts
    // the steps run (1..total, as on_progress).
    int preview_interval = 1;          // 0: no previews
    bool preview_full_decode = false;

    std::function<bool(int step, int total)> on_progress;        // return false to stop
    std::function<void(int step, const Image& preview)> on_preview;
    const CancelToken* cancel = nullptr;

    // Applied for this request only. `<lora:name:0.8>` in the prompt adds a LoRA too (taken out of
    // the text before encoding; the name is a path or is looked up in lora_dir).
    std::vector<LoraSpec> loras;
    std::vector<EmbeddingSpec> embeddings;
    std::vector<ConceptSpec> concepts;
    std::string lora_dir;
};

// Everything needed to regenerate an image exactly.
struct GenerationParams {
    std::string prompt, negative_prompt;
    uint64_t seed = 0;
    int steps = 0;
    float guidance = 0;
    std::string sampler, timestep_spacing;
    int width = 0, height = 0;
    int clip_skip = 1;
    float strength = 1.0f;
    std::string model_id, model_name;
};

struct GenerateResult {
    std::vector<Image> images;
    std::vector<GenerationParams> params;  // one per image (seed differs)
    bool cancelled = false;                // true: stopped early, `images` is empty
    double duration_ms = 0;
    std::optional<FloatTensor> final_latents;
};

GenerateResult generate(Model& model, const GenerateRequest& request);

// A1111's "parameters" text: prompt, "Negative prompt: ...", then "Steps: 20, Sampler: ..., ...".
std::string format_parameters(const GenerationParams& params);
GenerationParams parse_parameters(const std::string& text);  // throws Error on text it cannot read

// A float tensor in a safetensors file (latents for `--init-latents` / `--save-latents`). Reading takes
// the tensor `name`, or the only tensor when `name` is empty; F32, F16, BF16 and F64 are converted.
FloatTensor read_tensor_file(const std::string& path, const std::string& name = "");
void write_tensor_file(const std::string& path, const std::string& name, const FloatTensor& tensor);

}  // namespace atelier
