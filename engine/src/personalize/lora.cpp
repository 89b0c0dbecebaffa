// LoRA files (kohya/A1111 and diffusers/PEFT keys) and deltas, after Hu et al. 2021 (arXiv:2106.09685);
// key spellings as kohya-ss sd-scripts `networks/lora.py` and diffusers v0.25.1 `loaders/lora.py` write them.
#include "personalize/lora.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "atelier/error.h"
#include "io/safetensors.h"
#include "models/clip_text.h"
#include "models/motion_module.h"
#include "models/unet.h"

namespace atelier {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
    return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
std::string underscored(std::string s) {
    std::replace(s.begin(), s.end(), '.', '_');
    return s;
}
std::string shape_text(at::IntArrayRef shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

enum class Part { down, up, alpha };

struct Address {
    std::string component, module;
    Part part = Part::down;
};

// "<module>.<suffix>" for the PEFT / diffusers spellings; false when no suffix matches.
bool split_peft_suffix(const std::string& rest, std::string& module, Part& part) {
    static const std::pair<const char*, Part> suffixes[] = {
        {".lora_A.weight", Part::down},           {".lora_B.weight", Part::up},
        {".lora_A.default.weight", Part::down},   {".lora_B.default.weight", Part::up},
        {".lora.down.weight", Part::down},        {".lora.up.weight", Part::up},
        {".lora_linear_layer.down.weight", Part::down}, {".lora_linear_layer.up.weight", Part::up},
        {".alpha", Part::alpha},
        {".down.weight", Part::down},  // attention processors: "...processor.to_q_lora.down.weight"
        {".up.weight", Part::up},
    };
    for (const auto& [suffix, p] : suffixes) {
        if (ends_with(rest, suffix)) {
            module = rest.substr(0, rest.size() - std::string(suffix).size());
            part = p;
            break;
        }
    }
    if (module.empty()) return false;
    // Attention-processor spelling: "...attn1.processor.to_q_lora" -> "...attn1.to_q" (to_out -> to_out.0).
    const size_t proc = module.find(".processor.");
    if (proc != std::string::npos && ends_with(module, "_lora")) {
        std::string proj = module.substr(proc + 11, module.size() - proc - 11 - 5);
        if (proj == "to_out") proj = "to_out.0";
        module = module.substr(0, proc) + "." + proj;
    }
    return true;
}

}  // namespace

float LoraLayer::scale() const {
    const int64_t rank = down.defined() ? down.size(0) : 0;
    return alpha > 0 && rank > 0 ? alpha / float(rank) : 1.0f;
}

LoraTargets LoraTargets::of(UNet2DCondition& unet, const ClipTextModel& text_encoder) {
    LoraTargets t;
    unet.for_each_lora_linear([&](Linear& l) { t.unet[l.name] = {l.weight.size(1), l.weight.size(0)}; });
    unet.for_each_conv([&](Conv2d& c) {
        t.unet_conv[c.name] = {c.weight.size(1) * c.weight.size(2) * c.weight.size(3), c.weight.size(0)};
    });
    const int64_t h = text_encoder.config().hidden_size, inter = text_encoder.config().intermediate_size;
    for (int i = 0; i < text_encoder.config().num_hidden_layers; ++i) {
        const std::string p = "text_model.encoder.layers." + std::to_string(i) + ".";
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) t.text_encoder[p + "self_attn." + proj] = {h, h};
        t.text_encoder[p + "mlp.fc1"] = {h, inter};
        t.text_encoder[p + "mlp.fc2"] = {inter, h};
    }
    return t;
}

LoraFile read_lora(const std::string& path, const LoraTargets& targets) {
    LoraFile file = read_lora(path, load_tensors(path), targets);
    file.metadata = SafetensorsFile::open(path)->metadata();
    return file;
}

LoraFile read_lora(const std::string& path, const TensorMap& tensors, const LoraTargets& targets) {
    const std::string where = "LoRA file " + path;
    if (tensors.empty()) throw Error(where + ": no tensors");
    // kohya names use '_' for every '.', so they are looked up in a table built from the model's names.
    std::map<std::string, std::pair<std::string, std::string>> kohya;
    for (const auto& kv : targets.unet) kohya["lora_unet_" + underscored(kv.first)] = {"unet", kv.first};
    for (const auto& kv : targets.unet_conv) kohya["lora_unet_" + underscored(kv.first)] = {"unet", kv.first};
    for (const auto& kv : targets.text_encoder) kohya["lora_te_" + underscored(kv.first)] = {"text_encoder", kv.first};

    bool any_kohya = false, any_peft = false;
    std::map<std::pair<std::string, std::string>, LoraLayer> layers;
    for (const auto& [key, tensor] : tensors) {
        Address a;
        if (starts_with(key, "lora_unet_") || starts_with(key, "lora_te")) {
            any_kohya = true;
            std::string stem;
            if (ends_with(key, ".lora_down.weight")) { stem = key.substr(0, key.size() - 17); a.part = Part::down; }
            else if (ends_with(key, ".lora_up.weight")) { stem = key.substr(0, key.size() - 15); a.part = Part::up; }
            else if (ends_with(key, ".alpha")) { stem = key.substr(0, key.size() - 6); a.part = Part::alpha; }
            else throw Error(where + ": key '" + key + "' is not a .lora_down.weight, .lora_up.weight or .alpha");
            const auto it = kohya.find(stem);
            if (it == kohya.end())
                throw Error(where + ": key '" + key + "' names module '" + stem +
                            "', which this model does not have (" +
                            (stem.find("_motion_modules_") != std::string::npos
                                 ? "a motion LoRA: it needs a motion module loaded, one made for this model)"
                                 : "SDXL 'lora_te1_/lora_te2_' and LyCORIS conv layers are not supported)"));
            a.component = it->second.first;
            a.module = it->second.second;
        } else {
            any_peft = true;
            std::string rest = key;
            a.component = "unet";
            if (starts_with(rest, "unet.")) rest = rest.substr(5);
            else if (starts_with(rest, "text_encoder.")) { rest = rest.substr(13); a.component = "text_encoder"; }
            if (!split_peft_suffix(rest, a.module, a.part))
                throw Error(where + ": key '" + key + "' is neither a kohya key (lora_unet_*, lora_te_*) nor a "
                            "diffusers/PEFT key (*.lora_A.weight, *.lora_B.weight, *.alpha)");
            if (a.component == "text_encoder" && !starts_with(a.module, "text_model.")) a.module = "text_model." + a.module;
            a.module = MotionAdapter::diffusers_name(a.module);  // original AnimateDiff MotionLoRA names
            const auto& names = a.component == "unet" ? targets.unet : targets.text_encoder;
            if (!names.count(a.module) && !(a.component == "unet" && targets.unet_conv.count(a.module)))
                throw Error(where + ": key '" + key + "' names " + a.component + " module '" + a.module +
                            "', which this model does not have" +
                            (a.module.find(".motion_modules.") != std::string::npos
                                 ? " (a motion LoRA: it needs a motion module loaded, one made for this model)"
                                 : ""));
        }
        LoraLayer& layer = layers[{a.component, a.module}];
        layer.component = a.component;
        layer.module = a.module;
        if (!at::isFloatingType(tensor.scalar_type()))
            throw Error(where + ": key '" + key + "' has a non-floating dtype");
        const at::Tensor t = tensor.to(at::kFloat);
        if (a.part == Part::alpha) {
            if (t.numel() != 1) throw Error(where + ": key '" + key + "' must hold one value, found " + shape_text(t.sizes()));
            layer.alpha = t.reshape({}).item<float>();
        } else {
            (a.part == Part::down ? layer.down : layer.up) = t;
        }
    }
    if (any_kohya && any_peft) throw Error(where + ": mixes kohya keys (lora_unet_*) with diffusers/PEFT keys");

    LoraFile file;
    file.path = path;
    file.format = any_kohya ? "kohya" : "peft";
    for (auto& [id, layer] : layers) {
        const std::string name = layer.component + " module '" + layer.module + "'";
        if (!layer.down.defined() || !layer.up.defined())
            throw Error(where + ": " + name + " has no " + (layer.down.defined() ? "up (lora_up / lora_B)" : "down (lora_down / lora_A)") +
                        " weight");
        const auto& names = layer.component == "unet" ? targets.unet : targets.text_encoder;
        const auto& features = names.count(layer.module) ? names.at(layer.module) : targets.unet_conv.at(layer.module);
        const at::Tensor d = layer.down.dim() == 4 ? layer.down.flatten(1) : layer.down;
        const at::Tensor u = layer.up.dim() == 4 ? layer.up.flatten(1) : layer.up;
        if (d.dim() != 2 || u.dim() != 2 || u.size(1) != d.size(0) || d.size(1) != features.first ||
            u.size(0) != features.second)
            throw Error(where + ": " + name + ": down " + shape_text(layer.down.sizes()) + " and up " +
                        shape_text(layer.up.sizes()) + " do not fit a [" + std::to_string(features.second) + ", " +
                        std::to_string(features.first) + "] weight (expected down [r, " + std::to_string(features.first) +
                        "], up [" + std::to_string(features.second) + ", r])");
        layer.down = layer.down.contiguous();
        layer.up = layer.up.contiguous();
        file.layers.push_back(std::move(layer));
    }
    return file;
}

namespace {

void write_tensor_map(const std::string& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
    save_tensors(path, tensors, metadata);
}

}  // namespace

void write_lora_kohya(const std::string& path, const std::vector<LoraLayer>& layers,
                      const std::map<std::string, std::string>& metadata) {
    TensorMap out;
    for (const LoraLayer& l : layers) {
        const std::string stem = (l.component == "unet" ? "lora_unet_" : "lora_te_") + underscored(l.module);
        out[stem + ".lora_down.weight"] = l.down.detach().to(at::kCPU, at::kFloat).contiguous();
        out[stem + ".lora_up.weight"] = l.up.detach().to(at::kCPU, at::kFloat).contiguous();
        out[stem + ".alpha"] = at::scalar_tensor(l.alpha > 0 ? l.alpha : float(l.down.size(0)), at::kFloat);
    }
    write_tensor_map(path, out, metadata);
}

void write_lora_peft(const std::string& path, const std::vector<LoraLayer>& layers,
                     const std::map<std::string, std::string>& metadata, at::ScalarType dtype) {
    TensorMap out;
    for (const LoraLayer& l : layers) {
        const std::string stem = (l.component == "unet" ? "unet." : "text_encoder.") + l.module;
        out[stem + ".lora_A.weight"] = l.down.detach().to(at::kCPU, dtype).contiguous();
        out[stem + ".lora_B.weight"] = l.up.detach().to(at::kCPU, dtype).contiguous();
        if (l.alpha > 0 && l.alpha != float(l.down.size(0)))
            out[stem + ".alpha"] = at::scalar_tensor(l.alpha, at::kFloat);
    }
    write_tensor_map(path, out, metadata);
}

at::Tensor LoraAdapter::apply(const at::Tensor& x, at::Tensor y) const {
    return y + at::linear(at::linear(x, down_), up_) * scale_;
}

at::Tensor lora_delta(const LoraLayer& layer, double strength, const at::Tensor& like) {
    const at::Tensor delta =
        at::matmul(layer.up.flatten(1).to(at::kFloat), layer.down.flatten(1).to(at::kFloat)) * (strength * layer.scale());
    return delta.reshape(like.sizes()).to(like.options()).contiguous(like.suggest_memory_format());
}

void add_trainable_lora(TensorMap& params, const std::string& key, const at::Tensor& weight, int64_t rank,
                        at::Generator& gen) {
    std::vector<int64_t> down_shape{rank, weight.size(1)}, up_shape{weight.size(0), rank};
    int64_t fan_in = weight.size(1);
    for (int64_t d = 2; d < weight.dim(); ++d) {  // a convolution's kernel: down takes it, up is 1x1
        down_shape.push_back(weight.size(d));
        up_shape.push_back(1);
        fan_in *= weight.size(d);
    }
    params[key + ".down"] = at::randn(down_shape, gen) / std::sqrt(double(fan_in));
    params[key + ".up"] = at::zeros(up_shape);
}

std::vector<LoraLayer> trained_lora_layers(const TensorMap& params, const std::string& prefix,
                                           const std::vector<std::string>& modules, const std::string& component,
                                           float alpha) {
    std::vector<LoraLayer> layers;
    for (const std::string& name : modules) {
        LoraLayer l;
        l.component = component;
        l.module = name;
        l.down = params.at(prefix + name + ".down").detach().cpu();
        l.up = params.at(prefix + name + ".up").detach().cpu();
        l.alpha = alpha;
        layers.push_back(std::move(l));
    }
    return layers;
}

}  // namespace atelier
