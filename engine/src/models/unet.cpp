// UNet2DConditionModel (Rombach et al. 2022), following diffusers v0.25.1 unet_2d_condition.py,
// unet_2d_blocks.py, resnet.py, transformer_2d.py and attention.py.
#include "models/unet.h"
#include "runtime/recompute.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <set>

#include "atelier/error.h"
#include "io/checkpoint_keys.h"
#include "io/file_util.h"
#include "io/json_file.h"
#include "models/attention.h"
#include "models/motion_module.h"

namespace atelier {

// ---------------------------------------------------------------- config

namespace {

int per_level(const std::vector<int>& values, size_t level, const char* field) {
    if (values.empty()) throw Error(std::string("UNet config: '") + field + "' is empty");
    if (values.size() == 1) return values[0];
    if (level >= values.size())
        throw Error(std::string("UNet config: '") + field + "' has " + std::to_string(values.size()) +
                    " entries, level " + std::to_string(level) + " asked");
    return values[level];
}

std::vector<int> int_or_list(const nlohmann::json& j, const std::string& path, const char* field) {
    std::vector<int> out;
    if (j.is_number_integer()) {
        out.push_back(j.get<int>());
    } else if (j.is_array()) {
        for (const auto& v : j) {
            if (!v.is_number_integer())
                throw Error(path + ": field '" + field + "' must hold integers, found " + v.dump());
            out.push_back(v.get<int>());
        }
    } else {
        throw Error(path + ": field '" + field + "' must be an integer or a list, found " + j.dump());
    }
    return out;
}

}  // namespace

int UNetConfig::heads(size_t level) const {
    return num_attention_heads.empty() ? per_level(attention_head_dim, level, "attention_head_dim")
                                       : per_level(num_attention_heads, level, "num_attention_heads");
}

int UNetConfig::transformer_layers(size_t level) const {
    return per_level(transformer_layers_per_block, level, "transformer_layers_per_block");
}

bool UNetConfig::down_has_attention(size_t level) const {
    return down_block_types.at(level) == "CrossAttnDownBlock2D";
}

bool UNetConfig::up_has_attention(size_t up_index) const {
    return up_block_types.at(up_index) == "CrossAttnUpBlock2D";
}

void UNetConfig::validate(const std::string& where) const {
    const size_t n = levels();
    auto fail = [&](const std::string& msg) { throw Error(where + ": " + msg); };
    if (n == 0) fail("'block_out_channels' is empty");
    if (down_block_types.size() != n || up_block_types.size() != n)
        fail("'down_block_types' (" + std::to_string(down_block_types.size()) + ") and 'up_block_types' (" +
             std::to_string(up_block_types.size()) + ") must have one entry per block_out_channels (" +
             std::to_string(n) + ")");
    for (const auto& t : down_block_types)
        if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
            fail("unsupported down block type '" + t + "' (expected CrossAttnDownBlock2D or DownBlock2D)");
    for (const auto& t : up_block_types)
        if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
            fail("unsupported up block type '" + t + "' (expected CrossAttnUpBlock2D or UpBlock2D)");
    if (mid_block_type != "UNetMidBlock2DCrossAttn")
        fail("unsupported mid block type '" + mid_block_type + "' (expected UNetMidBlock2DCrossAttn)");
    for (const auto* list : {&attention_head_dim, &num_attention_heads, &transformer_layers_per_block})
        if (list->size() > 1 && list->size() != n)
            fail("per-block lists must have 1 or " + std::to_string(n) + " entries");
    if (layers_per_block < 1) fail("'layers_per_block' must be >= 1");
    if (in_channels < 1 || out_channels < 1 || cross_attention_dim < 1) fail("channel counts must be positive");
    for (size_t i = 0; i < n; ++i) {
        const int c = block_out_channels[i];
        if (c <= 0 || norm_num_groups <= 0 || c % norm_num_groups != 0)
            fail("block_out_channels[" + std::to_string(i) + "] = " + std::to_string(c) +
                 " is not divisible by norm_num_groups = " + std::to_string(norm_num_groups));
        if (heads(i) <= 0 || c % heads(i) != 0)
            fail("block_out_channels[" + std::to_string(i) + "] = " + std::to_string(c) + " is not divisible by " +
                 std::to_string(heads(i)) + " attention heads");
        if (transformer_layers(i) < 1) fail("'transformer_layers_per_block' must be >= 1");
    }
}

UNetConfig UNetConfig::from_json_file(const std::string& path) {
    const nlohmann::json j = read_json_object(path);
    UNetConfig c;
    auto field = [&](const char* name) { return json_field(j, name); };
    try {
        if (auto* v = field("in_channels")) c.in_channels = v->get<int>();
        if (auto* v = field("out_channels")) c.out_channels = v->get<int>();
        if (auto* v = field("block_out_channels")) c.block_out_channels = v->get<std::vector<int>>();
        if (auto* v = field("down_block_types")) c.down_block_types = v->get<std::vector<std::string>>();
        if (auto* v = field("up_block_types")) c.up_block_types = v->get<std::vector<std::string>>();
        if (auto* v = field("mid_block_type")) c.mid_block_type = v->get<std::string>();
        if (auto* v = field("layers_per_block")) c.layers_per_block = v->get<int>();
        if (auto* v = field("cross_attention_dim")) c.cross_attention_dim = v->get<int>();
        if (auto* v = field("attention_head_dim")) c.attention_head_dim = int_or_list(*v, path, "attention_head_dim");
        if (auto* v = field("num_attention_heads")) c.num_attention_heads = int_or_list(*v, path, "num_attention_heads");
        if (auto* v = field("norm_num_groups")) c.norm_num_groups = v->get<int>();
        if (auto* v = field("norm_eps")) c.norm_eps = v->get<double>();
        if (auto* v = field("flip_sin_to_cos")) c.flip_sin_to_cos = v->get<bool>();
        if (auto* v = field("freq_shift")) c.freq_shift = v->get<double>();
        if (auto* v = field("use_linear_projection")) c.use_linear_projection = v->get<bool>();
        if (auto* v = field("upcast_attention")) c.upcast_attention = v->get<bool>();
        if (auto* v = field("transformer_layers_per_block"))
            c.transformer_layers_per_block = int_or_list(*v, path, "transformer_layers_per_block");
        if (auto* v = field("sample_size")) c.sample_size = v->get<int>();
        if (auto* v = field("time_embedding_dim")) c.time_embedding_dim = v->get<int>();

        // Options SD 1.x/2.x never use: refuse rather than compute something else.
        const std::pair<const char*, nlohmann::json> fixed[] = {
            {"act_fn", "silu"}, {"time_embedding_type", "positional"}, {"resnet_time_scale_shift", "default"},
            {"conv_in_kernel", 3}, {"conv_out_kernel", 3}, {"center_input_sample", false},
            {"dual_cross_attention", false}, {"mid_block_scale_factor", 1}, {"resnet_out_scale_factor", 1},
            {"attention_type", "default"}, {"resnet_skip_time_act", false}, {"downsample_padding", 1},
        };
        for (const auto& [name, expected] : fixed)
            if (auto* v = field(name); v && *v != expected)
                throw Error(path + ": field '" + name + "' = " + v->dump() + " is not supported (expected " +
                            expected.dump() + ")");
        for (const char* name : {"class_embed_type", "addition_embed_type", "num_class_embeds", "encoder_hid_dim",
                                 "time_cond_proj_dim", "time_embedding_act_fn", "timestep_post_act",
                                 "cross_attention_norm", "reverse_transformer_layers_per_block"})
            if (auto* v = field(name))
                throw Error(path + ": field '" + name + "' = " + v->dump() + " is not supported (expected null)");
        if (auto* v = field("only_cross_attention")) {
            const bool any = v->is_boolean() ? v->get<bool>()
                                             : (v->is_array() && std::any_of(v->begin(), v->end(), [](const auto& x) {
                                                    return x.is_boolean() && x.template get<bool>();
                                                }));
            if (any) throw Error(path + ": field 'only_cross_attention' = true is not supported");
        }
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": a field has the wrong type (" + e.what() + ")");
    }
    c.validate(path);
    return c;
}

namespace {

bool has_prefix(const ShapeMap& shapes, const std::string& prefix) {
    const auto it = shapes.lower_bound(prefix);
    return it != shapes.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

const std::vector<int64_t>& shape_of(const ShapeMap& shapes, const std::string& name) {
    const auto it = shapes.find(name);
    if (it == shapes.end()) throw Error("UNet weights: missing tensor '" + name + "' (needed to infer the config)");
    return it->second;
}

int count_indices(const ShapeMap& shapes, const std::string& prefix) {
    int n = 0;
    while (has_prefix(shapes, prefix + std::to_string(n) + ".")) ++n;
    return n;
}

UNetConfig infer_from_shapes(const ShapeMap& s) {
    UNetConfig c;
    const auto& conv_in = shape_of(s, "conv_in.weight");
    const auto& conv_out = shape_of(s, "conv_out.weight");
    if (conv_in.size() != 4 || conv_out.size() != 4)
        throw Error("UNet weights: 'conv_in.weight' / 'conv_out.weight' must be 4-D convolution weights");
    c.in_channels = int(conv_in[1]);
    c.out_channels = int(conv_out[0]);
    const int levels = count_indices(s, "down_blocks.");
    if (levels == 0) throw Error("UNet weights: no 'down_blocks.N' tensors");
    c.block_out_channels.clear();
    c.down_block_types.clear();
    c.up_block_types.clear();
    c.transformer_layers_per_block.clear();
    c.layers_per_block = count_indices(s, "down_blocks.0.resnets.");
    c.time_embedding_dim = int(shape_of(s, "time_embedding.linear_1.weight")[0]);
    bool any_attention = false;
    for (int i = 0; i < levels; ++i) {
        const std::string block = "down_blocks." + std::to_string(i) + ".";
        c.block_out_channels.push_back(int(shape_of(s, block + "resnets.0.conv1.weight")[0]));
        const bool attention = has_prefix(s, block + "attentions.0.");
        c.down_block_types.push_back(attention ? "CrossAttnDownBlock2D" : "DownBlock2D");
        const std::string up = "up_blocks." + std::to_string(levels - 1 - i) + ".";
        c.up_block_types.insert(c.up_block_types.begin(),
                                has_prefix(s, up + "attentions.0.") ? "CrossAttnUpBlock2D" : "UpBlock2D");
        int depth = 1;
        if (attention) {
            depth = count_indices(s, block + "attentions.0.transformer_blocks.");
            if (!any_attention) {
                c.cross_attention_dim =
                    int(shape_of(s, block + "attentions.0.transformer_blocks.0.attn2.to_k.weight")[1]);
                c.use_linear_projection = shape_of(s, block + "attentions.0.proj_in.weight").size() == 2;
            }
            any_attention = true;
        }
        c.transformer_layers_per_block.push_back(depth);
    }
    if (!any_attention && has_prefix(s, "mid_block.attentions.0.")) {
        c.cross_attention_dim = int(shape_of(s, "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight")[1]);
        c.use_linear_projection = shape_of(s, "mid_block.attentions.0.proj_in.weight").size() == 2;
    }
    // Mid-block depth decides the last level when that level has no down attention (SD1/2: 1).
    if (has_prefix(s, "mid_block.attentions.0.") && c.down_block_types.back() == "DownBlock2D")
        c.transformer_layers_per_block.back() = count_indices(s, "mid_block.attentions.0.transformer_blocks.");
    if (std::set<int>(c.transformer_layers_per_block.begin(), c.transformer_layers_per_block.end()).size() == 1)
        c.transformer_layers_per_block.resize(1);
    // Heads are not visible in the shapes: SD2 (linear projections, 1024-wide text) uses head dim 64,
    // SD1 and everything else 8 heads.
    const bool sd2_like = c.use_linear_projection || c.cross_attention_dim == 1024;
    bool all_divisible = true;
    for (int ch : c.block_out_channels) all_divisible = all_divisible && ch % 64 == 0;
    if (sd2_like && all_divisible) {
        c.attention_head_dim.clear();
        for (int ch : c.block_out_channels) c.attention_head_dim.push_back(ch / 64);
    } else {
        c.attention_head_dim = {8};
    }
    c.validate("UNet weights (inferred config)");
    return c;
}

}  // namespace

UNetConfig UNetConfig::infer(const TensorMap& weights) {
    ShapeMap shapes;
    for (const auto& kv : weights) shapes.emplace(kv.first, kv.second.sizes().vec());
    return infer_from_shapes(shapes);
}

// ---------------------------------------------------------------- blocks

at::Tensor UNet2DCondition::ResnetBlock::forward(const at::Tensor& x, const at::Tensor& temb_silu) const {
    at::Tensor h = conv1.forward(silu_inplace(norm1.forward(x)));
    const at::Tensor t = time_emb_proj.forward(temb_silu);
    h.add_(t.view({t.size(0), t.size(1), 1, 1}));
    h = conv2.forward(silu_inplace(norm2.forward(h)));
    return conv_shortcut.weight.defined() ? conv_shortcut.forward(x).add_(h) : h.add_(x);
}

at::Tensor UNet2DCondition::Attention::forward(const at::Tensor& x, const at::Tensor& context) const {
    const at::Tensor& ctx = context.defined() ? context : x;
    const int64_t B = x.size(0), T = x.size(1), S = ctx.size(1);
    const int64_t inner = to_q.weight.size(0), head_dim = inner / heads;
    auto split = [&](const at::Tensor& t, int64_t len) { return t.view({B, len, heads, head_dim}).transpose(1, 2); };
    const at::Tensor q = split(to_q.forward(x), T);
    const at::Tensor k = split(to_k.forward(ctx), S);
    const at::Tensor v = split(to_v.forward(ctx), S);
    const at::Tensor o = attention(q, k, v, 1.0 / std::sqrt(double(head_dim)), upcast);
    return to_out.forward(o.transpose(1, 2).reshape({B, T, inner}));
}

at::Tensor UNet2DCondition::TransformerBlock::forward(const at::Tensor& x, const at::Tensor& context) const {
    at::Tensor h = attn1.forward(norm1.forward(x), at::Tensor()).add_(x);
    h = attn2.forward(norm2.forward(h), context).add_(h);
    const auto parts = ff_in.forward(norm3.forward(h)).chunk(2, -1);  // GEGLU: [value | gate]
    return ff_out.forward(parts[0] * at::gelu(parts[1])).add_(h);
}

at::Tensor UNet2DCondition::Transformer2D::forward(const at::Tensor& x, const at::Tensor& context) const {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    at::Tensor h = norm.forward(x);
    // In channels-last layout these permutes and reshapes are views.
    int64_t inner;
    if (linear_projection) {
        h = proj_in_linear.forward(h.permute({0, 2, 3, 1}).reshape({B, H * W, C}));
        inner = h.size(2);
    } else {
        h = proj_in_conv.forward(h);
        inner = h.size(1);
        h = h.permute({0, 2, 3, 1}).reshape({B, H * W, inner});
    }
    for (const auto& block : blocks) h = block.forward(h, context);
    if (linear_projection) {
        h = proj_out_linear.forward(h).reshape({B, H, W, C}).permute({0, 3, 1, 2});
    } else {
        h = proj_out_conv.forward(h.reshape({B, H, W, inner}).permute({0, 3, 1, 2}));
    }
    return h.add_(x);
}

// ---------------------------------------------------------------- construction

namespace {

using UNet = UNet2DCondition;

UNet::ResnetBlock load_resnet(WeightReader& r, const std::string& p, int64_t in, int64_t out, int64_t temb,
                              const UNetConfig& c) {
    UNet::ResnetBlock b;
    b.norm1 = GroupNorm::load(r, p + "norm1", in, c.norm_num_groups, c.norm_eps);
    b.conv1 = Conv2d::load(r, p + "conv1", in, out, 3);
    b.time_emb_proj = Linear::load(r, p + "time_emb_proj", temb, out);
    b.norm2 = GroupNorm::load(r, p + "norm2", out, c.norm_num_groups, c.norm_eps);
    b.conv2 = Conv2d::load(r, p + "conv2", out, out, 3);
    if (in != out) b.conv_shortcut = Conv2d::load(r, p + "conv_shortcut", in, out, 1);
    return b;
}

UNet::Attention load_attention(WeightReader& r, const std::string& p, int64_t dim, int64_t context_dim,
                               int64_t heads, bool upcast) {
    UNet::Attention a;
    a.to_q = Linear::load(r, p + "to_q", dim, dim, false);
    a.to_k = Linear::load(r, p + "to_k", context_dim, dim, false);
    a.to_v = Linear::load(r, p + "to_v", context_dim, dim, false);
    a.to_out = Linear::load(r, p + "to_out.0", dim, dim);
    a.heads = heads;
    a.upcast = upcast;
    return a;
}

UNet::Transformer2D load_transformer(WeightReader& r, const std::string& p, int64_t channels, int64_t heads,
                                     int depth, const UNetConfig& c) {
    UNet::Transformer2D t;
    // Transformer2DModel's GroupNorm uses eps 1e-6 whatever the config's norm_eps.
    t.norm = GroupNorm::load(r, p + "norm", channels, c.norm_num_groups, 1e-6);
    t.linear_projection = c.use_linear_projection;
    if (t.linear_projection) {
        t.proj_in_linear = Linear::load(r, p + "proj_in", channels, channels);
        t.proj_out_linear = Linear::load(r, p + "proj_out", channels, channels);
    } else {
        t.proj_in_conv = Conv2d::load(r, p + "proj_in", channels, channels, 1);
        t.proj_out_conv = Conv2d::load(r, p + "proj_out", channels, channels, 1);
    }
    for (int i = 0; i < depth; ++i) {
        const std::string b = p + "transformer_blocks." + std::to_string(i) + ".";
        UNet::TransformerBlock tb;
        tb.norm1 = LayerNorm::load(r, b + "norm1", channels, 1e-5);
        tb.attn1 = load_attention(r, b + "attn1.", channels, channels, heads, c.upcast_attention);
        tb.norm2 = LayerNorm::load(r, b + "norm2", channels, 1e-5);
        tb.attn2 = load_attention(r, b + "attn2.", channels, c.cross_attention_dim, heads, c.upcast_attention);
        tb.norm3 = LayerNorm::load(r, b + "norm3", channels, 1e-5);
        tb.ff_in = Linear::load(r, b + "ff.net.0.proj", channels, 8 * channels);
        tb.ff_out = Linear::load(r, b + "ff.net.2", 4 * channels, channels);
        t.blocks.push_back(std::move(tb));
    }
    return t;
}

}  // namespace

UNet2DCondition::UNet2DCondition(UNetConfig config, const TensorMap& weights) : config_(std::move(config)) {
    WeightReader reader(weights, "UNet");
    load(reader);
}

TensorMap UNet2DCondition::random_weights(const UNetConfig& config, uint64_t seed) {
    WeightReader reader = WeightReader::synthesizing("UNet", seed);
    UNet2DCondition unet;
    unet.config_ = config;
    unet.load(reader);
    return reader.synthesized();
}

void UNet2DCondition::load(WeightReader& r) {
    const UNetConfig& c = config_;
    c.validate();
    const int64_t L = int64_t(c.levels()), temb = c.time_embed_dim(), ch0 = c.block_out_channels[0];
    time_linear_1 = Linear::load(r, "time_embedding.linear_1", ch0, temb);
    time_linear_2 = Linear::load(r, "time_embedding.linear_2", temb, temb);
    conv_in = Conv2d::load(r, "conv_in", c.in_channels, ch0, 3);

    int64_t out = ch0;
    for (int64_t i = 0; i < L; ++i) {
        const int64_t in = out;
        out = c.block_out_channels[size_t(i)];
        const std::string p = "down_blocks." + std::to_string(i) + ".";
        DownBlock block;
        for (int j = 0; j < c.layers_per_block; ++j) {
            const std::string idx = std::to_string(j);
            block.resnets.push_back(load_resnet(r, p + "resnets." + idx + ".", j == 0 ? in : out, out, temb, c));
            if (c.down_has_attention(size_t(i)))
                block.attentions.push_back(load_transformer(r, p + "attentions." + idx + ".", out,
                                                            c.heads(size_t(i)), c.transformer_layers(size_t(i)), c));
        }
        if (i < L - 1) {
            block.has_downsampler = true;
            block.downsampler = Conv2d::load(r, p + "downsamplers.0.conv", out, out, 3, 2, 1);
        }
        down_blocks.push_back(std::move(block));
    }

    const int64_t top = c.block_out_channels.back();
    mid_block.resnets.push_back(load_resnet(r, "mid_block.resnets.0.", top, top, temb, c));
    mid_block.attentions.push_back(load_transformer(r, "mid_block.attentions.0.", top, c.heads(size_t(L - 1)),
                                                    c.transformer_layers(size_t(L - 1)), c));
    mid_block.resnets.push_back(load_resnet(r, "mid_block.resnets.1.", top, top, temb, c));

    int64_t prev_out = top;
    for (int64_t i = 0; i < L; ++i) {
        const size_t level = size_t(L - 1 - i);  // up block i mirrors down level L-1-i
        const int64_t up_out = c.block_out_channels[level];
        const int64_t skip_in = c.block_out_channels[size_t(std::max<int64_t>(L - 2 - i, 0))];
        const std::string p = "up_blocks." + std::to_string(i) + ".";
        UpBlock block;
        for (int j = 0; j <= c.layers_per_block; ++j) {
            const std::string idx = std::to_string(j);
            const int64_t skip = j == c.layers_per_block ? skip_in : up_out;
            const int64_t res_in = j == 0 ? prev_out : up_out;
            block.resnets.push_back(load_resnet(r, p + "resnets." + idx + ".", res_in + skip, up_out, temb, c));
            if (c.up_has_attention(size_t(i)))
                block.attentions.push_back(load_transformer(r, p + "attentions." + idx + ".", up_out,
                                                            c.heads(level), c.transformer_layers(level), c));
        }
        if (i < L - 1) {
            block.has_upsampler = true;
            block.upsampler = Conv2d::load(r, p + "upsamplers.0.conv", up_out, up_out, 3);
        }
        up_blocks.push_back(std::move(block));
        prev_out = up_out;
    }
    conv_norm_out = GroupNorm::load(r, "conv_norm_out", ch0, c.norm_num_groups, c.norm_eps);
    conv_out = Conv2d::load(r, "conv_out", ch0, c.out_channels, 3);
}

// ---------------------------------------------------------------- forward

at::Tensor UNet2DCondition::timestep_features(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                              double freq_shift) {
    const int64_t half = dim / 2;
    const auto opts = at::TensorOptions().dtype(at::kFloat).device(timesteps.device());
    // Same operation order and float32 rounding as diffusers' get_timestep_embedding.
    at::Tensor exponent = at::arange(0, half, opts) * float(-std::log(10000.0));
    exponent = exponent / float(double(half) - freq_shift);
    const at::Tensor args = timesteps.to(at::kFloat).unsqueeze(1) * exponent.exp().unsqueeze(0);
    at::Tensor emb = flip_sin_to_cos ? at::cat({args.cos(), args.sin()}, 1) : at::cat({args.sin(), args.cos()}, 1);
    if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1});
    return emb;
}

at::Tensor UNet2DCondition::forward(const at::Tensor& sample, const at::Tensor& timesteps,
                                    const at::Tensor& encoder_hidden_states) const {
    if (sample.dim() == 5) return forward_video(sample, timesteps, encoder_hidden_states);
    return forward_frames(sample, timesteps, encoder_hidden_states, 0);
}

at::Tensor UNet2DCondition::mid_block_output(const at::Tensor& sample, const at::Tensor& timesteps,
                                             const at::Tensor& encoder_hidden_states) const {
    return forward_frames(sample, timesteps, encoder_hidden_states, 0, true);
}

at::Tensor UNet2DCondition::forward_frames(const at::Tensor& sample, const at::Tensor& timesteps,
                                           const at::Tensor& encoder_hidden_states, int64_t frames,
                                           bool stop_at_mid) const {
    const UNetConfig& c = config_;
    const MotionAdapter* motion = frames > 0 ? motion_.get() : nullptr;
    if (sample.dim() != 4 || sample.size(1) != c.in_channels)
        throw Error("UNet: sample must be [B, " + std::to_string(c.in_channels) + ", H, W], found " +
                    shape_string(sample.sizes()));
    const int64_t B = sample.size(0);
    if (encoder_hidden_states.dim() != 3 || encoder_hidden_states.size(0) != B ||
        encoder_hidden_states.size(2) != c.cross_attention_dim)
        throw Error("UNet: encoder_hidden_states must be [" + std::to_string(B) + ", T, " +
                    std::to_string(c.cross_attention_dim) + "], found " + shape_string(encoder_hidden_states.sizes()));
    if (!(timesteps.numel() == 1 || (timesteps.dim() == 1 && timesteps.size(0) == B)))
        throw Error("UNet: timesteps must be a scalar or [" + std::to_string(B) + "], found " +
                    shape_string(timesteps.sizes()));
    const at::ScalarType dtype = conv_in.weight.scalar_type();
    const at::Device device = conv_in.weight.device();

    const at::Tensor t = timesteps.reshape({-1}).to(device).expand({B});
    const at::Tensor t_features = timestep_features(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift);
    const at::Tensor temb = time_linear_2.forward(at::silu(time_linear_1.forward(t_features.to(dtype))));
    const at::Tensor temb_silu = at::silu(temb);
    const at::Tensor context = encoder_hidden_states.to(device, dtype);

    // Every block as call(block, h, extra); with gradient checkpointing its activations are recomputed in
    // the backward pass instead of kept.
    auto call = [this](const auto& block, const at::Tensor& x, const at::Tensor& extra) -> at::Tensor {
        if (!gradient_checkpointing_) return block.forward(x, extra);
        return recompute_in_backward([&block](const at::Tensor& in, const at::Tensor& e) { return block.forward(in, e); },
                                     x, extra);
    };
    auto call_motion = [this, frames](const auto& block, const at::Tensor& x) -> at::Tensor {
        if (!gradient_checkpointing_) return block.forward(x, frames);
        return recompute_in_backward([&block, frames](const at::Tensor& in, const at::Tensor&) { return block.forward(in, frames); },
                                     x, at::Tensor());
    };

    at::Tensor h = conv_in.forward(to_conv_layout(sample.to(device, dtype)));
    std::vector<at::Tensor> skips{h};
    for (size_t i = 0; i < down_blocks.size(); ++i) {
        const DownBlock& block = down_blocks[i];
        for (size_t j = 0; j < block.resnets.size(); ++j) {
            h = call(block.resnets[j], h, temb_silu);
            if (!block.attentions.empty()) h = call(block.attentions[j], h, context);
            if (motion) h = call_motion(motion->down[i][j], h);
            skips.push_back(h);
        }
        if (block.has_downsampler) {
            h = block.downsampler.forward(h);
            skips.push_back(h);
        }
    }
    h = call(mid_block.resnets[0], h, temb_silu);
    h = call(mid_block.attentions[0], h, context);
    if (motion && !motion->mid.empty()) h = call_motion(motion->mid[0], h);
    h = call(mid_block.resnets[1], h, temb_silu);
    if (stop_at_mid) return h.contiguous();

    for (size_t i = 0; i < up_blocks.size(); ++i) {
        const UpBlock& block = up_blocks[i];
        for (size_t j = 0; j < block.resnets.size(); ++j) {
            h = at::cat({h, skips.back()}, 1);
            skips.pop_back();
            h = call(block.resnets[j], h, temb_silu);
            if (!block.attentions.empty()) h = call(block.attentions[j], h, context);
            if (motion) h = call_motion(motion->up[i][j], h);
        }
        if (block.has_upsampler) {
            // Upsample to the size of the skip it meets next (= 2x unless the input was odd-sized).
            const at::Tensor& next = skips.back();
            const bool upcast = h.scalar_type() == at::kBFloat16;
            at::Tensor up = at::upsample_nearest2d(upcast ? h.to(at::kFloat) : h, {next.size(2), next.size(3)});
            h = block.upsampler.forward(upcast ? up.to(dtype) : up);
        }
    }
    h = conv_out.forward(silu_inplace(conv_norm_out.forward(h)));
    return h.contiguous();
}

// ---------------------------------------------------------------- parameters

template <class F>
void UNet2DCondition::visit_all(F&& f) {
    auto resnet = [&](ResnetBlock& b) {
        f(b.norm1); f(b.conv1); f(b.time_emb_proj); f(b.norm2); f(b.conv2); f(b.conv_shortcut);
    };
    auto transformer = [&](Transformer2D& t) {
        f(t.norm); f(t.proj_in_conv); f(t.proj_out_conv); f(t.proj_in_linear); f(t.proj_out_linear);
        for (auto& b : t.blocks) {
            f(b.norm1); f(b.norm2); f(b.norm3); f(b.ff_in); f(b.ff_out);
            for (Attention* a : {&b.attn1, &b.attn2}) { f(a->to_q); f(a->to_k); f(a->to_v); f(a->to_out); }
        }
    };
    f(time_linear_1); f(time_linear_2); f(conv_in);
    for (auto& b : down_blocks) {
        for (auto& r : b.resnets) resnet(r);
        for (auto& t : b.attentions) transformer(t);
        f(b.downsampler);
    }
    for (auto& r : mid_block.resnets) resnet(r);
    for (auto& t : mid_block.attentions) transformer(t);
    for (auto& b : up_blocks) {
        for (auto& r : b.resnets) resnet(r);
        for (auto& t : b.attentions) transformer(t);
        f(b.upsampler);
    }
    f(conv_norm_out); f(conv_out);
}

void UNet2DCondition::to(at::Device device, at::ScalarType dtype) {
    visit_all([&](auto& module) { visit(module, [&](at::Tensor& t) { t = t.to(device, dtype); }); });
}

int64_t UNet2DCondition::parameter_count() const {
    int64_t n = 0;
    const_cast<UNet2DCondition*>(this)->visit_all(
        [&](auto& module) { visit(module, [&](at::Tensor& t) { n += t.numel(); }); });
    return n;
}

at::Device UNet2DCondition::device() const { return conv_in.weight.device(); }
at::ScalarType UNet2DCondition::dtype() const { return conv_in.weight.scalar_type(); }

void UNet2DCondition::for_each_conv(const std::function<void(Conv2d&)>& visitor) {
    visit_all([&](auto& module) {
        if constexpr (std::is_same_v<std::decay_t<decltype(module)>, Conv2d>)
            if (module.weight.defined()) visitor(module);
    });
}

void UNet2DCondition::for_each_linear(const std::function<void(Linear&)>& visitor) {
    visit_all([&](auto& module) {
        if constexpr (std::is_same_v<std::decay_t<decltype(module)>, Linear>)
            if (module.weight.defined()) visitor(module);
    });
}

}  // namespace atelier
