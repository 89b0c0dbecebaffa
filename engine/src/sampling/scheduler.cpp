// Shared scheduler arithmetic: diffusers v0.25.1 `schedulers/scheduling_*.py` set-up code and the numpy
// functions it relies on (arange, linspace, round, interp), reproduced in double precision.
#include "sampling/scheduler.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cfenv>
#include <cmath>
#include <limits>

#include "atelier/error.h"
#include "io/file_util.h"

namespace atelier {

// ---------------------------------------------------------------- config

SchedulerConfig SchedulerConfig::stable_diffusion_default() {
    // runwayml/stable-diffusion-v1-5 and stabilityai/stable-diffusion-2-1 scheduler_config.json (PNDM/DDIM
    // with these values); the LDM yamls say linear_start 0.00085, linear_end 0.0120, timesteps 1000.
    SchedulerConfig config;
    config.class_name = "DDIMScheduler";
    config.timestep_spacing = "leading";
    config.set_alpha_to_one = false;
    config.steps_offset = 1;
    config.clip_sample = false;
    return config;
}

SchedulerConfig SchedulerConfig::from_json_text(const std::string& text, const std::string& what) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw Error(what + ": not valid JSON (" + e.what() + ")");
    }
    if (!json.is_object()) throw Error(what + ": expected a JSON object");
    SchedulerConfig config;
    auto get = [&](const char* key, auto& out) {
        auto it = json.find(key);
        if (it == json.end() || it->is_null()) return false;
        try {
            out = it->template get<std::decay_t<decltype(out)>>();
        } catch (const std::exception&) {
            throw Error(what + ": field \"" + key + "\" has the wrong type (" + it->dump() + ")");
        }
        return true;
    };
    get("_class_name", config.class_name);
    get("num_train_timesteps", config.num_train_timesteps);
    get("beta_start", config.beta_start);
    get("beta_end", config.beta_end);
    get("beta_schedule", config.beta_schedule);
    get("prediction_type", config.prediction_type);
    get("steps_offset", config.steps_offset);
    std::string spacing;
    if (get("timestep_spacing", spacing)) config.timestep_spacing = spacing;
    bool alpha_one = false;
    if (get("set_alpha_to_one", alpha_one)) config.set_alpha_to_one = alpha_one;
    get("clip_sample", config.clip_sample);
    get("clip_sample_range", config.clip_sample_range);
    get("original_inference_steps", config.original_inference_steps);
    get("timestep_scaling", config.timestep_scaling);
    get("use_karras_sigmas", config.use_karras_sigmas);
    if (json.contains("trained_betas") && !json["trained_betas"].is_null()) {
        throw Error(what + ": \"trained_betas\" is not supported (expected null)");
    }
    if (config.beta_schedule != "linear" && config.beta_schedule != "scaled_linear") {
        throw Error(what + ": beta_schedule \"" + config.beta_schedule +
                    "\" is not supported (expected \"linear\" or \"scaled_linear\")");
    }
    if (config.prediction_type != "epsilon" && config.prediction_type != "v_prediction" &&
        config.prediction_type != "sample") {
        throw Error(what + ": prediction_type \"" + config.prediction_type +
                    "\" is not supported (expected epsilon, v_prediction or sample)");
    }
    if (config.timestep_spacing && *config.timestep_spacing != "leading" && *config.timestep_spacing != "trailing" &&
        *config.timestep_spacing != "linspace") {
        throw Error(what + ": timestep_spacing \"" + *config.timestep_spacing +
                    "\" is not supported (expected leading, trailing or linspace)");
    }
    if (config.num_train_timesteps < 2 || config.num_train_timesteps > 100000) {
        throw Error(what + ": num_train_timesteps " + std::to_string(config.num_train_timesteps) + " out of range");
    }
    return config;
}

SchedulerConfig SchedulerConfig::from_json_file(const std::string& path) {
    return from_json_text(read_file_text(path), path);
}

std::string SchedulerConfig::default_sampler() const {
    if (class_name == "EulerDiscreteScheduler") return "euler";
    if (class_name == "EulerAncestralDiscreteScheduler") return "euler_a";
    if (class_name == "DPMSolverMultistepScheduler") return use_karras_sigmas ? "dpmpp_2m_karras" : "dpmpp_2m";
    if (class_name == "LCMScheduler") return "lcm";
    return "ddim";
}

// ---------------------------------------------------------------- noise

at::Tensor NoiseSource::randn_like(const at::Tensor& like) {
    if (like.dim() < 1 || like.size(0) != static_cast<int64_t>(generators_.size())) {
        throw Error("noise: batch of " + std::to_string(like.dim() ? like.size(0) : 0) + " but " +
                    std::to_string(generators_.size()) + " generators");
    }
    std::vector<int64_t> shape = like.sizes().vec();
    shape[0] = 1;
    std::vector<at::Tensor> rows;
    rows.reserve(generators_.size());
    for (at::Generator& generator : generators_) {
        rows.push_back(at::randn(shape, generator, at::TensorOptions().dtype(at::kFloat)));
    }
    return at::cat(rows, 0).to(like.device(), like.scalar_type());
}

// ---------------------------------------------------------------- base

Scheduler::Scheduler(SchedulerConfig config) : config_(std::move(config)) {
    const int64_t n = config_.num_train_timesteps;
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    // diffusers scheduling_ddim.py __init__ (the same in every scheduler used here):
    //   linear:        betas = torch.linspace(beta_start, beta_end, N, dtype=torch.float32)
    //   scaled_linear: betas = torch.linspace(beta_start**0.5, beta_end**0.5, N, dtype=torch.float32) ** 2
    //   alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    at::Tensor betas;
    if (config_.beta_schedule == "linear") {
        betas = at::linspace(config_.beta_start, config_.beta_end, n, f32);
    } else {
        betas = at::pow(at::linspace(std::sqrt(config_.beta_start), std::sqrt(config_.beta_end), n, f32), 2);
    }
    alphas_cumprod_ = at::cumprod(1.0 - betas, 0).contiguous();
    const float* p = alphas_cumprod_.data_ptr<float>();
    alphas_cumprod_values_.assign(p, p + n);
}

std::string Scheduler::spacing_or(const std::string& class_default) const {
    return config_.timestep_spacing ? *config_.timestep_spacing : class_default;
}

void Scheduler::apply_strength(int steps, double strength) {
    // StableDiffusionImg2ImgPipeline.get_timesteps: init_timestep = min(int(steps * strength), steps),
    // t_start = max(steps - init_timestep, 0), timesteps[t_start * order:].
    const int init_timestep = std::min(static_cast<int>(steps * strength), steps);
    begin_index_ = std::max(steps - init_timestep, 0) * order();
    if (begin_index_ >= static_cast<int>(timesteps_.size())) {
        throw Error("img2img strength " + std::to_string(strength) + " with " + std::to_string(steps) +
                    " steps leaves no step to run (expected steps * strength >= 1)");
    }
}

void Scheduler::check_step_index(int step_index) const {
    if (step_index < 0 || step_index >= static_cast<int>(timesteps_.size())) {
        throw Error(name() + ": step index " + std::to_string(step_index) + " outside the schedule of " +
                    std::to_string(timesteps_.size()) + " steps (call set_timesteps first)");
    }
}

at::Tensor Scheduler::add_noise(const at::Tensor& original, const at::Tensor& noise, int step_index) const {
    // DDPMScheduler.add_noise: sqrt(a_t) * x0 + sqrt(1 - a_t) * noise, a_t = alphas_cumprod[t].
    check_step_index(step_index);
    const float a = alphas_cumprod_at(static_cast<int64_t>(timesteps_[step_index]));
    return original * std::sqrt(a) + noise * std::sqrt(1.0f - a);
}

// ---------------------------------------------------------------- numpy arithmetic

namespace schedule {

std::vector<double> np_arange(double start, double stop, double step) {
    // numpy: length = ceil((stop - start) / step), values start + i * step.
    const double count = std::ceil((stop - start) / step);
    std::vector<double> out;
    if (!(count > 0)) return out;
    const auto n = static_cast<size_t>(count);
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) out.push_back(start + static_cast<double>(i) * step);
    return out;
}

std::vector<double> np_linspace(double start, double stop, int num, bool endpoint) {
    // numpy.linspace: step = (stop - start) / div, y = arange(num) * step + start, y[-1] = stop (endpoint).
    std::vector<double> out;
    if (num <= 0) return out;
    const int div = endpoint ? num - 1 : num;
    const double delta = stop - start;
    const double step = div > 0 ? delta / div : std::numeric_limits<double>::quiet_NaN();
    for (int i = 0; i < num; ++i) {
        if (div > 0 && step == 0) {
            out.push_back(static_cast<double>(i) / div * delta + start);
        } else if (div > 0) {
            out.push_back(static_cast<double>(i) * step + start);
        } else {
            out.push_back(start);
        }
    }
    if (endpoint && num > 1) out.back() = stop;
    return out;
}

double np_round(double x) {
    // numpy rounds half to even, like the default IEEE rounding mode.
    const int saved = std::fegetround();
    std::fesetround(FE_TONEAREST);
    const double r = std::nearbyint(x);
    std::fesetround(saved);
    return r;
}

double np_interp_index(double x, const std::vector<float>& fp) {
    // numpy.interp with xp = 0..n-1: clamp outside, exact at the knots, else slope * (x - xp[j]) + fp[j].
    const auto n = static_cast<int64_t>(fp.size());
    if (n == 0) return 0;
    if (x <= 0) return fp.front();
    if (x >= static_cast<double>(n - 1)) return fp.back();
    const auto j = static_cast<int64_t>(std::floor(x));
    if (static_cast<double>(j) == x) return fp[static_cast<size_t>(j)];
    const double slope = (static_cast<double>(fp[j + 1]) - static_cast<double>(fp[j])) / 1.0;
    return slope * (x - static_cast<double>(j)) + static_cast<double>(fp[j]);
}

std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod) {
    // ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 on a float32 tensor (pow 0.5 is sqrt in torch).
    std::vector<float> out;
    out.reserve(alphas_cumprod.size());
    for (float a : alphas_cumprod) out.push_back(std::sqrt((1.0f - a) / a));
    return out;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps) {
    // diffusers _convert_to_karras (Karras et al. 2022, eq. 5): rho = 7.0, ramp = linspace(0, 1, n),
    // sigma = (max^(1/rho) + ramp * (min^(1/rho) - max^(1/rho))) ^ rho.
    const double rho = 7.0;
    const double min_inv_rho = std::pow(sigma_min, 1.0 / rho);
    const double max_inv_rho = std::pow(sigma_max, 1.0 / rho);
    std::vector<double> out;
    for (double r : np_linspace(0.0, 1.0, steps)) out.push_back(std::pow(max_inv_rho + r * (min_inv_rho - max_inv_rho), rho));
    return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
    // diffusers _sigma_to_t: log_sigma = log(max(sigma, 1e-10)); low_idx = last index with
    // log_sigma >= log_sigmas[i] (clipped to n - 2); w = clip((low - log_sigma) / (low - high), 0, 1);
    // t = (1 - w) * low_idx + w * (low_idx + 1).
    const double log_sigma = std::log(std::max(sigma, 1e-10));
    const auto n = static_cast<int64_t>(log_sigmas.size());
    // cumsum(dists >= 0).argmax(): the first index where the running count reaches its maximum, i.e.
    // the last i with log_sigma - log_sigmas[i] >= 0 (log sigmas increase with t); 0 if there is none.
    int64_t count = 0, best = 0, low_idx = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (log_sigma - static_cast<double>(log_sigmas[i]) >= 0) ++count;
        if (count > best) {
            best = count;
            low_idx = i;
        }
    }
    low_idx = std::min(low_idx, n - 2);
    const int64_t high_idx = low_idx + 1;
    const float low = log_sigmas[low_idx];
    const float high = log_sigmas[high_idx];
    double w = (static_cast<double>(low) - log_sigma) / static_cast<double>(low - high);
    w = std::clamp(w, 0.0, 1.0);
    return (1.0 - w) * static_cast<double>(low_idx) + w * static_cast<double>(high_idx);
}

}  // namespace schedule

}  // namespace atelier

namespace atelier {

// Defined one per file (ddim.cpp, euler.cpp, euler_ancestral.cpp, dpmpp_2m.cpp, lcm.cpp).
std::unique_ptr<Scheduler> make_ddim_scheduler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler_scheduler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler_ancestral_scheduler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_dpmpp_2m_scheduler(const SchedulerConfig& config, bool karras);
std::unique_ptr<Scheduler> make_lcm_scheduler(const SchedulerConfig& config);

const std::vector<std::string>& sampler_names() {
    static const std::vector<std::string> names = {"ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"};
    return names;
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& sampler, const SchedulerConfig& config) {
    if (sampler == "ddim") return make_ddim_scheduler(config);
    if (sampler == "euler") return make_euler_scheduler(config);
    if (sampler == "euler_a") return make_euler_ancestral_scheduler(config);
    if (sampler == "dpmpp_2m") return make_dpmpp_2m_scheduler(config, false);
    if (sampler == "dpmpp_2m_karras") return make_dpmpp_2m_scheduler(config, true);
    if (sampler == "lcm") return make_lcm_scheduler(config);
    std::string list;
    for (const std::string& name : sampler_names()) list += (list.empty() ? "" : ", ") + name;
    throw Error("unknown sampler \"" + sampler + "\" (expected one of " + list + ")");
}

}  // namespace atelier
