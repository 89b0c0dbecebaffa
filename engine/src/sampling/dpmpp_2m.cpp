// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", arXiv:2211.01095, multistep second order, midpoint),
// optionally on Karras sigmas, following diffusers v0.25.1 schedulers/scheduling_dpmsolver_multistep.py
// (solver_order 2, algorithm_type "dpmsolver++", solver_type "midpoint", lower_order_final true).
#include <ATen/ATen.h>

#include <cmath>

#include "atelier/error.h"
#include "sampling/scheduler.h"

namespace atelier {
namespace {

class DpmSolverMultistepScheduler final : public Scheduler {
public:
    DpmSolverMultistepScheduler(SchedulerConfig config, bool karras) : Scheduler(std::move(config)), karras_(karras) {}

    std::string name() const override { return karras_ ? "dpmpp_2m_karras" : "dpmpp_2m"; }

    void set_timesteps(int steps, double strength) override {
        const int n_train = config_.num_train_timesteps;
        if (steps < 1 || steps > n_train) {
            throw Error(name() + ": steps must be in 1.." + std::to_string(n_train) + ", got " + std::to_string(steps));
        }
        // lambda_min_clipped = -inf: clipped_idx = 0, last_timestep = N.
        const int last_timestep = n_train;
        std::vector<double> ts;
        const std::string spacing = spacing_or("linspace");
        if (spacing == "linspace") {
            // np.linspace(0, last_timestep - 1, n + 1).round()[::-1][:-1]
            std::vector<double> lin = schedule::np_linspace(0, last_timestep - 1, steps + 1);
            for (int i = steps; i >= 1; --i) ts.push_back(schedule::np_round(lin[i]));
        } else if (spacing == "leading") {
            // step_ratio = last_timestep // (n + 1); (np.arange(0, n + 1) * step_ratio).round()[::-1][:-1] + offset
            const int ratio = last_timestep / (steps + 1);
            for (int i = steps; i >= 1; --i) ts.push_back(double(i * ratio + config_.steps_offset));
        } else {
            // step_ratio = N / n; np.arange(last_timestep, 0, -step_ratio).round() - 1
            const double ratio = double(n_train) / steps;
            for (double t : schedule::np_arange(last_timestep, 0, -ratio)) ts.push_back(schedule::np_round(t) - 1);
        }
        const std::vector<float> train = schedule::train_sigmas(alphas_cumprod_values_);
        sigmas_.clear();
        if (karras_) {
            // sigmas = karras(flip(sigmas)); timesteps = round(sigma_to_t(s)); append sigmas[-1].
            std::vector<float> log_sigmas;
            for (float s : train) log_sigmas.push_back(std::log(s));
            const std::vector<double> k = schedule::karras_sigmas(train.front(), train.back(), steps);
            ts.clear();
            for (double s : k) {
                ts.push_back(schedule::np_round(schedule::sigma_to_t(s, log_sigmas)));
                sigmas_.push_back(static_cast<float>(s));
            }
            sigmas_.push_back(sigmas_.back());
        } else {
            // sigmas = interp(timesteps); append sigma_last = ((1 - ac[0]) / ac[0]) ** 0.5.
            for (double t : ts) sigmas_.push_back(static_cast<float>(schedule::np_interp_index(t, train)));
            sigmas_.push_back(train.front());
        }
        timesteps_ = ts;
        num_inference_steps_ = static_cast<int>(ts.size());
        model_outputs_[0] = model_outputs_[1] = at::Tensor();
        lower_order_nums_ = 0;
        apply_strength(steps, strength);
    }

    StepOutput step(const at::Tensor& model_output, int step_index, const at::Tensor& sample,
                    NoiseSource* /*noise: deterministic*/) override {
        check_step_index(step_index);
        const int n = static_cast<int>(timesteps_.size());
        // Lower order for the last steps of short schedules (< 15 steps) for numerical stability.
        const bool lower_order_final = step_index == n - 1 && n < 15;
        const bool lower_order_second = step_index == n - 2 && n < 15;

        const at::Tensor x0 = convert_model_output(model_output, sample, step_index);
        model_outputs_[0] = model_outputs_[1];
        model_outputs_[1] = x0;

        at::Tensor prev;
        if (lower_order_nums_ < 1 || lower_order_final) {
            prev = first_order_update(x0, sample, step_index);
        } else {
            (void)lower_order_second;  // order 2 is already the highest: both branches use the 2nd-order update
            prev = second_order_update(sample, step_index);
        }
        if (lower_order_nums_ < 2) ++lower_order_nums_;
        return {prev, x0};
    }

private:
    // _sigma_to_alpha_sigma_t: alpha = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha (float32).
    static void alpha_sigma(float sigma, float& alpha_t, float& sigma_t) {
        alpha_t = 1.0f / std::sqrt(sigma * sigma + 1.0f);
        sigma_t = sigma * alpha_t;
    }
    static float lambda(float alpha_t, float sigma_t) { return std::log(alpha_t) - std::log(sigma_t); }

    at::Tensor convert_model_output(const at::Tensor& model_output, const at::Tensor& sample, int i) const {
        float alpha_t = 0, sigma_t = 0;
        alpha_sigma(sigmas_[i], alpha_t, sigma_t);
        const std::string& prediction = config_.prediction_type;
        if (prediction == "epsilon") return (sample - model_output * sigma_t) / alpha_t;
        if (prediction == "v_prediction") return sample * alpha_t - model_output * sigma_t;
        return model_output;  // "sample"
    }

    at::Tensor first_order_update(const at::Tensor& x0, const at::Tensor& sample, int i) const {
        float alpha_t = 0, sigma_t = 0, alpha_s = 0, sigma_s = 0;
        alpha_sigma(sigmas_[i + 1], alpha_t, sigma_t);
        alpha_sigma(sigmas_[i], alpha_s, sigma_s);
        const float h = lambda(alpha_t, sigma_t) - lambda(alpha_s, sigma_s);
        // x_t = (sigma_t / sigma_s) * x - alpha_t * (exp(-h) - 1) * x0
        return sample * (sigma_t / sigma_s) - x0 * (alpha_t * (std::exp(-h) - 1.0f));
    }

    at::Tensor second_order_update(const at::Tensor& sample, int i) const {
        float alpha_t = 0, sigma_t = 0, alpha_s0 = 0, sigma_s0 = 0, alpha_s1 = 0, sigma_s1 = 0;
        alpha_sigma(sigmas_[i + 1], alpha_t, sigma_t);
        alpha_sigma(sigmas_[i], alpha_s0, sigma_s0);
        alpha_sigma(sigmas_[i - 1], alpha_s1, sigma_s1);
        const float lambda_t = lambda(alpha_t, sigma_t), lambda_s0 = lambda(alpha_s0, sigma_s0),
                    lambda_s1 = lambda(alpha_s1, sigma_s1);
        const at::Tensor& m0 = model_outputs_[1];
        const at::Tensor& m1 = model_outputs_[0];
        const float h = lambda_t - lambda_s0, h_0 = lambda_s0 - lambda_s1;
        const float r0 = h_0 / h;
        const at::Tensor d1 = (m0 - m1) * (1.0f / r0);
        const float c = alpha_t * (std::exp(-h) - 1.0f);
        // midpoint: x_t = (sigma_t / sigma_s0) x - c * D0 - 0.5 * c * D1
        return sample * (sigma_t / sigma_s0) - m0 * c - d1 * (0.5f * c);
    }

    bool karras_;
    at::Tensor model_outputs_[2];
    int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpmpp_2m_scheduler(const SchedulerConfig& config, bool karras) {
    return std::make_unique<DpmSolverMultistepScheduler>(config, karras);
}

}  // namespace atelier
