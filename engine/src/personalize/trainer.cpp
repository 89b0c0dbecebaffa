// AdamW with clipping, warmup + cosine, EMA and exact checkpoints (torch.optim.AdamW's update rule).
#include "personalize/trainer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "atelier/error.h"

namespace atelier {

bool default_decays(const std::string& name, const at::Tensor& tensor) {
    if (tensor.dim() < 2) return false;  // biases, norm scales
    return name.find("embedding") == std::string::npos;
}

Trainer::Trainer(const TensorMap& params, OptimizerOptions options, DecayRule decays)
    : options_(options) {
    if (params.empty()) throw Error("trainer: no parameters");
    if (options_.total_steps < 1) throw Error("trainer: total_steps must be at least 1");
    at::NoGradGuard no_grad;
    for (const auto& [name, t] : params) {
        at::Tensor p = t.to(at::kFloat).clone().contiguous();
        p.set_requires_grad(true);
        params_[name] = p;
        exp_avg_[name] = at::zeros_like(p).set_requires_grad(false);
        exp_avg_sq_[name] = at::zeros_like(p).set_requires_grad(false);
        if (ema_decay_enabled()) ema_[name] = p.detach().clone();
        decays_[name] = decays(name, p);
    }
}

double Trainer::learning_rate(int64_t step) const {
    const OptimizerOptions& o = options_;
    if (o.warmup_steps > 0 && step < o.warmup_steps) return o.lr * double(step + 1) / double(o.warmup_steps);
    const double span = double(std::max<int64_t>(o.total_steps - o.warmup_steps, 1));
    const double progress = std::min(1.0, double(step - o.warmup_steps) / span);
    const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
    return o.lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * cosine);
}

double Trainer::apply() {
    at::NoGradGuard no_grad;
    // Global gradient norm over every parameter that received a gradient: summed where the gradients live,
    // read once (one device synchronisation per step, not one per tensor).
    std::vector<at::Tensor> squares;
    for (auto& [name, p] : params_)
        if (p.grad().defined()) squares.push_back(p.grad().pow(2).sum());
    const double norm = squares.empty() ? 0.0 : std::sqrt(at::stack(squares).sum().item<double>());
    const double clip = options_.clip_grad_norm > 0 && norm > options_.clip_grad_norm
                            ? options_.clip_grad_norm / (norm + 1e-6) : 1.0;

    const double lr = learning_rate(step_);
    const int64_t t = step_ + 1;
    const double bias1 = 1.0 - std::pow(options_.beta1, double(t));
    const double bias2 = 1.0 - std::pow(options_.beta2, double(t));
    const double step_size = lr / bias1;
    const double bias2_sqrt = std::sqrt(bias2);
    for (auto& [name, p] : params_) {
        at::Tensor g = p.grad();
        if (!g.defined()) continue;
        if (clip != 1.0) g = g * clip;
        if (options_.weight_decay > 0 && decays_[name]) p.mul_(1.0 - lr * options_.weight_decay);
        at::Tensor& m = exp_avg_[name];
        at::Tensor& v = exp_avg_sq_[name];
        m.mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
        v.mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
        const at::Tensor denom = (v.sqrt() / bias2_sqrt).add_(options_.eps);
        p.addcdiv_(m, denom, -step_size);
        p.mutable_grad() = at::Tensor();
    }
    if (ema_decay_enabled()) {
        const double decay = std::min(options_.ema_decay, double(1 + step_) / double(10 + step_));
        for (auto& [name, e] : ema_) e.mul_(decay).add_(params_.at(name).detach(), 1.0 - decay);
    }
    ++step_;
    return norm;
}

void Trainer::save(const std::string& path, const TensorMap& extra,
                   const std::map<std::string, std::string>& metadata) const {
    TensorMap all;
    for (const auto& [name, p] : params_) {
        all["param/" + name] = p.detach();
        all["exp_avg/" + name] = exp_avg_.at(name);
        all["exp_avg_sq/" + name] = exp_avg_sq_.at(name);
        if (ema_decay_enabled()) all["ema/" + name] = ema_.at(name);
    }
    for (const auto& [name, t] : extra) all["extra/" + name] = t.detach();
    all["step"] = at::full({1}, step_, at::TensorOptions().dtype(at::kLong));
    auto meta = metadata;
    meta["step"] = std::to_string(step_);
    meta["format"] = "atelier-trainer-1";
    save_tensors(path, all, meta);
}

TensorMap Trainer::load(const std::string& path) {
    const TensorMap all = load_tensors(path);
    at::NoGradGuard no_grad;
    auto take = [&](const std::string& key, const at::Tensor& like) {
        const auto it = all.find(key);
        if (it == all.end()) throw Error(path + ": checkpoint has no tensor '" + key + "'");
        if (!it->second.sizes().equals(like.sizes()))
            throw Error(path + ": checkpoint tensor '" + key + "' has another shape than the model's");
        return it->second.to(at::kFloat);
    };
    for (auto& [name, p] : params_) {
        p.copy_(take("param/" + name, p));
        exp_avg_[name].copy_(take("exp_avg/" + name, p));
        exp_avg_sq_[name].copy_(take("exp_avg_sq/" + name, p));
        if (ema_decay_enabled()) ema_[name].copy_(take("ema/" + name, p));
    }
    // The step is stored as a one-element tensor too (metadata is not returned by load_tensors).
    const auto it = all.find("step");
    if (it == all.end()) throw Error(path + ": checkpoint has no 'step'");
    step_ = it->second.item<int64_t>();
    TensorMap extra;
    for (const auto& [key, t] : all)
        if (key.rfind("extra/", 0) == 0) extra[key.substr(6)] = t.clone();
    return extra;
}

at::Tensor randn_on(at::IntArrayRef sizes, at::Generator& gen, at::Device device) {
    return at::randn(sizes, gen).to(device);
}

TensorMap on_device(const TensorMap& m, at::Device device) {
    TensorMap out;
    for (const auto& [k, v] : m) out[k] = v.to(device);
    return out;
}

std::string format_duration(double seconds) {
    char buffer[32];
    const long s = long(std::lround(std::max(0.0, seconds)));
    if (s >= 3600) std::snprintf(buffer, sizeof buffer, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else if (s >= 60) std::snprintf(buffer, sizeof buffer, "%ldm%02lds", s / 60, s % 60);
    else std::snprintf(buffer, sizeof buffer, "%lds", s);
    return buffer;
}

bool run_training(Trainer& trainer, const TrainLoopOptions& loop, const std::function<double(int64_t)>& step_fn) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const int64_t first = trainer.step();
    double loss_ema = 0;  // the average is loss_ema / (1 - 0.98^n): no pull toward the first step's loss
    int64_t seen = 0;
    auto checkpoint = [&] {
        if (loop.checkpoint_path.empty()) return;
        TensorMap extra = loop.checkpoint_extra ? loop.checkpoint_extra() : TensorMap{};
        trainer.save(loop.checkpoint_path, extra);
    };
    while (trainer.step() < loop.total_steps) {
        if (loop.cancel && loop.cancel->cancelled()) {
            checkpoint();
            return false;
        }
        const int64_t step = trainer.step();
        const double lr = trainer.learning_rate(step);
        const double loss = step_fn(step);
        if (!std::isfinite(loss)) throw Error("training diverged: loss " + std::to_string(loss) + " at step " +
                                              std::to_string(step));
        trainer.apply();
        loss_ema = 0.98 * loss_ema + 0.02 * loss;
        const double loss_avg = loss_ema / (1 - std::pow(0.98, double(++seen)));
        const bool last = trainer.step() >= loop.total_steps;
        if (loop.checkpoint_every > 0 && trainer.step() % loop.checkpoint_every == 0 && !last) checkpoint();
        if (loop.on_progress) {
            TrainProgress p;
            p.step = trainer.step();
            p.total = loop.total_steps;
            p.loss = loss;
            p.loss_avg = loss_avg;
            p.lr = lr;
            p.step_seconds = std::chrono::duration<double>(clock::now() - start).count() / double(p.step - first);
            p.eta_seconds = p.step_seconds * double(p.total - p.step);
            loop.on_progress(p);
        }
    }
    checkpoint();
    return true;
}

}  // namespace atelier
