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
    // Text-to-video: an AnimateDiff motion module, as by Model::set_motion_module after loading. Empty: the
    // folder's own motion_adapter/ (diffusers' AnimateDiff layout) when it has one, else images only.
    std::string motion_module;
    int motion_module_heads = 0;
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
    // What a request leaves at 0 / below 0 gets: 20 steps and guidance 7.5 (SD's usual), unless the model
    // folder's optional atelier.json says otherwise ({"default_steps": 10, "default_guidance": 5.0}).
    int default_steps = 20;
    float default_guidance = 7.5f;
    // A prompt the folder's author knows the model draws well (atelier.json "example_prompt"; empty: none):
    // the studio shows it as the first picture on a first launch.
    std::string example_prompt;
    int latent_channels = 4, vae_scale_factor = 8;
    int text_hidden_size = 768;
    int64_t unet_parameters = 0, vae_parameters = 0, text_encoder_parameters = 0;
    std::vector<std::string> notes;  // human-readable details of what the loader inferred
    std::string motion_module;       // path of the motion module in use (empty: images only)
    int motion_max_frames = 0;       // the most frames it supports
    int64_t motion_parameters = 0;
    std::string motion_text_lora;    // the module's cross-attention LoRA, applied to clips only (empty: none)
    // Phrases that pick one of the module's motion LoRAs for a clip ("moving to the left"; its
    // motion_loras.json), in the file's order; empty: none.
    std::vector<std::string> motion_phrases;
};

// The phrases (ModelInfo::motion_phrases) a prompt holds, which pick their motion LoRAs for a clip: whole
// words, any case, `<lora:>` tags aside; of two overlapping phrases only the longer; in `phrases`' order.
std::vector<std::string> motion_phrases_in(const std::string& prompt, const std::vector<std::string>& phrases);

class Model {
public:
    static std::shared_ptr<Model> load(const LoadOptions& options);
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const ModelInfo& info() const;

    // Text-to-video (AnimateDiff, arXiv 2307.04725): motion modules inserted into the UNet, from a
    // diffusers MotionAdapter folder (config.json + diffusion_pytorch_model.safetensors) or an original
    // AnimateDiff .safetensors (mm_sd_v15 / v2 / v3 layouts; mid-block module optional, positional table
    // stored or recomputed). `heads`: 0 = the folder's config.json, else 8 (shapes cannot tell);
    // `per_frame_groupnorm`: the original AnimateDiff GroupNorm per frame instead of diffusers' over all
    // frames. Throws atelier::Error naming the tensor and the expected vs found shape when the module
    // does not fit this model (the model is then unchanged). A folder may also carry text_lora.safetensors
    // (atelier/train_motion.h): a LoRA on the UNet's cross-attention trained with the module, applied to
    // clips at strength 1 and never to still images. And motion_loras.json: motion LoRAs chosen by a phrase
    // of the prompt, {"motion_loras": [{"phrase": "moving to the left", "file": "left.safetensors",
    // "strength": 1.0}, ...]} (file relative to the folder; strength optional, 1): a clip whose prompt
    // contains the phrase (whole words, any case) gets that LoRA; of two phrases where one holds the other,
    // only the longer counts. An empty path removes the module.
    // Not while a generate() call runs on this model.
    void set_motion_module(const std::string& path, int heads = 0, bool per_frame_groupnorm = false);

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
    float strength = 1.0f;   // LoRA scale; rank-1: scales the edit; TI: unused
    std::string token;       // empty: the token stored in the file
    std::optional<float> gate_bias, gate_temperature;  // rank-1 only: override the stored gate
};

struct GenerateRequest {
    std::string prompt;                // for clips may travel: "FRAME: text" lines (atelier/prompt_travel.h)
    std::string negative_prompt;
    uint64_t seed = 0;                 // image i of the batch uses seed + i
    int steps = 0;                     // 0: the model's default (ModelInfo::default_steps)
    float guidance = -1;               // classifier-free guidance scale; <= 1 runs the conditional branch only;
                                       // < 0: the model's default (ModelInfo::default_guidance)
    std::string sampler;               // "ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"; empty: the model's default
    std::string timestep_spacing;      // "leading", "trailing", "linspace"; empty: the scheduler config's
    int width = 0, height = 0;         // multiples of 8; 0: the model's default size
    int batch = 1;
    int clip_skip = 1;                 // 2: use the penultimate text-encoder layer

    // Text-to-video (needs a motion module on the Model): 0 or 1 makes images; 2..ModelInfo::
    // motion_max_frames (AnimateDiff: 8..32, trained at 16) makes `batch` clips of that many frames, as
    // diffusers' AnimateDiffPipeline does (the scheduler config is used as is, without the SD pipeline's
    // steps_offset / clip_sample rewrites; guidance over the whole [B, C, F, h, w] video; the VAE decodes
    // one frame at a time). No init_image for videos. `fps` is only recorded (playback, GIF export).
    int frames = 0;
    float fps = 8.0f;
    // Clips: apply the motion module's motion LoRAs whose phrase the prompt contains (ModelInfo::
    // motion_phrases; the folder's motion_loras.json). False: the module alone.
    bool motion_words = true;

    // img2img: start from this picture, noised to `strength` of the schedule.
    std::optional<Image> init_image;
    float strength = 0.75f;
    // Exactly diffusers' `latents=` argument ([B, C, H/f, W/f]; videos [B, C, F, H/f, W/f]); scaled by
    // init_noise_sigma.
    std::optional<FloatTensor> init_latents;
    bool keep_final_latents = false;   // fill GenerateResult::final_latents (before VAE decode)

    // Live previews: every `preview_interval` steps, an RGB picture of the current x0 estimate
    // (a cheap latent-to-RGB projection, or a full VAE decode if `preview_full_decode`). The preview shows
    // image 0 of the batch; projections are at latent size (W/f x H/f), full decodes at W x H. `step` counts
    // the steps run (1..total, as on_progress). Videos: a contact strip of all frames of clip 0, frame f at
    // row f / 8, column f % 8 (min(frames, 8) columns, no gaps), each frame at the size above.
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
    int frames = 0;       // > 1: the image is frame `frame_index` of a clip of that many frames
    int frame_index = 0;
    float fps = 0;
    std::string motion_module;  // file or folder name of the motion module
};

struct GenerateResult {
    std::vector<Image> images;             // videos: frame f of clip b is images[b * frames + f]
    std::vector<GenerationParams> params;  // one per image (seed differs)
    int frames = 1;                        // frames per clip (1: images)
    bool cancelled = false;                // true: stopped early, `images` is empty
    double duration_ms = 0;
    std::optional<FloatTensor> final_latents;  // [B, C, h, w]; videos [B, C, F, h, w]
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
