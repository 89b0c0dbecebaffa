// Euler ancestral sampler (k-diffusion `sample_euler_ancestral`, Crowson; eta = 1), following diffusers
// v0.25.1 schedulers/scheduling_euler_ancestral_discrete.py. Same schedule as Euler (euler.cpp).
#include <ATen/ATen.h>

#include <cmath>

#include "atelier/error.h"
#include "sampling/euler_family.h"

namespace atelier {

namespace {

class EulerAncestralScheduler final : public EulerFamilyScheduler {
public:
    using EulerFamilyScheduler::EulerFamilyScheduler;

    std::string name() const override { return "euler_a"; }

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
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral_scheduler(const SchedulerConfig& config) {
    return std::make_unique<EulerAncestralScheduler>(config);
}

}  // namespace atelier
