// Latent Consistency Model multistep sampling (Luo et al. 2023, arXiv:2310.04378, Algorithm 3), following
// diffusers v0.25.1 schedulers/scheduling_lcm.py (LCMScheduler.set_timesteps with strength, step).
#include <ATen/ATen.h>

#include <cmath>

#include "atelier/error.h"
#include "sampling/scheduler.h"

namespace atelier {
namespace {

class LcmScheduler final : public Scheduler {
public:
    explicit LcmScheduler(SchedulerConfig config) : Scheduler(std::move(config)) {
        final_alpha_cumprod_ = config_.set_alpha_to_one.value_or(true) ? 1.0f : alphas_cumprod_values_[0];
    }

    std::string name() const override { return "lcm"; }
    std::string timestep_spacing() const override { return ""; }  // LCM has its own skipping schedule

    // LCM applies img2img strength itself (LatentConsistencyModelImg2ImgPipeline passes it to set_timesteps):
    // the skipping schedule is taken from the first int(original_steps * strength) distillation timesteps.
    void set_timesteps(int steps, double strength) override {
        const int n_train = config_.num_train_timesteps;
        const int original_steps = config_.original_inference_steps;
        if (original_steps < 1 || original_steps > n_train) {
            throw Error("lcm: original_inference_steps " + std::to_string(original_steps) + " must be in 1.." +
                        std::to_string(n_train));
        }
        if (steps < 1 || steps > original_steps) {
            throw Error("lcm: steps must be in 1.." + std::to_string(original_steps) +
                        " (original_inference_steps), got " + std::to_string(steps));
        }
        // k = N // original_steps; lcm_origin_timesteps = np.arange(1, int(original_steps * strength) + 1) * k - 1
        const int k = n_train / original_steps;
        const int count = static_cast<int>(original_steps * strength);
        if (count / steps < 1) {
            throw Error("lcm: original_inference_steps x strength = " + std::to_string(count) +
                        " is smaller than the " + std::to_string(steps) + " steps asked for");
        }
        std::vector<int64_t> origin;
        for (int i = count; i >= 1; --i) origin.push_back(int64_t(i) * k - 1);  // already reversed
        // inference_indices = floor(np.linspace(0, len, num=steps, endpoint=False))
        timesteps_.clear();
        for (double index : schedule::np_linspace(0, double(origin.size()), steps, /*endpoint=*/false)) {
            timesteps_.push_back(double(origin[static_cast<size_t>(std::floor(index))]));
        }
        num_inference_steps_ = steps;
        sigmas_.clear();
        begin_index_ = 0;
    }

    StepOutput step(const at::Tensor& model_output, int step_index, const at::Tensor& sample,
                    NoiseSource* noise) override {
        check_step_index(step_index);
        const auto t = static_cast<int64_t>(timesteps_[step_index]);
        const int64_t prev_t = step_index + 1 < static_cast<int>(timesteps_.size())
                                   ? static_cast<int64_t>(timesteps_[step_index + 1])
                                   : t;
        const float alpha_t = alphas_cumprod_at(t);
        const float alpha_prev = prev_t >= 0 ? alphas_cumprod_at(prev_t) : final_alpha_cumprod_;
        const float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;

        // get_scalings_for_boundary_condition_discrete: sigma_data = 0.5, scaled = t * timestep_scaling,
        // c_skip = sigma_data^2 / (scaled^2 + sigma_data^2), c_out = scaled / sqrt(scaled^2 + sigma_data^2).
        const float scaled = static_cast<float>(t) * static_cast<float>(config_.timestep_scaling);
        const float c_skip = 0.25f / (scaled * scaled + 0.25f);
        const float c_out = scaled / std::sqrt(scaled * scaled + 0.25f);

        at::Tensor x0;
        const std::string& prediction = config_.prediction_type;
        if (prediction == "epsilon") {
            x0 = (sample - model_output * std::sqrt(beta_t)) / std::sqrt(alpha_t);
        } else if (prediction == "v_prediction") {
            x0 = sample * std::sqrt(alpha_t) - model_output * std::sqrt(beta_t);
        } else {
            x0 = model_output;
        }
        if (config_.clip_sample) x0 = x0.clamp(-config_.clip_sample_range, config_.clip_sample_range);
        at::Tensor denoised = x0 * c_out + sample * c_skip;

        at::Tensor prev;
        if (step_index != num_inference_steps_ - 1) {
            if (!noise) throw Error("lcm: the multistep update needs a noise source");
            prev = denoised * std::sqrt(alpha_prev) + noise->randn_like(model_output) * std::sqrt(beta_prev);
        } else {
            prev = denoised;
        }
        return {prev, denoised};
    }

private:
    float final_alpha_cumprod_ = 1.0f;
};

}  // namespace

std::unique_ptr<Scheduler> make_lcm_scheduler(const SchedulerConfig& config) {
    return std::make_unique<LcmScheduler>(config);
}

}  // namespace atelier
