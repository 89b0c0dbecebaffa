// Shared building blocks of the UNet and the VAE (PyTorch nn.Linear / Conv2d / GroupNorm / LayerNorm).
#include "models/layers.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
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

const TensorMap& WeightReader::empty_map() {
    static const TensorMap empty;
    return empty;
}

WeightReader WeightReader::synthesizing(std::string model_name, uint64_t seed) {
    WeightReader reader(empty_map(), std::move(model_name));
    reader.synthesize_ = true;
    reader.seed_ = seed;
    return reader;
}

at::Tensor WeightReader::get(const std::string& name, const std::vector<int64_t>& shape) {
    if (synthesize_) {
        auto& t = synthesized_[name];
        if (!t.defined()) {
            const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
            const bool is_norm = shape.size() == 1 && !is_bias && name.find("norm") != std::string::npos;
            if (is_bias) {
                t = at::zeros(shape);
            } else if (is_norm) {
                t = at::ones(shape);
            } else {
                // One generator per tensor: the values do not depend on the order of the calls.
                auto gen = at::make_generator<at::CPUGeneratorImpl>(seed_ + std::hash<std::string>{}(name));
                const int64_t fan_in = shape.empty() || shape[0] == 0 ? 1 : c10::multiply_integers(shape) / shape[0];
                t = at::normal(0.0, 1.0 / std::sqrt(double(std::max<int64_t>(fan_in, 1))), shape, gen);
            }
        }
        used_.insert(name);
        return t;
    }
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
    const int64_t in = weight.size(1), out = weight.size(0);
    const int64_t rows = in > 0 ? x.numel() / in : 0;
    // On CPU, oneDNN's 1x1 convolution runs these GEMMs (many rows, few hundred columns) about twice
    // as fast as BLAS: rows x in in row-major order is exactly a [1, in, rows, 1] channels-last image.
    if (x.device().is_cpu() && x.scalar_type() == at::kFloat && rows >= 256 && x.size(-1) == in) {
        const at::Tensor image = x.reshape({1, rows, 1, in}).permute({0, 3, 1, 2});
        const at::Tensor y = at::conv2d(image, weight.reshape({out, in, 1, 1}), bias);
        std::vector<int64_t> shape = x.sizes().vec();
        shape.back() = out;
        if (adapters.empty()) return y.permute({0, 2, 3, 1}).reshape(shape);
        return apply_adapters(x, y.permute({0, 2, 3, 1}).reshape(shape));
    }
    if (adapters.empty()) return at::linear(x, weight, bias);
    return apply_adapters(x, at::linear(x, weight, bias));
}

at::Tensor Linear::apply_adapters(const at::Tensor& x, at::Tensor y) const {
    for (const auto& adapter : adapters) y = adapter->apply(x, std::move(y));
    return y;
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
    // While autograd records (training), silu's backward needs its input: stay out of place there.
    if (at::GradMode::is_enabled() && x.requires_grad()) return at::silu(x);
    at::silu_(x);
    return x;
}

at::Tensor to_conv_layout(const at::Tensor& x) {
    return x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

}  // namespace atelier
