// extract_motion_lora (atelier/train_motion.h): a motion LoRA from a fine-tuned motion module by truncated
// SVD of each Linear's weight change (Eckart–Young: the best rank-r approximation in Frobenius norm).
#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "atelier/error.h"
#include "atelier/train_motion.h"
#include "models/motion_module.h"
#include "personalize/lora.h"
#include "runtime/tensors.h"

namespace atelier {

ExtractMotionLoraResult extract_motion_lora(const ExtractMotionLoraRequest& request) {
    const std::string where = "extract_motion_lora";
    if (request.rank < 1) throw Error(where + ": rank must be >= 1, found " + std::to_string(request.rank));
    if (request.out_path.empty()) throw Error(where + ": no output path");
    const TensorMap base = MotionAdapter::read_weights(request.base);
    const TensorMap tuned = MotionAdapter::read_weights(request.tuned);
    for (const auto& [name, tensor] : base) {
        const auto it = tuned.find(name);
        if (it == tuned.end())
            throw Error(where + ": " + request.tuned + " has no tensor '" + name + "' (" + request.base +
                        " has): not the same module fine-tuned");
        if (!it->second.sizes().equals(tensor.sizes()))
            throw Error(where + ": tensor '" + name + "' is " + shape_string(tensor.sizes()) + " in " + request.base +
                        " but " + shape_string(it->second.sizes()) + " in " + request.tuned);
    }
    for (const auto& [name, tensor] : tuned)
        if (!base.count(name))
            throw Error(where + ": " + request.base + " has no tensor '" + name + "' (" + request.tuned + " has)");

    // The Linears, by the module's own account (the names motion LoRAs address).
    std::set<std::string> linears;
    MotionAdapter::load(request.base)->for_each_linear([&](Linear& l) { linears.insert(l.name + ".weight"); });

    ExtractMotionLoraResult result;
    std::vector<LoraLayer> layers;
    double linear_change = 0, kept_change = 0, outside_change = 0;
    for (const auto& [name, before] : base) {
        const at::Tensor delta = tuned.at(name).to(at::kDouble) - before.to(at::kDouble);
        const double squared = delta.pow(2).sum().item<double>();
        if (!linears.count(name) || delta.dim() != 2) {
            outside_change += squared;
            continue;
        }
        if (squared == 0) continue;
        linear_change += squared;
        // delta = U diag(S) Vh; the first r singular triplets, split evenly: up = U_r sqrt(S_r), down = sqrt(S_r) Vh_r.
        const auto [u, s, vh] = at::linalg_svd(delta, /*full_matrices=*/false);
        const int64_t r = std::min<int64_t>(request.rank, s.size(0));
        const at::Tensor root = s.slice(0, 0, r).sqrt();
        LoraLayer layer;
        layer.component = "unet";
        layer.module = name.substr(0, name.size() - 7);  // without ".weight"
        layer.up = (u.slice(1, 0, r) * root.unsqueeze(0)).to(at::kFloat);
        layer.down = (root.unsqueeze(1) * vh.slice(0, 0, r)).to(at::kFloat);
        layer.alpha = float(r);  // scale 1
        kept_change += s.slice(0, 0, r).pow(2).sum().item<double>();
        result.values += layer.up.numel() + layer.down.numel();
        layers.push_back(std::move(layer));
    }
    if (layers.empty())
        throw Error(where + ": the Linears of " + request.tuned + " and " + request.base +
                    " are identical: there is no change to extract");
    result.layers = int(layers.size());
    result.kept = kept_change / linear_change;
    result.outside = outside_change / (outside_change + linear_change);
    write_lora_peft(request.out_path, layers,
                    {{"atelier.extracted_from", request.tuned}, {"atelier.applies_to", request.base},
                     {"atelier.rank", std::to_string(request.rank)}},
                    request.half ? at::kHalf : at::kFloat);
    return result;
}

}  // namespace atelier
