// Single-file (CompVis/A1111 layout) checkpoints -> diffusers-named component weights.
#include "models/checkpoint.h"

#include <ATen/ATen.h>

#include "atelier/error.h"
#include "models/layers.h"

namespace atelier {

ShapeMap shapes_of(const TensorMap& tensors) {
    ShapeMap shapes;
    for (const auto& kv : tensors) shapes.emplace(kv.first, kv.second.sizes().vec());
    return shapes;
}

namespace {

bool starts_with(const std::string& s, const char* prefix) {
    return s.compare(0, std::char_traits<char>::length(prefix), prefix) == 0;
}

TensorMap convert_part(const TensorMap& checkpoint, const char* prefix, const KeyMapping& mapping,
                       const char* what) {
    if (!mapping.unmapped.empty()) {
        std::string list;
        for (size_t i = 0; i < mapping.unmapped.size() && i < 5; ++i)
            list += (i ? ", '" : "'") + std::string(prefix) + mapping.unmapped[i] + "'";
        if (mapping.unmapped.size() > 5) list += ", ...";
        throw Error(std::string(what) + ": " + std::to_string(mapping.unmapped.size()) +
                    " tensor(s) have no place in the inferred layout: " + list);
    }
    TensorMap out;
    for (const auto& [original, target] : mapping.mapped) {
        const std::string full = prefix + original;
        at::Tensor t = checkpoint.at(full);
        if (target.squeeze_1x1_conv) {
            const bool conv = t.dim() == 4 && t.size(2) == 1 && t.size(3) == 1 && t.size(0) == t.size(1);
            const bool linear = t.dim() == 2 && t.size(0) == t.size(1);
            if (!conv && !linear)
                throw Error(std::string(what) + ": tensor '" + full + "' has shape " + shape_string(t.sizes()) +
                            ", expected [C, C, 1, 1] (or [C, C])");
            if (conv) t = t.view({t.size(0), t.size(1)});
        }
        out.emplace(target.diffusers, t);
    }
    return out;
}

}  // namespace

SingleFileComponents split_single_file(const TensorMap& checkpoint) {
    ShapeMap unet_shapes, vae_shapes;
    SingleFileComponents parts;
    for (const auto& [name, tensor] : checkpoint) {
        if (starts_with(name, kLdmUNetPrefix))
            unet_shapes.emplace(name.substr(std::char_traits<char>::length(kLdmUNetPrefix)), tensor.sizes().vec());
        else if (starts_with(name, "first_stage_model.loss."))  // training-only (LPIPS, discriminator)
            parts.unused.push_back(name);
        else if (starts_with(name, kLdmVaePrefix))
            vae_shapes.emplace(name.substr(std::char_traits<char>::length(kLdmVaePrefix)), tensor.sizes().vec());
        else if (starts_with(name, kLdmTextPrefix))
            parts.text_encoder.emplace(name, tensor);
        else
            parts.unused.push_back(name);
    }
    if (unet_shapes.empty())
        throw Error("single-file checkpoint: no UNet tensors (expected keys starting with '" +
                    std::string(kLdmUNetPrefix) + "')");
    if (vae_shapes.empty())
        throw Error("single-file checkpoint: no VAE tensors (expected keys starting with '" +
                    std::string(kLdmVaePrefix) + "')");
    parts.unet = convert_part(checkpoint, kLdmUNetPrefix, map_ldm_unet_keys(unet_shapes), "single-file UNet");
    parts.vae = convert_part(checkpoint, kLdmVaePrefix, map_ldm_vae_keys(vae_shapes), "single-file VAE");
    return parts;
}

}  // namespace atelier
