// DDIM (Song et al. 2020, "Denoising Diffusion Implicit Models", arXiv:2010.02502), eta = 0, following
// diffusers v0.25.1 schedulers/scheduling_ddim.py (DDIMScheduler.set_timesteps / step).
#include <ATen/ATen.h>

#include <cmath>

#include "atelier/error.h"
#include "sampling/scheduler.h"

namespace atelier {
namespace {

class DdimScheduler final : public Scheduler {
public:
    explicit DdimScheduler(SchedulerConfig config) : Scheduler(std::move(config)) {
        // final_alpha_cumprod = 1.0 if set_alpha_to_one else alphas_cumprod[0] (class default: True).
        final_alpha_cumprod_ = config_.set_alpha_to_one.value_or(true) ? 1.0f : alphas_cumprod_values_[0];
    }

    std::string name() const override { return "ddim"; }
    std::string timestep_spacing() const override { return spacing_or("leading"); }

    void set_timesteps(int steps, double strength) override {
        const int n_train = config_.num_train_timesteps;
        if (steps < 1 || steps > n_train) {
            throw Error("ddim: steps must be in 1.." + std::to_string(n_train) + ", got " + std::to_string(steps));
        }
        num_inference_steps_ = steps;
        timesteps_.clear();
        const std::string spacing = spacing_or("leading");
        if (spacing == "linspace") {
            // np.linspace(0, N - 1, n).round()[::-1]
            for (double t : schedule::np_linspace(0, n_train - 1, steps)) timesteps_.push_back(schedule::np_round(t));
            std::reverse(timesteps_.begin(), timesteps_.end());
        } else if (spacing == "leading") {
            // step_ratio = N // n; (np.arange(0, n) * step_ratio).round()[::-1] + steps_offset
            const int ratio = n_train / steps;
            for (int i = steps - 1; i >= 0; --i) timesteps_.push_back(double(i * ratio + config_.steps_offset));
        } else {
            // step_ratio = N / n; np.round(np.arange(N, 0, -step_ratio)) - 1
            const double ratio = double(n_train) / steps;
            for (double t : schedule::np_arange(n_train, 0, -ratio)) timesteps_.push_back(schedule::np_round(t) - 1);
        }
        apply_strength(steps, strength);
    }

    StepOutput step(const at::Tensor& model_output, int step_index, const at::Tensor& sample,
                    NoiseSource* /*noise: eta = 0*/) override {
        check_step_index(step_index);
        const auto t = static_cast<int64_t>(timesteps_[step_index]);
        // prev_timestep = timestep - N // num_inference_steps (also for trailing/linspace spacing, as diffusers).
        const int64_t prev_t = t - config_.num_train_timesteps / num_inference_steps_;
        const float alpha_t = alphas_cumprod_at(t);
        const float alpha_prev = prev_t >= 0 ? alphas_cumprod_at(prev_t) : final_alpha_cumprod_;
        const float beta_t = 1.0f - alpha_t;
        const float sqrt_alpha_t = std::sqrt(alpha_t), sqrt_beta_t = std::sqrt(beta_t);

        at::Tensor x0, eps;
        const std::string& prediction = config_.prediction_type;
        if (prediction == "epsilon") {
            x0 = (sample - model_output * sqrt_beta_t) / sqrt_alpha_t;
            eps = model_output;
        } else if (prediction == "v_prediction") {
            x0 = sample * sqrt_alpha_t - model_output * sqrt_beta_t;
            eps = model_output * sqrt_alpha_t + sample * sqrt_beta_t;
        } else {
            x0 = model_output;
            eps = (sample - x0 * sqrt_alpha_t) / sqrt_beta_t;
        }
        if (config_.clip_sample) {
            const double r = config_.clip_sample_range;
            x0 = x0.clamp(-r, r);
        }
        // eta = 0: std_dev_t = 0, direction = sqrt(1 - a_prev) * eps, x_prev = sqrt(a_prev) * x0 + direction.
        at::Tensor prev = x0 * std::sqrt(alpha_prev) + eps * std::sqrt(1.0f - alpha_prev);
        return {prev, x0};
    }

private:
    float final_alpha_cumprod_ = 1.0f;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim_scheduler(const SchedulerConfig& config) {
    return std::make_unique<DdimScheduler>(config);
}

}  // namespace atelier
