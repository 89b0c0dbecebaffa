// The Euler family (Euler, Euler ancestral) shares diffusers' EulerDiscreteScheduler sigma schedule,
// input scaling and noising (internal; euler.cpp implements the shared part).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "sampling/scheduler.h"

namespace atelier {

// EulerDiscreteScheduler.set_timesteps (v0.25.1), class default spacing "linspace". Fills float32
// `timesteps` (as diffusers stores them) and sigmas = interp(t) + [0].
void euler_family_set_timesteps(const SchedulerConfig& config, const std::vector<float>& alphas_cumprod, int steps,
                                const std::string& spacing, std::vector<double>& timesteps, std::vector<float>& sigmas);
float euler_family_init_noise_sigma(const std::vector<float>& sigmas, const std::string& spacing);
at::Tensor euler_family_x0(const std::string& prediction, const at::Tensor& model_output, const at::Tensor& sample,
                           float sigma, const std::string& who);

// What Euler and Euler ancestral have in common; each adds its name() and step().
class EulerFamilyScheduler : public Scheduler {
public:
    using Scheduler::Scheduler;
    void set_timesteps(int steps, double strength) override;
    float init_noise_sigma() const override;
    at::Tensor scale_model_input(const at::Tensor& sample, int step_index) const override;
    // EulerDiscreteScheduler.add_noise: original + noise * sigmas[step_index].
    at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, int step_index) const override;
};

}  // namespace atelier
