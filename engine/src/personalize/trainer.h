// The shared trainer (internal): AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization",
// as torch.optim.AdamW computes it), global-norm gradient clipping, linear warmup + cosine decay, an EMA
// of the weights, checkpoints that resume exactly, progress and cancel. Parameters are named leaf tensors
// (a TensorMap with requires_grad) that models read through their usual constructors.
//
//     Trainer trainer(init_weights(...), options);        // takes the leaves, enables their gradients
//     run_training(trainer, loop, [&](int64_t step) {      // step_fn: forward + backward, returns the loss
//         at::Tensor loss = ...;  loss.backward();  return loss.item<double>();
//     });                                                 // run_training calls trainer.apply() after each
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "atelier/engine.h"
#include "runtime/tensors.h"

namespace atelier {

struct OptimizerOptions {
    double lr = 1e-4;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double weight_decay = 0.01;  // decoupled; only tensors that decays(name, tensor) selects
    int64_t warmup_steps = 0;    // linear from lr/warmup to lr
    int64_t total_steps = 1;     // cosine from lr down to lr * min_lr_ratio at total_steps
    double min_lr_ratio = 0.1;
    double clip_grad_norm = 1.0;  // global L2 norm; <= 0: no clipping
    double ema_decay = 0.0;       // 0: no EMA; else min(ema_decay, (1 + step) / (10 + step)) per step
};

// Default weight-decay rule: matrices and conv kernels, but not embeddings, norms or biases.
bool default_decays(const std::string& name, const at::Tensor& tensor);

class Trainer {
public:
    using DecayRule = std::function<bool(const std::string&, const at::Tensor&)>;
    // `params` become float32 leaves with requires_grad on the device they are on (copies: the caller's
    // tensors are not touched); the moments and the EMA live beside them.
    Trainer(const TensorMap& params, OptimizerOptions options, DecayRule decays = default_decays);

    TensorMap& params() { return params_; }
    const TensorMap& params() const { return params_; }
    // The EMA weights (the params themselves when ema_decay is 0). Detached, float32.
    const TensorMap& ema() const { return ema_decay_enabled() ? ema_ : params_; }
    int64_t step() const { return step_; }
    const OptimizerOptions& options() const { return options_; }
    double learning_rate(int64_t step) const;

    // After loss.backward(): clips the gradients, takes one AdamW step, zeroes the gradients, updates the
    // EMA and advances step(). Returns the global gradient norm before clipping. Missing gradients
    // (parameters the loss did not reach) are skipped, as torch.optim does.
    double apply();

    // Weights, EMA, both moments and the step, plus the caller's extra tensors and metadata, written
    // atomically. load() restores all of it and returns the extras; throws atelier::Error naming the file
    // and tensor when the checkpoint does not match these parameters.
    void save(const std::string& path, const TensorMap& extra = {},
              const std::map<std::string, std::string>& metadata = {}) const;
    TensorMap load(const std::string& path);

private:
    bool ema_decay_enabled() const { return options_.ema_decay > 0; }

    OptimizerOptions options_;
    TensorMap params_, exp_avg_, exp_avg_sq_, ema_;
    std::map<std::string, bool> decays_;
    int64_t step_ = 0;
};

// What a training loop reports after each step.
struct TrainProgress {
    int64_t step = 0, total = 0;  // steps done, steps in all
    double loss = 0;              // this step's loss
    double loss_avg = 0;          // exponential average (0.98) of the loss, bias-corrected as Adam's moments:
                                  // the weighted mean of the losses seen, however few
    double lr = 0;
    double step_seconds = 0;      // average over this run's steps
    double eta_seconds = 0;
};

struct TrainLoopOptions {
    int64_t total_steps = 0;
    int64_t checkpoint_every = 200;  // steps; 0: only at the end / on cancel
    std::string checkpoint_path;     // empty: no checkpoints
    std::function<TensorMap()> checkpoint_extra;  // extra tensors saved with each checkpoint
    std::function<void(const TrainProgress&)> on_progress;
    const CancelToken* cancel = nullptr;
};

// Calls step_fn(step) (forward + backward, returns the loss) then trainer.apply() for steps
// trainer.step() .. total_steps-1. Checkpoints every checkpoint_every steps, at the end, and when
// cancelled (checked between steps). Returns false when cancelled.
bool run_training(Trainer& trainer, const TrainLoopOptions& loop, const std::function<double(int64_t)>& step_fn);

// Random numbers for training come from a CPU generator on every device, so a seed draws the same noise on
// a GPU as on the CPU: randn_on draws there and moves the result.
at::Tensor randn_on(at::IntArrayRef sizes, at::Generator& gen, at::Device device);
TensorMap on_device(const TensorMap& m, at::Device device);

// Formats seconds as "1h02m", "3m05s" or "12s".
std::string format_duration(double seconds);

}  // namespace atelier
