#include "personalize/small_cnn.h"

#include <ATen/ATen.h>

#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "atelier/error.h"
#include "models/layers.h"

namespace atelier {

TensorMap small_cnn_init(const SmallCnnShape& s, uint64_t seed) {
    TensorMap w;
    auto uniform = [&](const std::string& name, std::vector<int64_t> shape, int64_t fan_in) {
        uint64_t h = seed * 1000003ull;
        for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
        auto gen = at::make_generator<at::CPUGeneratorImpl>(h);
        const double bound = 1.0 / std::sqrt(double(fan_in));
        w[name] = at::empty(shape).uniform_(-bound, bound, gen);
    };
    for (int i = 0; i < 4; ++i) {
        const std::string p = "conv" + std::to_string(i);
        const int64_t in = s.channels[size_t(i)], out = s.channels[size_t(i) + 1];
        uniform(p + ".weight", {out, in, 3, 3}, in * 9);
        uniform(p + ".bias", {out}, in * 9);
    }
    const int64_t flat = s.channels[4] * 16;
    uniform("fc1.weight", {s.hidden, flat}, flat);
    uniform("fc1.bias", {s.hidden}, flat);
    uniform("fc2.weight", {s.logits, s.hidden}, s.hidden);
    uniform("fc2.bias", {s.logits}, s.hidden);
    return w;
}

TensorMap small_cnn_checked(TensorMap weights, const SmallCnnShape& s, const std::string& what) {
    for (const auto& [name, t] : small_cnn_init(s, 0)) {
        const auto it = weights.find(name);
        if (it == weights.end()) throw Error(what + ": missing tensor '" + name + "'");
        if (!it->second.sizes().equals(t.sizes()))
            throw Error(what + ": tensor '" + name + "' has shape " + shape_string(it->second.sizes()) + ", expected " +
                        shape_string(t.sizes()));
        if (it->second.scalar_type() != at::kFloat) it->second = it->second.to(at::kFloat);
    }
    return weights;
}

void small_cnn_save(const TensorMap& weights, const std::string& path) {
    TensorMap out;
    for (const auto& [k, v] : weights) out[k] = v.detach();
    save_tensors(path, out);
}

at::Tensor small_cnn_forward(const TensorMap& w, const at::Tensor& x) {
    at::Tensor h = x;
    for (int i = 0; i < 4; ++i) {
        const std::string p = "conv" + std::to_string(i);
        h = at::max_pool2d(at::relu(at::conv2d(h, w.at(p + ".weight"), w.at(p + ".bias"), 1, 1)), 2);
    }
    h = at::relu(at::linear(h.flatten(1), w.at("fc1.weight"), w.at("fc1.bias")));
    return at::linear(h, w.at("fc2.weight"), w.at("fc2.bias"));
}

OptimizerOptions small_cnn_optimizer(double lr, int64_t steps) {
    OptimizerOptions opt;
    opt.lr = lr;
    opt.weight_decay = 1e-4;
    opt.warmup_steps = std::min<int64_t>(50, steps / 10 + 1);
    opt.total_steps = steps;
    opt.min_lr_ratio = 0.02;
    opt.clip_grad_norm = 2.0;
    return opt;
}

}  // namespace atelier
