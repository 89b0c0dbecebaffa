// Shared building blocks of the UNet and the VAE (PyTorch nn.Linear / Conv2d / GroupNorm / LayerNorm).
#include "models/layers.h"

#include <ATen/ATen.h>

#include <sstream>

#include "atelier/error.h"

namespace atelier {

std::string shape_string(at::IntArrayRef shape) {
    std::ostringstream out;
    out << "[";
    for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
    out << "]";
    return out.str();
}

at::Tensor WeightReader::get(const std::string& name, const std::vector<int64_t>& shape) {
    const auto it = weights_.find(name);
    if (it == weights_.end())
        throw Error(model_name_ + ": missing tensor '" + name + "' (expected shape " + shape_string(shape) + ")");
    const at::Tensor& t = it->second;
    if (t.sizes() != at::IntArrayRef(shape))
        throw Error(model_name_ + ": tensor '" + name + "' has shape " + shape_string(t.sizes()) + ", expected " +
                    shape_string(shape));
    if (!at::isFloatingType(t.scalar_type()))
        throw Error(model_name_ + ": tensor '" + name + "' has non-floating dtype " +
                    std::string(c10::toString(t.scalar_type())));
    used_.insert(name);
    // Stored tensors may view a read-only file mapping: out-of-place conversion only.
    return t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
}

std::vector<std::string> WeightReader::unused() const {
    std::vector<std::string> names;
    for (const auto& kv : weights_)
        if (!used_.count(kv.first)) names.push_back(kv.first);
    return names;
}

Linear Linear::load(WeightReader& reader, const std::string& name, int64_t in, int64_t out, bool bias) {
    Linear l;
    l.name = name;
    l.weight = reader.get(name + ".weight", {out, in});
    if (bias) l.bias = reader.get(name + ".bias", {out});
    return l;
}

at::Tensor Linear::forward(const at::Tensor& x) const {
    return at::linear(x, weight, bias);
}

Conv2d Conv2d::load(WeightReader& reader, const std::string& name, int64_t in, int64_t out, int64_t kernel,
                    int64_t stride, int64_t padding) {
    Conv2d c;
    c.name = name;
    c.weight = to_conv_layout(reader.get(name + ".weight", {out, in, kernel, kernel}));
    c.bias = reader.get(name + ".bias", {out});
    c.stride = stride;
    c.padding = padding < 0 ? kernel / 2 : padding;
    return c;
}

at::Tensor Conv2d::forward(const at::Tensor& x) const {
    return at::conv2d(x, weight, bias, stride, padding);
}

GroupNorm GroupNorm::load(WeightReader& reader, const std::string& name, int64_t channels, int64_t groups,
                          double eps) {
    if (groups <= 0 || channels % groups != 0)
        throw Error(reader.model_name() + ": '" + name + "': " + std::to_string(channels) +
                    " channels are not divisible into " + std::to_string(groups) + " groups");
    GroupNorm n;
    n.weight = reader.get(name + ".weight", {channels});
    n.bias = reader.get(name + ".bias", {channels});
    n.groups = groups;
    n.eps = eps;
    return n;
}

at::Tensor GroupNorm::forward(const at::Tensor& x) const {
    return at::group_norm(x, groups, weight, bias, eps);
}

LayerNorm LayerNorm::load(WeightReader& reader, const std::string& name, int64_t channels, double eps) {
    LayerNorm n;
    n.weight = reader.get(name + ".weight", {channels});
    n.bias = reader.get(name + ".bias", {channels});
    n.eps = eps;
    return n;
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
    return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

at::Tensor silu_inplace(at::Tensor x) {
    at::silu_(x);
    return x;
}

at::Tensor to_conv_layout(const at::Tensor& x) {
    return x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

}  // namespace atelier
