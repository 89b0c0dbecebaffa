// Euler sampler on the k-diffusion sigma schedule (Karras et al. 2022, arXiv:2206.00364, Algorithm 2 with
// churn 0), following diffusers v0.25.1 schedulers/scheduling_euler_discrete.py (interpolation_type linear).
#include <ATen/ATen.h>

#include <cmath>

#include "atelier/error.h"
#include "sampling/euler_family.h"

namespace atelier {

void euler_family_set_timesteps(const SchedulerConfig& config, const std::vector<float>& alphas_cumprod, int steps,
                                const std::string& spacing, std::vector<double>& timesteps, std::vector<float>& sigmas) {
    const int n_train = config.num_train_timesteps;
    std::vector<double> ts;
    if (spacing == "linspace") {
        // np.linspace(0, N - 1, n, dtype=float)[::-1]: fractional timesteps, interpolated in float64.
        ts = schedule::np_linspace(0, n_train - 1, steps);
        std::reverse(ts.begin(), ts.end());
    } else if (spacing == "leading") {
        // step_ratio = N // n; (np.arange(0, n) * step_ratio).round()[::-1].astype(np.float32) + steps_offset
        const int ratio = n_train / steps;
        for (int i = steps - 1; i >= 0; --i) ts.push_back(double(i * ratio + config.steps_offset));
    } else {
        // step_ratio = N / n; np.arange(N, 0, -step_ratio).round().astype(np.float32) - 1
        const double ratio = double(n_train) / steps;
        for (double t : schedule::np_arange(n_train, 0, -ratio)) ts.push_back(schedule::np_round(t) - 1);
    }
    // sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), ((1 - ac) / ac) ** 0.5); append 0; float32.
    const std::vector<float> train = schedule::train_sigmas(alphas_cumprod);
    sigmas.clear();
    timesteps.clear();
    for (double t : ts) {
        sigmas.push_back(static_cast<float>(schedule::np_interp_index(t, train)));
        timesteps.push_back(static_cast<double>(static_cast<float>(t)));  // self.timesteps is float32
    }
    sigmas.push_back(0.0f);
}

// init_noise_sigma of the Euler family: max(sigmas) for linspace/trailing spacing, else sqrt(max^2 + 1).
float euler_family_init_noise_sigma(const std::vector<float>& sigmas, const std::string& spacing) {
    float max_sigma = 0;
    for (float s : sigmas) max_sigma = std::max(max_sigma, s);
    if (spacing == "linspace" || spacing == "trailing") return max_sigma;
    return std::sqrt(max_sigma * max_sigma + 1.0f);
}

// x0 from the model output at noise level sigma (epsilon: x - sigma * eps; v: -sigma/sqrt(s^2+1) * v + x/(s^2+1)).
at::Tensor euler_family_x0(const std::string& prediction, const at::Tensor& model_output, const at::Tensor& sample,
                           float sigma, const std::string& who) {
    if (prediction == "epsilon") return sample - model_output * sigma;
    if (prediction == "v_prediction") {
        const float s2p1 = sigma * sigma + 1.0f;
        return model_output * (-sigma / std::sqrt(s2p1)) + sample / s2p1;
    }
    throw Error(who + ": prediction_type \"" + prediction + "\" is not supported (diffusers v0.25.1 neither)");
}

void EulerFamilyScheduler::set_timesteps(int steps, double strength) {
    if (steps < 1 || steps > config_.num_train_timesteps) {
        throw Error(name() + ": steps must be in 1.." + std::to_string(config_.num_train_timesteps) + ", got " +
                    std::to_string(steps));
    }
    num_inference_steps_ = steps;
    euler_family_set_timesteps(config_, alphas_cumprod_values_, steps, spacing_or("linspace"), timesteps_, sigmas_);
    apply_strength(steps, strength);
}

float EulerFamilyScheduler::init_noise_sigma() const {
    return euler_family_init_noise_sigma(sigmas_, spacing_or("linspace"));
}

at::Tensor EulerFamilyScheduler::scale_model_input(const at::Tensor& sample, int step_index) const {
    check_step_index(step_index);
    const float sigma = sigmas_[step_index];
    return sample / std::sqrt(sigma * sigma + 1.0f);
}

at::Tensor EulerFamilyScheduler::add_noise(const at::Tensor& original, const at::Tensor& noise, int step_index) const {
    check_step_index(step_index);
    return original + noise * sigmas_[step_index];
}

namespace {

class EulerScheduler final : public EulerFamilyScheduler {
public:
    using EulerFamilyScheduler::EulerFamilyScheduler;

    std::string name() const override { return "euler"; }

    StepOutput step(const at::Tensor& model_output, int step_index, const at::Tensor& sample,
                    NoiseSource* /*noise: s_churn = 0 draws none that matters*/) override {
        check_step_index(step_index);
        // gamma = 0 (s_churn 0), so sigma_hat = sigma. Computed in float32 (diffusers upcasts the sample).
        const float sigma = sigmas_[step_index];
        const at::Tensor x = sample.to(at::kFloat);
        const at::Tensor out = model_output.to(at::kFloat);
        at::Tensor x0 = euler_family_x0(config_.prediction_type, out, x, sigma, "euler");
        const at::Tensor derivative = (x - x0) / sigma;
        const float dt = sigmas_[step_index + 1] - sigma;
        at::Tensor prev = x + derivative * dt;
        return {prev.to(model_output.scalar_type()), x0};
    }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_scheduler(const SchedulerConfig& config) {
    return std::make_unique<EulerScheduler>(config);
}

}  // namespace atelier
