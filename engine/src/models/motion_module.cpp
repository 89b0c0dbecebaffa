// AnimateDiff motion modules (arXiv 2307.04725), following diffusers v0.25.1 transformer_temporal.py,
// attention.py (BasicTransformerBlock, SinusoidalPositionalEmbedding) and unet_motion_model.py.
#include "models/motion_module.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "atelier/error.h"
#include "io/file_util.h"
#include "models/attention.h"

namespace fs = std::filesystem;

namespace atelier {

// ---------------------------------------------------------------- forward

at::Tensor MotionModule::TemporalAttention::forward(const at::Tensor& x) const {
    const int64_t N = x.size(0), F = x.size(1), C = to_q.weight.size(0), d = C / heads;
    auto split = [&](const at::Tensor& t) { return t.view({N, F, heads, d}).transpose(1, 2); };
    const at::Tensor o = attention(split(to_q.forward(x)), split(to_k.forward(x)), split(to_v.forward(x)),
                                   1.0 / std::sqrt(double(d)));
    return to_out.forward(o.transpose(1, 2).reshape({N, F, C}));
}

at::Tensor MotionModule::Block::forward(const at::Tensor& x) const {
    const at::Tensor positions = pe.narrow(0, 0, x.size(1)).unsqueeze(0);  // [1, F, C]
    // The positions go into the normalised input of each attention, not into the residual stream.
    at::Tensor h = attn1.forward(norm1.forward(x).add_(positions)).add_(x);
    h = attn2.forward(norm2.forward(h).add_(positions)).add_(h);
    const auto parts = ff_in.forward(norm3.forward(h)).chunk(2, -1);  // GEGLU: [value | gate]
    return ff_out.forward(parts[0] * at::gelu(parts[1])).add_(h);
}

at::Tensor MotionModule::forward(const at::Tensor& x, int64_t frames) const {
    const int64_t BF = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    if (frames < 1 || BF % frames != 0)
        throw Error("motion module: batch " + std::to_string(BF) + " is not a whole number of " +
                    std::to_string(frames) + "-frame videos");
    if (frames > max_frames())
        throw Error("motion module: " + std::to_string(frames) + " frames, but its positional table has " +
                    std::to_string(max_frames()) + " rows (the most frames it supports)");
    const int64_t B = BF / frames;
    at::Tensor h;
    if (per_frame_groupnorm) {
        h = norm.forward(x).reshape({B, frames, C, H, W}).permute({0, 3, 4, 1, 2});  // [B, H, W, F, C]
    } else {
        // diffusers: statistics per (video, group) over all frames together: GroupNorm on [B, C, F, H, W].
        h = norm.forward(x.reshape({B, frames, C, H, W}).permute({0, 2, 1, 3, 4})).permute({0, 3, 4, 2, 1});
    }
    h = proj_in.forward(h.reshape({B * H * W, frames, C}));
    for (const Block& block : blocks) h = block.forward(h);
    h = proj_out.forward(h);
    // [B*H*W, F, C] -> [B, F, H, W, C] (one copy) -> a channels-last [(B*F), C, H, W] view.
    h = h.view({B, H, W, frames, C}).permute({0, 3, 1, 2, 4}).contiguous().view({BF, H, W, C}).permute({0, 3, 1, 2});
    return h.add_(x);
}

at::Tensor MotionModule::sinusoidal_table(int64_t max_frames, int64_t channels) {
    // Same float32 operation order as diffusers' SinusoidalPositionalEmbedding.
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    const at::Tensor position = at::arange(max_frames, f32).unsqueeze(1);
    const at::Tensor div_term = at::exp(at::arange(0, channels, 2, f32) * float(-std::log(10000.0) / double(channels)));
    at::Tensor pe = at::zeros({max_frames, channels}, f32);
    pe.slice(1, 0, channels, 2).copy_(at::sin(position * div_term));
    pe.slice(1, 1, channels, 2).copy_(at::cos(position * div_term));
    return pe;
}

// ---------------------------------------------------------------- names and configuration

namespace {

bool is_original_layout(const TensorMap& weights) {
    for (const auto& kv : weights)
        if (kv.first.find(".temporal_transformer.") != std::string::npos) return true;
    return false;
}

// "down_blocks.1.motion_modules.0.x" -> {"down_blocks.1", 0}; false when the name has another form.
bool module_of(const std::string& name, std::string* block, int* index) {
    const size_t at_mm = name.find(".motion_modules.");
    if (at_mm == std::string::npos) return false;
    *block = name.substr(0, at_mm);
    const size_t start = at_mm + 16;
    size_t end = start;
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    if (end == start) return false;
    *index = std::stoi(name.substr(start, end - start));
    return true;
}

int count_modules(const TensorMap& weights, const std::string& block) {
    int n = 0;
    for (const auto& kv : weights) {
        std::string b;
        int index = 0;
        if (module_of(kv.first, &b, &index) && b == block) n = std::max(n, index + 1);
    }
    return n;
}

}  // namespace

std::string MotionAdapter::diffusers_name(const std::string& original) {
    // Suffix renames inside `<block>.motion_modules.<m>.temporal_transformer.transformer_blocks.<k>.`.
    static const std::pair<const char*, const char*> renames[] = {
        {"attention_blocks.0.", "attn1."}, {"attention_blocks.1.", "attn2."}, {"norms.0.", "norm1."},
        {"norms.1.", "norm2."},            {"ff_norm.", "norm3."},
    };
    std::string n = original;
    const size_t tt = n.find(".temporal_transformer.");
    if (tt == std::string::npos) return n;
    n.erase(tt, std::string(".temporal_transformer").size());
    for (const auto& [from, to] : renames) {
        const size_t at_from = n.find(std::string(".") + from);
        if (at_from != std::string::npos) {
            n.replace(at_from + 1, std::string(from).size(), to);
            break;
        }
    }
    return n;
}

TensorMap MotionAdapter::convert_original(const TensorMap& weights) {
    TensorMap out;
    for (const auto& [name, tensor] : weights) {
        // The positional table is stored once per attention (two equal copies); diffusers keeps one.
        const size_t pe_at = name.find("attention_blocks.");
        if (pe_at != std::string::npos && name.size() > 15 && name.compare(name.size() - 15, 15, ".pos_encoder.pe") == 0) {
            if (name.compare(pe_at, 19, "attention_blocks.0.") != 0) continue;  // keep the first copy
            out[diffusers_name(name.substr(0, pe_at)) + "pos_embed.pe"] = tensor;
            continue;
        }
        out[diffusers_name(name)] = tensor;
    }
    return out;
}

MotionAdapterConfig MotionAdapter::infer(const TensorMap& input, const std::string& where) {
    const TensorMap converted = is_original_layout(input) ? convert_original(input) : TensorMap();
    const TensorMap& weights = converted.empty() ? input : converted;
    MotionAdapterConfig c;
    c.block_out_channels.clear();
    for (int level = 0;; ++level) {
        const std::string key = "down_blocks." + std::to_string(level) + ".motion_modules.0.proj_in.weight";
        const auto it = weights.find(key);
        if (it == weights.end()) break;
        if (it->second.dim() != 2)
            throw Error(where + ": tensor '" + key + "' has shape " + shape_string(it->second.sizes()) +
                        ", expected [C, C]");
        c.block_out_channels.push_back(int(it->second.size(0)));
    }
    if (c.block_out_channels.empty())
        throw Error(where + ": no motion modules found (expected tensors 'down_blocks.0.motion_modules.0.proj_in.weight' "
                    "or 'down_blocks.0.motion_modules.0.temporal_transformer.proj_in.weight')");
    c.layers_per_block = count_modules(weights, "down_blocks.0");
    c.mid_layers = count_modules(weights, "mid_block");
    for (const auto& kv : weights) {
        if (kv.first.size() > 13 && kv.first.compare(kv.first.size() - 13, 13, ".pos_embed.pe") == 0) {
            if (kv.second.dim() != 3 || kv.second.size(0) != 1)
                throw Error(where + ": tensor '" + kv.first + "' has shape " + shape_string(kv.second.sizes()) +
                            ", expected [1, max_frames, C]");
            c.max_frames = int(kv.second.size(1));
            break;
        }
    }
    return c;
}

// ---------------------------------------------------------------- loading

namespace {

MotionModule load_module(WeightReader& r, const std::string& p, int64_t C, const MotionAdapterConfig& c) {
    MotionModule m;
    m.norm = GroupNorm::load(r, p + "norm", C, c.norm_groups, 1e-6);
    m.proj_in = Linear::load(r, p + "proj_in", C, C);
    m.proj_out = Linear::load(r, p + "proj_out", C, C);
    if (c.heads <= 0 || C % c.heads != 0)
        throw Error(r.model_name() + ": '" + p + "': " + std::to_string(C) + " channels are not divisible into " +
                    std::to_string(c.heads) + " heads");
    for (int k = 0; k == 0 || r.has(p + "transformer_blocks." + std::to_string(k) + ".norm1.weight"); ++k) {
        const std::string b = p + "transformer_blocks." + std::to_string(k) + ".";
        MotionModule::Block block;
        block.norm1 = LayerNorm::load(r, b + "norm1", C, 1e-5);
        block.norm2 = LayerNorm::load(r, b + "norm2", C, 1e-5);
        block.norm3 = LayerNorm::load(r, b + "norm3", C, 1e-5);
        for (auto [attn, name] : {std::pair{&block.attn1, "attn1."}, std::pair{&block.attn2, "attn2."}}) {
            attn->to_q = Linear::load(r, b + name + "to_q", C, C, false);
            attn->to_k = Linear::load(r, b + name + "to_k", C, C, false);
            attn->to_v = Linear::load(r, b + name + "to_v", C, C, false);
            attn->to_out = Linear::load(r, b + name + "to_out.0", C, C);
            attn->heads = c.heads;
        }
        block.ff_in = Linear::load(r, b + "ff.net.0.proj", C, 8 * C);
        block.ff_out = Linear::load(r, b + "ff.net.2", 4 * C, C);
        // Converted original files may lack the table (diffusers' converter drops it): recompute.
        const std::string pe_name = b + "pos_embed.pe";
        block.pe = r.has(pe_name) ? r.get(pe_name, {1, c.max_frames, C})[0].contiguous()
                                  : MotionModule::sinusoidal_table(c.max_frames, C);
        m.blocks.push_back(std::move(block));
    }
    return m;
}

int config_int(const nlohmann::json& j, const char* name, int fallback, const std::string& path) {
    const auto it = j.find(name);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number_integer()) throw Error(path + ": field '" + name + "' must be an integer, found " + it->dump());
    return it->get<int>();
}

}  // namespace

MotionAdapter::MotionAdapter(MotionAdapterConfig config, const TensorMap& input, const std::string& where)
    : config_(std::move(config)), source_(where) {
    const TensorMap converted = is_original_layout(input) ? convert_original(input) : TensorMap();
    const TensorMap& weights = converted.empty() ? input : converted;
    WeightReader r(weights, where);
    const MotionAdapterConfig& c = config_;
    if (c.block_out_channels.empty()) throw Error(where + ": 'block_out_channels' is empty");
    const size_t L = c.block_out_channels.size();
    for (size_t level = 0; level < L; ++level) {
        std::vector<MotionModule> modules;
        for (int j = 0; j < c.layers_per_block; ++j)
            modules.push_back(load_module(r, "down_blocks." + std::to_string(level) + ".motion_modules." +
                                                 std::to_string(j) + ".", c.block_out_channels[level], c));
        down.push_back(std::move(modules));
    }
    for (int j = 0; j < c.mid_layers; ++j)
        mid.push_back(load_module(r, "mid_block.motion_modules." + std::to_string(j) + ".", c.block_out_channels.back(), c));
    for (size_t i = 0; i < L; ++i) {
        std::vector<MotionModule> modules;
        for (int j = 0; j <= c.layers_per_block; ++j)
            modules.push_back(load_module(r, "up_blocks." + std::to_string(i) + ".motion_modules." + std::to_string(j) + ".",
                                          c.block_out_channels[L - 1 - i], c));
        up.push_back(std::move(modules));
    }
    // Anything left over is a structure this loader does not understand: refuse rather than ignore it.
    const std::vector<std::string> unused = r.unused();
    if (!unused.empty())
        throw Error(where + ": " + std::to_string(unused.size()) + " tensor(s) not part of a motion adapter with " +
                    std::to_string(L) + " levels, " + std::to_string(c.layers_per_block) + " modules per down block and " +
                    std::to_string(c.mid_layers) + " in the mid block (first: '" + unused.front() + "')");
}

namespace {

// A motion module's weights file and, for a diffusers folder, its config.json ("" for a single file).
struct ModuleFiles {
    std::string weights, config;
};

ModuleFiles module_files(const std::string& path) {
    std::error_code ec;
    fs::path weights_path(path);
    std::string config_path;
    if (fs::is_directory(weights_path, ec)) {
        config_path = (weights_path / "config.json").string();
        if (!fs::is_regular_file(config_path, ec))
            throw Error(path + ": not a diffusers MotionAdapter folder (no config.json)");
        weights_path /= "diffusion_pytorch_model.safetensors";
        if (!fs::is_regular_file(weights_path, ec))
            throw Error(path + ": no diffusion_pytorch_model.safetensors (pickled .bin weights are never loaded)");
    } else if (fs::is_regular_file(weights_path, ec)) {
        if (weights_path.extension() != ".safetensors")
            throw Error(path + ": unsupported motion-module file (expected .safetensors; .ckpt/.pt pickles are never loaded)");
    } else {
        throw Error(path + ": no such file or folder");
    }
    return {weights_path.string(), config_path};
}

}  // namespace

TensorMap MotionAdapter::read_weights(const std::string& path) {
    const TensorMap weights = load_tensors(module_files(path).weights);
    return is_original_layout(weights) ? convert_original(weights) : weights;
}

std::shared_ptr<MotionAdapter> MotionAdapter::load(const std::string& path, int heads) {
    const ModuleFiles files = module_files(path);
    const std::string& config_path = files.config;
    nlohmann::json config_json;
    if (!config_path.empty()) {
        try {
            config_json = nlohmann::json::parse(read_file_text(config_path));
        } catch (const nlohmann::json::exception& e) {
            throw Error(config_path + ": invalid JSON (" + e.what() + ")");
        }
        if (!config_json.is_object()) throw Error(config_path + ": expected a JSON object");
    }
    const std::string& file = files.weights;
    const TensorMap weights = load_tensors(file);
    MotionAdapterConfig c = infer(weights, file);
    c.heads = 8;
    if (!config_json.is_null()) {
        if (const auto it = config_json.find("block_out_channels"); it != config_json.end()) {
            std::vector<int> channels;
            try {
                channels = it->get<std::vector<int>>();
            } catch (const nlohmann::json::exception&) {
                throw Error(config_path + ": field 'block_out_channels' must be a list of integers");
            }
            if (channels != c.block_out_channels)
                throw Error(config_path + ": block_out_channels " + shape_string(std::vector<int64_t>(channels.begin(), channels.end())) +
                            " but the weights have " +
                            shape_string(std::vector<int64_t>(c.block_out_channels.begin(), c.block_out_channels.end())));
        }
        c.layers_per_block = config_int(config_json, "motion_layers_per_block", c.layers_per_block, config_path);
        const bool use_mid = config_json.value("use_motion_mid_block", c.mid_layers > 0);
        c.mid_layers = use_mid ? config_int(config_json, "motion_mid_block_layers_per_block", 1, config_path) : 0;
        c.heads = config_int(config_json, "motion_num_attention_heads", 8, config_path);
        c.norm_groups = config_int(config_json, "motion_norm_num_groups", 32, config_path);
        c.max_frames = config_int(config_json, "motion_max_seq_length", c.max_frames, config_path);
    }
    if (heads > 0) c.heads = heads;
    return std::make_shared<MotionAdapter>(c, weights, file);
}

void MotionAdapter::check_fits(const std::vector<int>& unet_channels, int unet_layers, const std::string& where) const {
    const size_t L = config_.block_out_channels.size();
    if (L != unet_channels.size())
        throw Error(where + ": the motion module (" + source_ + ") has " + std::to_string(L) +
                    " down blocks, the UNet has " + std::to_string(unet_channels.size()));
    if (config_.layers_per_block != unet_layers)
        throw Error(where + ": the motion module (" + source_ + ") has " + std::to_string(config_.layers_per_block) +
                    " modules per down block, the UNet has " + std::to_string(unet_layers) + " resnets per down block");
    for (size_t i = 0; i < L; ++i) {
        if (config_.block_out_channels[i] != unet_channels[i]) {
            const int64_t found = config_.block_out_channels[i], want = unet_channels[i];
            throw Error(where + ": motion module tensor 'down_blocks." + std::to_string(i) +
                        ".motion_modules.0.proj_in.weight' has shape " + shape_string({found, found}) +
                        ", the UNet's down block " + std::to_string(i) + " needs " + shape_string({want, want}) +
                        " (" + source_ + ")");
        }
    }
}

void MotionAdapter::set_per_frame_groupnorm(bool on) {
    for (auto* list : {&mid}) for (auto& m : *list) m.per_frame_groupnorm = on;
    for (auto* blocks : {&down, &up})
        for (auto& level : *blocks) for (auto& m : level) m.per_frame_groupnorm = on;
}

namespace {
template <class F>
void visit_module(MotionModule& m, F&& f) {
    visit(m.norm, f); visit(m.proj_in, f); visit(m.proj_out, f);
    for (auto& b : m.blocks) {
        visit(b.norm1, f); visit(b.norm2, f); visit(b.norm3, f); visit(b.ff_in, f); visit(b.ff_out, f);
        for (auto* a : {&b.attn1, &b.attn2}) { visit(a->to_q, f); visit(a->to_k, f); visit(a->to_v, f); visit(a->to_out, f); }
        f(b.pe);
    }
}
}  // namespace

void MotionAdapter::to(at::Device device, at::ScalarType dtype) {
    const TensorVisitor move = [&](at::Tensor& t) { t = t.to(device, dtype); };
    for (auto& m : mid) visit_module(m, move);
    for (auto* blocks : {&down, &up})
        for (auto& level : *blocks) for (auto& m : level) visit_module(m, move);
}

void MotionAdapter::for_each_linear(const std::function<void(Linear&)>& visitor) {
    auto module = [&](MotionModule& m) {
        visitor(m.proj_in);
        visitor(m.proj_out);
        for (auto& b : m.blocks) {
            for (auto* a : {&b.attn1, &b.attn2}) { visitor(a->to_q); visitor(a->to_k); visitor(a->to_v); visitor(a->to_out); }
            visitor(b.ff_in);
            visitor(b.ff_out);
        }
    };
    for (auto& level : down) for (auto& m : level) module(m);
    for (auto& m : mid) module(m);
    for (auto& level : up) for (auto& m : level) module(m);
}

int64_t MotionAdapter::parameter_count() const {
    int64_t n = 0;
    const TensorVisitor count = [&](at::Tensor& t) { n += t.numel(); };
    auto* self = const_cast<MotionAdapter*>(this);
    for (auto& m : self->mid) visit_module(m, count);
    for (auto* blocks : {&self->down, &self->up})
        for (auto& level : *blocks) for (auto& m : level) visit_module(m, count);
    return n;
}

}  // namespace atelier
