// atelier-cli train-base: trains the embedded default model from scratch (see atelier/train_base.h).
// atelier-cli train-motion: trains a motion module for a still model (see atelier/train_motion.h).
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "atelier/error.h"
#include "atelier/train_base.h"
#include "atelier/train_motion.h"
#include "commands.h"

namespace atelier::cli {

namespace {

// Ctrl+C sets the token (an atomic store, safe in a signal handler): the trainer checkpoints and stops.
// A second Ctrl+C kills as usual.
CancelToken g_train_cancel;
void on_train_sigint(int) {
    g_train_cancel.cancel();
    std::signal(SIGINT, SIG_DFL);
}

std::string duration(double seconds) {
    char buffer[32];
    const long s = long(seconds + 0.5);
    if (s >= 3600) std::snprintf(buffer, sizeof buffer, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else std::snprintf(buffer, sizeof buffer, "%ldm%02lds", s / 60, s % 60);
    return buffer;
}

// One progress line per phase at most every 2 s, and at each phase's end.
class ProgressPrinter {
public:
    template <class Progress>
    void operator()(const Progress& p) {
        const auto now = std::chrono::steady_clock::now();
        const bool end = p.step == p.total;
        if (p.phase == last_phase_ && !end && now - last_print_ < std::chrono::seconds(2)) return;
        last_print_ = now;
        last_phase_ = p.phase;
        std::printf("%-6s %6lld/%-6lld loss %.4f  %.2f s/step  ETA %s\n", p.phase.c_str(), (long long)p.step,
                    (long long)p.total, p.loss, p.step_seconds, duration(p.eta_seconds).c_str());
        std::fflush(stdout);
    }

private:
    std::chrono::steady_clock::time_point last_print_ = std::chrono::steady_clock::now() - std::chrono::seconds(10);
    std::string last_phase_;
};

}  // namespace

void add_train_commands(CLI::App& app, GlobalOptions& global) {
    auto request = std::make_shared<TrainBaseRequest>();
    auto* cmd = app.add_subcommand("train-base", "train the embedded default model (atelier-tiny) from scratch");
    cmd->add_option("--out", request->out_dir, "model folder to write (checkpoints in OUT/checkpoints)")->required();
    cmd->add_option("--vae-steps", request->vae_steps, "autoencoder steps")->capture_default_str();
    cmd->add_option("--unet-steps", request->unet_steps, "text encoder + UNet steps")->capture_default_str();
    cmd->add_option("--unet-stop-after", request->unet_stop_after,
                    "stop the UNet phase after N steps of the --unet-steps schedule, and export")->capture_default_str();
    cmd->add_option("--decoder-steps", request->decoder_steps, "decoder fine-tuning steps (encoder frozen)")
        ->capture_default_str();
    cmd->add_option("--words-steps", request->words_steps,
                    "text-encoder steps that teach it to ignore words the world never uses")->capture_default_str();
    cmd->add_option("--words-batch", request->words_batch, "captions per words step")->capture_default_str();
    auto only = std::make_shared<std::string>();
    cmd->add_option("--only", *only, "run one finishing phase alone on an exported model folder")
        ->check(CLI::IsMember({"decoder", "words"}));
    cmd->add_option("--vae-batch", request->vae_batch, "autoencoder batch size")->capture_default_str();
    cmd->add_option("--unet-batch", request->unet_batch, "UNet batch size")->capture_default_str();
    cmd->add_option("--seed", request->seed, "seed of the data, the initialisation and the noise")->capture_default_str();
    cmd->add_option("--max-scenes", request->max_scenes, "most scenes in the UNet's encoded data set")
        ->capture_default_str();
    cmd->add_option("--device", request->device, "auto (CUDA when present), cpu, cuda, cuda:N")->capture_default_str();
    cmd->add_option("--checkpoint-every", request->checkpoint_every, "steps between checkpoints")->capture_default_str();
    cmd->add_flag("--resume", request->resume, "continue from OUT/checkpoints");
    cmd->callback([request, only, &global] {
        TrainBaseRequest r = *request;
        // One thread unless asked: on a busy 2-core machine two OpenMP threads spin-wait for each other (a VAE
        // step took 7.5 s with 2 threads, 0.9 s with 1). With a GPU, --threads N renders the scenes on N threads.
        r.threads = global.threads > 0 ? global.threads : 1;
        r.cancel = &g_train_cancel;
        ProgressPrinter print;
        r.on_progress = [&](const TrainBaseProgress& p) { print(p); };
        std::signal(SIGINT, on_train_sigint);
        const TrainBaseResult result = *only == "decoder" ? finetune_base_decoder(r)
                                       : *only == "words" ? finetune_base_words(r)
                                                          : train_base_model(r);
        std::signal(SIGINT, SIG_DFL);
        if (result.cancelled) {
            std::cout << "cancelled: checkpoint saved in " << r.out_dir << "/checkpoints (continue with --resume)\n";
            std::exit(130);
        }
        if (!only->empty()) {
            std::printf("done: %s\n  %s %s (loss %.4f)\n", r.out_dir.c_str(), only->c_str(),
                        duration(*only == "words" ? result.words_seconds : result.decoder_seconds).c_str(),
                        *only == "words" ? result.words_loss : result.decoder_loss);
            return;
        }
        std::printf("done: %s\n  vae %s (loss %.4f), encode %s, unet %s (loss %.4f), decoder %s (loss %.4f), words %s (loss %.4f)\n"
                    "  scaling_factor %.5f, parameters: unet %lld, vae %lld, text encoder %lld\n",
                    r.out_dir.c_str(), duration(result.vae_seconds).c_str(), result.vae_loss,
                    duration(result.encode_seconds).c_str(), duration(result.unet_seconds).c_str(), result.unet_loss,
                    duration(result.decoder_seconds).c_str(), result.decoder_loss,
                    duration(result.words_seconds).c_str(), result.words_loss, result.scaling_factor, (long long)result.unet_parameters, (long long)result.vae_parameters,
                    (long long)result.text_encoder_parameters);
    });

    auto motion = std::make_shared<TrainMotionRequest>();
    auto* mcmd = app.add_subcommand("train-motion", "train a motion module (text-to-video) for a still model");
    mcmd->add_option("--base", motion->base_dir, "the still model's folder (frozen)")->required();
    mcmd->add_option("--out", motion->out_dir, "MotionAdapter folder to write (checkpoints in OUT/checkpoints)")->required();
    mcmd->add_option("--frames", motion->frames, "frames per training clip")->capture_default_str();
    mcmd->add_option("--steps", motion->steps, "training steps")->capture_default_str();
    mcmd->add_option("--batch", motion->batch, "clips per step")->capture_default_str();
    mcmd->add_option("--lr", motion->lr, "peak learning rate (AdamW, warmup + cosine)")->capture_default_str();
    mcmd->add_option("--clips", motion->clips, "clips in the encoded data set (0: min(steps x batch, 2048))")
        ->capture_default_str();
    mcmd->add_option("--frame-size", motion->frame_size, "rendered frame size in pixels")->capture_default_str();
    mcmd->add_option("--seed", motion->seed, "seed of the clips, the initialisation and the noise")->capture_default_str();
    mcmd->add_option("--device", motion->device, "auto (CUDA when present), cpu, cuda, cuda:N")->capture_default_str();
    mcmd->add_option("--checkpoint-every", motion->checkpoint_every, "steps between checkpoints")->capture_default_str();
    mcmd->add_flag("--resume", motion->resume, "continue from OUT/checkpoints");
    mcmd->add_option("--init-from", motion->init_from, "a MotionAdapter folder to fine-tune (default: start as the identity)");
    mcmd->add_option("--text-lora-rank", motion->text_lora_rank,
                     "rank of a LoRA on the still UNet's cross-attention trained with the modules, so the caption's "
                     "motion words reach them (0: none)")
        ->capture_default_str();
    mcmd->add_option("--motion-lora-rank", motion->motion_lora_rank,
                     "train a motion LoRA of this rank instead (AnimateDiff MotionLoRA: the module frozen, --init-from or "
                     "the base model's motion_adapter/; writes OUT/motion_lora.safetensors; 0: train the module)")
        ->capture_default_str();
    mcmd->add_option("--min-timestep", motion->min_timestep,
                     "draw training timesteps from [T, 1000): the noisy steps where a clip's motion is decided")
        ->capture_default_str();
    mcmd->add_option("--motions", motion->motions, "train on clips of these motions only (default: all nine)")
        ->delimiter(',');
    mcmd->add_flag("--gradient-checkpointing", motion->gradient_checkpointing,
                   "recompute the UNet's activations in the backward pass: less memory, one more forward");
    mcmd->callback([motion, &global] {
        TrainMotionRequest r = *motion;
        r.threads = global.threads > 0 ? global.threads : 1;  // as train-base: one thread unless asked
        r.cancel = &g_train_cancel;
        ProgressPrinter print;
        r.on_progress = [&](const TrainMotionProgress& p) { print(p); };
        std::signal(SIGINT, on_train_sigint);
        const TrainMotionResult result = train_motion_module(r);
        std::signal(SIGINT, SIG_DFL);
        if (result.cancelled) {
            std::cout << "cancelled at step " << result.steps_done << ": checkpoint saved in " << r.out_dir
                      << "/checkpoints (continue with --resume)\n";
            std::exit(130);
        }
        if (r.motion_lora_rank > 0) {
            std::printf("done: %s/%s\n  encode %s, train %s (loss %.4f), %lld motion-LoRA parameters\n", r.out_dir.c_str(),
                        kMotionLoraFile, duration(result.encode_seconds).c_str(), duration(result.train_seconds).c_str(),
                        result.loss, (long long)result.parameters);
            return;
        }
        std::printf("done: %s\n  encode %s, train %s (loss %.4f), %lld motion-module parameters, %lld text-LoRA parameters\n",
                    r.out_dir.c_str(), duration(result.encode_seconds).c_str(), duration(result.train_seconds).c_str(),
                    result.loss, (long long)result.parameters, (long long)result.text_lora_parameters);
    });

    auto extract = std::make_shared<ExtractMotionLoraRequest>();
    auto* xcmd = app.add_subcommand("extract-motion-lora",
                                    "a motion LoRA from a fine-tuned motion module (truncated SVD of each Linear's change)");
    xcmd->add_option("--base", extract->base, "the motion module the LoRA will apply to (folder or file)")->required();
    xcmd->add_option("--tuned", extract->tuned, "the same module fine-tuned (train-motion --init-from BASE)")->required();
    xcmd->add_option("--rank", extract->rank, "rank per Linear")->capture_default_str();
    xcmd->add_option("-o,--output", extract->out_path, "the LoRA file to write (.safetensors, diffusers/PEFT keys)")->required();
    xcmd->add_flag("--half", extract->half, "store the factors as float16 (half the size)");
    xcmd->callback([extract] {
        const ExtractMotionLoraResult r = extract_motion_lora(*extract);
        std::printf("wrote %s: %d Linears, %lld values; the pairs keep %.1f%% of the Linear weights' change, "
                    "%.1f%% of the whole change lay outside them (biases, norms) and is not carried\n",
                    extract->out_path.c_str(), r.layers, (long long)r.values, 100 * r.kept, 100 * r.outside);
    });
}

}  // namespace atelier::cli
