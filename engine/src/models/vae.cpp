// AutoencoderKL (Rombach et al. 2022), following diffusers v0.25.1 autoencoder_kl.py / vae.py.
#include "models/vae.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "atelier/error.h"
#include "io/file_util.h"
#include "io/json_file.h"
#include "models/attention.h"

namespace atelier {

namespace {
constexpr double kVaeEps = 1e-6;  // every VAE GroupNorm (resnets, attention, norm_out)
}

void VaeConfig::validate(const std::string& where) const {
    if (block_out_channels.empty()) throw Error(where + ": 'block_out_channels' is empty");
    if (layers_per_block < 1) throw Error(where + ": 'layers_per_block' must be >= 1");
    if (latent_channels < 1 || in_channels < 1 || out_channels < 1)
        throw Error(where + ": channel counts must be positive");
    for (size_t i = 0; i < block_out_channels.size(); ++i)
        if (norm_num_groups <= 0 || block_out_channels[i] <= 0 || block_out_channels[i] % norm_num_groups != 0)
            throw Error(where + ": block_out_channels[" + std::to_string(i) + "] = " +
                        std::to_string(block_out_channels[i]) + " is not divisible by norm_num_groups = " +
                        std::to_string(norm_num_groups));
    if (!(scaling_factor > 0)) throw Error(where + ": 'scaling_factor' must be positive");
}

VaeConfig VaeConfig::from_json_file(const std::string& path) {
    const nlohmann::json j = read_json_object(path);
    VaeConfig c;
    auto field = [&](const char* name) { return json_field(j, name); };
    try {
        if (auto* v = field("in_channels")) c.in_channels = v->get<int>();
        if (auto* v = field("out_channels")) c.out_channels = v->get<int>();
        if (auto* v = field("block_out_channels")) c.block_out_channels = v->get<std::vector<int>>();
        if (auto* v = field("layers_per_block")) c.layers_per_block = v->get<int>();
        if (auto* v = field("latent_channels")) c.latent_channels = v->get<int>();
        if (auto* v = field("norm_num_groups")) c.norm_num_groups = v->get<int>();
        if (auto* v = field("scaling_factor")) c.scaling_factor = v->get<double>();
        if (auto* v = field("sample_size")) c.sample_size = v->get<int>();
        if (auto* v = field("act_fn"); v && *v != "silu")
            throw Error(path + ": field 'act_fn' = " + v->dump() + " is not supported (expected \"silu\")");
        if (auto* v = field("down_block_types"))
            for (const auto& t : *v)
                if (t != "DownEncoderBlock2D")
                    throw Error(path + ": down block type " + t.dump() + " is not supported (DownEncoderBlock2D)");
        if (auto* v = field("up_block_types"))
            for (const auto& t : *v)
                if (t != "UpDecoderBlock2D")
                    throw Error(path + ": up block type " + t.dump() + " is not supported (UpDecoderBlock2D)");
        if (auto* v = field("mid_block_add_attention"); v && !v->get<bool>())
            throw Error(path + ": field 'mid_block_add_attention' = false is not supported");
        if (auto* v = field("shift_factor"); v && v->get<double>() != 0.0)
            throw Error(path + ": field 'shift_factor' = " + v->dump() + " is not supported");
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": a field has the wrong type (" + e.what() + ")");
    }
    c.validate(path);
    return c;
}

VaeConfig VaeConfig::infer(const TensorMap& w) {
    auto shape = [&](const std::string& name) -> at::IntArrayRef {
        const auto it = w.find(name);
        if (it == w.end()) throw Error("VAE weights: missing tensor '" + name + "' (needed to infer the config)");
        return it->second.sizes();
    };
    auto has_prefix = [&](const std::string& prefix) {
        const auto it = w.lower_bound(prefix);
        return it != w.end() && it->first.compare(0, prefix.size(), prefix) == 0;
    };
    VaeConfig c;
    c.block_out_channels.clear();
    const auto post_quant = shape("post_quant_conv.weight");
    c.latent_channels = int(post_quant[0]);
    c.out_channels = int(shape("decoder.conv_out.weight")[0]);
    // Levels from the decoder (always present); up_blocks.0 is the widest level.
    int levels = 0;
    while (has_prefix("decoder.up_blocks." + std::to_string(levels) + ".")) ++levels;
    if (levels == 0) throw Error("VAE weights: no 'decoder.up_blocks.N' tensors");
    for (int i = levels - 1; i >= 0; --i)
        c.block_out_channels.push_back(int(shape("decoder.up_blocks." + std::to_string(i) + ".resnets.0.conv1.weight")[0]));
    int resnets = 0;
    while (has_prefix("decoder.up_blocks.0.resnets." + std::to_string(resnets) + ".")) ++resnets;
    c.layers_per_block = resnets - 1;
    if (has_prefix("encoder.")) c.in_channels = int(shape("encoder.conv_in.weight")[1]);
    c.validate("VAE weights (inferred config)");
    return c;
}

// ---------------------------------------------------------------- blocks

at::Tensor AutoencoderKL::ResnetBlock::forward(const at::Tensor& x) const {
    at::Tensor h = conv1.forward(silu_inplace(norm1.forward(x)));
    h = conv2.forward(silu_inplace(norm2.forward(h)));
    return conv_shortcut.weight.defined() ? conv_shortcut.forward(x).add_(h) : h.add_(x);
}

at::Tensor AutoencoderKL::AttentionBlock::forward(const at::Tensor& x) const {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const at::Tensor h = group_norm.forward(x).permute({0, 2, 3, 1}).reshape({B, H * W, C});
    const at::Tensor q = to_q.forward(h).unsqueeze(1), k = to_k.forward(h).unsqueeze(1),
                     v = to_v.forward(h).unsqueeze(1);
    // diffusers builds this Attention with upcast_softmax=True.
    const at::Tensor o = attention(q, k, v, 1.0 / std::sqrt(double(C)), true).squeeze(1);
    return to_out.forward(o).reshape({B, H, W, C}).permute({0, 3, 1, 2}).add(x);
}

at::Tensor AutoencoderKL::MidBlock::forward(const at::Tensor& x) const {
    return resnet1.forward(attention.forward(resnet0.forward(x)));
}

namespace {

AutoencoderKL::ResnetBlock load_resnet(WeightReader& r, const std::string& p, int64_t in, int64_t out, int groups) {
    AutoencoderKL::ResnetBlock b;
    b.norm1 = GroupNorm::load(r, p + "norm1", in, groups, kVaeEps);
    b.conv1 = Conv2d::load(r, p + "conv1", in, out, 3);
    b.norm2 = GroupNorm::load(r, p + "norm2", out, groups, kVaeEps);
    b.conv2 = Conv2d::load(r, p + "conv2", out, out, 3);
    if (in != out) b.conv_shortcut = Conv2d::load(r, p + "conv_shortcut", in, out, 1);
    return b;
}

AutoencoderKL::MidBlock load_mid(WeightReader& r, const std::string& p, int64_t ch, int groups) {
    AutoencoderKL::MidBlock m;
    m.resnet0 = load_resnet(r, p + "resnets.0.", ch, ch, groups);
    const std::string a = p + "attentions.0.";
    m.attention.group_norm = GroupNorm::load(r, a + "group_norm", ch, groups, kVaeEps);
    m.attention.to_q = Linear::load(r, a + "to_q", ch, ch);
    m.attention.to_k = Linear::load(r, a + "to_k", ch, ch);
    m.attention.to_v = Linear::load(r, a + "to_v", ch, ch);
    m.attention.to_out = Linear::load(r, a + "to_out.0", ch, ch);
    m.resnet1 = load_resnet(r, p + "resnets.1.", ch, ch, groups);
    return m;
}

bool has_prefix(const TensorMap& w, const std::string& prefix) {
    const auto it = w.lower_bound(prefix);
    return it != w.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

AutoencoderKL::AutoencoderKL(VaeConfig config, const TensorMap& weights) : config_(std::move(config)) {
    WeightReader reader(weights, "VAE");
    load(reader, has_prefix(weights, "encoder."));
}

TensorMap AutoencoderKL::random_weights(const VaeConfig& config, uint64_t seed) {
    WeightReader reader = WeightReader::synthesizing("VAE", seed);
    AutoencoderKL vae;
    vae.config_ = config;
    vae.load(reader, true);
    return reader.synthesized();
}

void AutoencoderKL::load(WeightReader& r, bool with_encoder) {
    const VaeConfig& c = config_;
    c.validate();
    const int L = int(c.levels()), groups = c.norm_num_groups, lat = c.latent_channels;
    const int64_t top = c.block_out_channels.back();

    has_encoder_ = with_encoder;
    if (has_encoder_) {
        enc_conv_in = Conv2d::load(r, "encoder.conv_in", c.in_channels, c.block_out_channels[0], 3);
        int64_t out = c.block_out_channels[0];
        for (int i = 0; i < L; ++i) {
            const int64_t in = out;
            out = c.block_out_channels[size_t(i)];
            const std::string p = "encoder.down_blocks." + std::to_string(i) + ".";
            Level level;
            for (int j = 0; j < c.layers_per_block; ++j)
                level.resnets.push_back(load_resnet(r, p + "resnets." + std::to_string(j) + ".", j ? out : in, out, groups));
            if (i < L - 1) {
                level.has_sampler = true;
                level.sampler = Conv2d::load(r, p + "downsamplers.0.conv", out, out, 3, 2, 0);
            }
            enc_levels.push_back(std::move(level));
        }
        enc_mid = load_mid(r, "encoder.mid_block.", top, groups);
        enc_norm_out = GroupNorm::load(r, "encoder.conv_norm_out", top, groups, kVaeEps);
        enc_conv_out = Conv2d::load(r, "encoder.conv_out", top, 2 * lat, 3);
        quant_conv = Conv2d::load(r, "quant_conv", 2 * lat, 2 * lat, 1);
    }

    post_quant_conv = Conv2d::load(r, "post_quant_conv", lat, lat, 1);
    dec_conv_in = Conv2d::load(r, "decoder.conv_in", lat, top, 3);
    dec_mid = load_mid(r, "decoder.mid_block.", top, groups);
    int64_t prev = top;
    for (int i = 0; i < L; ++i) {
        const int64_t out = c.block_out_channels[size_t(L - 1 - i)];
        const std::string p = "decoder.up_blocks." + std::to_string(i) + ".";
        Level level;
        for (int j = 0; j <= c.layers_per_block; ++j)
            level.resnets.push_back(load_resnet(r, p + "resnets." + std::to_string(j) + ".", j ? out : prev, out, groups));
        if (i < L - 1) {
            level.has_sampler = true;
            level.sampler = Conv2d::load(r, p + "upsamplers.0.conv", out, out, 3);
        }
        dec_levels.push_back(std::move(level));
        prev = out;
    }
    dec_norm_out = GroupNorm::load(r, "decoder.conv_norm_out", c.block_out_channels[0], groups, kVaeEps);
    dec_conv_out = Conv2d::load(r, "decoder.conv_out", c.block_out_channels[0], c.out_channels, 3);
}

// ---------------------------------------------------------------- forward

std::pair<at::Tensor, at::Tensor> AutoencoderKL::encode(const at::Tensor& image) const {
    if (!has_encoder_) throw Error("VAE: this model has no encoder weights ('encoder.*'); encode() is unavailable");
    if (image.dim() != 4 || image.size(1) != config_.in_channels)
        throw Error("VAE encode: image must be [B, " + std::to_string(config_.in_channels) + ", H, W], found " +
                    shape_string(image.sizes()));
    at::Tensor h = enc_conv_in.forward(to_conv_layout(image.to(device(), dtype())));
    for (const Level& level : enc_levels) {
        for (const auto& resnet : level.resnets) h = resnet.forward(h);
        // diffusers' Downsample2D(padding=0): pad one zero column/row on the right/bottom, then stride 2.
        if (level.has_sampler) h = level.sampler.forward(at::constant_pad_nd(h, {0, 1, 0, 1}));
    }
    h = enc_mid.forward(h);
    h = enc_conv_out.forward(silu_inplace(enc_norm_out.forward(h)));
    const at::Tensor moments = quant_conv.forward(h).contiguous();
    const auto parts = moments.chunk(2, 1);
    return {parts[0].contiguous(), parts[1].clamp(-30.0, 20.0).contiguous()};
}

at::Tensor AutoencoderKL::decode(const at::Tensor& latent) const {
    if (latent.dim() != 4 || latent.size(1) != config_.latent_channels)
        throw Error("VAE decode: latent must be [B, " + std::to_string(config_.latent_channels) + ", h, w], found " +
                    shape_string(latent.sizes()));
    at::Tensor h = post_quant_conv.forward(to_conv_layout(latent.to(device(), dtype())));
    h = dec_mid.forward(dec_conv_in.forward(h));
    for (const Level& level : dec_levels) {
        for (const auto& resnet : level.resnets) h = resnet.forward(h);
        if (level.has_sampler) {
            const bool upcast = h.scalar_type() == at::kBFloat16;
            at::Tensor up = at::upsample_nearest2d(upcast ? h.to(at::kFloat) : h, {2 * h.size(2), 2 * h.size(3)});
            h = level.sampler.forward(upcast ? up.to(h.scalar_type()) : up);
        }
    }
    return dec_conv_out.forward(silu_inplace(dec_norm_out.forward(h))).contiguous();
}

namespace {

// Blend weights along one axis of a tile: linear ramps over the overlaps shared with neighbours.
at::Tensor ramp(int64_t length, int64_t overlap, bool ramp_start, bool ramp_end, const at::TensorOptions& opts) {
    at::Tensor w = at::ones({length}, opts);
    const int64_t n = std::min(overlap, length);
    if (n > 0) {
        const at::Tensor up = (at::arange(n, opts) + 0.5) / double(n);
        if (ramp_start) w.narrow(0, 0, n).mul_(up);
        if (ramp_end) w.narrow(0, length - n, n).mul_(up.flip(0));
    }
    return w;
}

}  // namespace

at::Tensor AutoencoderKL::decode_tiled(const at::Tensor& latent, int tile_latent, int overlap_latent) const {
    if (latent.dim() != 4 || latent.size(1) != config_.latent_channels)
        throw Error("VAE decode_tiled: latent must be [B, " + std::to_string(config_.latent_channels) +
                    ", h, w], found " + shape_string(latent.sizes()));
    if (tile_latent < 1 || overlap_latent < 0 || overlap_latent >= tile_latent)
        throw Error("VAE decode_tiled: need tile_latent >= 1 and 0 <= overlap_latent < tile_latent, found " +
                    std::to_string(tile_latent) + " and " + std::to_string(overlap_latent));
    const int64_t h = latent.size(2), w = latent.size(3);
    if (h <= tile_latent && w <= tile_latent) return decode(latent);
    const int64_t f = scale_factor(), stride = tile_latent - overlap_latent;
    auto starts = [&](int64_t size) {
        std::vector<int64_t> s;
        for (int64_t p = 0;; p += stride) {
            if (p + tile_latent >= size) {
                s.push_back(std::max<int64_t>(size - tile_latent, 0));  // last tile flush with the edge
                break;
            }
            s.push_back(p);
        }
        return s;
    };
    const std::vector<int64_t> ys = starts(h), xs = starts(w);
    const auto opts = at::TensorOptions().dtype(at::kFloat).device(device());
    at::Tensor out = at::zeros({latent.size(0), config_.out_channels, h * f, w * f}, opts);
    at::Tensor weight = at::zeros({1, 1, h * f, w * f}, opts);
    for (size_t iy = 0; iy < ys.size(); ++iy) {
        for (size_t ix = 0; ix < xs.size(); ++ix) {
            const int64_t th = std::min<int64_t>(tile_latent, h), tw = std::min<int64_t>(tile_latent, w);
            const at::Tensor tile =
                decode(latent.narrow(2, ys[iy], th).narrow(3, xs[ix], tw)).to(at::kFloat);
            // Overlap with the previous/next tile (the last tile may overlap more than overlap_latent).
            const int64_t oy0 = iy > 0 ? (ys[iy - 1] + th - ys[iy]) * f : 0;
            const int64_t oy1 = iy + 1 < ys.size() ? (ys[iy] + th - ys[iy + 1]) * f : 0;
            const int64_t ox0 = ix > 0 ? (xs[ix - 1] + tw - xs[ix]) * f : 0;
            const int64_t ox1 = ix + 1 < xs.size() ? (xs[ix] + tw - xs[ix + 1]) * f : 0;
            at::Tensor wy = ramp(th * f, std::max(oy0, oy1), oy0 > 0, oy1 > 0, opts);
            at::Tensor wx = ramp(tw * f, std::max(ox0, ox1), ox0 > 0, ox1 > 0, opts);
            const at::Tensor wt = (wy.view({-1, 1}) * wx.view({1, -1})).view({1, 1, th * f, tw * f});
            out.narrow(2, ys[iy] * f, th * f).narrow(3, xs[ix] * f, tw * f).add_(tile * wt);
            weight.narrow(2, ys[iy] * f, th * f).narrow(3, xs[ix] * f, tw * f).add_(wt);
        }
    }
    return out.div_(weight).to(dtype());
}

// ---------------------------------------------------------------- parameters

template <class F>
void AutoencoderKL::visit_all(F&& f) {
    auto resnet = [&](ResnetBlock& b) { f(b.norm1); f(b.conv1); f(b.norm2); f(b.conv2); f(b.conv_shortcut); };
    auto mid = [&](MidBlock& m) {
        resnet(m.resnet0); resnet(m.resnet1);
        f(m.attention.group_norm); f(m.attention.to_q); f(m.attention.to_k); f(m.attention.to_v); f(m.attention.to_out);
    };
    auto levels = [&](std::vector<Level>& ls) {
        for (auto& l : ls) {
            for (auto& r : l.resnets) resnet(r);
            f(l.sampler);
        }
    };
    if (has_encoder_) {
        f(enc_conv_in); levels(enc_levels); mid(enc_mid); f(enc_norm_out); f(enc_conv_out); f(quant_conv);
    }
    f(post_quant_conv); f(dec_conv_in); mid(dec_mid); levels(dec_levels); f(dec_norm_out); f(dec_conv_out);
}

void AutoencoderKL::to(at::Device device, at::ScalarType dtype) {
    visit_all([&](auto& module) { visit(module, [&](at::Tensor& t) { t = t.to(device, dtype); }); });
}

int64_t AutoencoderKL::parameter_count() const {
    int64_t n = 0;
    const_cast<AutoencoderKL*>(this)->visit_all(
        [&](auto& module) { visit(module, [&](at::Tensor& t) { n += t.numel(); }); });
    return n;
}

at::Device AutoencoderKL::device() const { return dec_conv_in.weight.device(); }
at::ScalarType AutoencoderKL::dtype() const { return dec_conv_in.weight.scalar_type(); }

}  // namespace atelier
