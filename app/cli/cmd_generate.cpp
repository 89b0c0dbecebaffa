// atelier-cli inspect | generate: what a model file holds, and text-to-image / img2img from the shell.
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "atelier/engine.h"
#include "atelier/error.h"
#include "atelier/image.h"
#include "atelier/prompt_rules.h"
#include "atelier/store.h"
#include "atelier/system.h"
#include "atelier/video.h"
#include "commands.h"

namespace fs = std::filesystem;

namespace atelier::cli {
namespace {

// Ctrl+C sets the token (an atomic store, safe in a signal handler); a second Ctrl+C kills as usual.
CancelToken g_cancel;
extern "C" void on_sigint(int) {
    g_cancel.cancel();
    std::signal(SIGINT, SIG_DFL);
}

std::string with_commas(int64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

// OUT.png -> OUT-3.png for image 3 of a batch.
std::string numbered(const std::string& path, int index, int count) {
    if (count == 1) return path;
    const fs::path p(path);
    return (p.parent_path() / (p.stem().string() + "-" + std::to_string(index) + p.extension().string())).string();
}

class ProgressBar {
public:
    explicit ProgressBar(bool enabled) : enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0) {}
    void start() { start_ = std::chrono::steady_clock::now(); }
    void update(int step, int total) {
        if (!enabled_) return;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        const double rate = elapsed > 0 ? step / elapsed : 0;
        const double eta = rate > 0 ? (total - step) / rate : 0;
        const int width = 24, filled = total > 0 ? step * width / total : width;
        std::ostringstream line;
        line << "[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] step " << step << "/" << total
             << "  " << std::fixed << std::setprecision(2) << rate << " it/s  ETA " << std::setprecision(1) << eta << " s";
        std::cerr << (tty_ ? "\r" : "") << line.str() << (tty_ ? "" : "\n") << std::flush;
        if (tty_ && step == total) std::cerr << "\n";
    }

private:
    bool enabled_, tty_;
    std::chrono::steady_clock::time_point start_;
};

void print_info(const ModelInfo& info) {
    std::cout << "path          " << info.path << "\n"
              << "format        " << info.format << "\n"
              << "family        " << info.family << "\n"
              << "id            " << info.id << "\n"
              << "device        " << info.device << " (" << info.precision << ")\n"
              << "prediction    " << info.prediction_type << "\n"
              << "sampler       " << info.default_sampler << " (default, from the scheduler config)\n"
              << "default size  " << info.default_width << "x" << info.default_height << "\n"
              << "latents       " << info.latent_channels << " channels, VAE factor " << info.vae_scale_factor << "\n"
              << "text hidden   " << info.text_hidden_size << "\n"
              << "parameters    UNet " << with_commas(info.unet_parameters) << ", VAE " << with_commas(info.vae_parameters)
              << ", text encoder " << with_commas(info.text_encoder_parameters) << "\n";
    if (!info.motion_module.empty()) {
        std::cout << "motion module " << info.motion_module << " (" << with_commas(info.motion_parameters)
                  << " parameters, up to " << info.motion_max_frames << " frames)\n";
        if (!info.motion_text_lora.empty()) std::cout << "  text LoRA   " << info.motion_text_lora << " (clips only)\n";
        if (!info.motion_phrases.empty()) {
            std::cout << "  motion LoRAs for the phrases";
            for (size_t i = 0; i < info.motion_phrases.size(); ++i)
                std::cout << (i ? ", \"" : " \"") << info.motion_phrases[i] << "\"";
            std::cout << "\n";
        }
    }
    if (!info.notes.empty()) {
        std::cout << "notes\n";
        for (const std::string& note : info.notes) std::cout << "  - " << note << "\n";
    }
}

struct GenerateOptions {
    std::string model, config, device = "auto", precision = "auto";
    std::string prompt, negative, sampler, spacing;
    int steps = 20, width = 0, height = 0, batch = 1, clip_skip = 1;
    float guidance = 7.5f, strength = 0.75f;
    uint64_t seed = 0;
    std::string init_image, init_latents, save_latents, preview_dir, from_png, output;
    int preview_interval = 1;
    bool quiet = false, no_motion_words = false;
    int frames = 0, motion_heads = 0;
    float fps = 8.0f;
    std::string motion_module, frames_dir;
    std::string profile;   // apply this profile's active memory rules
};

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Where a clip goes: true for a folder of PNG frames, false for a clip file; throws for other outputs.
bool clip_output_is_dir(const std::string& output) {
    std::error_code ec;
    if (ends_with(output, "/") || fs::is_directory(output, ec)) return true;
    std::string lower = output;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    for (const std::string& ext : clip_extensions())
        if (ends_with(lower, ext)) return false;
    throw Error(output + ": a clip is written as .gif, .mp4 or .webm, or as PNG frames in a folder "
                "(-o DIR/ or --frames-dir)");
}

// Clips: OUT.gif|mp4|webm (one per clip, OUT-1.gif ... for a batch) and/or PNG frames in a folder (DIR/frame-000.png;
// DIR/clip-1/... for a batch). Returns the paths written.
std::vector<std::string> write_clips(const GenerateResult& result, const std::string& output,
                                     const std::string& frames_dir, float fps) {
    std::vector<std::string> written;
    const int per_clip = result.frames, clips = int(result.images.size()) / std::max(per_clip, 1);
    const bool output_is_dir = !output.empty() && clip_output_is_dir(output);
    for (int b = 0; b < clips; ++b) {
        const auto first = result.images.begin() + long(b) * per_clip;
        const std::vector<Image> clip(first, first + per_clip);
        for (const std::string& dir : {output_is_dir ? output : std::string(), frames_dir}) {
            if (dir.empty()) continue;
            const std::string clip_dir = clips == 1 ? dir : (fs::path(dir) / ("clip-" + std::to_string(b))).string();
            fs::create_directories(clip_dir);
            for (int f = 0; f < per_clip; ++f) {  // each PNG carries its own frame index
                char name[32];
                std::snprintf(name, sizeof name, "frame-%03d.png", f);
                const std::string path = (fs::path(clip_dir) / name).string();
                const GenerationParams& p = result.params[size_t(b) * per_clip + size_t(f)];
                write_png(path, clip[size_t(f)], {{"parameters", format_parameters(p)}});
                written.push_back(path);
            }
        }
        if (!output.empty() && !output_is_dir) {
            ClipOptions options;
            options.fps = fps;
            const std::string path = numbered(output, b, clips);
            write_clip(path, clip, options);
            written.push_back(path);
        }
    }
    return written;
}

}  // namespace

void add_generate_commands(CLI::App& app, GlobalOptions& global) {
    // ---- inspect
    auto inspect_model = std::make_shared<std::string>();
    auto inspect_config = std::make_shared<std::string>();
    auto inspect_device = std::make_shared<std::string>("cpu");
    CLI::App* inspect = app.add_subcommand("inspect", "load a model and print what was found (format, configs, sizes)");
    inspect->add_option("model", *inspect_model, "diffusers folder or single-file .safetensors")->required();
    inspect->add_option("--config", *inspect_config, "LDM yaml for a single-file checkpoint");
    inspect->add_option("--device", *inspect_device, "auto, cpu, cuda, cuda:N (default cpu)");
    inspect->callback([=] {
        LoadOptions options;
        options.path = *inspect_model;
        options.config_path = *inspect_config;
        options.device = *inspect_device;
        print_info(Model::load(options)->info());
    });

    // ---- generate
    auto o = std::make_shared<GenerateOptions>();
    CLI::App* gen = app.add_subcommand("generate", "text-to-image (or img2img) to PNG files carrying their parameters");
    gen->add_option("--model", o->model, "diffusers folder or .safetensors (default: the embedded model)");
    gen->add_option("--config", o->config, "LDM yaml for a single-file checkpoint");
    CLI::Option* prompt = gen->add_option("--prompt", o->prompt,
                                          "the prompt; for a clip, lines \"FRAME: text\" make it travel over the frames "
                                          "(e.g. $'a red star\\n0: on the right\\n15: on the left')");
    CLI::Option* negative = gen->add_option("--negative", o->negative, "negative prompt");
    CLI::Option* steps = gen->add_option("--steps", o->steps, "denoising steps (default: the model's, 20 for SD)");
    CLI::Option* sampler = gen->add_option("--sampler", o->sampler, "ddim, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lcm (default: the model's)");
    CLI::Option* spacing = gen->add_option("--spacing", o->spacing, "leading, trailing or linspace (default: the scheduler config's)");
    CLI::Option* guidance = gen->add_option("--guidance", o->guidance, "classifier-free guidance scale (default: the model's, 7.5 for SD)");
    CLI::Option* seed = gen->add_option("--seed", o->seed, "seed of the first image; image i uses seed + i (default 0)");
    CLI::Option* width = gen->add_option("--width", o->width, "multiple of 8 (default: the model's)");
    CLI::Option* height = gen->add_option("--height", o->height, "multiple of 8 (default: the model's)");
    gen->add_option("--batch", o->batch, "images to make (OUT-0.png, OUT-1.png, ...)");
    CLI::Option* clip_skip = gen->add_option("--clip-skip", o->clip_skip, "2: the penultimate text-encoder layer");
    gen->add_option("--init-image", o->init_image, "img2img: start from this picture");
    CLI::Option* strength = gen->add_option("--strength", o->strength, "img2img strength in (0, 1] (default 0.75)");
    gen->add_option("--init-latents", o->init_latents, "safetensors with one tensor [B, C, H/f, W/f] (clips: [B, C, F, H/f, W/f]), used as diffusers' latents=");
    gen->add_option("--save-latents", o->save_latents, "write the final latents (before decoding) as tensor \"latents\"");
    gen->add_option("--device", o->device, "auto, cpu, cuda, cuda:N");
    gen->add_option("--precision", o->precision, "auto, float32, float16, bfloat16");
    gen->add_option("--preview-dir", o->preview_dir, "write the live previews there (preview-STEP.png)");
    gen->add_option("--preview-interval", o->preview_interval, "steps between previews (default 1)");
    gen->add_option("--from-png", o->from_png, "take the parameters of a PNG made by Atelier or A1111 (flags override)");
    CLI::Option* frames = gen->add_option("--frames", o->frames, "text-to-video: frames per clip (2..32 with AnimateDiff; needs --motion-module)");
    gen->add_option("--motion-module", o->motion_module, "AnimateDiff motion module: diffusers MotionAdapter folder or original .safetensors");
    gen->add_option("--motion-heads", o->motion_heads, "attention heads of an original-layout motion module (default: config.json, else 8)");
    gen->add_flag("--no-motion-words", o->no_motion_words,
                  "clips: do not apply the motion module's motion LoRAs chosen by a phrase of the prompt (see models)");
    CLI::Option* fps = gen->add_option("--fps", o->fps, "frames per second of the clip (default 8)");
    gen->add_option("--frames-dir", o->frames_dir, "also write every frame as PNG there (frame-000.png, ...)");
    gen->add_option("-o,--output", o->output, "output PNG; for clips OUT.gif, OUT.mp4, OUT.webm or a folder DIR/ for PNG frames")->required();
    gen->add_flag("-q,--quiet", o->quiet, "no progress bar");
    gen->add_option("--profile", o->profile,
                    "apply this profile's active memory rules to the prompt, as the studio does (name or id)");
    const auto apply_concept_options = add_concept_use_options(*gen, global);

    gen->callback([=, &global] {
        GenerateRequest request;  // steps and guidance: the model's defaults unless given
        if (!o->from_png.empty()) {
            const auto text = read_png_text(o->from_png);
            const auto it = text.find("parameters");
            if (it == text.end()) throw Error(o->from_png + ": no \"parameters\" text chunk");
            const GenerationParams p = parse_parameters(it->second);
            request.prompt = p.prompt;
            request.negative_prompt = p.negative_prompt;
            request.seed = p.seed;
            if (p.steps > 0) request.steps = p.steps;
            request.guidance = p.guidance;
            request.sampler = p.sampler;
            request.timestep_spacing = p.timestep_spacing;
            request.width = p.width;
            request.height = p.height;
            request.clip_skip = p.clip_skip;
            if (p.strength < 1.0f) request.strength = p.strength;
            if (p.frames > 1) {
                request.frames = p.frames;
                request.fps = p.fps > 0 ? p.fps : request.fps;
            }
        }
        auto given = [](CLI::Option* opt) { return opt->count() > 0; };
        if (given(prompt) || o->from_png.empty()) request.prompt = o->prompt;
        if (given(negative)) request.negative_prompt = o->negative;
        if (!o->profile.empty()) {
            auto store = open_store(global);
            MemoryFilter filter;
            filter.profile_id = resolve_profile(*store, o->profile).id;
            filter.active_only = true;
            const EffectivePrompt effective =
                apply_memory_rules(request.prompt, request.negative_prompt, store->list_memory(filter));
            request.prompt = effective.prompt;
            request.negative_prompt = effective.negative_prompt;
            if (!o->quiet) {
                std::string added;
                for (const std::string& t : effective.applied_texts) added += (added.empty() ? "" : "; ") + t;
                std::cerr << "memory adds: " << (added.empty() ? "nothing" : added) << "\n";
            }
        }
        if (given(steps)) request.steps = o->steps;
        if (given(sampler)) request.sampler = o->sampler;
        if (given(spacing)) request.timestep_spacing = o->spacing;
        if (given(guidance)) request.guidance = o->guidance;
        if (given(seed)) request.seed = o->seed;
        if (given(width)) request.width = o->width;
        if (given(height)) request.height = o->height;
        if (given(clip_skip)) request.clip_skip = o->clip_skip;
        if (given(strength)) request.strength = o->strength;
        if (given(frames)) request.frames = o->frames;
        request.motion_words = !o->no_motion_words;
        if (given(fps)) request.fps = o->fps;
        request.batch = o->batch;
        if (!o->init_image.empty()) request.init_image = read_image(o->init_image, 3);
        if (!o->init_latents.empty()) request.init_latents = read_tensor_file(o->init_latents);
        request.keep_final_latents = !o->save_latents.empty();
        apply_concept_options(request);

        if (request.frames > 1) clip_output_is_dir(o->output);  // refuse a bad output before the work

        LoadOptions load;
        load.path = o->model.empty() ? default_model_dir() : o->model;
        if (load.path.empty()) throw Error("no --model given and no embedded default model found");
        load.config_path = o->config;
        load.device = o->device;
        load.precision = o->precision;
        load.motion_module = o->motion_module;
        load.motion_module_heads = o->motion_heads;
        const std::shared_ptr<Model> model = Model::load(load);

        ProgressBar bar(!o->quiet);
        request.on_progress = [&bar](int step, int total) {
            bar.update(step, total);
            return true;
        };
        if (!o->preview_dir.empty()) {
            fs::create_directories(o->preview_dir);
            request.preview_interval = o->preview_interval;
            request.on_preview = [dir = o->preview_dir](int step, const Image& image) {
                char name[32];
                std::snprintf(name, sizeof name, "preview-%03d.png", step);
                write_png((fs::path(dir) / name).string(), image);
            };
        } else {
            request.preview_interval = 0;
        }
        g_cancel.reset();
        request.cancel = &g_cancel;
        std::signal(SIGINT, on_sigint);
        bar.start();
        const GenerateResult result = generate(*model, request);
        std::signal(SIGINT, SIG_DFL);
        if (result.cancelled) {
            std::cerr << "\ncancelled after " << std::fixed << std::setprecision(0) << result.duration_ms << " ms\n";
            std::exit(130);  // the shell's code for "stopped by SIGINT"
        }
        const int count = static_cast<int>(result.images.size());
        if (result.frames > 1) {
            for (const std::string& path : write_clips(result, o->output, o->frames_dir, request.fps)) std::cout << path << "\n";
            if (result.final_latents) write_tensor_file(o->save_latents, "latents", *result.final_latents);
            if (!o->quiet) {
                std::cerr << count / result.frames << " clip(s) of " << result.frames << " frames in " << std::fixed
                          << std::setprecision(0) << result.duration_ms << " ms (" << model->info().device << ", "
                          << compute_threads() << " threads)\n";
            }
            return;
        }
        for (int i = 0; i < count; ++i) {
            const std::string path = numbered(o->output, i, count);
            write_png(path, result.images[i], {{"parameters", format_parameters(result.params[i])}});
            std::cout << path << "\n";
        }
        if (result.final_latents) write_tensor_file(o->save_latents, "latents", *result.final_latents);
        if (!o->quiet) {
            std::cerr << count << " image(s) in " << std::fixed << std::setprecision(0) << result.duration_ms << " ms ("
                      << model->info().device << ", " << compute_threads() << " threads)\n";
        }
    });
}

}  // namespace atelier::cli
