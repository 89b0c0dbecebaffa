// Small building blocks shared by the UNet and the VAE: weights read by name with shape checks,
// and plain Linear / Conv2d / norm structs (internal). Layouts follow PyTorch's nn modules.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/tensors.h"

namespace atelier {

// Reads tensors of one model from a name -> tensor map, checking shapes, and remembers what was used.
// Errors name the model, the tensor, and the expected versus found shape.
class WeightReader {
public:
    WeightReader(const TensorMap& weights, std::string model_name)
        : weights_(weights), model_name_(std::move(model_name)) {}
    // Synthesizing reader (benchmarks, tests): every tensor asked for is made up and recorded in
    // synthesized(): norm weights 1, biases 0, other weights N(0, 1/fan_in), from `seed`.
    static WeightReader synthesizing(std::string model_name, uint64_t seed);
    const TensorMap& synthesized() const { return synthesized_; }

    // The tensor `name` with exactly `shape`, as float32 (other floating dtypes are converted).
    at::Tensor get(const std::string& name, const std::vector<int64_t>& shape);
    bool has(const std::string& name) const { return weights_.count(name) != 0; }
    // Names in the map that get() never asked for (sorted).
    std::vector<std::string> unused() const;
    const std::string& model_name() const { return model_name_; }

private:
    static const TensorMap& empty_map();

    const TensorMap& weights_;
    std::string model_name_;
    std::set<std::string> used_;
    bool synthesize_ = false;
    uint64_t seed_ = 0;
    TensorMap synthesized_;
};

std::string shape_string(at::IntArrayRef shape);

// A change of one Linear's output for the request being run (a LoRA delta, a rank-1 edit), set by
// personalize/. apply() gets the Linear's input x and its output y so far and returns the new output.
struct LinearAdapter {
    virtual ~LinearAdapter() = default;
    virtual at::Tensor apply(const at::Tensor& x, at::Tensor y) const = 0;
};

// y = x W^T + b. `name` is the diffusers name without ".weight" (e.g.
// "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"), the key LoRA files address.
// `adapters` run in order after the product; none set costs nothing.
struct Linear {
    std::string name;
    at::Tensor weight;  // [out, in]
    at::Tensor bias;    // [out] or undefined
    std::vector<std::shared_ptr<const LinearAdapter>> adapters;

    static Linear load(WeightReader& reader, const std::string& name, int64_t in, int64_t out, bool bias = true);
    at::Tensor forward(const at::Tensor& x) const;
    at::Tensor apply_adapters(const at::Tensor& x, at::Tensor y) const;
};

struct Conv2d {
    std::string name;
    at::Tensor weight;  // [out, in, k, k]
    at::Tensor bias;    // [out]
    int64_t stride = 1, padding = 0;

    static Conv2d load(WeightReader& reader, const std::string& name, int64_t in, int64_t out, int64_t kernel,
                       int64_t stride = 1, int64_t padding = -1 /* -1: kernel / 2 */);
    at::Tensor forward(const at::Tensor& x) const;
};

struct GroupNorm {
    at::Tensor weight, bias;
    int64_t groups = 32;
    double eps = 1e-5;

    static GroupNorm load(WeightReader& reader, const std::string& name, int64_t channels, int64_t groups, double eps);
    at::Tensor forward(const at::Tensor& x) const;
};

struct LayerNorm {
    at::Tensor weight, bias;
    double eps = 1e-5;

    static LayerNorm load(WeightReader& reader, const std::string& name, int64_t channels, double eps);
    at::Tensor forward(const at::Tensor& x) const;
};

// Visits every parameter tensor (for to(), parameter counts).
using TensorVisitor = std::function<void(at::Tensor&)>;
inline void visit(Linear& l, const TensorVisitor& f) {
    if (l.weight.defined()) f(l.weight);
    if (l.bias.defined()) f(l.bias);
}
inline void visit(Conv2d& c, const TensorVisitor& f) {
    if (c.weight.defined()) f(c.weight);
    if (c.bias.defined()) f(c.bias);
}
inline void visit(GroupNorm& n, const TensorVisitor& f) { f(n.weight); f(n.bias); }
inline void visit(LayerNorm& n, const TensorVisitor& f) { f(n.weight); f(n.bias); }

// SiLU applied in place on a temporary (saves one allocation per call).
at::Tensor silu_inplace(at::Tensor x);

// Memory format for 4-D activations and conv weights: channels-last makes oneDNN convolutions about
// twice as fast on CPU and turns the [B,C,H,W] <-> [B,HW,C] reshapes around attention into views.
at::Tensor to_conv_layout(const at::Tensor& x);

}  // namespace atelier
