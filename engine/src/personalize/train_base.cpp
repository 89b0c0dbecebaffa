// Trains atelier-tiny: the autoencoder, then the text encoder + UNet (latent diffusion, Rombach et al. 2022;
// epsilon prediction with min-SNR-5 loss weights, Hang et al. 2023), and exports a diffusers folder.
#include "atelier/train_base.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "atelier/error.h"
#include "atelier/system.h"
#include "personalize/base_model.h"
#include "personalize/train_util.h"
#include "personalize/trainer.h"
#include "runtime/device.h"
#include "text/clip_tokenizer.h"

namespace atelier {

namespace fs = std::filesystem;

namespace {

at::Generator step_generator(uint64_t seed, uint64_t phase, int64_t step) {
    return at::make_generator<at::CPUGeneratorImpl>(world::derive_seed(seed * 7919 + phase, uint64_t(step)));
}

TensorMap with_prefix(const TensorMap& m, const std::string& prefix) {
    TensorMap out;
    for (const auto& [k, v] : m) out[prefix + k] = v;
    return out;
}
TensorMap strip_prefix(const TensorMap& m, const std::string& prefix) {
    TensorMap out;
    for (const auto& [k, v] : m)
        if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = v;
    return out;
}

void save_half(const fs::path& path, const TensorMap& m) {
    TensorMap half;
    for (const auto& [k, v] : m) half[k] = v.detach().to(at::kCPU).to(at::kHalf);
    fs::create_directories(path.parent_path());
    save_tensors(path.string(), half, {{"format", "pt"}});
}

// The trainer's progress of one phase, as the request's callback takes it.
void report_phase(const TrainBaseRequest& request, const std::string& phase, const TrainProgress& p) {
    if (!request.on_progress) return;
    TrainBaseProgress q;
    q.phase = phase;
    q.step = p.step;
    q.total = p.total;
    q.loss = p.loss_avg;
    q.step_seconds = p.step_seconds;
    q.eta_seconds = p.eta_seconds;
    request.on_progress(q);
}

// A phase's AdamW: warmup over a tenth of its steps (at most warmup_cap), then a cosine decay to min_lr_ratio.
OptimizerOptions phase_optimizer(double lr, int64_t steps, int64_t warmup_cap, double min_lr_ratio, double ema_decay) {
    OptimizerOptions o;
    o.lr = lr;
    o.weight_decay = 0.01;
    o.warmup_steps = std::min<int64_t>(warmup_cap, steps / 10 + 1);
    o.total_steps = steps;
    o.min_lr_ratio = min_lr_ratio;
    o.clip_grad_norm = 1.0;
    o.ema_decay = ema_decay;
    return o;
}

// A phase's loop: checkpoints to `checkpoint`, the request's cancel and progress; the running loss lands in *loss.
TrainLoopOptions phase_loop(const TrainBaseRequest& request, const std::string& phase, int64_t steps,
                            const std::string& checkpoint, double* loss) {
    TrainLoopOptions loop;
    loop.total_steps = steps;
    loop.checkpoint_every = request.checkpoint_every;
    loop.checkpoint_path = checkpoint;
    loop.cancel = request.cancel;
    loop.on_progress = [&request, phase, loss](const TrainProgress& p) {
        *loss = p.loss_avg;
        report_phase(request, phase, p);
    };
    return loop;
}

// A fine-tuning phase of a finished folder: its checkpoint, and the marker written when it is done.
struct FinetuneFiles {
    std::string checkpoint, done_marker;
    bool done() const { return fs::exists(done_marker); }
};
FinetuneFiles finetune_files(const TrainBaseRequest& request, const std::string& phase) {
    const fs::path dir = fs::path(request.out_dir) / "checkpoints";
    return {(dir / (phase + ".safetensors")).string(), (dir / (phase + ".done")).string()};
}
// Makes the checkpoint folder (absent in a shipped, exported folder) and drops a stale checkpoint unless resuming.
void start_finetune(const TrainBaseRequest& request, const FinetuneFiles& files) {
    fs::create_directories(fs::path(files.checkpoint).parent_path());
    if (!request.resume) fs::remove(files.checkpoint);
}

// Mean-L1 + MSE + image-gradient L1 (keeps edges sharp) between a reconstruction and its images.
at::Tensor reconstruction_loss(const at::Tensor& rec, const at::Tensor& images) {
    const at::Tensor diff = rec - images;
    const at::Tensor dx = (rec.narrow(3, 1, rec.size(3) - 1) - rec.narrow(3, 0, rec.size(3) - 1)) -
                          (images.narrow(3, 1, images.size(3) - 1) - images.narrow(3, 0, images.size(3) - 1));
    const at::Tensor dy = (rec.narrow(2, 1, rec.size(2) - 1) - rec.narrow(2, 0, rec.size(2) - 1)) -
                          (images.narrow(2, 1, images.size(2) - 1) - images.narrow(2, 0, images.size(2) - 1));
    return diff.abs().mean() + diff.pow(2).mean() + 0.5 * (dx.abs().mean() + dy.abs().mean());
}

// The reconstruction loss + a small KL to N(0, 1).
at::Tensor vae_loss(const AutoencoderKL& vae, const at::Tensor& images, at::Generator& gen) {
    auto [mean, logvar] = vae.encode(images);
    const at::Tensor z = mean + at::exp(0.5 * logvar) * randn_on(mean.sizes(), gen, mean.device());
    const at::Tensor kl = 0.5 * (mean.pow(2) + at::exp(logvar) - 1 - logvar).mean();
    return reconstruction_loss(vae.decode(z), images) + 1e-4 * kl;
}

}  // namespace

TrainBaseResult train_base_model(const TrainBaseRequest& request) {
    if (request.out_dir.empty()) throw Error("train_base_model: out_dir is empty");
    if (request.vae_steps < 1 || request.unet_steps < 1) throw Error("train_base_model: step counts must be >= 1");
    at::set_num_threads(std::max(1, request.threads));
    const at::Device device = resolve_device(request.device);
    const fs::path out(request.out_dir);
    const fs::path ckpt_dir = out / "checkpoints";
    fs::create_directories(ckpt_dir);
    const std::string vae_ckpt = (ckpt_dir / "vae.safetensors").string();
    const std::string unet_ckpt = (ckpt_dir / "unet.safetensors").string();
    const fs::path vae_file = out / "vae" / "diffusion_pytorch_model.safetensors";
    if (!request.resume) {
        for (const auto& p : {fs::path(vae_ckpt), fs::path(unet_ckpt), vae_file}) fs::remove(p);
    }

    BaseModelConfigs cfg = base_model_configs();
    TrainBaseResult result;
    const uint64_t data_base = base_model_train_base(request.seed);

    // ---- phase 1: the autoencoder
    if (!fs::exists(vae_file)) {
        const auto start = train_clock::now();
        Trainer trainer(on_device(init_vae_weights(cfg.vae, request.seed * 31 + 1), device),
                        phase_optimizer(1e-3, request.vae_steps, 100, 0.05, 0.995));
        if (request.resume && fs::exists(vae_ckpt)) trainer.load(vae_ckpt);
        const TrainLoopOptions loop = phase_loop(request, "vae", request.vae_steps, vae_ckpt, &result.vae_loss);
        const bool done = run_training(trainer, loop, [&](int64_t step) {
            // The autoencoder sees the held-out shapes and style too: it must encode anything a concept brings.
            const SceneBatch batch = render_scene_batch(data_base ^ 0xAEull, step * request.vae_batch,
                                                        request.vae_batch, cfg.image_size, world::HeldOut::include);
            at::Generator gen = step_generator(request.seed, 1, step);
            const AutoencoderKL vae(cfg.vae, trainer.params());
            at::Tensor loss = vae_loss(vae, batch.images.to(device), gen);
            loss.backward();
            return loss.item<double>();
        });
        result.vae_seconds = seconds_since(start);
        if (!done) {
            result.cancelled = true;
            return result;
        }
        // Scaling factor: 1 / std of the latent means of 1024 training images (as SD's 0.18215 was found).
        at::NoGradGuard no_grad;
        const AutoencoderKL vae(cfg.vae, trainer.ema());
        std::vector<at::Tensor> means;
        for (int i = 0; i < 1024; i += 128)
            means.push_back(vae.encode(render_scene_batch(data_base ^ 0x5Full, i, 128).images.to(device)).first);
        cfg.vae.scaling_factor = 1.0 / at::cat(means).std().item<double>();
        write_text(out / "vae" / "config.json", vae_config_json(cfg.vae));
        save_half(vae_file, trainer.ema());
    }
    cfg.vae = VaeConfig::from_json_file((out / "vae" / "config.json").string());
    result.scaling_factor = cfg.vae.scaling_factor;

    // ---- the text encoder + UNet trainer first: a finished checkpoint needs no data set
    TensorMap init = with_prefix(init_clip_text_weights(cfg.text, request.seed * 31 + 2), "text_encoder/");
    for (auto& [k, v] : with_prefix(init_unet_weights(cfg.unet, request.seed * 31 + 3), "unet/")) init[k] = v;
    Trainer trainer(on_device(init, device), phase_optimizer(6e-4, request.unet_steps, 200, 0.1, 0.995));
    if (request.resume && fs::exists(unet_ckpt)) trainer.load(unet_ckpt);
    // ---- phase 2: latents of the UNet's data set, encoded once by the exported autoencoder
    const auto encode_start = train_clock::now();
    const ClipTokenizer tokenizer = ClipTokenizer::from_dir(clip_vocab_dir());
    const int64_t dataset_size = std::min<int64_t>(request.unet_steps * request.unet_batch, request.max_scenes);
    const int64_t unet_stop = request.unet_stop_after > 0 ? std::min(request.unet_stop_after, request.unet_steps)
                                                           : request.unet_steps;
    at::Tensor lat_mean, lat_std, ids;
    if (trainer.step() < unet_stop) {
        at::NoGradGuard no_grad;
        const AutoencoderKL vae(cfg.vae, on_device(load_tensors(vae_file.string()), device));
        std::vector<at::Tensor> means, stds;
        std::vector<int64_t> all_ids;
        const int chunk = 256;
        for (int64_t i = 0; i < dataset_size; i += chunk) {
            const int n = int(std::min<int64_t>(chunk, dataset_size - i));
            const SceneBatch batch = render_scene_batch(data_base, i, n, cfg.image_size);
            auto [m, lv] = vae.encode(batch.images.to(device));
            means.push_back(m.contiguous());
            stds.push_back(at::exp(0.5 * lv).contiguous());
            for (const auto& c : batch.captions) {
                const auto t = tokenizer.encode_padded(c, cfg.text.max_position_embeddings);
                all_ids.insert(all_ids.end(), t.begin(), t.end());
            }
            if (request.on_progress) {
                TrainBaseProgress q;
                q.phase = "encode";
                q.step = i + n;
                q.total = dataset_size;
                q.step_seconds = seconds_since(encode_start) / double(i + n);
                q.eta_seconds = q.step_seconds * double(dataset_size - i - n);
                request.on_progress(q);
            }
            if (request.cancel && request.cancel->cancelled()) {
                result.cancelled = true;
                return result;
            }
        }
        lat_mean = at::cat(means);
        lat_std = at::cat(stds);
        ids = at::tensor(all_ids, at::kLong).view({dataset_size, cfg.text.max_position_embeddings}).to(device);
    }
    result.encode_seconds = seconds_since(encode_start);
    const auto empty_ids = tokenizer.encode_padded("", cfg.text.max_position_embeddings);
    const at::Tensor empty = at::tensor(empty_ids, at::kLong).view({1, -1}).to(device);

    // ---- phase 3: text encoder + UNet
    const auto unet_start = train_clock::now();
    const at::Tensor alphas_cumprod = sd_alphas_cumprod().to(device);
    const double scale = cfg.vae.scaling_factor;
    // Stops at unet_stop; the schedule still spans unet_steps.
    const TrainLoopOptions loop = phase_loop(request, "unet", unet_stop, unet_ckpt, &result.unet_loss);
    const bool done = run_training(trainer, loop, [&](int64_t step) {
        at::Generator gen = step_generator(request.seed, 2, step);
        const int64_t B = request.unet_batch;
        const at::Tensor idx = at::randint(0, dataset_size, {B}, gen, at::kLong).to(device);
        const at::Tensor mean = lat_mean.index_select(0, idx);
        at::Tensor x0 = (mean + lat_std.index_select(0, idx) * randn_on(mean.sizes(), gen, device)) * scale;
        at::Tensor tokens = ids.index_select(0, idx);
        const at::Tensor drop = (at::rand({B}, gen) < 0.1).to(device);  // caption dropout: CFG's unconditional branch
        tokens = at::where(drop.view({B, 1}), empty.expand_as(tokens), tokens);
        const at::Tensor t = at::randint(0, 1000, {B}, gen, at::kLong).to(device);
        const at::Tensor noise = randn_on(x0.sizes(), gen, device);
        const at::Tensor ab = alphas_cumprod.index_select(0, t).view({B, 1, 1, 1});
        const at::Tensor noisy = ab.sqrt() * x0 + (1 - ab).sqrt() * noise;

        const ClipTextModel text(cfg.text, strip_prefix(trainer.params(), "text_encoder/"));
        const UNet2DCondition unet(cfg.unet, strip_prefix(trainer.params(), "unet/"));
        const at::Tensor context = text.forward(tokens);
        const at::Tensor pred = unet.forward(noisy.contiguous(at::MemoryFormat::ChannelsLast), t, context);
        const at::Tensor snr = ab.view({B}) / (1 - ab.view({B}));
        const at::Tensor weight = at::clamp_max(snr, 5.0) / snr;
        at::Tensor loss = ((pred - noise).pow(2).mean({1, 2, 3}) * weight).mean();
        loss.backward();
        return loss.item<double>();
    });
    result.unet_seconds = seconds_since(unet_start);
    if (!done) {
        result.cancelled = true;
        return result;
    }

    // ---- export: the EMA weights as a diffusers folder (float16 files; the loader converts)
    const TensorMap& final_weights = trainer.ema();
    const TensorMap text_w = strip_prefix(final_weights, "text_encoder/");
    const TensorMap unet_w = strip_prefix(final_weights, "unet/");
    result.text_encoder_parameters = ClipTextModel(cfg.text, text_w).parameter_count();
    result.vae_parameters = AutoencoderKL(cfg.vae, load_tensors(vae_file.string())).parameter_count();
    result.unet_parameters = UNet2DCondition(cfg.unet, unet_w).parameter_count();
    save_half(out / "text_encoder" / "model.safetensors", text_w);
    save_half(out / "unet" / "diffusion_pytorch_model.safetensors", unet_w);
    write_text(out / "text_encoder" / "config.json", clip_text_config_json(cfg.text));
    write_text(out / "unet" / "config.json", unet_config_json(cfg.unet));
    write_base_model_metadata(out.string());
    nlohmann::ordered_json defaults;
    defaults["default_steps"] = request.default_steps;
    defaults["default_guidance"] = request.default_guidance;
    defaults["example_prompt"] = "a large yellow star on a plain blue background";  // the studio's first picture
    write_text(out / "atelier.json", defaults.dump(2) + "\n");
    if (request.decoder_steps > 0) {
        const TrainBaseResult d = finetune_base_decoder(request);
        result.decoder_seconds = d.decoder_seconds;
        result.decoder_loss = d.decoder_loss;
        result.cancelled = d.cancelled;
    }
    if (request.words_steps > 0 && !result.cancelled) {
        const TrainBaseResult w = finetune_base_words(request);
        result.words_seconds = w.words_seconds;
        result.words_loss = w.words_loss;
        result.cancelled = w.cancelled;
    }
    return result;
}

TrainBaseResult finetune_base_decoder(const TrainBaseRequest& request) {
    at::set_num_threads(std::max(1, request.threads));
    const at::Device device = resolve_device(request.device);
    const fs::path out(request.out_dir);
    const fs::path vae_file = out / "vae" / "diffusion_pytorch_model.safetensors";
    const FinetuneFiles files = finetune_files(request, "decoder");
    TrainBaseResult result;
    if (request.decoder_steps < 1 || files.done()) return result;
    start_finetune(request, files);
    const VaeConfig config = VaeConfig::from_json_file((out / "vae" / "config.json").string());
    const TensorMap exported = load_tensors(vae_file.string());
    TensorMap frozen, trainable;
    for (const auto& [k, v] : exported) {
        const bool decoder = k.rfind("decoder.", 0) == 0 || k.rfind("post_quant_conv.", 0) == 0;
        (decoder ? trainable : frozen)[k] = v.to(device, at::kFloat);
    }
    const auto start = train_clock::now();
    Trainer trainer(trainable, phase_optimizer(5e-4, request.decoder_steps, 50, 0.05, 0.995));
    if (request.resume && fs::exists(files.checkpoint)) trainer.load(files.checkpoint);
    const TrainLoopOptions loop =
        phase_loop(request, "decoder", request.decoder_steps, files.checkpoint, &result.decoder_loss);
    const uint64_t data_base = base_model_train_base(request.seed) ^ 0xDECull;
    const bool done = run_training(trainer, loop, [&](int64_t step) {
        const SceneBatch batch = render_scene_batch(data_base, step * request.vae_batch, request.vae_batch, 64,
                                                    world::HeldOut::include);
        at::Generator gen = step_generator(request.seed, 3, step);
        TensorMap all = frozen;
        for (const auto& [k, v] : trainer.params()) all[k] = v;
        const AutoencoderKL vae(config, all);
        at::Tensor z;
        {
            at::NoGradGuard no_grad;
            auto [mean, logvar] = vae.encode(batch.images.to(device));
            z = mean + at::exp(0.5 * logvar) * randn_on(mean.sizes(), gen, device);
        }
        at::Tensor loss = reconstruction_loss(vae.decode(z), batch.images.to(device));
        loss.backward();
        return loss.item<double>();
    });
    result.decoder_seconds = seconds_since(start);
    if (!done) {
        result.cancelled = true;
        return result;
    }
    TensorMap final_weights = frozen;
    for (const auto& [k, v] : trainer.ema()) final_weights[k] = v;
    save_half(vae_file, final_weights);
    write_text(files.done_marker, "decoder fine-tuned for " + std::to_string(request.decoder_steps) + " steps\n");
    return result;
}

namespace {

// Token ids of words the world never uses: whole words of the CLIP vocabulary (letters only, 3+ of them,
// among its first 30,000 entries, the common ones) that no caption of the world, held-out parts included,
// tokenizes to.
std::vector<int64_t> unknown_word_ids(const ClipTokenizer& tokenizer) {
    std::set<int64_t> known;
    for (int i = 0; i < 3000; ++i) {
        const world::Scene s = world::sample_scene(world::derive_seed(0x4B4E4F57ull, uint64_t(i)), world::HeldOut::include);
        for (world::CaptionStyle style : {world::CaptionStyle::full, world::CaptionStyle::canonical, world::CaptionStyle::short_form})
            for (int64_t id : tokenizer.tokenize(world::caption_for(s, style))) known.insert(id);
    }
    std::vector<int64_t> out;
    const int64_t last = std::min<int64_t>(30000, int64_t(tokenizer.vocab_size()));
    for (int64_t id = 0; id < last; ++id) {
        const std::string token = tokenizer.id_to_token(id);
        if (token.size() < 3 + 4 || token.compare(token.size() - 4, 4, "</w>") != 0 || known.count(id)) continue;
        const std::string word = token.substr(0, token.size() - 4);
        if (std::all_of(word.begin(), word.end(), [](char c) { return c >= 'a' && c <= 'z'; })) out.push_back(id);
    }
    return out;
}

// BOS + ids (at most length - 2) + EOS, padded with EOS: the layout encode_padded gives.
std::vector<int64_t> framed(const ClipTokenizer& tokenizer, std::vector<int64_t> ids, int length) {
    if (int(ids.size()) > length - 2) ids.resize(size_t(length - 2));
    std::vector<int64_t> out{tokenizer.bos_id()};
    out.insert(out.end(), ids.begin(), ids.end());
    out.resize(size_t(length), tokenizer.eos_id());
    return out;
}

}  // namespace

TrainBaseResult finetune_base_words(const TrainBaseRequest& request) {
    at::set_num_threads(std::max(1, request.threads));
    const at::Device device = resolve_device(request.device);
    const fs::path out(request.out_dir);
    const fs::path text_file = out / "text_encoder" / "model.safetensors";
    const FinetuneFiles files = finetune_files(request, "words");
    TrainBaseResult result;
    if (request.words_steps < 1 || files.done()) return result;
    start_finetune(request, files);
    const ClipTextConfig text_config = ClipTextConfig::from_json_file((out / "text_encoder" / "config.json").string());
    const UNetConfig unet_config = UNetConfig::from_json_file((out / "unet" / "config.json").string());
    const VaeConfig vae_config = VaeConfig::from_json_file((out / "vae" / "config.json").string());
    const int length = text_config.max_position_embeddings;
    TensorMap teacher_weights = load_tensors(text_file.string());
    for (auto& [k, v] : teacher_weights) v = v.to(device, at::kFloat);
    TensorMap unet_weights = load_tensors((out / "unet" / "diffusion_pytorch_model.safetensors").string());
    for (auto& [k, v] : unet_weights) v = v.to(device, at::kFloat);
    const ClipTextModel teacher(text_config, teacher_weights);
    const UNet2DCondition unet(unet_config, unet_weights);
    const ClipTokenizer tokenizer = ClipTokenizer::from_dir((out / "tokenizer").string());
    const std::vector<int64_t> unknown = unknown_word_ids(tokenizer);
    if (unknown.empty()) throw Error("train_base_model (words): no unknown words in the vocabulary");
    const int64_t comma = tokenizer.tokenize(",").front();

    // The data: latents and caption tokens of up to 4,096 training scenes, encoded once.
    const auto start = train_clock::now();
    const uint64_t data_base = base_model_train_base(request.seed) ^ 0x30D5ull;
    const int64_t scenes = std::clamp<int64_t>(request.words_steps * request.words_batch, 256, 4096);
    at::Tensor lat_mean, lat_std;
    std::vector<std::vector<int64_t>> captions;
    {
        at::NoGradGuard no_grad;
        const AutoencoderKL vae(vae_config, on_device(load_tensors((out / "vae" / "diffusion_pytorch_model.safetensors").string()), device));
        std::vector<at::Tensor> means, stds;
        for (int64_t i = 0; i < scenes; i += 256) {
            const SceneBatch batch = render_scene_batch(data_base, i, int(std::min<int64_t>(256, scenes - i)), 64);
            auto [m, lv] = vae.encode(batch.images.to(device, at::kFloat));
            means.push_back(m);
            stds.push_back(at::exp(0.5 * lv));
            for (const std::string& c : batch.captions) captions.push_back(tokenizer.tokenize(c));
        }
        lat_mean = at::cat(means);
        lat_std = at::cat(stds);
    }
    const at::Tensor alphas_cumprod = sd_alphas_cumprod().to(device);

    Trainer trainer(teacher_weights, phase_optimizer(2e-4, request.words_steps, 40, 0.1, 0.0));
    if (request.resume && fs::exists(files.checkpoint)) trainer.load(files.checkpoint);
    const TrainLoopOptions loop = phase_loop(request, "words", request.words_steps, files.checkpoint, &result.words_loss);
    const double scale = vae_config.scaling_factor;
    const bool done = run_training(trainer, loop, [&](int64_t step) {
        at::Generator gen = step_generator(request.seed, 4, step);
        world::Rng rng(world::derive_seed(request.seed * 7919 + 5, uint64_t(step)));
        const int64_t B = request.words_batch;
        const at::Tensor idx = at::randint(0, scenes, {B}, gen, at::kLong).to(device);
        const at::Tensor mean = lat_mean.index_select(0, idx);
        const at::Tensor x0 = (mean + lat_std.index_select(0, idx) * randn_on(mean.sizes(), gen, device)) * scale;
        const at::Tensor t = at::randint(0, 1000, {B}, gen, at::kLong).to(device);
        const at::Tensor noise = randn_on(x0.sizes(), gen, device);
        const at::Tensor ab = alphas_cumprod.index_select(0, t).view({B, 1, 1, 1});
        const at::Tensor noisy = (ab.sqrt() * x0 + (1 - ab).sqrt() * noise).contiguous(at::MemoryFormat::ChannelsLast);
        // Each caption (one in ten empty: the unconditional branch must not move either) and a copy with
        // one to three unknown words: mostly appended after a comma (how rules join a prompt), else
        // inserted between two of its words.
        std::vector<int64_t> clean_ids, noisy_ids;
        const at::Tensor picked = idx.to(at::kCPU);
        for (int64_t b = 0; b < B; ++b) {
            std::vector<int64_t> clean = rng.below(10) == 0 ? std::vector<int64_t>{}
                                                             : captions[size_t(picked[b].item<int64_t>())];
            std::vector<int64_t> words;
            for (int k = 0, n = 1 + rng.below(3); k < n; ++k) words.push_back(unknown[size_t(rng.below(int(unknown.size())))]);
            std::vector<int64_t> extended = clean;
            if (clean.empty() || rng.below(10) < 6) {
                if (!clean.empty()) extended.push_back(comma);
                extended.insert(extended.end(), words.begin(), words.end());
            } else {
                extended.insert(extended.begin() + rng.below(int(clean.size()) + 1), words.begin(), words.end());
            }
            const auto c = framed(tokenizer, clean, length), e = framed(tokenizer, extended, length);
            clean_ids.insert(clean_ids.end(), c.begin(), c.end());
            noisy_ids.insert(noisy_ids.end(), e.begin(), e.end());
        }
        const at::Tensor clean_tokens = at::tensor(clean_ids, at::kLong).view({B, length}).to(device);
        const at::Tensor extended_tokens = at::tensor(noisy_ids, at::kLong).view({B, length}).to(device);
        at::Tensor target;
        {
            at::NoGradGuard no_grad;
            target = unet.forward(noisy, t, teacher.forward(clean_tokens));
        }
        const ClipTextModel student(text_config, trainer.params());
        const at::Tensor both = student.forward(at::cat({clean_tokens, extended_tokens}));
        const at::Tensor pred = unet.forward(at::cat({noisy, noisy}).contiguous(at::MemoryFormat::ChannelsLast),
                                             at::cat({t, t}), both);
        at::Tensor loss = (pred - at::cat({target, target})).pow(2).mean();
        loss.backward();
        return loss.item<double>();
    });
    result.words_seconds = seconds_since(start);
    if (!done) {
        result.cancelled = true;
        return result;
    }
    save_half(text_file, trainer.params());
    write_text(files.done_marker, "text encoder taught to ignore unknown words for " + std::to_string(request.words_steps) + " steps\n");
    return result;
}

}  // namespace atelier
