// The denoising loop, in one place: Stable Diffusion text-to-image and img2img with classifier-free
// guidance, following diffusers v0.25.1 StableDiffusionPipeline / StableDiffusionImg2ImgPipeline.__call__.
#include "sampling/pipeline.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "atelier/error.h"
#include "atelier/prompt_travel.h"
#include "personalize/apply.h"
#include "runtime/model_impl.h"
#include "sampling/scheduler.h"
#include "sampling/video.h"

namespace atelier {
namespace {

// SD 1.x latent -> RGB factors (rows: latent channels, columns: R, G, B), applied to the x0 estimate in
// model space and mapped from [-1, 1] to [0, 1]. Source: ComfyUI comfy/latent_formats.py, class SD15
// (`latent_rgb_factors`). They hold for the real SD VAE (1.x and 2.x share it), not for random test VAEs.
constexpr float kLatentRgbFactors[4][3] = {
    {0.3512f, 0.2297f, 0.3227f},
    {0.3250f, 0.4974f, 0.2350f},
    {-0.2829f, 0.1762f, 0.2721f},
    {-0.2120f, -0.2616f, -0.7177f},
};

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

at::Tensor cpu_float(const at::Tensor& t) { return t.detach().to(at::kCPU, at::kFloat).clone(); }

// Spherical interpolation between two text encodings taken as one vector each (prompt travel, as the
// A1111 AnimateDiff extension does); nearly parallel ones are interpolated linearly.
at::Tensor slerp(const at::Tensor& a, const at::Tensor& b, double t) {
    if (t <= 0) return a;
    if (t >= 1) return b;
    const at::Tensor a32 = a.to(at::kFloat), b32 = b.to(at::kFloat);
    const double dot = ((a32 / a32.norm()) * (b32 / b32.norm())).sum().item<double>();
    if (std::fabs(dot) > 0.9995) return ((1 - t) * a32 + t * b32).to(a.scalar_type());
    const double omega = std::acos(dot);
    return ((std::sin((1 - t) * omega) * a32 + std::sin(t * omega) * b32) / std::sin(omega)).to(a.scalar_type());
}

at::Tensor from_float_tensor(const FloatTensor& tensor, const std::string& what) {
    int64_t numel = 1;
    for (int64_t d : tensor.shape) numel *= d;
    if (tensor.shape.empty() || numel != static_cast<int64_t>(tensor.data.size())) {
        throw Error(what + ": shape holds " + std::to_string(numel) + " values but " +
                    std::to_string(tensor.data.size()) + " were given");
    }
    return at::from_blob(const_cast<float*>(tensor.data.data()), tensor.shape, at::TensorOptions().dtype(at::kFloat))
        .clone();
}

FloatTensor to_float_tensor(const at::Tensor& t) {
    const at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
    FloatTensor out;
    out.shape = c.sizes().vec();
    out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    return out;
}

std::string shape_text(at::IntArrayRef shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// Python's int(steps * strength) is taken on the decimal the user typed: widen the float through its
// shortest decimal form, so that 0.7f gives 0.7 (and int(10 * 0.7) = 7) rather than 0.699999988.
double decimal_double(float value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.9g", static_cast<double>(value));
    for (int digits = 1; digits <= 9; ++digits) {
        std::snprintf(buffer, sizeof buffer, "%.*g", digits, static_cast<double>(value));
        if (std::strtof(buffer, nullptr) == value) break;
    }
    return std::strtod(buffer, nullptr);
}

}  // namespace

at::Tensor latent_rgb_preview(const at::Tensor& x0_latents) {
    const at::Tensor factors =
        at::from_blob(const_cast<float*>(&kLatentRgbFactors[0][0]), {4, 3}, at::TensorOptions().dtype(at::kFloat))
            .to(x0_latents.device());
    // [B, 4, h, w] x [4, 3] -> [B, 3, h, w]
    const at::Tensor rgb = at::einsum("bchw,cr->brhw", {x0_latents.to(at::kFloat), factors});
    return ((rgb + 1.0) / 2.0).clamp(0.0, 1.0);
}

std::vector<Image> tensor_to_images(const at::Tensor& rgb01) {
    const at::Tensor bytes =
        (rgb01.detach().to(at::kCPU, at::kFloat) * 255.0).round().clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
    std::vector<Image> images;
    const int64_t b = bytes.size(0), h = bytes.size(1), w = bytes.size(2);
    const uint8_t* p = bytes.data_ptr<uint8_t>();
    for (int64_t i = 0; i < b; ++i) {
        Image image;
        image.width = static_cast<int>(w);
        image.height = static_cast<int>(h);
        image.channels = 3;
        image.pixels.assign(p + i * h * w * 3, p + (i + 1) * h * w * 3);
        images.push_back(std::move(image));
    }
    return images;
}

at::Tensor image_to_tensor(const Image& image) {
    if (image.empty() || image.width <= 0 || image.height <= 0) throw Error("init image: empty image");
    if (image.channels != 3 && image.channels != 4 && image.channels != 1) {
        throw Error("init image: " + std::to_string(image.channels) + " channels (expected 1, 3 or 4)");
    }
    const at::Tensor raw = at::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                                         {image.height, image.width, image.channels}, at::TensorOptions().dtype(at::kByte));
    at::Tensor rgb = raw.to(at::kFloat);
    if (image.channels == 1) rgb = rgb.expand({image.height, image.width, 3});
    if (image.channels == 4) rgb = rgb.slice(2, 0, 3);
    // VaeImageProcessor: pixels / 255, then 2x - 1.
    return (rgb.permute({2, 0, 1}).unsqueeze(0) / 255.0 * 2.0 - 1.0).contiguous();
}

GenerateResult generate(Model& model, const GenerateRequest& request) { return generate_traced(model, request, nullptr); }

GenerateResult generate_traced(Model& model, const GenerateRequest& asked, PipelineTrace* trace) {
    const Clock::time_point start = Clock::now();
    c10::InferenceMode inference_mode;
    Model::Impl& m = model.impl();
    const ModelInfo& info = m.info;
    GenerateRequest request = asked;  // with the model's defaults where the request leaves them open
    if (request.steps == 0) request.steps = info.default_steps;
    if (request.guidance < 0) request.guidance = info.default_guidance;

    // ---- 1. check the request
    if (request.steps < 1 || request.steps > 1000) {
        throw Error("generate: steps must be in 1..1000, got " + std::to_string(request.steps));
    }
    if (request.batch < 1 || request.batch > 64) {
        throw Error("generate: batch must be in 1..64, got " + std::to_string(request.batch));
    }
    if (request.clip_skip < 1 || request.clip_skip > m.text_encoder->config().num_hidden_layers) {
        throw Error("generate: clip_skip must be in 1.." + std::to_string(m.text_encoder->config().num_hidden_layers) +
                    ", got " + std::to_string(request.clip_skip));
    }
    const int64_t frames = video_frames_of(m, request);  // 0: images; else AnimateDiff clips (sampling/video.h)
    if (request.init_image && request.init_latents) {
        throw Error("generate: give either an init image (img2img) or init latents, not both");
    }
    const bool img2img = request.init_image.has_value();
    if (img2img && !(request.strength > 0.0f && request.strength <= 1.0f)) {
        throw Error("generate: strength must be in (0, 1], got " + std::to_string(request.strength));
    }
    int width = request.width, height = request.height;
    if (img2img && width == 0 && height == 0) {
        // diffusers: the picture's own size, rounded down to a multiple of 8
        width = request.init_image->width / 8 * 8;
        height = request.init_image->height / 8 * 8;
    }
    if (width == 0) width = info.default_width;
    if (height == 0) height = info.default_height;
    if (width <= 0 || height <= 0 || width % 8 != 0 || height % 8 != 0) {
        throw Error("generate: width and height must be positive multiples of 8, got " + std::to_string(width) + "x" +
                    std::to_string(height));
    }
    const int64_t batch = request.batch;
    const int64_t vae_f = m.vae->scale_factor();
    const int64_t channels = m.unet->config().in_channels;
    const int64_t lh = height / vae_f, lw = width / vae_f;
    const double scaling = m.vae->config().scaling_factor;
    const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(m.device);

    // ---- 2. scheduler: the model's config with StableDiffusionPipeline.__init__'s rewrites
    // (steps_offset -> 1, clip_sample -> false), then the request's sampler and spacing.
    // AnimateDiffPipeline (videos) uses the config as is.
    SchedulerConfig scheduler_config = m.scheduler_config;
    if (frames == 0) {
        scheduler_config.steps_offset = 1;
        scheduler_config.clip_sample = false;
    }
    if (!request.timestep_spacing.empty()) scheduler_config.timestep_spacing = request.timestep_spacing;
    const std::string sampler = request.sampler.empty() ? info.default_sampler : request.sampler;
    std::unique_ptr<Scheduler> scheduler = make_scheduler(sampler, scheduler_config);
    if (scheduler_config.timestep_spacing && *scheduler_config.timestep_spacing != "leading" &&
        *scheduler_config.timestep_spacing != "trailing" && *scheduler_config.timestep_spacing != "linspace") {
        throw Error("generate: timestep spacing \"" + *scheduler_config.timestep_spacing +
                    "\" (expected leading, trailing or linspace)");
    }
    scheduler->set_timesteps(request.steps, img2img ? decimal_double(request.strength) : 1.0);

    // ---- 3. text conditioning; CFG batch = [uncond x B, cond x B] (guidance > 1), else cond only.
    // LoRAs, embeddings and concepts of this request are applied until generate returns.
    const AppliedPersonalization personal(m, request);
    const bool cfg = request.guidance > 1.0f;
    auto encode = [&](const std::string& raw_text, at::Tensor* ids_out) {
        const std::string text = personal.prompt(raw_text);
        const std::vector<int64_t> ids = personal.tokenizer().encode_padded(text, m.tokenizer->model_max_length());
        at::Tensor ids_t = at::tensor(ids, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
        if (ids_out) *ids_out = ids_t.clone();
        return m.text_encoder->forward(ids_t.to(m.device), request.clip_skip);
    };
    // Prompt travel (atelier/prompt_travel.h): a clip's text changes over its frames; stills use frame 0's.
    const std::optional<PromptTravel> travel = parse_prompt_travel(request.prompt);
    if (travel && frames) check_prompt_travel(*travel, int(frames));
    at::Tensor prompt_ids, negative_ids;
    const at::Tensor prompt_embeds = encode(travel ? travel->keyframes.front().prompt : request.prompt, &prompt_ids);
    at::Tensor negative_embeds;
    if (cfg) negative_embeds = encode(request.negative_prompt, &negative_ids);
    if (trace) {
        trace->prompt_ids = prompt_ids;
        trace->prompt_embeds = cpu_float(prompt_embeds);
        if (cfg) {
            trace->negative_prompt_ids = negative_ids;
            trace->negative_prompt_embeds = cpu_float(negative_embeds);
        }
    }
    at::Tensor context = prompt_embeds.expand({batch, -1, -1});
    if (cfg) context = at::cat({negative_embeds.expand({batch, -1, -1}), context}, 0);
    if (travel && frames) {  // one text per frame: rows b * F + f, as the UNet lays out a clip's frames
        std::vector<at::Tensor> keyframe_embeds{prompt_embeds};
        for (size_t k = 1; k < travel->keyframes.size(); ++k)
            keyframe_embeds.push_back(encode(travel->keyframes[k].prompt, nullptr));
        std::vector<at::Tensor> per_frame;
        for (int64_t f = 0; f < frames; ++f) {
            const PromptTravel::Position p = travel->at(int(f));
            per_frame.push_back(slerp(keyframe_embeds[p.before], keyframe_embeds[p.after], p.t));
        }
        context = at::cat(per_frame, 0).repeat({batch, 1, 1});
        if (cfg) context = at::cat({negative_embeds.expand({batch * frames, -1, -1}), context}, 0);
    }
    context = context.to(m.dtype).contiguous();

    // ---- 4. initial latents, one torch CPU generator per image (seed + i)
    std::vector<at::Generator> generators;
    for (int64_t i = 0; i < batch; ++i) generators.push_back(at::detail::createCPUGenerator(request.seed + uint64_t(i)));
    auto draw = [&](int64_t i, at::IntArrayRef shape) {
        return at::randn(shape, generators[static_cast<size_t>(i)], at::TensorOptions().dtype(at::kFloat)).to(m.device);
    };
    std::vector<int64_t> latent_shape = {batch, channels, lh, lw};
    if (frames) latent_shape.insert(latent_shape.begin() + 2, frames);  // videos: [B, C, F, h, w]
    std::vector<int64_t> row_shape = latent_shape;
    row_shape[0] = 1;
    at::Tensor latents;
    if (img2img) {
        // prepare_latents (img2img): x0 = vae.encode(image).sample(generator) * scaling_factor, then
        // noise = randn(generator), latents = scheduler.add_noise(x0, noise, first timestep).
        at::Tensor pixels = image_to_tensor(*request.init_image);
        if (pixels.size(2) != height || pixels.size(3) != width) {
            pixels = at::_upsample_bilinear2d_aa(pixels, {height, width}, false);
        }
        pixels = pixels.to(m.device, m.dtype);
        auto [mean, logvar] = m.vae->encode(pixels);
        mean = mean.to(at::kFloat);
        const at::Tensor std_dev = at::exp(0.5 * logvar.to(at::kFloat));
        std::vector<at::Tensor> rows;
        for (int64_t i = 0; i < batch; ++i) {
            const at::Tensor sample = mean + std_dev * draw(i, {1, channels, lh, lw});
            rows.push_back(sample * scaling);
        }
        std::vector<at::Tensor> noise;
        for (int64_t i = 0; i < batch; ++i) noise.push_back(draw(i, {1, channels, lh, lw}));
        latents = scheduler->add_noise(at::cat(rows, 0), at::cat(noise, 0), scheduler->begin_index());
    } else if (request.init_latents) {
        latents = from_float_tensor(*request.init_latents, "init_latents").to(m.device);
        if (latents.sizes().vec() != latent_shape) {
            throw Error("init_latents: expected shape " + shape_text(latent_shape) + " (batch, latent channels, " +
                        (frames ? "frames, " : "") +
                        "height/" + std::to_string(vae_f) + ", width/" + std::to_string(vae_f) + "), found " +
                        shape_text(latents.sizes()));
        }
        latents = latents * scheduler->init_noise_sigma();
    } else {
        std::vector<at::Tensor> rows;
        for (int64_t i = 0; i < batch; ++i) rows.push_back(draw(i, row_shape));
        latents = at::cat(rows, 0) * scheduler->init_noise_sigma();
    }
    NoiseSource noise(generators);

    // ---- 5. the denoising loop
    GenerateResult result;
    const int total = scheduler->steps_to_run();
    auto stop_requested = [&] { return request.cancel && request.cancel->cancelled(); };
    auto finish_cancelled = [&] {
        result.cancelled = true;
        result.duration_ms = ms_since(start);
        return result;
    };
    for (int i = scheduler->begin_index(), done = 0; i < static_cast<int>(scheduler->timesteps().size()); ++i) {
        if (stop_requested()) return finish_cancelled();
        const double t = scheduler->timesteps()[static_cast<size_t>(i)];
        const at::Tensor model_in = cfg ? at::cat({latents, latents}, 0) : latents;
        const at::Tensor scaled = scheduler->scale_model_input(model_in, i);
        const at::Tensor timestep = at::full({model_in.size(0)}, t, f32);
        const at::Tensor out = m.unet->forward(scaled.to(m.dtype), timestep, context).to(at::kFloat);
        at::Tensor guided = out;
        if (cfg) {
            const at::Tensor uncond = out.slice(0, 0, batch), cond = out.slice(0, batch, 2 * batch);
            guided = uncond + request.guidance * (cond - uncond);
        }
        const StepOutput step = scheduler->step(guided, i, latents, &noise);
        latents = step.prev_sample;
        ++done;
        if (trace) {
            trace->timesteps.push_back(t);
            trace->unet_in.push_back(cpu_float(model_in));
            trace->unet_out.push_back(cpu_float(out));
            trace->step_latents.push_back(cpu_float(latents));
        }
        if (request.on_preview && request.preview_interval > 0 && done % request.preview_interval == 0) {
            at::Tensor rgb;
            if (frames) {
                rgb = video_preview_strip(m, step.pred_original, request.preview_full_decode);
            } else if (request.preview_full_decode || channels != 4) {
                const at::Tensor decoded = m.vae->decode((step.pred_original.slice(0, 0, 1) / scaling).to(m.dtype));
                rgb = (decoded.to(at::kFloat) / 2.0 + 0.5).clamp(0.0, 1.0);
            } else {
                rgb = latent_rgb_preview(step.pred_original.slice(0, 0, 1));
            }
            request.on_preview(done, tensor_to_images(rgb).front());
        }
        if (request.on_progress && !request.on_progress(done, total)) return finish_cancelled();
    }
    if (stop_requested()) return finish_cancelled();

    // ---- 6. decode: image = clamp(vae.decode(latents / scaling_factor) / 2 + 0.5, 0, 1), one image at a time
    // Videos: frame by frame, [B*F, 3, H, W].
    std::vector<at::Tensor> decoded_rows;
    if (frames) {
        decoded_rows.push_back(decode_video(m, latents, [&] { return !stop_requested(); }));
        if (!decoded_rows.back().defined()) return finish_cancelled();
    }
    for (int64_t i = 0; i < (frames ? 0 : batch); ++i) {
        const at::Tensor z = (latents.slice(0, i, i + 1) / scaling).to(m.dtype);
        const bool large = lh * lw > 128 * 128;  // beyond 1024x1024 pixels: bounded memory, near-exact
        decoded_rows.push_back((large ? m.vae->decode_tiled(z) : m.vae->decode(z)).to(at::kFloat));
    }
    const at::Tensor decoded = at::cat(decoded_rows, 0);
    const at::Tensor image01 = (decoded / 2.0 + 0.5).clamp(0.0, 1.0);
    if (trace) {
        trace->final_latents = cpu_float(latents);
        trace->vae_decoded = cpu_float(decoded);
        trace->image = cpu_float(image01);
    }
    result.images = tensor_to_images(image01);
    result.frames = frames ? int(frames) : 1;
    for (int64_t n = 0; n < batch * result.frames; ++n) {
        const int64_t i = n / result.frames;
        GenerationParams p;
        p.prompt = request.prompt;
        p.negative_prompt = request.negative_prompt;
        p.seed = request.seed + uint64_t(i);
        p.steps = request.steps;
        p.guidance = request.guidance;
        p.sampler = scheduler->name();
        p.timestep_spacing = scheduler->timestep_spacing();
        p.width = width;
        p.height = height;
        p.clip_skip = request.clip_skip;
        p.strength = img2img ? request.strength : 1.0f;
        p.model_id = info.id;
        p.model_name = m.name;
        if (frames) {
            p.frames = int(frames);
            p.frame_index = int(n % frames);
            p.fps = request.fps;
            const std::filesystem::path mm(info.motion_module);
            p.motion_module = (mm.filename().empty() ? mm.parent_path() : mm).filename().string();
        }
        result.params.push_back(std::move(p));
    }
    if (request.keep_final_latents) result.final_latents = to_float_tensor(latents);
    result.duration_ms = ms_since(start);
    return result;
}

}  // namespace atelier
