// Noise schedulers for latent diffusion, reproducing Hugging Face diffusers v0.25.1 (internal).
// One file per scheduler: ddim.cpp, euler.cpp, euler_ancestral.cpp, dpmpp_2m.cpp, lcm.cpp; the shared
// schedule arithmetic (betas, numpy-style spacing, sigma interpolation, Karras sigmas) is in scheduler.cpp.
//
// Use: make_scheduler(name, config) -> set_timesteps(steps, strength) -> for i in [begin_index(), size):
//   x_in = scale_model_input(x, i); eps = unet(x_in, timesteps()[i]); x = step(eps, i, x, noise).prev_sample
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace atelier {

// The fields of diffusers' `scheduler/scheduler_config.json` we use. A field absent from the file stays
// unset and each scheduler falls back to its own class default, as diffusers' `from_config` does.
struct SchedulerConfig {
    std::string class_name = "DDIMScheduler";   // `_class_name`: names the default sampler
    int num_train_timesteps = 1000;
    double beta_start = 0.00085;                 // SD v1 values (v1-inference.yaml linear_start/end)
    double beta_end = 0.012;
    std::string beta_schedule = "scaled_linear"; // "linear" | "scaled_linear"
    std::string prediction_type = "epsilon";     // "epsilon" | "v_prediction" | "sample"
    // StableDiffusionPipeline.__init__ (v0.25.1) rewrites steps_offset != 1 to 1 and clip_sample to false
    // for every scheduler it is given; we keep the file's values here and apply that rule in the pipeline.
    int steps_offset = 1;
    std::optional<std::string> timestep_spacing;  // "leading" | "trailing" | "linspace"
    std::optional<bool> set_alpha_to_one;         // DDIM/LCM: alpha of the step after the last
    bool clip_sample = false;
    double clip_sample_range = 1.0;
    int original_inference_steps = 50;            // LCM
    double timestep_scaling = 10.0;               // LCM
    bool use_karras_sigmas = false;               // DPM-Solver++ (also selected by the sampler name)

    // Parses a scheduler_config.json; throws atelier::Error naming the file and field.
    static SchedulerConfig from_json_file(const std::string& path);
    static SchedulerConfig from_json_text(const std::string& text, const std::string& what);
    // The diffusers config of Stable Diffusion v1/v2 checkpoints (DDIM, scaled_linear 0.00085..0.012,
    // steps_offset 1, set_alpha_to_one false, leading), used for single files that carry no config.
    static SchedulerConfig stable_diffusion_default();

    // Our sampler name for `_class_name`: DDIMScheduler -> "ddim", EulerDiscreteScheduler -> "euler",
    // EulerAncestralDiscreteScheduler -> "euler_a", DPMSolverMultistepScheduler -> "dpmpp_2m" (or
    // "dpmpp_2m_karras" with use_karras_sigmas), LCMScheduler -> "lcm"; any other class (PNDM, LMS, ...)
    // -> "ddim", which uses the same training discretisation.
    std::string default_sampler() const;
};

// Per-image noise for the stochastic samplers: row i of the batch draws from generator i (a torch CPU
// generator seeded with seed + i), so an image does not depend on the batch it was made in — the same as
// diffusers with `generator=[torch.Generator().manual_seed(s) for s in seeds]`.
class NoiseSource {
public:
    NoiseSource() = default;
    explicit NoiseSource(std::vector<at::Generator> generators) : generators_(std::move(generators)) {}
    // Standard normal noise shaped like `like` ([B, ...], B = number of generators), drawn in float32 on
    // the CPU and moved to like's device and dtype. Throws atelier::Error if B differs.
    at::Tensor randn_like(const at::Tensor& like);
    size_t size() const { return generators_.size(); }

private:
    std::vector<at::Generator> generators_;
};

struct StepOutput {
    at::Tensor prev_sample;     // x at the next timestep
    at::Tensor pred_original;   // the scheduler's estimate of x0 (previews)
};

class Scheduler {
public:
    explicit Scheduler(SchedulerConfig config);
    virtual ~Scheduler() = default;

    virtual std::string name() const = 0;    // our sampler name
    virtual int order() const { return 1; }
    // The timestep spacing in effect: the config's, else the diffusers class default ("" for LCM).
    virtual std::string timestep_spacing() const { return spacing_or("linspace"); }

    // The schedule for `steps` inference steps. strength < 1 (img2img) starts part-way, as diffusers'
    // StableDiffusionImg2ImgPipeline.get_timesteps does: begin_index() = steps - min(int(steps*strength), steps).
    // Resets the multistep state.
    virtual void set_timesteps(int steps, double strength = 1.0) = 0;

    // All timesteps of the schedule (fed to the UNet; Euler's may be fractional); run from begin_index().
    const std::vector<double>& timesteps() const { return timesteps_; }
    int begin_index() const { return begin_index_; }
    int steps_to_run() const { return static_cast<int>(timesteps_.size()) - begin_index_; }
    // Noise levels sqrt((1 - a) / a) per step, plus the final one (k-diffusion samplers); empty for DDIM/LCM.
    const std::vector<float>& sigmas() const { return sigmas_; }
    // beta = (linspace(sqrt(beta_start), sqrt(beta_end), N) ** 2 | linspace(beta_start, beta_end, N)),
    // cumprod(1 - beta): float32 [N] on the CPU, computed with the same torch ops as diffusers.
    const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
    float alphas_cumprod_at(int64_t t) const { return alphas_cumprod_values_.at(static_cast<size_t>(t)); }
    const SchedulerConfig& config() const { return config_; }

    // Factor for diffusers' `latents = latents * scheduler.init_noise_sigma`.
    virtual float init_noise_sigma() const { return 1.0f; }
    // Input scaling before the UNet (k-diffusion samplers divide by sqrt(sigma^2 + 1)).
    virtual at::Tensor scale_model_input(const at::Tensor& sample, int step_index) const { return sample; }
    // One update from the model output at timesteps()[step_index]. `noise` is used by stochastic samplers.
    virtual StepOutput step(const at::Tensor& model_output, int step_index, const at::Tensor& sample,
                            NoiseSource* noise) = 0;
    // img2img: `original` noised to the level of timesteps()[step_index].
    virtual at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, int step_index) const;

protected:
    // Sets begin_index_ from `strength` (diffusers' get_timesteps, order 1).
    void apply_strength(int steps, double strength);
    std::string spacing_or(const std::string& class_default) const;
    void check_step_index(int step_index) const;

    SchedulerConfig config_;
    at::Tensor alphas_cumprod_;
    std::vector<float> alphas_cumprod_values_;
    std::vector<double> timesteps_;
    std::vector<float> sigmas_;
    int begin_index_ = 0;
    int num_inference_steps_ = 0;
};

// "ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"; throws atelier::Error listing them.
std::unique_ptr<Scheduler> make_scheduler(const std::string& sampler, const SchedulerConfig& config);
const std::vector<std::string>& sampler_names();

// numpy-compatible schedule arithmetic, shared by the schedulers and checked by the tests.
namespace schedule {
std::vector<double> np_arange(double start, double stop, double step);   // numpy.arange
std::vector<double> np_linspace(double start, double stop, int num, bool endpoint = true);
double np_round(double x);                                                // half to even
// numpy.interp(x, [0, 1, ..., fp.size()-1], fp) in double precision.
double np_interp_index(double x, const std::vector<float>& fp);
// sqrt((1 - a) / a) per train timestep, float32 as torch computes it.
std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod);
// Karras et al. 2022 (eq. 5), rho = 7: `steps` sigmas from sigma_max down to sigma_min.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps);
// diffusers' _sigma_to_t: the (fractional) train timestep of `sigma` by interpolating log sigmas.
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);
}  // namespace schedule

}  // namespace atelier
