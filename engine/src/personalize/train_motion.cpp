// Trains AnimateDiff motion modules (Guo et al. 2023, arXiv 2307.04725: the still model frozen, the temporal
// transformers learn epsilon prediction on video latents, proj_out zero-initialised) for a still model,
// on rendered clips of the procedural world; exports a diffusers MotionAdapter folder.
#include "atelier/train_motion.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include "atelier/error.h"
#include "personalize/base_model.h"
#include "personalize/lora.h"
#include "personalize/motion_clips.h"
#include "personalize/motion_training.h"
#include "personalize/train_util.h"
#include "personalize/trainer.h"
#include "runtime/model_impl.h"

namespace atelier {

namespace fs = std::filesystem;

namespace {

struct ModuleSlot {
    std::string prefix;  // "down_blocks.0.motion_modules.1."
    int64_t channels = 0;
};

// Every module of an adapter in loader order (down, mid, up), as MotionAdapter's constructor reads them.
std::vector<ModuleSlot> module_slots(const MotionAdapterConfig& c) {
    std::vector<ModuleSlot> slots;
    const size_t L = c.block_out_channels.size();
    for (size_t level = 0; level < L; ++level)
        for (int j = 0; j < c.layers_per_block; ++j)
            slots.push_back({"down_blocks." + std::to_string(level) + ".motion_modules." + std::to_string(j) + ".",
                             c.block_out_channels[level]});
    for (int j = 0; j < c.mid_layers; ++j)
        slots.push_back({"mid_block.motion_modules." + std::to_string(j) + ".", c.block_out_channels.back()});
    for (size_t i = 0; i < L; ++i)
        for (int j = 0; j <= c.layers_per_block; ++j)
            slots.push_back({"up_blocks." + std::to_string(i) + ".motion_modules." + std::to_string(j) + ".",
                             c.block_out_channels[L - 1 - i]});
    return slots;
}

const std::string kLoraPrefix = "text_lora.", kMotionLoraPrefix = "motion_lora.";
bool is_lora_key(const std::string& key) { return key.rfind(kLoraPrefix, 0) == 0; }

std::string join_names(const std::vector<std::string>& names) {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "" : ",") + n;
    return s.empty() ? "all" : s;
}

bool is_temporal_attention(const std::string& name) {
    return name.find(".attn1.") != std::string::npos || name.find(".attn2.") != std::string::npos;
}

// Replaces `init`'s module weights by those of a MotionAdapter folder's file; every weight must be there,
// with the same shape (the same still model and heads).
void start_from_adapter(TensorMap& init, const std::string& folder) {
    const fs::path file = fs::path(folder) / "diffusion_pytorch_model.safetensors";
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
        throw Error("train_motion_module: init_from '" + folder + "' has no diffusion_pytorch_model.safetensors "
                    "(expected a diffusers MotionAdapter folder)");
    const TensorMap start = load_tensors(file.string());
    for (auto& [key, value] : init) {
        const auto it = start.find(key);
        if (it == start.end()) throw Error("train_motion_module: " + file.string() + " has no '" + key + "'");
        if (it->second.sizes() != value.sizes())
            throw Error("train_motion_module: " + file.string() + ": '" + key + "' has shape " +
                        shape_string(it->second.sizes()) + ", this model needs " + shape_string(value.sizes()));
        value = it->second.to(at::kFloat).clone();
    }
}

}  // namespace

MotionAdapterConfig motion_adapter_config_for(const UNetConfig& unet, int heads, int max_frames) {
    MotionAdapterConfig c;
    c.block_out_channels = unet.block_out_channels;
    c.layers_per_block = unet.layers_per_block;
    c.mid_layers = unet.mid_block_type == "UNetMidBlock2DCrossAttn" ? 1 : 0;
    c.heads = heads;
    c.max_frames = max_frames;
    if (heads < 1) throw Error("motion module: heads must be >= 1, found " + std::to_string(heads));
    if (max_frames < 2) throw Error("motion module: max_frames must be >= 2, found " + std::to_string(max_frames));
    for (size_t i = 0; i < c.block_out_channels.size(); ++i)
        if (c.block_out_channels[i] % heads != 0)
            throw Error("motion module: the UNet's level " + std::to_string(i) + " has " +
                        std::to_string(c.block_out_channels[i]) + " channels, not divisible into " +
                        std::to_string(heads) + " heads");
    auto divides_all = [&](int g) {
        for (int ch : c.block_out_channels)
            if (ch % g != 0) return false;
        return true;
    };
    c.norm_groups = 1;
    if (unet.norm_num_groups > 0 && divides_all(unet.norm_num_groups)) {
        c.norm_groups = unet.norm_num_groups;
    } else {
        for (int g = 32; g > 1; g /= 2)
            if (divides_all(g)) {
                c.norm_groups = g;
                break;
            }
    }
    return c;
}

TensorMap init_motion_adapter_weights(const MotionAdapterConfig& config, uint64_t seed) {
    TensorMap m;
    // nn.Linear's default: U(+-1/sqrt(fan_in)) for weight (kaiming-uniform, a = sqrt(5)) and bias.
    auto linear = [&](const std::string& name, int64_t in, int64_t out, bool bias) {
        const double bound = 1.0 / std::sqrt(double(in));
        auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ fnv1a(name + ".weight"));
        m[name + ".weight"] = at::empty({out, in}).uniform_(-bound, bound, gen);
        if (bias) {
            auto bgen = at::make_generator<at::CPUGeneratorImpl>(seed ^ fnv1a(name + ".bias"));
            m[name + ".bias"] = at::empty({out}).uniform_(-bound, bound, bgen);
        }
    };
    auto norm = [&](const std::string& name, int64_t channels) {
        m[name + ".weight"] = at::ones({channels});
        m[name + ".bias"] = at::zeros({channels});
    };
    for (const ModuleSlot& s : module_slots(config)) {
        const int64_t C = s.channels;
        norm(s.prefix + "norm", C);
        linear(s.prefix + "proj_in", C, C, true);
        linear(s.prefix + "proj_out", C, C, true);
        // AnimateDiff's zero_initialize: the module adds nothing until it has learnt something.
        m[s.prefix + "proj_out.weight"].zero_();
        m[s.prefix + "proj_out.bias"].zero_();
        const std::string b = s.prefix + "transformer_blocks.0.";
        for (const char* n : {"norm1", "norm2", "norm3"}) norm(b + n, C);
        for (const char* a : {"attn1.", "attn2."}) {
            for (const char* p : {"to_q", "to_k", "to_v"}) linear(b + a + p, C, C, false);
            linear(b + a + "to_out.0", C, C, true);
        }
        linear(b + "ff.net.0.proj", C, 8 * C, true);
        linear(b + "ff.net.2", 4 * C, C, true);
    }
    return m;
}

TensorMap motion_positional_tables(const MotionAdapterConfig& config) {
    TensorMap m;
    for (const ModuleSlot& s : module_slots(config))
        m[s.prefix + "transformer_blocks.0.pos_embed.pe"] =
            MotionModule::sinusoidal_table(config.max_frames, s.channels).unsqueeze(0);
    return m;
}

std::string motion_adapter_config_json(const MotionAdapterConfig& c) {
    nlohmann::ordered_json j;
    j["_class_name"] = "MotionAdapter";
    j["_diffusers_version"] = "0.25.1";
    j["block_out_channels"] = c.block_out_channels;
    j["motion_layers_per_block"] = c.layers_per_block;
    j["motion_max_seq_length"] = c.max_frames;
    j["motion_mid_block_layers_per_block"] = std::max(c.mid_layers, 1);
    j["motion_norm_num_groups"] = c.norm_groups;
    j["motion_num_attention_heads"] = c.heads;
    j["use_motion_mid_block"] = c.mid_layers > 0;
    return j.dump(2) + "\n";
}

std::pair<at::Tensor, at::Tensor> encode_clips(const AutoencoderKL& vae, const at::Tensor& clips) {
    const int64_t n = clips.size(0), F = clips.size(1);
    auto [mean, logvar] = vae.encode(clips.flatten(0, 1));
    // [n*F, C, h, w] -> [n, C, F, h, w]: the UNet's video layout.
    auto video = [&](const at::Tensor& t) {
        return t.reshape({n, F, t.size(1), t.size(2), t.size(3)}).permute({0, 2, 1, 3, 4}).contiguous();
    };
    return {video(mean), video(at::exp(0.5 * logvar))};
}

at::Tensor motion_epsilon_loss(const UNet2DCondition& unet, const at::Tensor& x0, const at::Tensor& context,
                               const at::Tensor& timesteps, const at::Tensor& noise) {
    static const at::Tensor alphas_cumprod = sd_alphas_cumprod();
    const int64_t B = x0.size(0);
    const at::Tensor ab_table = alphas_cumprod.to(timesteps.device());
    const at::Tensor ab = ab_table.index_select(0, timesteps).view({B, 1, 1, 1, 1});
    const at::Tensor noisy = ab.sqrt() * x0 + (1 - ab).sqrt() * noise;
    return (unet.forward(noisy, timesteps, context) - noise).pow(2).mean();
}

TrainMotionResult train_motion_module(const TrainMotionRequest& request) {
    const std::string where = "train_motion_module";
    if (request.base_dir.empty()) throw Error(where + ": base_dir (the still model) is empty");
    if (request.out_dir.empty()) throw Error(where + ": out_dir is empty");
    if (request.steps < 1) throw Error(where + ": steps must be >= 1, found " + std::to_string(request.steps));
    if (request.batch < 1) throw Error(where + ": batch must be >= 1, found " + std::to_string(request.batch));
    if (request.frames < 2 || request.frames > request.max_frames)
        throw Error(where + ": frames must be 2.." + std::to_string(request.max_frames) + ", found " +
                    std::to_string(request.frames));
    if (!(request.lr > 0)) throw Error(where + ": lr must be > 0");
    if (request.text_lora_rank < 0)
        throw Error(where + ": text_lora_rank must be >= 0, found " + std::to_string(request.text_lora_rank));
    if (request.motion_lora_rank < 0)
        throw Error(where + ": motion_lora_rank must be >= 0, found " + std::to_string(request.motion_lora_rank));
    if (request.motion_lora_rank > 0 && request.text_lora_rank > 0)
        throw Error(where + ": a motion LoRA and a text LoRA train one at a time (motion_lora_rank and "
                    "text_lora_rank are both set)");
    if (request.min_timestep < 0 || request.min_timestep > 999)
        throw Error(where + ": min_timestep must be 0..999, found " + std::to_string(request.min_timestep));
    std::vector<world::Motion> motions;
    for (const std::string& name : request.motions) {
        const auto motion = world::parse_motion(name);
        if (!motion) {
            std::string known;
            for (const std::string& m : world::all_motion_names()) known += (known.empty() ? "" : ", ") + m;
            throw Error(where + ": unknown motion '" + name + "' (known: " + known + ")");
        }
        motions.push_back(*motion);
    }
    std::error_code ec;
    if (!fs::is_directory(request.base_dir, ec))
        throw Error(where + ": base model '" + request.base_dir + "' is not a folder (expected a diffusers model folder)");
    at::set_num_threads(std::max(1, request.threads));

    // The frozen still model.
    LoadOptions load;
    load.path = request.base_dir;
    load.device = request.device;
    load.precision = "float32";
    std::shared_ptr<Model> model;
    try {
        model = Model::load(load);
    } catch (const Error& e) {
        throw Error(where + ": cannot load the base model: " + e.what());
    }
    Model::Impl& base = model->impl();
    if (!base.vae->has_encoder()) throw Error(where + ": base model '" + request.base_dir + "' has no VAE encoder");
    UNet2DCondition& unet = *base.unet;
    unet.set_gradient_checkpointing(request.gradient_checkpointing);
    const at::Device device = unet.device();
    const MotionAdapterConfig config =
        motion_adapter_config_for(unet.config(), request.heads, request.max_frames);

    const fs::path out(request.out_dir);
    const fs::path ckpt_dir = out / "checkpoints";
    fs::create_directories(ckpt_dir);
    const std::string ckpt = (ckpt_dir / "motion.safetensors").string();
    if (!request.resume) fs::remove(ckpt);

    OptimizerOptions o;
    o.lr = request.lr;
    o.weight_decay = 0.01;
    o.warmup_steps = std::min<int64_t>(100, request.steps / 10 + 1);
    o.total_steps = request.steps;
    o.min_lr_ratio = 0.1;
    o.clip_grad_norm = 1.0;
    o.ema_decay = 0.995;
    TensorMap init = init_motion_adapter_weights(config, request.seed * 31 + 7);
    const bool motion_lora = request.motion_lora_rank > 0;
    std::string start = request.init_from;
    if (motion_lora && start.empty()) {
        start = (fs::path(request.base_dir) / "motion_adapter").string();
        if (!fs::is_directory(start, ec))
            throw Error(where + ": a motion LoRA adapts a motion module: give init_from, or a base model with a "
                        "motion_adapter/ folder ('" + request.base_dir + "' has none)");
    }
    if (!start.empty()) start_from_adapter(init, start);
    const TensorMap tables = on_device(motion_positional_tables(config), device);
    // A motion LoRA: the module is frozen (built once), and only the adapters on its attention learn.
    std::shared_ptr<MotionAdapter> frozen_module;
    std::vector<std::string> motion_lora_modules;
    if (motion_lora) {
        TensorMap all = on_device(init, device);
        for (const auto& [k, v] : tables) all[k] = v;
        frozen_module = std::make_shared<MotionAdapter>(config, all, start);
        init.clear();
        frozen_module->for_each_linear([&](Linear& l) {
            if (!is_temporal_attention(l.name)) return;
            auto gen = at::make_generator<at::CPUGeneratorImpl>(request.seed ^ fnv1a(l.name + ".motion_lora"));
            add_trainable_lora(init, kMotionLoraPrefix + l.name, l.weight.cpu(), request.motion_lora_rank, gen);
            motion_lora_modules.push_back(l.name);
        });
    }
    // The text LoRA: on every cross-attention projection (attn2's q, k, v, out), up zero so it starts as
    // nothing; kohya's alpha = rank (scale 1).
    const int64_t rank = request.text_lora_rank;
    std::map<std::string, Linear*> cross_attention;
    if (rank > 0)
        unet.for_each_linear([&](Linear& l) {
            if (l.name.find(".attn2.") != std::string::npos) cross_attention[l.name] = &l;
        });
    std::vector<std::string> lora_modules;
    for (const auto& [name, l] : cross_attention) {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(request.seed ^ fnv1a(name + ".lora_down"));
        add_trainable_lora(init, kLoraPrefix + name, l->weight, rank, gen);
        lora_modules.push_back(name);
    }
    Trainer trainer(on_device(init, device), o);
    if (request.resume && fs::exists(ckpt)) trainer.load(ckpt);
    AdapterGuard lora_guard;  // the leaves are updated in place, so attaching them once is enough
    for (const auto& [name, l] : cross_attention)
        lora_guard.attach(*l, std::make_shared<LoraAdapter>(trainer.params().at(kLoraPrefix + name + ".down"),
                                                            trainer.params().at(kLoraPrefix + name + ".up"), 1.0));
    if (motion_lora)
        frozen_module->for_each_linear([&](Linear& l) {
            if (!is_temporal_attention(l.name)) return;
            const std::string key = kMotionLoraPrefix + l.name;
            lora_guard.attach(l, std::make_shared<LoraAdapter>(trainer.params().at(key + ".down"),
                                                               trainer.params().at(key + ".up"), 1.0));
        });
    TrainMotionResult result;

    auto report = [&](const std::string& phase, int64_t step, int64_t total, double loss, double step_s, double eta_s) {
        if (!request.on_progress) return;
        TrainMotionProgress p;
        p.phase = phase;
        p.step = step;
        p.total = total;
        p.loss = loss;
        p.step_seconds = step_s;
        p.eta_seconds = eta_s;
        request.on_progress(p);
    };

    // ---- the clip data set: latents and tokens, encoded once
    const int F = request.frames, max_len = base.text_encoder->config().max_position_embeddings;
    const int64_t clips = request.clips > 0 ? request.clips : std::min<int64_t>(request.steps * request.batch, 2048);
    const uint64_t data_base = motion_train_base(request.seed);
    const auto encode_start = train_clock::now();
    at::Tensor lat_mean, lat_std, ids;
    if (trainer.step() < request.steps) {
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> means, stds;
        std::vector<int64_t> all_ids;
        const int chunk = std::max(1, 64 / F);
        for (int64_t i = 0; i < clips; i += chunk) {
            const int n = int(std::min<int64_t>(chunk, clips - i));
            const ClipBatch batch = render_clip_batch(data_base, i, n, F, request.frame_size, world::HeldOut::exclude, motions);
            auto [m, s] = encode_clips(*base.vae, batch.frames.to(device));
            // float16 halves the data set's memory; the latents are far coarser than its precision.
            means.push_back(m.to(at::kHalf));
            stds.push_back(s.to(at::kHalf));
            for (const auto& c : batch.captions) {
                const auto t = base.tokenizer->encode_padded(c, max_len);
                all_ids.insert(all_ids.end(), t.begin(), t.end());
            }
            const double per_clip = seconds_since(encode_start) / double(i + n);
            report("encode", i + n, clips, 0, per_clip, per_clip * double(clips - i - n));
            if (request.cancel && request.cancel->cancelled()) {
                result.cancelled = true;
                result.steps_done = trainer.step();
                result.encode_seconds = seconds_since(encode_start);
                return result;
            }
        }
        lat_mean = at::cat(means);
        lat_std = at::cat(stds);
        ids = at::tensor(all_ids, at::kLong).view({clips, max_len}).to(device);
    }
    result.encode_seconds = seconds_since(encode_start);
    const auto empty_ids = base.tokenizer->encode_padded("", max_len);
    const at::Tensor empty = at::tensor(empty_ids, at::kLong).view({1, -1}).to(device);
    const double scale = base.vae->config().scaling_factor;

    // ---- the motion modules
    const auto train_start = train_clock::now();
    TrainLoopOptions loop;
    loop.total_steps = request.steps;
    loop.checkpoint_every = request.checkpoint_every;
    loop.checkpoint_path = ckpt;
    loop.cancel = request.cancel;
    loop.on_progress = [&](const TrainProgress& p) {
        result.loss = p.loss_avg;
        report("train", p.step, p.total, p.loss_avg, p.step_seconds, p.eta_seconds);
    };
    auto adapter_from = [&](const TensorMap& trainable) {
        TensorMap all = tables;
        for (const auto& [k, v] : trainable)
            if (!is_lora_key(k)) all[k] = v;
        return std::make_shared<MotionAdapter>(config, all, request.out_dir);
    };
    bool done = true;
    try {
        done = run_training(trainer, loop, [&](int64_t step) {
            auto gen = at::make_generator<at::CPUGeneratorImpl>(world::derive_seed(request.seed * 7919 + 0x307, uint64_t(step)));
            const int64_t B = request.batch;
            const at::Tensor idx = at::randint(0, clips, {B}, gen, at::kLong).to(device);
            const at::Tensor mean = lat_mean.index_select(0, idx).to(at::kFloat);
            const at::Tensor x0 =
                (mean + lat_std.index_select(0, idx).to(at::kFloat) * randn_on(mean.sizes(), gen, device)) * scale;
            at::Tensor tokens = ids.index_select(0, idx);
            const at::Tensor drop = (at::rand({B}, gen) < 0.1).to(device);  // caption dropout: CFG's unconditional branch
            tokens = at::where(drop.view({B, 1}), empty.expand_as(tokens), tokens);
            const at::Tensor t = at::randint(request.min_timestep, 1000, {B}, gen, at::kLong).to(device);
            const at::Tensor noise = randn_on(x0.sizes(), gen, device);
            at::Tensor context;
            {
                at::NoGradGuard no_grad;
                context = base.text_encoder->forward(tokens);
            }
            // The UNet reads the adapter's current leaves, so the loss reaches them.
            unet.set_motion_adapter(motion_lora ? frozen_module : adapter_from(trainer.params()));
            at::Tensor loss = motion_epsilon_loss(unet, x0, context, t, noise);
            loss.backward();
            return loss.item<double>();
        });
    } catch (...) {
        unet.set_motion_adapter(nullptr);
        throw;
    }
    unet.set_motion_adapter(nullptr);
    result.train_seconds = seconds_since(train_start);
    result.steps_done = trainer.step();
    result.parameters = 0;
    for (const auto& [k, v] : trainer.params()) (is_lora_key(k) ? result.text_lora_parameters : result.parameters) += v.numel();
    if (!done) {
        result.cancelled = true;
        return result;
    }

    // ---- export: the EMA weights and the positional tables, float16 (the loader converts)
    report("export", 0, 1, result.loss, 0, 0);
    if (motion_lora) {
        const int64_t r = request.motion_lora_rank;
        write_lora_peft((out / kMotionLoraFile).string(),
                        trained_lora_layers(trainer.ema(), kMotionLoraPrefix, motion_lora_modules, "unet", float(r)),
                        {{"format", "pt"}, {"atelier.purpose", "motion LoRA for the motion module " + start},
                         {"atelier.motions", join_names(request.motions)}});
        report("export", 1, 1, result.loss, 0, 0);
        return result;
    }
    TensorMap weights;
    for (const auto& [k, v] : tables) weights[k] = v.to(at::kHalf);
    for (const auto& [k, v] : trainer.ema())
        if (!is_lora_key(k)) weights[k] = v.detach().to(at::kHalf);
    adapter_from(trainer.ema());  // refuses a structure the loader would not read back
    save_tensors((out / "diffusion_pytorch_model.safetensors").string(), weights, {{"format", "pt"}});
    const fs::path lora_path = out / kMotionTextLoraFile;
    fs::remove(lora_path);  // a folder retrained without one must not keep an old one
    if (!lora_modules.empty()) {
        write_lora_kohya(lora_path.string(), trained_lora_layers(trainer.ema(), kLoraPrefix, lora_modules, "unet", float(rank)),
                         {{"ss_network_dim", std::to_string(rank)}, {"ss_network_alpha", std::to_string(rank)},
                          {"atelier.purpose", "motion words for the motion adapter beside it (clips only)"}});
    }
    write_text(out / "config.json", motion_adapter_config_json(config));
    report("export", 1, 1, result.loss, 0, 0);
    return result;
}

}  // namespace atelier
