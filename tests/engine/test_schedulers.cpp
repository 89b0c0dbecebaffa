// labels: fast
// Schedulers against diffusers v0.25.1: the fixture's DDIM timesteps and alphas_cumprod exactly, and for the
// other samplers timesteps/sigmas derived by hand from diffusers' formulas (sources in the comments), plus
// one update of each checked against the formula evaluated independently in double precision.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <doctest/doctest.h>

#include <cmath>

#include "atelier/error.h"
#include "runtime/tensors.h"
#include "sampling/scheduler.h"

using namespace atelier;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;

SchedulerConfig fixture_config() {
    return SchedulerConfig::from_json_file(kFixtures + "/tiny-sd-a/scheduler/scheduler_config.json");
}

const TensorMap& reference() {
    static const TensorMap ref = load_tensors(kFixtures + "/tiny-sd-a-reference.safetensors");
    return ref;
}

// Independent double-precision reference: alphas_cumprod read from the fixture, not from our scheduler.
double ac(int64_t t) { return reference().at("scheduler.alphas_cumprod")[t].item<double>(); }
double train_sigma(int64_t t) { return std::sqrt((1.0 - ac(t)) / ac(t)); }

at::Tensor randn_fixed(uint64_t seed, at::IntArrayRef shape) {
    at::Generator g = at::detail::createCPUGenerator(seed);
    return at::randn(shape, g, at::TensorOptions().dtype(at::kFloat));
}

double rel(const at::Tensor& a, const at::Tensor& ref) { return relative_l2(a, ref); }

}  // namespace

TEST_CASE("alphas_cumprod and DDIM timesteps equal the fixture exactly") {
    auto ddim = make_scheduler("ddim", fixture_config());
    const at::Tensor ref_ac = reference().at("scheduler.alphas_cumprod");
    REQUIRE(ddim->alphas_cumprod().sizes() == ref_ac.sizes());
    CHECK(at::equal(ddim->alphas_cumprod(), ref_ac));

    ddim->set_timesteps(4);
    const at::Tensor ref_ts = reference().at("scheduler.timesteps");
    REQUIRE(ddim->timesteps().size() == 4);
    for (int i = 0; i < 4; ++i) CHECK(ddim->timesteps()[i] == double(ref_ts[i].item<int64_t>()));
    CHECK(ddim->init_noise_sigma() == reference().at("scheduler.init_noise_sigma").item<float>());
    CHECK(ddim->begin_index() == 0);
}

TEST_CASE("scheduler config: fields, class defaults and default sampler") {
    const SchedulerConfig config = fixture_config();
    CHECK(config.class_name == "DDIMScheduler");
    CHECK(config.default_sampler() == "ddim");
    CHECK(config.timestep_spacing.value() == "leading");
    CHECK(config.set_alpha_to_one.value() == false);
    CHECK(config.steps_offset == 1);
    CHECK(config.beta_schedule == "scaled_linear");

    SchedulerConfig euler = SchedulerConfig::from_json_text(
        R"({"_class_name": "EulerDiscreteScheduler", "beta_schedule": "linear", "prediction_type": "v_prediction"})",
        "inline");
    CHECK(euler.default_sampler() == "euler");
    CHECK(!euler.timestep_spacing.has_value());  // class default applies (Euler: linspace)
    CHECK(euler.prediction_type == "v_prediction");
    auto e = make_scheduler("euler", euler);
    e->set_timesteps(4);
    CHECK((e->timesteps() == std::vector<double>{999, 666, 333, 0}));
    // linear betas: torch.linspace(0.00085, 0.012, 1000) -> cumprod; a_0 = 1 - 0.00085 in float32.
    CHECK(e->alphas_cumprod()[0].item<float>() == doctest::Approx(1.0 - 0.00085).epsilon(1e-7));

    CHECK(SchedulerConfig::from_json_text(R"({"_class_name": "DPMSolverMultistepScheduler",
        "use_karras_sigmas": true})", "x").default_sampler() == "dpmpp_2m_karras");
    CHECK((SchedulerConfig::from_json_text(R"({"_class_name": "LCMScheduler"})", "x").default_sampler() == "lcm"));
    CHECK((SchedulerConfig::from_json_text(R"({"_class_name": "PNDMScheduler"})", "x").default_sampler() == "ddim"));
    CHECK_THROWS_AS(SchedulerConfig::from_json_text(R"({"beta_schedule": "squaredcos_cap_v2"})", "x"), Error);
    CHECK_THROWS_AS(SchedulerConfig::from_json_text("{", "x"), Error);
    CHECK_THROWS_AS(make_scheduler("heun", config), Error);
}

TEST_CASE("DDIM timesteps for each spacing (scheduling_ddim.py set_timesteps)") {
    SchedulerConfig config = fixture_config();
    auto timesteps = [&](const std::string& spacing, int n) {
        config.timestep_spacing = spacing;
        auto s = make_scheduler("ddim", config);
        s->set_timesteps(n);
        return s->timesteps();
    };
    // leading: (arange(n) * (1000 // n))[::-1] + steps_offset 1
    CHECK((timesteps("leading", 10) == std::vector<double>{901, 801, 701, 601, 501, 401, 301, 201, 101, 1}));
    CHECK((timesteps("leading", 3) == std::vector<double>{667, 334, 1}));
    // trailing: round(arange(1000, 0, -1000 / n)) - 1; n = 3: [1000, 666.67, 333.33] -> [999, 666, 332]
    CHECK((timesteps("trailing", 4) == std::vector<double>{999, 749, 499, 249}));
    CHECK((timesteps("trailing", 3) == std::vector<double>{999, 666, 332}));
    // linspace: round(linspace(0, 999, n))[::-1]; n = 3: 499.5 rounds half to even -> 500
    CHECK((timesteps("linspace", 4) == std::vector<double>{999, 666, 333, 0}));
    CHECK((timesteps("linspace", 3) == std::vector<double>{999, 500, 0}));
    CHECK((timesteps("linspace", 1) == std::vector<double>{0}));
}

TEST_CASE("DDIM step equals the README formula in double precision") {
    auto ddim = make_scheduler("ddim", fixture_config());
    ddim->set_timesteps(4);
    const at::Tensor x = randn_fixed(1, {1, 4, 8, 8});
    const at::Tensor eps = randn_fixed(2, {1, 4, 8, 8});
    for (int i = 0; i < 4; ++i) {
        const int64_t t = static_cast<int64_t>(ddim->timesteps()[i]);
        const int64_t prev = t - 250;
        const double a_t = ac(t), a_prev = prev >= 0 ? ac(prev) : ac(0);  // set_alpha_to_one false
        const at::Tensor xd = x.to(at::kDouble), ed = eps.to(at::kDouble);
        const at::Tensor x0 = (xd - std::sqrt(1 - a_t) * ed) / std::sqrt(a_t);
        const at::Tensor expected = std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev) * ed;
        const StepOutput out = ddim->step(eps, i, x, nullptr);
        CHECK(rel(out.prev_sample, expected) < 1e-6);
        CHECK(rel(out.pred_original, x0) < 1e-6);
    }
    // v-prediction (diffusers: x0 = sqrt(a) x - sqrt(1-a) v, eps = sqrt(a) v + sqrt(1-a) x)
    SchedulerConfig v = fixture_config();
    v.prediction_type = "v_prediction";
    auto ddim_v = make_scheduler("ddim", v);
    ddim_v->set_timesteps(4);
    const double a_t = ac(501), a_prev = ac(251);
    const at::Tensor xd = x.to(at::kDouble), vd = eps.to(at::kDouble);
    const at::Tensor x0 = std::sqrt(a_t) * xd - std::sqrt(1 - a_t) * vd;
    const at::Tensor e = std::sqrt(a_t) * vd + std::sqrt(1 - a_t) * xd;
    CHECK(rel(ddim_v->step(eps, 1, x, nullptr).prev_sample, std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev) * e) < 1e-6);
}

TEST_CASE("img2img strength starts part-way (StableDiffusionImg2ImgPipeline.get_timesteps)") {
    auto ddim = make_scheduler("ddim", fixture_config());
    ddim->set_timesteps(10, 0.75);  // init_timestep = int(7.5) = 7 -> t_start = 3
    CHECK(ddim->begin_index() == 3);
    CHECK(ddim->steps_to_run() == 7);
    CHECK(ddim->timesteps()[3] == 601);
    const at::Tensor x0 = randn_fixed(3, {1, 4, 4, 4}), noise = randn_fixed(4, {1, 4, 4, 4});
    const at::Tensor expected = std::sqrt(ac(601)) * x0.to(at::kDouble) + std::sqrt(1 - ac(601)) * noise.to(at::kDouble);
    CHECK(rel(ddim->add_noise(x0, noise, 3), expected) < 1e-6);
    CHECK_THROWS_AS(ddim->set_timesteps(10, 0.05), Error);  // int(0.5) = 0 steps left
}

TEST_CASE("Euler: timesteps, interpolated sigmas, init sigma, input scaling and one step") {
    SchedulerConfig config = fixture_config();
    config.timestep_spacing = "linspace";
    auto euler = make_scheduler("euler", config);
    euler->set_timesteps(4);
    // linspace(0, 999, 4)[::-1] = [999, 666, 333, 0]; sigmas = sqrt((1 - a) / a) there (float32), then 0.
    CHECK((euler->timesteps() == std::vector<double>{999, 666, 333, 0}));
    REQUIRE(euler->sigmas().size() == 5);
    CHECK(euler->sigmas()[0] == 14.614645004272461f);  // = sqrt((1 - 0.0046600960) / 0.0046600960)
    CHECK(euler->sigmas()[1] == doctest::Approx(train_sigma(666)).epsilon(1e-6));
    CHECK(euler->sigmas()[2] == 0.9323583245277405f);
    CHECK(euler->sigmas()[3] == 0.029167532920837402f);
    CHECK(euler->sigmas()[4] == 0.0f);
    CHECK(euler->init_noise_sigma() == 14.614645004272461f);  // linspace/trailing: max sigma

    // n = 3: the middle timestep 499.5 is fractional; sigma = mean of sigma(499) and sigma(500) (np.interp).
    euler->set_timesteps(3);
    CHECK(euler->timesteps()[1] == 499.5);
    CHECK(euler->sigmas()[1] == doctest::Approx(0.5 * (train_sigma(499) + train_sigma(500))).epsilon(1e-6));
    CHECK(euler->sigmas()[1] == 1.6155833005905151f);

    // leading: init_noise_sigma = sqrt(max^2 + 1)
    config.timestep_spacing = "leading";
    auto lead = make_scheduler("euler", config);
    lead->set_timesteps(4);
    CHECK((lead->timesteps() == std::vector<double>{751, 501, 251, 1}));
    CHECK(lead->init_noise_sigma() == doctest::Approx(std::sqrt(train_sigma(751) * train_sigma(751) + 1)).epsilon(1e-6));
    // trailing
    config.timestep_spacing = "trailing";
    auto trail = make_scheduler("euler", config);
    trail->set_timesteps(4);
    CHECK((trail->timesteps() == std::vector<double>{999, 749, 499, 249}));

    // One step in double: x0 = x - s * eps; x_next = x + (x - x0) / s * (s_next - s).
    const at::Tensor x = randn_fixed(5, {1, 4, 8, 8}) * 14.6, eps = randn_fixed(6, {1, 4, 8, 8});
    euler->set_timesteps(4);
    const double s = euler->sigmas()[1], s_next = euler->sigmas()[2];
    const at::Tensor xd = x.to(at::kDouble), ed = eps.to(at::kDouble);
    const at::Tensor x0 = xd - s * ed;
    CHECK(rel(euler->step(eps, 1, x, nullptr).prev_sample, xd + (xd - x0) / s * (s_next - s)) < 1e-6);
    CHECK(rel(euler->scale_model_input(x, 1), xd / std::sqrt(s * s + 1)) < 1e-6);
    CHECK(rel(euler->add_noise(x, eps, 1), xd + s * ed) < 1e-6);
}

TEST_CASE("Euler ancestral: sigma_up / sigma_down step with per-image noise") {
    SchedulerConfig config = fixture_config();
    config.timestep_spacing = "linspace";
    auto ea = make_scheduler("euler_a", config);
    ea->set_timesteps(4);
    CHECK((ea->timesteps() == std::vector<double>{999, 666, 333, 0}));
    const at::Tensor x = randn_fixed(7, {2, 4, 8, 8}), eps = randn_fixed(8, {2, 4, 8, 8});
    NoiseSource noise({at::detail::createCPUGenerator(100), at::detail::createCPUGenerator(101)});
    const StepOutput out = ea->step(eps, 0, x, &noise);
    // The noise rows are generator 100's and 101's first draws, each of shape [1, 4, 8, 8].
    const at::Tensor n = at::cat({randn_fixed(100, {1, 4, 8, 8}), randn_fixed(101, {1, 4, 8, 8})}).to(at::kDouble);
    const double from = ea->sigmas()[0], to = ea->sigmas()[1];
    const double up = std::sqrt(to * to * (from * from - to * to) / (from * from));
    const double down = std::sqrt(to * to - up * up);
    const at::Tensor xd = x.to(at::kDouble), ed = eps.to(at::kDouble);
    const at::Tensor x0 = xd - from * ed;
    const at::Tensor expected = xd + (xd - x0) / from * (down - from) + n * up;
    CHECK(rel(out.prev_sample, expected) < 1e-6);
    CHECK(rel(out.pred_original, x0) < 1e-6);
    // Image 1 does not depend on image 0: the same generator alone gives the same row.
    NoiseSource single({at::detail::createCPUGenerator(101)});
    const StepOutput one = ea->step(eps.slice(0, 1, 2), 0, x.slice(0, 1, 2), &single);
    CHECK(at::equal(one.prev_sample, out.prev_sample.slice(0, 1, 2)));
    CHECK_THROWS_AS(ea->step(eps, 0, x, nullptr), Error);
}

TEST_CASE("DPM-Solver++ 2M: timesteps, sigmas, and a 4-step run against the formulas in double") {
    SchedulerConfig config = fixture_config();
    config.timestep_spacing = "linspace";
    auto dpm = make_scheduler("dpmpp_2m", config);
    dpm->set_timesteps(4);
    // linspace(0, 999, 5) = [0, 249.75, 499.5, 749.25, 999] -> round -> [0, 250, 500, 749, 999] -> [::-1][:-1]
    CHECK((dpm->timesteps() == std::vector<double>{999, 749, 500, 250}));
    REQUIRE(dpm->sigmas().size() == 5);
    for (int i = 0; i < 4; ++i) {
        CHECK(dpm->sigmas()[i] == doctest::Approx(train_sigma(int64_t(dpm->timesteps()[i]))).epsilon(1e-6));
    }
    CHECK(dpm->sigmas()[4] == 0.029167532920837402f);  // sigma_last = sqrt((1 - a_0) / a_0)
    CHECK(dpm->init_noise_sigma() == 1.0f);
    config.timestep_spacing = "leading";  // 1000 // 5 = 200: [800, 600, 400, 200] + 1
    auto lead = make_scheduler("dpmpp_2m", config);
    lead->set_timesteps(4);
    CHECK((lead->timesteps() == std::vector<double>{801, 601, 401, 201}));
    config.timestep_spacing = "linspace";

    // Independent reference: x0_i = (x - sigma_t eps) / alpha_t; step 0 first order, steps 1-2 second order
    // (midpoint), step 3 first order again (lower_order_final for < 15 steps).
    const at::Tensor x_init = randn_fixed(9, {1, 4, 8, 8});
    std::vector<at::Tensor> outputs;
    for (int i = 0; i < 4; ++i) outputs.push_back(randn_fixed(20 + i, {1, 4, 8, 8}));
    auto alpha_sigma = [](double s) { const double a = 1 / std::sqrt(s * s + 1); return std::make_pair(a, s * a); };
    auto lam = [&](double s) { auto [a, st] = alpha_sigma(s); return std::log(a) - std::log(st); };
    at::Tensor x = x_init.to(at::kDouble), ours = x_init;
    std::vector<at::Tensor> x0s;
    for (int i = 0; i < 4; ++i) {
        const std::vector<float>& sg = dpm->sigmas();
        auto [a_s, s_s] = alpha_sigma(sg[i]);
        auto [a_t, s_t] = alpha_sigma(sg[i + 1]);
        x0s.push_back((x - s_s * outputs[i].to(at::kDouble)) / a_s);
        const double h = lam(sg[i + 1]) - lam(sg[i]);
        if (i == 0 || i == 3) {
            x = (s_t / s_s) * x - a_t * (std::exp(-h) - 1) * x0s[i];
        } else {
            const double r0 = (lam(sg[i]) - lam(sg[i - 1])) / h;
            const at::Tensor d1 = (x0s[i] - x0s[i - 1]) / r0;
            x = (s_t / s_s) * x - a_t * (std::exp(-h) - 1) * x0s[i] - 0.5 * a_t * (std::exp(-h) - 1) * d1;
        }
        ours = dpm->step(outputs[i], i, ours, nullptr).prev_sample;
        CAPTURE(i);
        CHECK(rel(ours, x) < 1e-5);
    }
}

TEST_CASE("DPM-Solver++ 2M Karras: Karras sigmas (rho 7) and their rounded timesteps") {
    auto dpm = make_scheduler("dpmpp_2m_karras", fixture_config());
    dpm->set_timesteps(4);
    // sigma_i = (max^(1/7) + i/3 (min^(1/7) - max^(1/7)))^7 with max = sigma(999), min = sigma(0);
    // t = round(_sigma_to_t(sigma)) = round([999, 687.153, 145.939, 0]).
    CHECK((dpm->timesteps() == std::vector<double>{999, 687, 146, 0}));
    const std::vector<float> expected = {14.614645004272461f, 3.1686108112335205f, 0.44692087173461914f,
                                         0.029167532920837402f, 0.029167532920837402f};  // last repeated
    REQUIRE(dpm->sigmas().size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) CHECK(dpm->sigmas()[i] == doctest::Approx(expected[i]).epsilon(2e-7));
    dpm->set_timesteps(10);
    CHECK((dpm->timesteps() == std::vector<double>{999, 916, 815, 687, 523, 327, 146, 41, 7, 0}));
    CHECK(dpm->sigmas()[1] == doctest::Approx(9.102935791015625).epsilon(2e-7));
    CHECK(dpm->sigmas()[8] == doctest::Approx(0.08191104978322983).epsilon(2e-7));
}

TEST_CASE("LCM: skipping-step timesteps, strength, boundary-condition scalings") {
    auto lcm = make_scheduler("lcm", fixture_config());
    lcm->set_timesteps(4);
    // k = 1000 // 50 = 20; origin = [19, 39, ..., 999][::-1]; indices floor(linspace(0, 50, 4, endpoint=False))
    // = [0, 12, 25, 37] -> [999, 759, 499, 259]
    CHECK((lcm->timesteps() == std::vector<double>{999, 759, 499, 259}));
    lcm->set_timesteps(1);
    CHECK((lcm->timesteps() == std::vector<double>{999}));
    lcm->set_timesteps(4, 0.5);  // origin = [19 .. 499][::-1] (25); indices [0, 6, 12, 18]
    CHECK((lcm->timesteps() == std::vector<double>{499, 379, 259, 139}));
    CHECK(lcm->begin_index() == 0);
    CHECK_THROWS_AS(lcm->set_timesteps(51), Error);

    lcm->set_timesteps(4);
    const at::Tensor x = randn_fixed(30, {1, 4, 8, 8}), eps = randn_fixed(31, {1, 4, 8, 8});
    NoiseSource noise({at::detail::createCPUGenerator(77)});
    const StepOutput out = lcm->step(eps, 1, x, &noise);
    const double t = 759, prev = 499, st = t * 10.0;
    const double c_skip = 0.25 / (st * st + 0.25), c_out = st / std::sqrt(st * st + 0.25);
    const at::Tensor xd = x.to(at::kDouble), ed = eps.to(at::kDouble);
    const at::Tensor x0 = (xd - std::sqrt(1 - ac(759)) * ed) / std::sqrt(ac(759));
    const at::Tensor denoised = c_out * x0 + c_skip * xd;
    const at::Tensor n = randn_fixed(77, {1, 4, 8, 8}).to(at::kDouble);
    CHECK(rel(out.pred_original, denoised) < 1e-6);
    CHECK(rel(out.prev_sample, std::sqrt(ac(int64_t(prev))) * denoised + std::sqrt(1 - ac(int64_t(prev))) * n) < 1e-6);
    // the last step returns the denoised sample without noise
    const StepOutput last = lcm->step(eps, 3, x, nullptr);
    CHECK(at::equal(last.prev_sample, last.pred_original));
}

TEST_CASE("numpy helpers behave like numpy") {
    using namespace schedule;
    CHECK(np_round(0.5) == 0);
    CHECK(np_round(1.5) == 2);
    CHECK(np_round(2.5) == 2);
    CHECK(np_arange(1000, 0, -1000.0 / 3).size() == 3);
    CHECK((np_linspace(0, 50, 4, false) == std::vector<double>{0, 12.5, 25, 37.5}));
    CHECK((np_interp_index(1.25, {1.0f, 3.0f}) == 3.0));  // clamps beyond the last knot
    CHECK((np_interp_index(0.25, {1.0f, 3.0f}) == 1.5));
}
