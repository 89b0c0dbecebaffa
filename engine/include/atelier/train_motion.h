// atelier/train_motion.h - trains an AnimateDiff motion module (Guo et al. 2023, arXiv 2307.04725) for a
// still model, here the embedded default model, on procedural clips of the world (a scene moving left,
// growing, spinning, ...), and writes a diffusers MotionAdapter folder that Model::set_motion_module reads.
//
//     atelier::TrainMotionRequest request;
//     request.base_dir = "resources/models/atelier-tiny";
//     request.out_dir = "/tmp/atelier-tiny-motion";
//     request.on_progress = [](const atelier::TrainMotionProgress& p) { ... };
//     atelier::TrainMotionResult result = atelier::train_motion_module(request);
//
// With motion_lora_rank the module stays frozen too and a motion LoRA on its attention learns instead
// (out_dir/motion_lora.safetensors). The still model (text encoder, UNet, autoencoder) stays frozen (a text LoRA, when asked, rides on it); the
// motion modules learn, by epsilon prediction (MSE) on the 5-D video latents with 10% caption dropout. The
// modules start as the identity (proj_out zero; or as `init_from`), so an untrained module leaves every
// frame as the still model draws it. The clips' latents are encoded once (phase "encode"); AdamW with
// warmup + cosine and an EMA of the weights (the EMA is exported, as float16). Checkpoints go to out_dir/checkpoints/ every checkpoint_every steps and
// on cancel; `resume` continues from them exactly. Same request on the same machine, build and thread
// count gives the same file on the CPU (on a GPU nearly). Runs on the calling thread; cancel from any thread.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "atelier/engine.h"

namespace atelier {

// The cross-attention LoRA a motion-adapter folder may carry (kohya keys; AnimateDiff v3 ships a spatial
// LoRA beside its module in the same spirit).
inline constexpr const char* kMotionTextLoraFile = "text_lora.safetensors";
// What a motion-LoRA training writes into out_dir (diffusers/PEFT keys, `unet.<module>.lora_A.weight`).
inline constexpr const char* kMotionLoraFile = "motion_lora.safetensors";
// Motion LoRAs a motion-adapter folder may carry, chosen by a phrase of the prompt (Model::set_motion_module).
inline constexpr const char* kMotionLorasFile = "motion_loras.json";

struct TrainMotionProgress {
    std::string phase;  // "encode" (latents of the clip data set), "train", "export"
    int64_t step = 0, total = 0;
    double loss = 0;  // running average
    double step_seconds = 0, eta_seconds = 0;
};

struct TrainMotionRequest {
    std::string base_dir;   // the still model: a diffusers folder (read only)
    std::string out_dir;    // the MotionAdapter folder to write; checkpoints in out_dir/checkpoints/
    int frames = 16;        // per training clip (the module supports up to max_frames)
    int64_t steps = 3000;
    int batch = 2;          // clips per step
    double lr = 5e-4;
    uint64_t seed = 1;      // the clips, the initialisation and the noise
    int threads = 1;        // at::set_num_threads (on a GPU: the threads that render the clips)
    std::string device = "auto";  // "auto" (CUDA when present), "cpu", "cuda", "cuda:N"
    int64_t checkpoint_every = 100;
    bool resume = false;    // continue from out_dir/checkpoints (else start from scratch)
    int64_t clips = 0;      // clips in the encoded data set; 0: min(steps * batch, 2048)
    int frame_size = 64;    // rendered frame size in pixels (the base model's picture size)
    int heads = 4;          // attention heads of every module (must divide each level's channels)
    int max_frames = 32;    // rows of the positional table: the most frames the module generates
    bool gradient_checkpointing = false;  // recompute block activations in the backward pass (memory for time)
    // A MotionAdapter folder (diffusers layout, as this trainer writes) whose weights replace the identity
    // start: fine-tuning a module that already draws coherent clips.
    std::string init_from;
    // > 0: a LoRA of this rank on the still UNet's cross-attention projections learns with the modules, so
    // the caption's motion words reach the per-frame features the temporal attention reads (the modules
    // themselves have no text input). Written as out_dir/kMotionTextLoraFile; the loader applies it to
    // clips only, never to still images.
    int text_lora_rank = 0;
    // Timesteps are drawn from [min_timestep, 1000). Where a clip's motion is decided is the first, noisiest
    // steps (below them the noisy frames already show it), so fine-tuning for the words draws from there.
    int min_timestep = 0;
    // > 0: train a motion LoRA instead (AnimateDiff's MotionLoRA: low-rank adapters of this rank on the
    // temporal attention projections, q, k, v, out of attn1 and attn2 of every module), the module itself
    // frozen: `init_from`, or the base model's own motion_adapter/ when init_from is empty. Written as
    // out_dir/kMotionLoraFile, a file `GenerateRequest::loras` and `<lora:...>` apply to clips; a small
    // adapter per motion (with `motions`) in place of a retrained module.
    int motion_lora_rank = 0;
    // The motions the clips show, by name ("left", "grow", ...; world::all_motion_names()); empty: all nine.
    std::vector<std::string> motions;
    std::function<void(const TrainMotionProgress&)> on_progress;
    const CancelToken* cancel = nullptr;
};

struct TrainMotionResult {
    bool cancelled = false;
    double encode_seconds = 0, train_seconds = 0;  // this run's time per phase
    double loss = 0;                               // final running average
    int64_t steps_done = 0;                        // the trainer's step when it stopped
    int64_t parameters = 0;                        // trained: of the motion modules, or of the motion LoRA
    int64_t text_lora_parameters = 0;              // of the cross-attention LoRA (0: none)
};

// Throws atelier::Error when base_dir is not a loadable model, the request's numbers are out of range,
// or the UNet's channels do not divide into `heads`.
TrainMotionResult train_motion_module(const TrainMotionRequest& request);

// A motion LoRA extracted from a fine-tuned motion module, as kohya's extract_lora_from_models does for UNets:
// for every Linear of the module, the best rank-`rank` approximation (truncated SVD) of tuned - base, written
// with diffusers/PEFT keys to `out_path` — a small file that turns `base` into (nearly) `tuned` wherever a
// motion LoRA applies (--lora, <lora:...>, a motion folder's motion_loras.json). Changes outside the Linears'
// weights (biases, norms) cannot ride on a LoRA: the result says how large a share of the change they were.
struct ExtractMotionLoraRequest {
    std::string base;      // the motion module the LoRA will apply to: MotionAdapter folder or original file
    std::string tuned;     // the same module after fine-tuning (either layout)
    std::string out_path;  // .safetensors to write
    int rank = 32;         // per Linear, at most min(in, out)
    bool half = false;     // store the factors as float16 (half the file; what kohya's extraction usually saves)
};

struct ExtractMotionLoraResult {
    int layers = 0;        // Linears that changed, one LoRA pair each
    int64_t values = 0;    // numbers in the file (2 or 4 bytes each)
    double kept = 0;       // share of the Linear weight changes' squared norm the pairs keep (1: exact)
    double outside = 0;    // share of the whole change's squared norm outside the Linear weights (not carried)
};

// Throws atelier::Error naming the file and tensor when the two modules differ in layout or shapes, when
// nothing changed, or for a rank < 1.
ExtractMotionLoraResult extract_motion_lora(const ExtractMotionLoraRequest& request);

}  // namespace atelier
