// atelier-tiny's architecture, default initialisation (torch.nn / transformers CLIP init) and data.
#include "personalize/base_model.h"

#include <ATen/ATen.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "atelier/error.h"
#include "atelier/system.h"
#include "personalize/train_util.h"

namespace atelier {

BaseModelConfigs base_model_configs() {
    BaseModelConfigs c;
    c.text.vocab_size = 49408;
    c.text.hidden_size = 128;
    c.text.intermediate_size = 512;
    c.text.num_hidden_layers = 4;
    c.text.num_attention_heads = 4;
    c.text.max_position_embeddings = 77;
    c.text.hidden_act = "quick_gelu";

    // Three levels: 4x down-sampling, 16x16 latents for 64x64 pictures. With SD's 8x (8x8 latents) a small
    // star covers about one latent cell and the autoencoder cannot keep its shape.
    c.vae.block_out_channels = {32, 64, 64};
    c.vae.layers_per_block = 1;
    c.vae.latent_channels = 4;
    c.vae.norm_num_groups = 8;  // 4 channels a group: 32 groups of 1 channel (instance norm) lose the colours
    c.vae.sample_size = 64;
    c.vae.scaling_factor = 1.0;  // measured after the autoencoder is trained

    c.unet.in_channels = 4;
    c.unet.out_channels = 4;
    c.unet.block_out_channels = {64, 128};
    // Text conditioning at 8x8 and in the mid block; the 16x16 level is convolutions only (4x cheaper
    // than attention over 256 positions, which matters on a CPU).
    c.unet.down_block_types = {"DownBlock2D", "CrossAttnDownBlock2D"};
    c.unet.up_block_types = {"CrossAttnUpBlock2D", "UpBlock2D"};
    c.unet.mid_block_type = "UNetMidBlock2DCrossAttn";
    c.unet.layers_per_block = 1;
    c.unet.cross_attention_dim = 128;
    c.unet.attention_head_dim = {4};  // diffusers' name for the number of heads
    c.unet.norm_num_groups = 16;
    c.unet.sample_size = 16;
    return c;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Re-initialises a map of named tensors (shapes only are used) the way torch.nn modules do.
TensorMap default_init(const TensorMap& shapes, uint64_t seed) {
    TensorMap out;
    for (const auto& [name, like] : shapes) {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ fnv1a(name));
        const auto sizes = like.sizes();
        const bool is_bias = ends_with(name, ".bias");
        const bool is_norm = name.find("norm") != std::string::npos && sizes.size() == 1;
        if (is_norm) {
            out[name] = is_bias ? at::zeros(sizes) : at::ones(sizes);
            continue;
        }
        // Fan-in of the layer: a weight's own, a bias's from its weight.
        int64_t fan_in = 1;
        if (is_bias) {
            const auto w = shapes.find(name.substr(0, name.size() - 5) + ".weight");
            if (w == shapes.end()) throw Error("init: bias '" + name + "' has no weight");
            fan_in = w->second.numel() / std::max<int64_t>(w->second.size(0), 1);
        } else {
            fan_in = like.numel() / std::max<int64_t>(sizes[0], 1);
        }
        const double bound = 1.0 / std::sqrt(double(std::max<int64_t>(fan_in, 1)));
        out[name] = at::empty(sizes).uniform_(-bound, bound, gen);
    }
    return out;
}

TensorMap shapes_of_clip(const ClipTextConfig& c) {
    const int64_t h = c.hidden_size, inter = c.intermediate_size;
    TensorMap m;
    auto add = [&](const std::string& name, std::vector<int64_t> shape) { m["text_model." + name] = at::empty(shape); };
    add("embeddings.token_embedding.weight", {c.vocab_size, h});
    add("embeddings.position_embedding.weight", {c.max_position_embeddings, h});
    for (int l = 0; l < c.num_hidden_layers; ++l) {
        const std::string p = "encoder.layers." + std::to_string(l) + ".";
        for (const char* n : {"layer_norm1", "layer_norm2"}) {
            add(p + n + ".weight", {h});
            add(p + n + ".bias", {h});
        }
        for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
            add(p + "self_attn." + n + ".weight", {h, h});
            add(p + "self_attn." + n + ".bias", {h});
        }
        add(p + "mlp.fc1.weight", {inter, h});
        add(p + "mlp.fc1.bias", {inter});
        add(p + "mlp.fc2.weight", {h, inter});
        add(p + "mlp.fc2.bias", {h});
    }
    add("final_layer_norm.weight", {h});
    add("final_layer_norm.bias", {h});
    return m;
}

}  // namespace

TensorMap init_clip_text_weights(const ClipTextConfig& config, uint64_t seed) {
    TensorMap m = default_init(shapes_of_clip(config), seed);
    // transformers CLIPTextEmbeddings: normal(0, 0.02) token and normal(0, 0.01) position embeddings.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0xC11Bull);
    m["text_model.embeddings.token_embedding.weight"].normal_(0.0, 0.02, gen);
    m["text_model.embeddings.position_embedding.weight"].normal_(0.0, 0.01, gen);
    return m;
}

TensorMap init_unet_weights(const UNetConfig& config, uint64_t seed) {
    TensorMap m = default_init(UNet2DCondition::random_weights(config, 0), seed);
    m.at("conv_out.weight").zero_();
    m.at("conv_out.bias").zero_();
    return m;
}

TensorMap init_vae_weights(const VaeConfig& config, uint64_t seed) {
    return default_init(AutoencoderKL::random_weights(config, 0), seed);
}

std::string unet_config_json(const UNetConfig& c) {
    nlohmann::ordered_json j;
    j["_class_name"] = "UNet2DConditionModel";
    j["_diffusers_version"] = "0.25.1";
    j["act_fn"] = "silu";
    j["attention_head_dim"] = c.attention_head_dim.size() == 1 ? nlohmann::ordered_json(c.attention_head_dim[0])
                                                                : nlohmann::ordered_json(c.attention_head_dim);
    j["block_out_channels"] = c.block_out_channels;
    j["center_input_sample"] = false;
    j["cross_attention_dim"] = c.cross_attention_dim;
    j["down_block_types"] = c.down_block_types;
    j["downsample_padding"] = 1;
    j["flip_sin_to_cos"] = c.flip_sin_to_cos;
    j["freq_shift"] = c.freq_shift;
    j["in_channels"] = c.in_channels;
    j["layers_per_block"] = c.layers_per_block;
    j["mid_block_scale_factor"] = 1;
    j["mid_block_type"] = c.mid_block_type;
    j["norm_eps"] = c.norm_eps;
    j["norm_num_groups"] = c.norm_num_groups;
    j["out_channels"] = c.out_channels;
    j["sample_size"] = c.sample_size;
    j["up_block_types"] = c.up_block_types;
    j["use_linear_projection"] = c.use_linear_projection;
    return j.dump(2) + "\n";
}

std::string vae_config_json(const VaeConfig& c) {
    nlohmann::ordered_json j;
    j["_class_name"] = "AutoencoderKL";
    j["_diffusers_version"] = "0.25.1";
    j["act_fn"] = "silu";
    j["block_out_channels"] = c.block_out_channels;
    j["down_block_types"] = std::vector<std::string>(c.levels(), "DownEncoderBlock2D");
    j["in_channels"] = c.in_channels;
    j["latent_channels"] = c.latent_channels;
    j["layers_per_block"] = c.layers_per_block;
    j["norm_num_groups"] = c.norm_num_groups;
    j["out_channels"] = c.out_channels;
    j["sample_size"] = c.sample_size;
    j["scaling_factor"] = c.scaling_factor;
    j["up_block_types"] = std::vector<std::string>(c.levels(), "UpDecoderBlock2D");
    return j.dump(2) + "\n";
}

std::string clip_text_config_json(const ClipTextConfig& c) {
    nlohmann::ordered_json j;
    j["architectures"] = {"CLIPTextModel"};
    j["attention_dropout"] = 0.0;
    j["bos_token_id"] = 0;
    j["dropout"] = 0.0;
    j["eos_token_id"] = 2;
    j["hidden_act"] = c.hidden_act;
    j["hidden_size"] = c.hidden_size;
    j["initializer_factor"] = 1.0;
    j["initializer_range"] = 0.02;
    j["intermediate_size"] = c.intermediate_size;
    j["layer_norm_eps"] = c.layer_norm_eps;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["model_type"] = "clip_text_model";
    j["num_attention_heads"] = c.num_attention_heads;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["pad_token_id"] = 1;
    j["projection_dim"] = c.hidden_size;
    j["torch_dtype"] = "float16";
    j["transformers_version"] = "4.35.2";
    j["vocab_size"] = c.vocab_size;
    return j.dump(2) + "\n";
}

void write_base_model_metadata(const std::string& dir_text) {
    namespace fs = std::filesystem;
    const fs::path dir(dir_text);
    auto write = [&](const fs::path& rel, const std::string& text) {
        fs::create_directories((dir / rel).parent_path());
        std::ofstream out(dir / rel, std::ios::binary);
        out << text;
        if (!out) throw Error((dir / rel).string() + ": cannot write");
    };
    nlohmann::ordered_json index;
    index["_class_name"] = "StableDiffusionPipeline";
    index["_diffusers_version"] = "0.25.1";
    index["feature_extractor"] = {nullptr, nullptr};
    index["requires_safety_checker"] = false;
    index["safety_checker"] = {nullptr, nullptr};
    index["scheduler"] = {"diffusers", "DPMSolverMultistepScheduler"};
    index["text_encoder"] = {"transformers", "CLIPTextModel"};
    index["tokenizer"] = {"transformers", "CLIPTokenizer"};
    index["unet"] = {"diffusers", "UNet2DConditionModel"};
    index["vae"] = {"diffusers", "AutoencoderKL"};
    write("model_index.json", index.dump(2) + "\n");

    nlohmann::ordered_json s;
    s["_class_name"] = "DPMSolverMultistepScheduler";
    s["_diffusers_version"] = "0.25.1";
    s["algorithm_type"] = "dpmsolver++";
    s["beta_end"] = 0.012;
    s["beta_schedule"] = "scaled_linear";
    s["beta_start"] = 0.00085;
    s["lower_order_final"] = true;
    s["num_train_timesteps"] = 1000;
    s["prediction_type"] = "epsilon";
    s["solver_order"] = 2;
    s["solver_type"] = "midpoint";
    s["steps_offset"] = 1;
    s["thresholding"] = false;
    s["timestep_spacing"] = "trailing";
    s["trained_betas"] = nullptr;
    s["use_karras_sigmas"] = false;
    write("scheduler/scheduler_config.json", s.dump(2) + "\n");

    const std::string vocab = clip_vocab_dir();
    if (vocab.empty()) throw Error("write_base_model_metadata: no shipped CLIP vocabulary (resources/clip)");
    fs::create_directories(dir / "tokenizer");
    for (const char* name : {"vocab.json", "merges.txt"})
        fs::copy_file(fs::path(vocab) / name, dir / "tokenizer" / name, fs::copy_options::overwrite_existing);
    const nlohmann::ordered_json special = {{"content", ""}, {"lstrip", false}, {"normalized", true},
                                            {"rstrip", false}, {"single_word", false}};
    auto token = [&](const char* text) {
        nlohmann::ordered_json t = special;
        t["content"] = text;
        return t;
    };
    nlohmann::ordered_json map;
    map["bos_token"] = token("<|startoftext|>");
    map["eos_token"] = token("<|endoftext|>");
    map["pad_token"] = "<|endoftext|>";
    map["unk_token"] = token("<|endoftext|>");
    write("tokenizer/special_tokens_map.json", map.dump(2) + "\n");
    nlohmann::ordered_json tc;
    tc["bos_token"] = "<|startoftext|>";
    tc["clean_up_tokenization_spaces"] = true;
    tc["do_lower_case"] = true;
    tc["eos_token"] = "<|endoftext|>";
    tc["errors"] = "replace";
    tc["model_max_length"] = 77;
    tc["pad_token"] = "<|endoftext|>";
    tc["tokenizer_class"] = "CLIPTokenizer";
    tc["unk_token"] = "<|endoftext|>";
    write("tokenizer/tokenizer_config.json", tc.dump(2) + "\n");
}

at::Tensor images_to_tensor(const std::vector<Image>& images) {
    if (images.empty()) throw Error("images_to_tensor: no images");
    const int w = images[0].width, h = images[0].height;
    at::Tensor out = at::empty({int64_t(images.size()), h, w, 3}, at::kByte);
    for (size_t i = 0; i < images.size(); ++i) {
        const Image& im = images[i];
        if (im.width != w || im.height != h || im.channels != 3)
            throw Error("images_to_tensor: image " + std::to_string(i) + " is not " + std::to_string(w) + "x" +
                        std::to_string(h) + " RGB");
        std::memcpy(out[int64_t(i)].data_ptr(), im.pixels.data(), im.pixels.size());
    }
    return out.permute({0, 3, 1, 2}).to(at::kFloat).div_(127.5).sub_(1.0).contiguous();
}

Image tensor_to_image(const at::Tensor& chw) {
    const at::Tensor hwc = ((chw.detach().to(at::kFloat).clamp(-1, 1) + 1) * 127.5)
                               .round().to(at::kByte).permute({1, 2, 0}).contiguous();
    Image im;
    im.height = int(hwc.size(0));
    im.width = int(hwc.size(1));
    im.channels = 3;
    im.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
    return im;
}

SceneBatch render_scene_batch(uint64_t base, int64_t index, int n, int size, world::HeldOut held_out) {
    SceneBatch b;
    at::Tensor bytes = at::empty({n, size, size, 3}, at::kByte);
    b.scenes.resize(size_t(n));
    b.captions.resize(size_t(n));
    uint8_t* pixels = bytes.data_ptr<uint8_t>();
    // Scenes are independent: rendered on the compute threads (a GPU trainer would otherwise wait for them).
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            world::Scene& scene = b.scenes[size_t(i)];
            scene = world::sample_scene(world::derive_seed(base, uint64_t(index + i)), held_out);
            world::render_scene_into(scene, size, pixels + i * size * size * 3);
            b.captions[size_t(i)] = world::caption(scene);
        }
    });
    b.images = bytes.permute({0, 3, 1, 2}).to(at::kFloat).div_(127.5).sub_(1.0).contiguous();
    return b;
}

uint64_t base_model_train_base(uint64_t seed) { return world::derive_seed(0xBA5Eull, seed); }

at::Tensor sd_alphas_cumprod() {
    const at::Tensor betas = at::linspace(std::sqrt(0.00085), std::sqrt(0.012), 1000, at::kDouble).pow(2);
    return at::cumprod(1.0 - betas, 0).to(at::kFloat);
}

}  // namespace atelier
