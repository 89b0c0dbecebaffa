// Euler ancestral sampler (k-diffusion `sample_euler_ancestral`, Crowson; eta = 1), following diffusers
// v0.25.1 schedulers/scheduling_euler_ancestral_discrete.py. Same schedule as Euler (euler.cpp).
#include <ATen/ATen.h>

#include <cmath>

#include "atelier/error.h"
#include "sampling/scheduler.h"

namespace atelier {

void euler_family_set_timesteps(const SchedulerConfig& config, const std::vector<float>& alphas_cumprod, int steps,
                                const std::string& spacing, std::vector<double>& timesteps, std::vector<float>& sigmas);
float euler_family_init_noise_sigma(const std::vector<float>& sigmas, const std::string& spacing);
at::Tensor euler_family_x0(const std::string& prediction, const at::Tensor& model_output, const at::Tensor& sample,
                           float sigma, const std::string& who);

namespace {

class EulerAncestralScheduler final : public Scheduler {
public:
    explicit EulerAncestralScheduler(SchedulerConfig config) : Scheduler(std::move(config)) {}

    std::string name() const override { return "euler_a"; }

    void set_timesteps(int steps, double strength) override {
        if (steps < 1 || steps > config_.num_train_timesteps) {
            throw Error("euler_a: steps must be in 1.." + std::to_string(config_.num_train_timesteps) + ", got " +
                        std::to_string(steps));
        }
        num_inference_steps_ = steps;
        euler_family_set_timesteps(config_, alphas_cumprod_values_, steps, spacing_or("linspace"), timesteps_, sigmas_);
        apply_strength(steps, strength);
    }

    float init_noise_sigma() const override {
        return euler_family_init_noise_sigma(sigmas_, spacing_or("linspace"));
    }

    at::Tensor scale_model_input(const at::Tensor& sample, int step_index) const override {
        check_step_index(step_index);
        const float sigma = sigmas_[step_index];
        return sample / std::sqrt(sigma * sigma + 1.0f);
    }

    StepOutput step(const at::Tensor& model_output, int step_index, const at::Tensor& sample,
                    NoiseSource* noise) override {
        check_step_index(step_index);
        if (!noise) throw Error("euler_a: the ancestral step needs a noise source");
        const float sigma_from = sigmas_[step_index];
        const float sigma_to = sigmas_[step_index + 1];
        const at::Tensor x = sample.to(at::kFloat);
        const at::Tensor out = model_output.to(at::kFloat);
        at::Tensor x0 = euler_family_x0(config_.prediction_type, out, x, sigma_from, "euler_a");
        // sigma_up = sqrt(to^2 (from^2 - to^2) / from^2), sigma_down = sqrt(to^2 - up^2) (float32 as torch).
        const float sigma_up =
            std::sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) / (sigma_from * sigma_from));
        const float sigma_down = std::sqrt(sigma_to * sigma_to - sigma_up * sigma_up);
        const at::Tensor derivative = (x - x0) / sigma_from;
        const float dt = sigma_down - sigma_from;
        at::Tensor prev = x + derivative * dt;
        // The noise is drawn at every step, also the last (sigma_up = 0 there), as diffusers does.
        prev = prev + noise->randn_like(x) * sigma_up;
        return {prev.to(model_output.scalar_type()), x0};
    }

    at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, int step_index) const override {
        check_step_index(step_index);
        return original + noise * sigmas_[step_index];
    }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral_scheduler(const SchedulerConfig& config) {
    return std::make_unique<EulerAncestralScheduler>(config);
}

}  // namespace atelier
