// Loading a Stable Diffusion model: a diffusers folder or a single-file (CompVis/A1111) checkpoint,
// the device and precision it runs at, and what was found (ModelInfo).
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "atelier/error.h"
#include "atelier/system.h"
#include "io/file_util.h"
#include "models/checkpoint.h"
#include "runtime/device.h"
#include "runtime/model_impl.h"
#include "runtime/tensors.h"

namespace fs = std::filesystem;

namespace atelier {

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
const ModelInfo& Model::info() const { return impl_->info; }

std::string weights_content_id(const std::vector<std::string>& paths) {
    // FNV-1a 64 (Fowler/Noll/Vo): offset basis 0xcbf29ce484222325, prime 0x100000001b3.
    uint64_t hash = 0xcbf29ce484222325ull;
    auto feed = [&hash](const unsigned char* p, size_t n) {
        for (size_t i = 0; i < n; ++i) {
            hash ^= p[i];
            hash *= 0x100000001b3ull;
        }
    };
    const size_t chunk = 1 << 20;
    std::vector<unsigned char> buffer(chunk);
    for (const std::string& path : paths) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw Error(path + ": cannot open for reading");
        in.seekg(0, std::ios::end);
        const auto size = static_cast<uint64_t>(in.tellg());
        feed(reinterpret_cast<const unsigned char*>(&size), sizeof size);
        auto feed_at = [&](uint64_t offset) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, size - offset));
            in.seekg(static_cast<std::streamoff>(offset));
            in.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(n));
            if (static_cast<size_t>(in.gcount()) != n) throw Error(path + ": read failed");
            feed(buffer.data(), n);
        };
        feed_at(0);
        if (size > chunk) feed_at(size - std::min<uint64_t>(chunk, size - chunk));
    }
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
    return std::string(text, 10);
}

namespace {

struct DeviceChoice {
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;
};

DeviceChoice choose_device(const LoadOptions& options) {
    DeviceChoice choice;
    choice.device = resolve_device(options.device);
    const bool gpu = choice.device.is_cuda();
    const std::string& p = options.precision;
    if (p.empty() || p == "auto") {
        choice.dtype = gpu ? at::kHalf : at::kFloat;
    } else if (p == "float32") {
        choice.dtype = at::kFloat;
    } else if (p == "float16") {
        if (!gpu) throw Error("precision float16 needs a GPU (libtorch's CPU kernels lack it); use float32 or bfloat16");
        choice.dtype = at::kHalf;
    } else if (p == "bfloat16") {
        choice.dtype = at::kBFloat16;
    } else {
        throw Error("precision \"" + p + "\" is not supported (expected auto, float32, float16 or bfloat16)");
    }
    // float32 asked on a GPU means float32: cuDNN would otherwise run convolutions in TF32 (10-bit
    // mantissa), 1e-3 off diffusers' float32 results. Process-wide, as libtorch keeps it.
    if (gpu && choice.dtype == at::kFloat) at::globalContext().setAllowTF32CuDNN(false);
    return choice;
}

const char* dtype_text(at::ScalarType t) {
    switch (t) {
        case at::kHalf: return "float16";
        case at::kBFloat16: return "bfloat16";
        default: return "float32";
    }
}

// The weights file of a diffusers component folder: full precision first, then the .fp16 variant.
std::string component_weights(const fs::path& dir, const std::string& stem) {
    for (const std::string& name : {stem + ".safetensors", stem + ".fp16.safetensors"}) {
        std::error_code ec;
        if (fs::is_regular_file(dir / name, ec)) return (dir / name).string();
    }
    for (const std::string& name : {stem + ".bin", stem + ".fp16.bin", std::string("pytorch_model.bin")}) {
        std::error_code ec;
        if (fs::exists(dir / name, ec)) {
            throw Error((dir / name).string() + ": pickled PyTorch weights are never loaded (they can run code); "
                        "convert them to " + stem + ".safetensors");
        }
    }
    throw Error(dir.string() + ": no weights found (expected " + stem + ".safetensors or " + stem + ".fp16.safetensors)");
}

// Runs `build`; an atelier::Error from it is re-thrown with `file` in front unless it names it already.
template <class F>
auto naming_file(const std::string& file, F&& build) {
    try {
        return build();
    } catch (const Error& e) {
        const std::string what = e.what();
        if (what.find(file) != std::string::npos) throw;
        throw Error(file + ": " + what);
    }
}

std::string require_file(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw Error(path.string() + ": missing (expected a file here)");
    return path.string();
}

// The few LDM yaml fields we need, read line by line ("key: value", first occurrence wins, comments
// and quotes stripped). Not a YAML parser: nested maps are flattened to their last key.
std::map<std::string, std::string> read_ldm_yaml(const std::string& path) {
    const std::string text = read_file_text(path);
    std::map<std::string, std::string> fields;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const size_t hash = line.find('#');
        if (hash != std::string::npos) line = line.substr(0, hash);
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto trim = [](std::string s) {
            const size_t b = s.find_first_not_of(" \t\r-");
            if (b == std::string::npos) return std::string();
            const size_t e = s.find_last_not_of(" \t\r");
            s = s.substr(b, e - b + 1);
            if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
            return s;
        };
        const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
        if (!key.empty() && !value.empty() && !fields.count(key)) fields.emplace(key, value);
    }
    if (fields.empty()) throw Error(path + ": no \"key: value\" lines found (expected an LDM yaml config)");
    return fields;
}

double yaml_number(const std::map<std::string, std::string>& yaml, const std::string& key, const std::string& path) {
    const std::string& v = yaml.at(key);
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str()) throw Error(path + ": field \"" + key + "\" is not a number (\"" + v + "\")");
    return d;
}

std::string stem_name(const fs::path& path) {
    fs::path p = path;
    if (p.filename().empty()) p = p.parent_path();
    return p.has_extension() && p.extension() == ".safetensors" ? p.stem().string() : p.filename().string();
}

void finish_info(Model::Impl& m, const DeviceChoice& choice, const std::vector<std::string>& weight_files) {
    ModelInfo& info = m.info;
    info.id = weights_content_id(weight_files);
    info.device = choice.device.str();
    info.precision = dtype_text(choice.dtype);
    info.prediction_type = m.scheduler_config.prediction_type;
    info.default_sampler = m.scheduler_config.default_sampler();
    info.latent_channels = m.unet->config().in_channels;
    info.vae_scale_factor = m.vae->scale_factor();
    info.default_width = info.default_height = m.unet->config().sample_size * m.vae->scale_factor();
    info.text_hidden_size = m.text_encoder->config().hidden_size;
    info.family = (info.text_hidden_size == 1024 || m.unet->config().cross_attention_dim == 1024) ? "sd2" : "sd1";
    info.unet_parameters = m.unet->parameter_count();
    info.vae_parameters = m.vae->parameter_count();
    info.text_encoder_parameters = m.text_encoder->parameter_count();
    info.notes.push_back("model id = FNV-1a 64 of size + first and last MiB of each weights file (not A1111's sha256)");
    m.device = choice.device;
    m.dtype = choice.dtype;
    m.unet->to(choice.device, choice.dtype);
    m.vae->to(choice.device, choice.dtype);
    m.text_encoder->to(choice.device, choice.dtype);
}

std::unique_ptr<Model::Impl> load_diffusers(const fs::path& dir, const DeviceChoice& choice) {
    auto m = std::make_unique<Model::Impl>();
    ModelInfo& info = m->info;
    info.format = "diffusers";
    const std::string index_path = require_file(dir / "model_index.json");
    try {
        const nlohmann::json index = nlohmann::json::parse(read_file_text(index_path));
        const std::string pipeline = index.value("_class_name", std::string("?"));
        info.notes.push_back("pipeline class " + pipeline);
    } catch (const nlohmann::json::exception& e) {
        throw Error(index_path + ": not valid JSON (" + e.what() + ")");
    }

    // Optional generation defaults of the folder's author (Atelier's own models: few steps on a CPU).
    std::error_code defaults_ec;
    if (fs::is_regular_file(dir / "atelier.json", defaults_ec)) {
        const std::string path = (dir / "atelier.json").string();
        try {
            const nlohmann::json j = nlohmann::json::parse(read_file_text(path));
            info.default_steps = j.value("default_steps", info.default_steps);
            info.default_guidance = j.value("default_guidance", info.default_guidance);
            info.example_prompt = j.value("example_prompt", std::string());
        } catch (const nlohmann::json::exception& e) {
            throw Error(path + ": not valid JSON with numbers default_steps / default_guidance and a string "
                        "example_prompt (" + e.what() + ")");
        }
        if (info.example_prompt.size() > 1000)
            throw Error(path + ": example_prompt is " + std::to_string(info.example_prompt.size()) +
                        " characters long (at most 1000)");
        if (info.default_steps < 1 || info.default_steps > 1000 || !(info.default_guidance >= 0) || info.default_guidance > 50)
            throw Error(path + ": default_steps must be in 1..1000 and default_guidance in 0..50");
        info.notes.push_back("generation defaults from atelier.json: " + std::to_string(info.default_steps) +
                             " steps, guidance " + std::to_string(info.default_guidance));
    }

    const std::string unet_weights = component_weights(dir / "unet", "diffusion_pytorch_model");
    const std::string vae_weights = component_weights(dir / "vae", "diffusion_pytorch_model");
    const std::string text_weights = component_weights(dir / "text_encoder", "model");

    const UNetConfig unet_config = UNetConfig::from_json_file(require_file(dir / "unet" / "config.json"));
    m->unet = naming_file(unet_weights, [&] { return std::make_unique<UNet2DCondition>(unet_config, load_tensors(unet_weights)); });
    const VaeConfig vae_config = VaeConfig::from_json_file(require_file(dir / "vae" / "config.json"));
    m->vae = naming_file(vae_weights, [&] { return std::make_unique<AutoencoderKL>(vae_config, load_tensors(vae_weights)); });
    const ClipTextConfig text_config = ClipTextConfig::from_json_file(require_file(dir / "text_encoder" / "config.json"));
    m->text_encoder = naming_file(text_weights, [&] { return std::make_unique<ClipTextModel>(text_config, load_tensors(text_weights)); });

    std::error_code ec;
    if (fs::is_regular_file(dir / "tokenizer" / "vocab.json", ec)) {
        m->tokenizer = std::make_unique<ClipTokenizer>(ClipTokenizer::from_dir((dir / "tokenizer").string()));
    } else {
        const std::string vocab = clip_vocab_dir();
        if (vocab.empty()) throw Error((dir / "tokenizer").string() + ": no vocab.json, and no shipped CLIP vocabulary");
        m->tokenizer = std::make_unique<ClipTokenizer>(ClipTokenizer::from_dir(vocab));
        info.notes.push_back("tokenizer: shipped CLIP vocabulary (" + vocab + ")");
    }
    if (fs::is_regular_file(dir / "scheduler" / "scheduler_config.json", ec)) {
        m->scheduler_config = SchedulerConfig::from_json_file((dir / "scheduler" / "scheduler_config.json").string());
        info.notes.push_back("scheduler " + m->scheduler_config.class_name + " (" + m->scheduler_config.beta_schedule +
                             " " + std::to_string(m->scheduler_config.beta_start).substr(0, 7) + ".." +
                             std::to_string(m->scheduler_config.beta_end).substr(0, 6) + ", spacing " +
                             m->scheduler_config.timestep_spacing.value_or("class default") + ")");
    } else {
        m->scheduler_config = SchedulerConfig::stable_diffusion_default();
        info.notes.push_back("no scheduler/scheduler_config.json: SD's DDIM defaults");
    }
    for (const std::string& f : {unet_weights, vae_weights, text_weights}) info.notes.push_back("weights " + f);
    finish_info(*m, choice, {unet_weights, vae_weights, text_weights});
    return m;
}

std::unique_ptr<Model::Impl> load_single_file(const fs::path& path, const std::string& config_path,
                                              const DeviceChoice& choice) {
    auto m = std::make_unique<Model::Impl>();
    ModelInfo& info = m->info;
    info.format = "single-file";
    const TensorMap checkpoint = load_tensors(path.string());
    SingleFileComponents parts;
    try {
        parts = split_single_file(checkpoint);
    } catch (const Error& e) {
        throw Error(path.string() + ": " + e.what());
    }
    const TensorMap text_weights = clip_text_weights_from_checkpoint(parts.text_encoder);
    if (text_weights.empty()) {
        throw Error(path.string() + ": no text encoder (expected cond_stage_model.transformer.text_model.* or "
                    "cond_stage_model.model.* tensors)");
    }
    if (!parts.unused.empty()) info.notes.push_back(std::to_string(parts.unused.size()) + " tensors unused (e.g. " + parts.unused.front() + ")");

    UNetConfig unet_config = naming_file(path.string(), [&] { return UNetConfig::infer(parts.unet); });
    VaeConfig vae_config = naming_file(path.string(), [&] { return VaeConfig::infer(parts.vae); });
    const ClipTextConfig text_config = naming_file(path.string(), [&] { return ClipTextConfig::infer(text_weights); });
    m->scheduler_config = SchedulerConfig::stable_diffusion_default();
    const bool sd2 = text_config.hidden_size == 1024 || unet_config.cross_attention_dim == 1024;

    if (!config_path.empty()) {
        const auto yaml = read_ldm_yaml(config_path);
        info.notes.push_back("config " + config_path);
        auto has = [&](const char* k) { return yaml.count(k) > 0; };
        if (has("parameterization")) {
            const std::string& p = yaml.at("parameterization");
            if (p == "v") m->scheduler_config.prediction_type = "v_prediction";
            else if (p == "eps") m->scheduler_config.prediction_type = "epsilon";
            else throw Error(config_path + ": parameterization \"" + p + "\" (expected eps or v)");
        }
        if (has("linear_start")) m->scheduler_config.beta_start = yaml_number(yaml, "linear_start", config_path);
        if (has("linear_end")) m->scheduler_config.beta_end = yaml_number(yaml, "linear_end", config_path);
        if (has("timesteps")) m->scheduler_config.num_train_timesteps = int(yaml_number(yaml, "timesteps", config_path));
        if (has("scale_factor")) vae_config.scaling_factor = yaml_number(yaml, "scale_factor", config_path);
        if (has("image_size")) unet_config.sample_size = int(yaml_number(yaml, "image_size", config_path));
        if (has("use_linear_in_transformer")) unet_config.use_linear_projection = yaml.at("use_linear_in_transformer") == "True" || yaml.at("use_linear_in_transformer") == "true";
        // Heads: num_head_channels (SD2, e.g. 64) gives channels / 64 per level; else num_heads (SD1: 8).
        const int head_channels = has("num_head_channels") ? int(yaml_number(yaml, "num_head_channels", config_path)) : -1;
        const int heads = has("num_heads") ? int(yaml_number(yaml, "num_heads", config_path)) : -1;
        if (head_channels > 0) {
            unet_config.attention_head_dim.clear();
            unet_config.num_attention_heads.clear();
            for (int c : unet_config.block_out_channels) unet_config.attention_head_dim.push_back(c / head_channels);
        } else if (heads > 0) {
            unet_config.attention_head_dim = {heads};
            unet_config.num_attention_heads.clear();
        }
        if (has("context_dim") && int(yaml_number(yaml, "context_dim", config_path)) != unet_config.cross_attention_dim) {
            throw Error(config_path + ": context_dim " + yaml.at("context_dim") + " but the checkpoint's UNet has " +
                        std::to_string(unet_config.cross_attention_dim));
        }
        if (has("model_channels") && int(yaml_number(yaml, "model_channels", config_path)) != unet_config.block_out_channels.at(0)) {
            throw Error(config_path + ": model_channels " + yaml.at("model_channels") + " but the checkpoint's UNet has " +
                        std::to_string(unet_config.block_out_channels.at(0)));
        }
    } else if (sd2) {
        // diffusers' from_single_file without a config (no global_step in a .safetensors): SD 2.x 768-v.
        m->scheduler_config.prediction_type = "v_prediction";
        unet_config.sample_size = 96;
        info.notes.push_back("SD 2.x without a config: assumed 768-v (v_prediction); give the yaml for 512 base models");
    }
    unet_config.validate(path.string() + " (UNet)");
    vae_config.validate(path.string() + " (VAE)");

    const std::string file = path.string();
    m->unet = naming_file(file, [&] { return std::make_unique<UNet2DCondition>(unet_config, parts.unet); });
    m->vae = naming_file(file, [&] { return std::make_unique<AutoencoderKL>(vae_config, parts.vae); });
    m->text_encoder = naming_file(file, [&] { return std::make_unique<ClipTextModel>(text_config, text_weights); });
    const std::string vocab = clip_vocab_dir();
    if (vocab.empty()) throw Error("no shipped CLIP vocabulary (resources/clip) for single-file checkpoint " + path.string());
    m->tokenizer = std::make_unique<ClipTokenizer>(ClipTokenizer::from_dir(vocab));
    info.notes.push_back("architecture inferred from tensor names and shapes");
    info.notes.push_back("tokenizer: shipped CLIP vocabulary (" + vocab + ")");
    info.notes.push_back("scheduler: SD defaults (DDIM, scaled_linear, leading, steps_offset 1)");
    finish_info(*m, choice, {path.string()});
    return m;
}

}  // namespace

std::shared_ptr<Model> Model::load(const LoadOptions& options) {
    if (options.path.empty()) throw Error("model path is empty (expected a diffusers folder or a .safetensors file)");
    // Compute threads are the application's choice (set_compute_threads, once at start-up: the CLI's
    // --threads, the studio's settings); loading does not override them.
    const DeviceChoice choice = choose_device(options);
    const fs::path path(options.path);
    std::error_code ec;
    std::unique_ptr<Impl> impl;
    if (fs::is_directory(path, ec)) {
        if (!fs::exists(path / "model_index.json", ec)) {
            throw Error(path.string() + ": not a diffusers model folder (no model_index.json)");
        }
        impl = load_diffusers(path, choice);
    } else if (fs::is_regular_file(path, ec)) {
        if (path.extension() != ".safetensors") {
            throw Error(path.string() + ": unsupported model file (expected .safetensors; .ckpt/.pt pickles are never loaded)");
        }
        impl = load_single_file(path, options.config_path, choice);
    } else {
        throw Error(path.string() + ": no such file or folder");
    }
    impl->info.path = options.path;
    impl->name = stem_name(path);
    std::shared_ptr<Model> model(new Model(std::move(impl)));
    if (!options.motion_module.empty()) {
        model->set_motion_module(options.motion_module, options.motion_module_heads);
    } else if (fs::is_regular_file(path / "motion_adapter" / "config.json", ec)) {
        // A folder may carry its own motion module (diffusers' AnimateDiff layout): clips work out of the box;
        // still images never run it.
        model->set_motion_module((path / "motion_adapter").string());
    }
    return model;
}

}  // namespace atelier
