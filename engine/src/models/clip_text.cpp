// CLIP text transformer (Radford et al. 2021, arXiv:2103.00020), as transformers v4.35 `CLIPTextModel`
// (models/clip/modeling_clip.py): pre-LayerNorm blocks, causal self-attention, final LayerNorm.
#include "models/clip_text.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <cstdlib>

#include "atelier/error.h"
#include "io/file_util.h"
#include "io/json_file.h"

namespace atelier {

namespace {

std::string shape_string(at::IntArrayRef shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// The tensor `name` (with or without the "text_model." prefix), checked against `shape`, as float32.
at::Tensor take(const TensorMap& weights, const std::string& name, std::vector<int64_t> shape) {
    auto it = weights.find("text_model." + name);
    if (it == weights.end()) it = weights.find(name);
    if (it == weights.end()) {
        throw Error("CLIP text encoder: missing tensor \"text_model." + name + "\" (expected shape " +
                    shape_string(shape) + ")");
    }
    const at::Tensor& t = it->second;
    if (!t.sizes().equals(shape)) {
        throw Error("CLIP text encoder: tensor \"" + it->first + "\" has shape " + shape_string(t.sizes()) +
                    ", expected " + shape_string(shape));
    }
    if (!at::isFloatingType(t.scalar_type())) {
        throw Error("CLIP text encoder: tensor \"" + it->first + "\" has dtype " +
                    std::string(c10::toString(t.scalar_type())) + ", expected a floating-point type");
    }
    return t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
}

const at::Tensor* find_weight(const TensorMap& weights, const std::string& name) {
    auto it = weights.find("text_model." + name);
    if (it == weights.end()) it = weights.find(name);
    return it == weights.end() ? nullptr : &it->second;
}

}  // namespace

ClipTextConfig ClipTextConfig::from_json_file(const std::string& path) {
    const nlohmann::json j = read_json_object(path);
    ClipTextConfig c;
    const auto get_int = [&](const char* field, int& out) {
        if (!j.contains(field)) return;
        if (!j[field].is_number_integer() || j[field].get<int64_t>() <= 0) {
            throw Error(path + ": field \"" + field + "\": expected a positive integer, found " + j[field].dump());
        }
        out = j[field].get<int>();
    };
    get_int("vocab_size", c.vocab_size);
    get_int("hidden_size", c.hidden_size);
    get_int("intermediate_size", c.intermediate_size);
    get_int("num_hidden_layers", c.num_hidden_layers);
    get_int("num_attention_heads", c.num_attention_heads);
    get_int("max_position_embeddings", c.max_position_embeddings);
    if (j.contains("hidden_act")) {
        if (!j["hidden_act"].is_string()) throw Error(path + ": field \"hidden_act\": expected a string");
        c.hidden_act = j["hidden_act"].get<std::string>();
    }
    if (j.contains("layer_norm_eps")) {
        if (!j["layer_norm_eps"].is_number()) throw Error(path + ": field \"layer_norm_eps\": expected a number");
        c.layer_norm_eps = j["layer_norm_eps"].get<double>();
    }
    if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu") {
        throw Error(path + ": field \"hidden_act\": expected \"quick_gelu\" or \"gelu\", found \"" + c.hidden_act + "\"");
    }
    if (c.hidden_size % c.num_attention_heads != 0) {
        throw Error(path + ": hidden_size " + std::to_string(c.hidden_size) + " is not divisible by num_attention_heads " +
                    std::to_string(c.num_attention_heads));
    }
    return c;
}

ClipTextConfig ClipTextConfig::infer(const TensorMap& weights) {
    ClipTextConfig c;
    const at::Tensor* tok = find_weight(weights, "embeddings.token_embedding.weight");
    const at::Tensor* pos = find_weight(weights, "embeddings.position_embedding.weight");
    const at::Tensor* fc1 = find_weight(weights, "encoder.layers.0.mlp.fc1.weight");
    if (!tok || tok->dim() != 2) {
        throw Error("CLIP text encoder: cannot infer the configuration: missing tensor "
                    "\"text_model.embeddings.token_embedding.weight\" (expected shape [vocab, hidden])");
    }
    if (!pos || pos->dim() != 2) {
        throw Error("CLIP text encoder: cannot infer the configuration: missing tensor "
                    "\"text_model.embeddings.position_embedding.weight\" (expected shape [positions, hidden])");
    }
    if (!fc1 || fc1->dim() != 2) {
        throw Error("CLIP text encoder: cannot infer the configuration: missing tensor "
                    "\"text_model.encoder.layers.0.mlp.fc1.weight\" (expected shape [intermediate, hidden])");
    }
    c.vocab_size = static_cast<int>(tok->size(0));
    c.hidden_size = static_cast<int>(tok->size(1));
    c.max_position_embeddings = static_cast<int>(pos->size(0));
    c.intermediate_size = static_cast<int>(fc1->size(0));
    int layers = 0;
    for (const auto& [name, tensor] : weights) {
        const std::string key = starts_with(name, "text_model.") ? name.substr(11) : name;
        if (!starts_with(key, "encoder.layers.")) continue;
        const int index = std::atoi(key.c_str() + 15);
        layers = std::max(layers, index + 1);
    }
    c.num_hidden_layers = layers;
    // Head count is not visible in the shapes: CLIP uses 64-dim heads (SD1 768 -> 12, SD2 1024 -> 16);
    // tiny test models use 8-dim heads.
    if (c.hidden_size % 64 == 0 && c.hidden_size >= 256) {
        c.num_attention_heads = c.hidden_size / 64;
    } else if (c.hidden_size % 8 == 0) {
        c.num_attention_heads = c.hidden_size / 8;
    } else {
        c.num_attention_heads = 1;
    }
    // SD2's OpenCLIP ViT-H text tower (width 1024, 23-24 layers) uses exact GELU; OpenAI CLIP quick_gelu.
    c.hidden_act = (c.hidden_size == 1024 && (layers == 23 || layers == 24)) ? "gelu" : "quick_gelu";
    return c;
}

ClipTextModel::ClipTextModel(ClipTextConfig config, const TensorMap& weights) : config_(std::move(config)) {
    const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
    if (h <= 0 || config_.num_attention_heads <= 0 || h % config_.num_attention_heads != 0) {
        throw Error("CLIP text encoder: hidden_size " + std::to_string(h) + " is not divisible by num_attention_heads " +
                    std::to_string(config_.num_attention_heads));
    }
    if (config_.hidden_act != "quick_gelu" && config_.hidden_act != "gelu") {
        throw Error("CLIP text encoder: hidden_act \"" + config_.hidden_act + "\" is not supported (quick_gelu, gelu)");
    }
    token_embedding_ = take(weights, "embeddings.token_embedding.weight", {config_.vocab_size, h});
    position_embedding_ = take(weights, "embeddings.position_embedding.weight", {config_.max_position_embeddings, h});
    for (int l = 0; l < config_.num_hidden_layers; ++l) {
        const std::string p = "encoder.layers." + std::to_string(l) + ".";
        Layer L;
        L.ln1_w = take(weights, p + "layer_norm1.weight", {h});
        L.ln1_b = take(weights, p + "layer_norm1.bias", {h});
        L.q_w = take(weights, p + "self_attn.q_proj.weight", {h, h});
        L.q_b = take(weights, p + "self_attn.q_proj.bias", {h});
        L.k_w = take(weights, p + "self_attn.k_proj.weight", {h, h});
        L.k_b = take(weights, p + "self_attn.k_proj.bias", {h});
        L.v_w = take(weights, p + "self_attn.v_proj.weight", {h, h});
        L.v_b = take(weights, p + "self_attn.v_proj.bias", {h});
        L.o_w = take(weights, p + "self_attn.out_proj.weight", {h, h});
        L.o_b = take(weights, p + "self_attn.out_proj.bias", {h});
        L.ln2_w = take(weights, p + "layer_norm2.weight", {h});
        L.ln2_b = take(weights, p + "layer_norm2.bias", {h});
        L.fc1_w = take(weights, p + "mlp.fc1.weight", {inter, h});
        L.fc1_b = take(weights, p + "mlp.fc1.bias", {inter});
        L.fc2_w = take(weights, p + "mlp.fc2.weight", {h, inter});
        L.fc2_b = take(weights, p + "mlp.fc2.bias", {h});
        layers_.push_back(std::move(L));
    }
    final_ln_w_ = take(weights, "final_layer_norm.weight", {h});
    final_ln_b_ = take(weights, "final_layer_norm.bias", {h});
}

at::Tensor ClipTextModel::embed_tokens(const at::Tensor& ids) const {
    if (ids.dim() != 2 || at::isFloatingType(ids.scalar_type())) {
        throw Error("CLIP text encoder: input_ids must be an integer tensor [batch, tokens], found " +
                    std::string(c10::toString(ids.scalar_type())) + " " + shape_string(ids.sizes()));
    }
    const at::Tensor idx = ids.to(token_embedding_.device(), at::kLong);
    const int64_t limit = config_.vocab_size + extra_embedding_count();
    if (idx.numel() > 0) {
        const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
        if (lo < 0 || hi >= limit) {
            throw Error("CLIP text encoder: token id " + std::to_string(lo < 0 ? lo : hi) + " out of range [0, " +
                        std::to_string(limit) + ")");
        }
    }
    const at::Tensor table =
        extra_embeddings_.defined() ? at::cat({token_embedding_, extra_embeddings_}, 0) : token_embedding_;
    return at::embedding(table, idx);
}

at::Tensor ClipTextModel::forward(const at::Tensor& input_ids, int clip_skip) const {
    return forward_embeddings(embed_tokens(input_ids), clip_skip);
}

at::Tensor ClipTextModel::forward_embeddings(const at::Tensor& token_embeddings, int clip_skip) const {
    const int64_t hidden = config_.hidden_size;
    if (token_embeddings.dim() != 3 || token_embeddings.size(2) != hidden) {
        throw Error("CLIP text encoder: token embeddings must be [batch, tokens, " + std::to_string(hidden) +
                    "], found " + shape_string(token_embeddings.sizes()));
    }
    const int64_t batch = token_embeddings.size(0), tokens = token_embeddings.size(1);
    if (tokens > config_.max_position_embeddings) {
        throw Error("CLIP text encoder: " + std::to_string(tokens) + " tokens, expected at most " +
                    std::to_string(config_.max_position_embeddings));
    }
    if (clip_skip < 1 || clip_skip > config_.num_hidden_layers) {
        throw Error("CLIP text encoder: clip_skip " + std::to_string(clip_skip) + " out of range [1, " +
                    std::to_string(config_.num_hidden_layers) + "]");
    }
    const auto options = token_embedding_.options();
    const int64_t heads = config_.num_attention_heads, head_dim = hidden / heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    const bool low_precision = options.dtype() == at::kHalf || options.dtype() == at::kBFloat16;
    const bool exact_gelu = config_.hidden_act == "gelu";

    at::Tensor h = token_embeddings.to(options) + position_embedding_.slice(0, 0, tokens);
    // Causal mask: token i attends to tokens <= i only (CLIP was trained this way; SD adds no padding mask).
    const at::Tensor mask = at::full({tokens, tokens}, -std::numeric_limits<float>::infinity(), options).triu(1);
    const int run_layers = config_.num_hidden_layers - (clip_skip - 1);
    for (int l = 0; l < run_layers; ++l) {
        const Layer& L = layers_[l];
        at::Tensor x = at::layer_norm(h, {hidden}, L.ln1_w, L.ln1_b, config_.layer_norm_eps);
        const auto split_heads = [&](const at::Tensor& t) {
            return t.view({batch, tokens, heads, head_dim}).transpose(1, 2);
        };
        const at::Tensor q = split_heads(at::linear(x, L.q_w, L.q_b) * scale);
        const at::Tensor k = split_heads(at::linear(x, L.k_w, L.k_b));
        const at::Tensor v = split_heads(at::linear(x, L.v_w, L.v_b));
        at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) + mask;
        scores = low_precision ? at::softmax(scores, -1, at::kFloat).to(options.dtype()) : at::softmax(scores, -1);
        const at::Tensor attn = at::matmul(scores, v).transpose(1, 2).reshape({batch, tokens, hidden});
        h = h + at::linear(attn, L.o_w, L.o_b);

        x = at::layer_norm(h, {hidden}, L.ln2_w, L.ln2_b, config_.layer_norm_eps);
        x = at::linear(x, L.fc1_w, L.fc1_b);
        x = exact_gelu ? at::gelu(x) : x * at::sigmoid(1.702 * x);
        h = h + at::linear(x, L.fc2_w, L.fc2_b);
    }
    return at::layer_norm(h, {hidden}, final_ln_w_, final_ln_b_, config_.layer_norm_eps);
}

void ClipTextModel::set_extra_embeddings(const at::Tensor& rows) {
    if (!rows.defined() || rows.numel() == 0) {
        extra_embeddings_ = at::Tensor();
        return;
    }
    if (rows.dim() != 2 || rows.size(1) != config_.hidden_size) {
        throw Error("CLIP text encoder: extra embeddings must be [N, " + std::to_string(config_.hidden_size) +
                    "], found " + shape_string(rows.sizes()));
    }
    extra_embeddings_ = rows.detach().to(token_embedding_.options()).contiguous();
}

int64_t ClipTextModel::extra_embedding_count() const {
    return extra_embeddings_.defined() ? extra_embeddings_.size(0) : 0;
}

at::Tensor* ClipTextModel::find_parameter(const std::string& name) {
    std::string key = starts_with(name, "text_model.") ? name.substr(11) : name;
    const std::string prefix = "encoder.layers.";
    if (!starts_with(key, prefix)) return nullptr;
    size_t pos = prefix.size();
    size_t end = key.find('.', pos);
    if (end == std::string::npos || end == pos) return nullptr;
    const std::string index_text = key.substr(pos, end - pos);
    if (index_text.find_first_not_of("0123456789") != std::string::npos) return nullptr;
    const size_t index = std::stoul(index_text);
    if (index >= layers_.size()) return nullptr;
    Layer& L = layers_[index];
    const std::string rest = key.substr(end + 1);
    const std::pair<const char*, at::Tensor*> table[] = {
        {"self_attn.q_proj.weight", &L.q_w},   {"self_attn.q_proj.bias", &L.q_b},
        {"self_attn.k_proj.weight", &L.k_w},   {"self_attn.k_proj.bias", &L.k_b},
        {"self_attn.v_proj.weight", &L.v_w},   {"self_attn.v_proj.bias", &L.v_b},
        {"self_attn.out_proj.weight", &L.o_w}, {"self_attn.out_proj.bias", &L.o_b},
        {"mlp.fc1.weight", &L.fc1_w},          {"mlp.fc1.bias", &L.fc1_b},
        {"mlp.fc2.weight", &L.fc2_w},          {"mlp.fc2.bias", &L.fc2_b},
    };
    for (const auto& [suffix, tensor] : table)
        if (rest == suffix) return tensor;
    return nullptr;
}

std::vector<at::Tensor*> ClipTextModel::parameters() {
    std::vector<at::Tensor*> p{&token_embedding_, &position_embedding_, &final_ln_w_, &final_ln_b_};
    if (extra_embeddings_.defined()) p.push_back(&extra_embeddings_);
    for (Layer& L : layers_) {
        for (at::Tensor* t : {&L.ln1_w, &L.ln1_b, &L.q_w, &L.q_b, &L.k_w, &L.k_b, &L.v_w, &L.v_b, &L.o_w, &L.o_b,
                              &L.ln2_w, &L.ln2_b, &L.fc1_w, &L.fc1_b, &L.fc2_w, &L.fc2_b}) {
            p.push_back(t);
        }
    }
    return p;
}

void ClipTextModel::to(at::Device device, at::ScalarType dtype) {
    if (!at::isFloatingType(dtype)) {
        throw Error("CLIP text encoder: to(): expected a floating-point dtype, found " +
                    std::string(c10::toString(dtype)));
    }
    for (at::Tensor* t : parameters()) *t = t->to(device, dtype);
}

int64_t ClipTextModel::parameter_count() const {
    int64_t n = token_embedding_.numel() + position_embedding_.numel() + final_ln_w_.numel() + final_ln_b_.numel();
    for (const Layer& L : layers_) {
        for (const at::Tensor* t : {&L.ln1_w, &L.ln1_b, &L.q_w, &L.q_b, &L.k_w, &L.k_b, &L.v_w, &L.v_b, &L.o_w,
                                    &L.o_b, &L.ln2_w, &L.ln2_b, &L.fc1_w, &L.fc1_b, &L.fc2_w, &L.fc2_b}) {
            n += t->numel();
        }
    }
    return n;
}

at::Device ClipTextModel::device() const { return token_embedding_.device(); }
at::ScalarType ClipTextModel::dtype() const { return token_embedding_.scalar_type(); }

TensorMap clip_text_weights_from_checkpoint(const TensorMap& checkpoint) {
    TensorMap out;
    const std::string sd1 = "cond_stage_model.transformer.";
    const std::string open_clip = "cond_stage_model.model.";
    int open_clip_layers = 0;
    for (const auto& [name, tensor] : checkpoint) {
        if (starts_with(name, open_clip + "transformer.resblocks.")) {
            open_clip_layers = std::max(open_clip_layers, std::atoi(name.c_str() + open_clip.size() + 22) + 1);
        }
    }
    for (const auto& [name, tensor] : checkpoint) {
        if (starts_with(name, sd1)) {
            if (name.size() >= 12 && name.compare(name.size() - 12, 12, "position_ids") == 0) continue;
            std::string rest = name.substr(sd1.size());
            if (!starts_with(rest, "text_model.")) rest = "text_model." + rest;  // early SD1 files lack it
            out[rest] = tensor;
            continue;
        }
        if (!starts_with(name, open_clip)) continue;
        // SD2 OpenCLIP ViT-H: SD uses the penultimate layer, which is how diffusers' 23-layer
        // text_encoder is built, so the last resblock is dropped here.
        const std::string rest = name.substr(open_clip.size());
        if (rest == "token_embedding.weight") {
            out["text_model.embeddings.token_embedding.weight"] = tensor;
        } else if (rest == "positional_embedding") {
            out["text_model.embeddings.position_embedding.weight"] = tensor;
        } else if (starts_with(rest, "ln_final.")) {
            out["text_model.final_layer_norm." + rest.substr(9)] = tensor;
        } else if (starts_with(rest, "transformer.resblocks.")) {
            const std::string tail = rest.substr(22);
            const size_t dot = tail.find('.');
            const int layer = std::atoi(tail.c_str());
            if (dot == std::string::npos || layer >= open_clip_layers - 1) continue;
            const std::string field = tail.substr(dot + 1);
            const std::string p = "text_model.encoder.layers." + std::to_string(layer) + ".";
            if (field == "attn.in_proj_weight" || field == "attn.in_proj_bias") {
                const std::string kind = field == "attn.in_proj_weight" ? "weight" : "bias";
                const auto parts = tensor.chunk(3, 0);
                if (parts.size() != 3 || tensor.size(0) % 3 != 0) {
                    throw Error("CLIP text encoder: tensor \"" + name + "\" has shape " + shape_string(tensor.sizes()) +
                                ", expected a first dimension of 3 x hidden");
                }
                out[p + "self_attn.q_proj." + kind] = parts[0];
                out[p + "self_attn.k_proj." + kind] = parts[1];
                out[p + "self_attn.v_proj." + kind] = parts[2];
            } else if (starts_with(field, "attn.out_proj.")) {
                out[p + "self_attn.out_proj." + field.substr(14)] = tensor;
            } else if (starts_with(field, "ln_1.")) {
                out[p + "layer_norm1." + field.substr(5)] = tensor;
            } else if (starts_with(field, "ln_2.")) {
                out[p + "layer_norm2." + field.substr(5)] = tensor;
            } else if (starts_with(field, "mlp.c_fc.")) {
                out[p + "mlp.fc1." + field.substr(9)] = tensor;
            } else if (starts_with(field, "mlp.c_proj.")) {
                out[p + "mlp.fc2." + field.substr(11)] = tensor;
            }
        }
    }
    return out;
}

}  // namespace atelier
