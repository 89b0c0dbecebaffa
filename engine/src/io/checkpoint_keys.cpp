// Original (CompVis/LDM) -> diffusers key names for the UNet and VAE of single-file SD checkpoints.
#include "io/checkpoint_keys.h"

#include <cstdlib>
#include <set>

#include "atelier/error.h"

namespace atelier {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

// Parses a non-negative integer at `s[pos..]` up to the next '.'; advances pos past the '.'.
bool take_index(const std::string& s, size_t& pos, int& out) {
    const size_t dot = s.find('.', pos);
    if (dot == std::string::npos || dot == pos) return false;
    int value = 0;
    for (size_t i = pos; i < dot; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        value = value * 10 + (s[i] - '0');
        if (value > 100000) return false;
    }
    out = value;
    pos = dot + 1;
    return true;
}

// Distinct values of the integer right after `prefix` in the keys.
std::set<int> indices_after(const ShapeMap& shapes, const std::string& prefix) {
    std::set<int> found;
    for (auto it = shapes.lower_bound(prefix); it != shapes.end() && starts_with(it->first, prefix); ++it) {
        size_t pos = prefix.size();
        int index = 0;
        if (take_index(it->first, pos, index)) found.insert(index);
    }
    return found;
}

bool has_key_with_prefix(const ShapeMap& shapes, const std::string& prefix) {
    const auto it = shapes.lower_bound(prefix);
    return it != shapes.end() && starts_with(it->first, prefix);
}

// LDM ResBlock -> diffusers ResnetBlock2D suffixes.
std::string map_unet_resnet(const std::string& rest) {
    static const std::pair<const char*, const char*> renames[] = {
        {"in_layers.0.", "norm1."},          {"in_layers.2.", "conv1."},  {"emb_layers.1.", "time_emb_proj."},
        {"out_layers.0.", "norm2."},         {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
    };
    for (const auto& [from, to] : renames)
        if (starts_with(rest, from)) return to + rest.substr(std::char_traits<char>::length(from));
    return "";
}

// LDM SpatialTransformer names are diffusers' Transformer2DModel names already.
bool is_transformer_suffix(const std::string& rest) {
    return starts_with(rest, "norm.") || starts_with(rest, "proj_in.") || starts_with(rest, "proj_out.") ||
           starts_with(rest, "transformer_blocks.");
}

// LDM VAE ResnetBlock -> diffusers: only the shortcut is renamed.
std::string map_vae_resnet(const std::string& rest) {
    if (starts_with(rest, "nin_shortcut.")) return "conv_shortcut." + rest.substr(13);
    for (const char* p : {"norm1.", "conv1.", "norm2.", "conv2."})
        if (starts_with(rest, p)) return rest;
    return "";
}

MappedKey map_vae_mid(const std::string& rest, const std::string& out_prefix) {
    if (starts_with(rest, "block_1.")) {
        const std::string r = map_vae_resnet(rest.substr(8));
        return {r.empty() ? "" : out_prefix + "mid_block.resnets.0." + r};
    }
    if (starts_with(rest, "block_2.")) {
        const std::string r = map_vae_resnet(rest.substr(8));
        return {r.empty() ? "" : out_prefix + "mid_block.resnets.1." + r};
    }
    if (starts_with(rest, "attn_1.")) {
        const std::string a = rest.substr(7);
        static const std::pair<const char*, const char*> renames[] = {
            {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."}};
        for (const auto& [from, to] : renames) {
            if (!starts_with(a, from)) continue;
            const std::string leaf = a.substr(std::char_traits<char>::length(from));
            const bool is_norm = std::string(from) == "norm.";
            return {out_prefix + "mid_block.attentions.0." + to + leaf, !is_norm && leaf == "weight"};
        }
    }
    return {};
}

}  // namespace

ShapeMap strip_prefix(const ShapeMap& shapes, const std::string& prefix) {
    ShapeMap out;
    for (auto it = shapes.lower_bound(prefix); it != shapes.end() && starts_with(it->first, prefix); ++it)
        out.emplace(it->first.substr(prefix.size()), it->second);
    return out;
}

LdmUNetLayout infer_ldm_unet_layout(const ShapeMap& shapes) {
    const auto conv_in = shapes.find("input_blocks.0.0.weight");
    if (conv_in == shapes.end() || conv_in->second.size() != 4)
        throw Error("single-file UNet: missing 4-D tensor 'input_blocks.0.0.weight' (the first convolution)");
    const std::set<int> inputs = indices_after(shapes, "input_blocks.");
    int downsamplers = 0;
    for (int n : inputs)
        if (shapes.count("input_blocks." + std::to_string(n) + ".0.op.weight")) ++downsamplers;
    LdmUNetLayout layout;
    layout.model_channels = int(conv_in->second[0]);
    layout.levels = downsamplers + 1;
    // After input_blocks.0: num_res_blocks + 1 per level, the last level without a downsampler.
    const int blocks = int(inputs.size()) - 1;
    if (blocks <= 0 || (blocks + 1) % layout.levels != 0 || *inputs.rbegin() != blocks)
        throw Error("single-file UNet: " + std::to_string(blocks) + " input blocks after the first do not split into " +
                    std::to_string(layout.levels) + " levels (found " + std::to_string(downsamplers) +
                    " downsamplers 'input_blocks.N.0.op.weight')");
    layout.num_res_blocks = (blocks + 1) / layout.levels - 1;
    if (layout.num_res_blocks < 1)
        throw Error("single-file UNet: no resnet blocks per level (input blocks: " + std::to_string(blocks) + ")");
    for (int level = 0; level < layout.levels; ++level) {
        const int n = 1 + level * (layout.num_res_blocks + 1);
        layout.attention.push_back(has_key_with_prefix(shapes, "input_blocks." + std::to_string(n) + ".1."));
    }
    const int outputs = int(indices_after(shapes, "output_blocks.").size());
    if (outputs != layout.levels * (layout.num_res_blocks + 1))
        throw Error("single-file UNet: expected " + std::to_string(layout.levels * (layout.num_res_blocks + 1)) +
                    " output blocks 'output_blocks.N', found " + std::to_string(outputs));
    return layout;
}

LdmVaeLayout infer_ldm_vae_layout(const ShapeMap& shapes) {
    LdmVaeLayout layout;
    layout.levels = int(indices_after(shapes, "encoder.down.").size());
    if (layout.levels == 0) throw Error("single-file VAE: no 'encoder.down.N' tensors");
    layout.num_res_blocks = int(indices_after(shapes, "encoder.down.0.block.").size());
    if (layout.num_res_blocks == 0) throw Error("single-file VAE: no 'encoder.down.0.block.M' tensors");
    const int up_levels = int(indices_after(shapes, "decoder.up.").size());
    if (up_levels != layout.levels)
        throw Error("single-file VAE: " + std::to_string(layout.levels) + " encoder levels but " +
                    std::to_string(up_levels) + " decoder levels 'decoder.up.N'");
    return layout;
}

MappedKey ldm_unet_key_to_diffusers(const std::string& key, const LdmUNetLayout& layout) {
    const int per_level = layout.num_res_blocks + 1;
    if (starts_with(key, "time_embed.0.")) return {"time_embedding.linear_1." + key.substr(13)};
    if (starts_with(key, "time_embed.2.")) return {"time_embedding.linear_2." + key.substr(13)};
    if (starts_with(key, "out.0.")) return {"conv_norm_out." + key.substr(6)};
    if (starts_with(key, "out.2.")) return {"conv_out." + key.substr(6)};
    if (key == "input_blocks.0.0.weight" || key == "input_blocks.0.0.bias") return {"conv_in." + key.substr(17)};

    size_t pos = 0;
    int n = 0, m = 0;
    if (starts_with(key, "input_blocks.")) {
        pos = 13;
        if (!take_index(key, pos, n) || !take_index(key, pos, m) || n < 1) return {};
        const std::string rest = key.substr(pos);
        const int level = (n - 1) / per_level, layer = (n - 1) % per_level;
        if (level >= layout.levels) return {};
        const std::string block = "down_blocks." + std::to_string(level) + ".";
        if (layer < layout.num_res_blocks) {
            if (m == 0) {
                const std::string r = map_unet_resnet(rest);
                return {r.empty() ? "" : block + "resnets." + std::to_string(layer) + "." + r};
            }
            if (m == 1 && layout.attention[level] && is_transformer_suffix(rest))
                return {block + "attentions." + std::to_string(layer) + "." + rest};
            return {};
        }
        if (m == 0 && level < layout.levels - 1 && starts_with(rest, "op.") &&
            (rest == "op.weight" || rest == "op.bias"))
            return {block + "downsamplers.0.conv." + rest.substr(3)};
        return {};
    }
    if (starts_with(key, "middle_block.")) {
        pos = 13;
        if (!take_index(key, pos, m)) return {};
        const std::string rest = key.substr(pos);
        if (m == 0 || m == 2) {
            const std::string r = map_unet_resnet(rest);
            return {r.empty() ? "" : "mid_block.resnets." + std::to_string(m / 2) + "." + r};
        }
        if (m == 1 && is_transformer_suffix(rest)) return {"mid_block.attentions.0." + rest};
        return {};
    }
    if (starts_with(key, "output_blocks.")) {
        pos = 14;
        if (!take_index(key, pos, n) || !take_index(key, pos, m)) return {};
        const std::string rest = key.substr(pos);
        const int up = n / per_level, layer = n % per_level;
        if (up >= layout.levels) return {};
        const bool attention = layout.attention[layout.levels - 1 - up];
        const std::string block = "up_blocks." + std::to_string(up) + ".";
        if (m == 0) {
            const std::string r = map_unet_resnet(rest);
            return {r.empty() ? "" : block + "resnets." + std::to_string(layer) + "." + r};
        }
        if (m == 1 && attention && is_transformer_suffix(rest))
            return {block + "attentions." + std::to_string(layer) + "." + rest};
        const int upsampler_index = attention ? 2 : 1;
        if (m == upsampler_index && layer == layout.num_res_blocks && up < layout.levels - 1 &&
            (rest == "conv.weight" || rest == "conv.bias"))
            return {block + "upsamplers.0." + rest};
        return {};
    }
    return {};
}

MappedKey ldm_vae_key_to_diffusers(const std::string& key, const LdmVaeLayout& layout) {
    for (const char* side : {"encoder.", "decoder."}) {
        if (!starts_with(key, side)) continue;
        const std::string out = side;
        const std::string rest = key.substr(out.size());
        for (const char* plain : {"conv_in.", "conv_out."})
            if (starts_with(rest, plain) && (rest.substr(std::char_traits<char>::length(plain)) == "weight" ||
                                             rest.substr(std::char_traits<char>::length(plain)) == "bias"))
                return {key};
        if (starts_with(rest, "norm_out.")) return {out + "conv_norm_out." + rest.substr(9)};
        if (starts_with(rest, "mid.")) return map_vae_mid(rest.substr(4), out);
        const bool encoder = out == "encoder.";
        const std::string level_word = encoder ? "down." : "up.";
        if (!starts_with(rest, level_word)) return {};
        size_t pos = level_word.size();
        int level = 0;
        if (!take_index(rest, pos, level) || level >= layout.levels) return {};
        // The decoder's original numbering runs from the lowest resolution up: reverse it.
        const int block_index = encoder ? level : layout.levels - 1 - level;
        const std::string block = out + (encoder ? "down_blocks." : "up_blocks.") + std::to_string(block_index) + ".";
        const std::string sub = rest.substr(pos);
        if (starts_with(sub, "block.")) {
            size_t p = 6;
            int m = 0;
            if (!take_index(sub, p, m)) return {};
            const int max_blocks = layout.num_res_blocks + (encoder ? 0 : 1);
            if (m >= max_blocks) return {};
            const std::string r = map_vae_resnet(sub.substr(p));
            return {r.empty() ? "" : block + "resnets." + std::to_string(m) + "." + r};
        }
        const std::string sampler = encoder ? "downsample.conv." : "upsample.conv.";
        const bool has_sampler = encoder ? level < layout.levels - 1 : level > 0;
        if (has_sampler && starts_with(sub, sampler)) {
            const std::string leaf = sub.substr(sampler.size());
            if (leaf == "weight" || leaf == "bias")
                return {block + (encoder ? "downsamplers.0.conv." : "upsamplers.0.conv.") + leaf};
        }
        return {};
    }
    for (const char* plain : {"quant_conv.weight", "quant_conv.bias", "post_quant_conv.weight", "post_quant_conv.bias"})
        if (key == plain) return {key};
    return {};
}

namespace {

template <class Layout, class MapOne>
KeyMapping map_all(const ShapeMap& shapes, const Layout& layout, MapOne map_one, const char* what) {
    KeyMapping mapping;
    std::map<std::string, std::string> targets;
    for (const auto& kv : shapes) {
        MappedKey mk = map_one(kv.first, layout);
        if (mk.diffusers.empty()) {
            mapping.unmapped.push_back(kv.first);
            continue;
        }
        const auto [it, inserted] = targets.emplace(mk.diffusers, kv.first);
        if (!inserted)
            throw Error(std::string(what) + ": keys '" + it->second + "' and '" + kv.first + "' both map to '" +
                        mk.diffusers + "'");
        mapping.mapped.emplace(kv.first, std::move(mk));
    }
    return mapping;
}

}  // namespace

KeyMapping map_ldm_unet_keys(const ShapeMap& shapes) {
    return map_all(shapes, infer_ldm_unet_layout(shapes), ldm_unet_key_to_diffusers, "single-file UNet");
}

KeyMapping map_ldm_vae_keys(const ShapeMap& shapes) {
    return map_all(shapes, infer_ldm_vae_layout(shapes), ldm_vae_key_to_diffusers, "single-file VAE");
}

}  // namespace atelier
