// atelier/train_base.h - trains the embedded default model ("atelier-tiny") from scratch on the procedural
// world, and writes it as a diffusers folder that Model::load (and diffusers) read.
//
//     atelier::TrainBaseRequest request;
//     request.out_dir = "/tmp/atelier-tiny";
//     request.on_progress = [](const atelier::TrainBaseProgress& p) { ... };
//     atelier::TrainBaseResult result = atelier::train_base_model(request);
//
// Four phases: the autoencoder (reconstruction + small KL), then the text encoder and the UNet jointly
// (epsilon prediction, 10% caption dropout for classifier-free guidance), then the decoder alone on the
// frozen encoder's latents (sharper pictures, same latent space), then the text encoder alone learns that
// words outside the world change nothing ("words"); each with AdamW, warmup + cosine
// and an EMA of the weights (the EMA is what gets exported). Checkpoints go to out_dir/checkpoints/ every
// few hundred steps and on cancel; `resume` continues from them. Same seed and step counts on the same
// machine and build give the same model on the CPU (on a GPU nearly: cuDNN's backward kernels may add in
// any order; the noise is drawn on the CPU either way). Runs on the calling thread; cancel from any thread.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "atelier/engine.h"

namespace atelier {

struct TrainBaseProgress {
    std::string phase;  // "vae", "encode" (latents of the UNet's data set), "unet", "export"
    int64_t step = 0, total = 0;
    double loss = 0;  // running average
    double step_seconds = 0, eta_seconds = 0;
};

struct TrainBaseRequest {
    std::string out_dir;          // the model folder; checkpoints in out_dir/checkpoints/
    // The defaults are the shipped model's recipe, sized to 9 minutes of one H100 (`--device cuda`); on this
    // project's 2-core CPU the same recipe would take about a day (see README, "The embedded model").
    int64_t vae_steps = 1085;
    int64_t unet_steps = 3157;
    int64_t unet_stop_after = 0;   // > 0: stop (and export) after this many UNet steps of the unet_steps schedule
    int64_t decoder_steps = 444;  // decoder fine-tuning on the frozen encoder's latents (0: none)
    int64_t words_steps = 400;    // text-encoder distillation for words the world never uses (0: none)
    int words_batch = 64;
    int vae_batch = 128;
    int unet_batch = 512;
    uint64_t seed = 1;
    bool resume = false;          // continue from out_dir/checkpoints (else start from scratch)
    int threads = 2;              // at::set_num_threads (on a GPU: the threads that render the scenes)
    std::string device = "auto";  // "auto" (CUDA when present), "cpu", "cuda", "cuda:N"
    int64_t max_scenes = 131072;   // scenes in the UNet's encoded data set: min(unet_steps * unet_batch, this)
    int64_t checkpoint_every = 200;
    // Written to the folder's atelier.json: what a request that leaves steps / guidance open gets.
    // Chosen on validation captions (bench_base_model --captions-from validation): guidance 2 keeps colour at
    // 91.5 % where 5 gives 55 % (strong guidance pushes this small model's colours off their hue), and 15 steps
    // read no better than 10.
    int default_steps = 10;
    float default_guidance = 2.0f;
    std::function<void(const TrainBaseProgress&)> on_progress;
    const CancelToken* cancel = nullptr;
};

struct TrainBaseResult {
    bool cancelled = false;
    double vae_seconds = 0, encode_seconds = 0, unet_seconds = 0;  // this run's time per phase
    double vae_loss = 0, unet_loss = 0;                            // final running averages
    double decoder_seconds = 0, decoder_loss = 0;
    double words_seconds = 0, words_loss = 0;
    double scaling_factor = 0;
    int64_t unet_parameters = 0, vae_parameters = 0, text_encoder_parameters = 0;
};

TrainBaseResult train_base_model(const TrainBaseRequest& request);
// The last phase alone: fine-tunes the exported autoencoder's decoder with the encoder frozen, so the
// latent space the UNet learned stays the same. Needs out_dir/vae; independent of the UNet (it may run
// beside the UNet phase and give the same weights). train_base_model calls it after the UNet.
TrainBaseResult finetune_base_decoder(const TrainBaseRequest& request);
// The "words" phase alone, on an exported folder: the model learned only the world's vocabulary, and any
// other word (", warm colours", a memory rule in the person's own words) used to scramble its pictures.
// The text encoder is distilled so that a caption with unknown words inserted gives the UNet (frozen) the
// prediction the original encoder gave for the caption alone, and the caption alone keeps its prediction.
// Only text_encoder/ changes. train_base_model calls it last.
TrainBaseResult finetune_base_words(const TrainBaseRequest& request);

}  // namespace atelier
