// labels: fast
// The full 4-step DDIM pipeline of the TINY-A fixture against diffusers v0.25.1 (every step), from the
// diffusers folder and from the single file; cancel, previews, batches, img2img and loader errors.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "atelier/engine.h"
#include "atelier/error.h"
#include "runtime/model_impl.h"
#include "runtime/tensors.h"
#include "sampling/pipeline.h"
#include "engine/test_device.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace atelier;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;
constexpr double kTolerance = 1e-4;  // fixtures README: relative L2 per tensor

const TensorMap& reference() {
    static const TensorMap ref = load_tensors(kFixtures + "/tiny-sd-a-reference.safetensors");
    return ref;
}

std::shared_ptr<Model> load(const std::string& path, const std::string& yaml = "") {
    LoadOptions options;
    options.path = path;
    options.device = test_device();
    options.precision = "float32";
    options.config_path = yaml;
    return Model::load(options);
}

std::shared_ptr<Model>& folder_model() {
    static std::shared_ptr<Model> model = load(kFixtures + "/tiny-sd-a");
    return model;
}

FloatTensor to_float_tensor(const at::Tensor& t) {
    const at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
    FloatTensor out;
    out.shape = c.sizes().vec();
    out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    return out;
}

GenerateRequest fixture_request() {
    GenerateRequest request;
    request.prompt = "a photo of a cat";
    request.negative_prompt = "";
    request.steps = 4;
    request.guidance = 7.5f;
    request.width = 64;
    request.height = 64;
    request.init_latents = to_float_tensor(reference().at("pipeline.init_latents"));
    return request;
}

// Runs the fixture request and checks every observed tensor; returns the worst relative error.
double check_fixture_run(Model& model, const std::string& label) {
    PipelineTrace trace;
    const auto start = std::chrono::steady_clock::now();
    const GenerateResult result = generate_traced(model, fixture_request(), &trace);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const TensorMap& ref = reference();
    REQUIRE(!result.cancelled);
    REQUIRE(result.images.size() == 1);

    CHECK(at::equal(trace.negative_prompt_ids, ref.at("pipeline.negative_prompt_ids")));
    const at::Tensor ref_ts = ref.at("pipeline.timesteps");
    REQUIRE(trace.timesteps.size() == 4);
    for (int k = 0; k < 4; ++k) CHECK(trace.timesteps[k] == double(ref_ts[k].item<int64_t>()));

    double worst = 0;
    auto compare = [&](const std::string& name, const at::Tensor& ours, const at::Tensor& theirs) {
        const double e = relative_l2(ours, theirs);
        MESSAGE(label << " " << name << ": relative L2 " << e);
        CHECK_MESSAGE(e < kTolerance, name);
        worst = std::max(worst, e);
    };
    compare("prompt_embeds", trace.prompt_embeds, ref.at("pipeline.prompt_embeds"));
    compare("negative_prompt_embeds", trace.negative_prompt_embeds, ref.at("pipeline.negative_prompt_embeds"));
    REQUIRE(trace.unet_in.size() == 4);
    for (int k = 0; k < 4; ++k) {
        const std::string s = "[" + std::to_string(k) + "]";
        compare("unet_in" + s, trace.unet_in[k], ref.at("pipeline.unet_in")[k]);
        compare("unet_out" + s, trace.unet_out[k], ref.at("pipeline.unet_out")[k]);
        compare("step_latents" + s, trace.step_latents[k], ref.at("pipeline.step_latents")[k]);
    }
    compare("final_latents", trace.final_latents, ref.at("pipeline.final_latents"));
    compare("vae_decoded", trace.vae_decoded, ref.at("pipeline.vae_decoded"));
    compare("image", trace.image, ref.at("pipeline.image"));

    // 8-bit output = round(image * 255) of the reference, to within one level
    const at::Tensor expected = (ref.at("pipeline.image")[0] * 255.0).round().permute({1, 2, 0}).contiguous().to(at::kInt);
    const Image& image = result.images[0];
    REQUIRE(image.width == 64);
    REQUIRE(image.height == 64);
    const at::Tensor ours = at::from_blob(const_cast<uint8_t*>(image.pixels.data()), {64, 64, 3}, at::kByte).to(at::kInt);
    CHECK((ours - expected).abs().max().item<int>() <= 1);
    MESSAGE(label << ": 64x64, 4 DDIM steps, CFG, " << at::get_num_threads() << " threads: " << ms << " ms");
    return worst;
}

}  // namespace

TEST_CASE("TINY-A 4-step DDIM pipeline matches diffusers at every step (diffusers folder)") {
    Model& model = *folder_model();
    const ModelInfo& info = model.info();
    CHECK(info.format == "diffusers");
    CHECK(info.family == "sd1");
    CHECK(info.default_sampler == "ddim");
    CHECK(info.prediction_type == "epsilon");
    CHECK(info.default_width == 64);
    CHECK(info.vae_scale_factor == 2);
    CHECK(info.device == test_device());
    CHECK(info.precision == "float32");
    CHECK(info.id.size() == 10);
    check_fixture_run(model, "folder");
    // A second run on the same model gives the same result (no state kept between requests).
    check_fixture_run(model, "folder again");
}

TEST_CASE("TINY-A pipeline from the single-file checkpoint, with and without its yaml") {
    auto plain = load(kFixtures + "/tiny-sd-a-original.safetensors");
    CHECK(plain->info().format == "single-file");
    CHECK(plain->info().unet_parameters == folder_model()->info().unet_parameters);
    CHECK(plain->info().vae_parameters == folder_model()->info().vae_parameters);
    CHECK(plain->info().text_encoder_parameters == folder_model()->info().text_encoder_parameters);
    check_fixture_run(*plain, "single file");
    auto with_yaml = load(kFixtures + "/tiny-sd-a-original.safetensors", kFixtures + "/tiny-sd-a-original.yaml");
    CHECK(with_yaml->info().default_width == 64);  // image_size 32 x VAE factor 2
    CHECK(with_yaml->info().prediction_type == "epsilon");
    check_fixture_run(*with_yaml, "single file + yaml");
}

TEST_CASE("cancel and on_progress stop within one step; the model stays usable") {
    Model& model = *folder_model();
    CancelToken token;
    GenerateRequest request = fixture_request();
    int progress_calls = 0;
    request.cancel = &token;
    request.on_progress = [&](int step, int total) {
        ++progress_calls;
        CHECK(total == 4);
        if (step == 1) token.cancel();
        return true;
    };
    GenerateResult result = generate(model, request);
    CHECK(result.cancelled);
    CHECK(result.images.empty());
    CHECK(progress_calls == 1);  // no UNet step ran after the cancel

    progress_calls = 0;
    token.reset();
    request.on_progress = [&](int step, int) {
        ++progress_calls;
        return step < 2;
    };
    result = generate(model, request);
    CHECK(result.cancelled);
    CHECK(progress_calls == 2);

    token.cancel();  // cancelled before the start: nothing runs
    progress_calls = 0;
    result = generate(model, request);
    CHECK(result.cancelled);
    CHECK(progress_calls == 0);

    request.cancel = nullptr;
    request.on_progress = nullptr;
    CHECK(check_fixture_run(model, "after cancel") < kTolerance);
}

TEST_CASE("previews arrive every preview_interval steps at latent size (projection) or image size (decode)") {
    Model& model = *folder_model();
    GenerateRequest request = fixture_request();
    std::vector<std::pair<int, Image>> previews;
    request.on_preview = [&](int step, const Image& image) { previews.emplace_back(step, image); };
    request.preview_interval = 2;
    generate(model, request);
    REQUIRE(previews.size() == 2);
    CHECK(previews[0].first == 2);
    CHECK(previews[1].first == 4);
    CHECK(previews[0].second.width == 32);
    CHECK(previews[0].second.height == 32);
    CHECK(previews[0].second.channels == 3);

    previews.clear();
    request.preview_interval = 3;
    request.preview_full_decode = true;
    generate(model, request);
    REQUIRE(previews.size() == 1);
    CHECK(previews[0].first == 3);
    CHECK(previews[0].second.width == 64);

    previews.clear();
    request.preview_interval = 0;
    generate(model, request);
    CHECK(previews.empty());

    // The projection itself: a latent of ones gives ((sum of each column) + 1) / 2 (ComfyUI SD15 factors).
    const at::Tensor rgb = latent_rgb_preview(at::ones({1, 4, 2, 2}));
    CHECK(rgb[0][0][0][0].item<float>() == doctest::Approx((0.3512 + 0.3250 - 0.2829 - 0.2120 + 1) / 2));
    CHECK(rgb[0][2][1][1].item<float>() == doctest::Approx((0.3227 + 0.2350 + 0.2721 - 0.7177 + 1) / 2));
}

TEST_CASE("batches: image i uses seed + i, the same as alone; params and final latents are filled") {
    Model& model = *folder_model();
    GenerateRequest request;
    request.prompt = "a lighthouse";
    request.negative_prompt = "fog";
    request.steps = 2;
    request.sampler = "euler_a";  // stochastic steps: the per-image noise matters
    request.seed = 40;
    request.batch = 2;
    request.keep_final_latents = true;
    const GenerateResult both = generate(model, request);
    REQUIRE(both.images.size() == 2);
    REQUIRE(both.params.size() == 2);
    CHECK(both.params[0].seed == 40);
    CHECK(both.params[1].seed == 41);
    CHECK(both.params[1].sampler == "euler_a");
    CHECK(both.params[1].timestep_spacing == "leading");  // the fixture's scheduler config
    CHECK(both.params[1].model_id == model.info().id);
    CHECK(both.params[1].model_name == "tiny-sd-a");
    CHECK(both.params[1].width == 64);
    REQUIRE(both.final_latents.has_value());
    CHECK((both.final_latents->shape == std::vector<int64_t>{2, 4, 32, 32}));

    request.batch = 1;
    request.seed = 41;
    const GenerateResult alone = generate(model, request);
    const std::vector<float> row1(both.final_latents->data.begin() + 4096, both.final_latents->data.end());
    const at::Tensor a = at::tensor(row1), b = at::tensor(alone.final_latents ? alone.final_latents->data : row1);
    // The same picture up to rounding: a GPU, and some CPUs' BLAS (an AMD EPYC here: 3.4e-6), pick other kernels
    // for another batch size. Another seed's picture would be far away (relative L2 ~1).
    const at::Tensor pa = at::tensor(std::vector<int>(alone.images[0].pixels.begin(), alone.images[0].pixels.end()));
    const at::Tensor pb = at::tensor(std::vector<int>(both.images[1].pixels.begin(), both.images[1].pixels.end()));
    CHECK((pa - pb).abs().max().item<int>() <= 1);
    CHECK(relative_l2(a, b) < (test_device() == "cpu" ? 1e-5 : 1e-4));

    // every sampler runs on the fixture
    for (const char* sampler : {"ddim", "euler", "dpmpp_2m", "dpmpp_2m_karras", "lcm"}) {
        request.sampler = sampler;
        request.steps = 3;
        CAPTURE(sampler);
        const GenerateResult r = generate(model, request);
        CHECK(r.images.size() == 1);
        CHECK(r.params[0].sampler == sampler);
    }
}

TEST_CASE("img2img runs the last steps from the noised picture; guidance <= 1 runs the cond branch only") {
    Model& model = *folder_model();
    GenerateRequest request;
    request.prompt = "a photo of a cat";
    request.steps = 4;
    request.init_image = Image{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3, 128)};
    request.strength = 0.5f;
    int calls = 0;
    request.on_progress = [&](int, int total) {
        ++calls;
        CHECK(total == 2);
        return true;
    };
    PipelineTrace trace;
    const GenerateResult r = generate_traced(model, request, &trace);
    CHECK(calls == 2);
    CHECK((trace.timesteps == std::vector<double>{251, 1}));
    CHECK(r.params[0].strength == 0.5f);
    CHECK(r.images[0].width == 64);

    GenerateRequest plain;
    plain.prompt = "a photo of a cat";
    plain.steps = 1;
    plain.guidance = 1.0f;
    PipelineTrace t2;
    generate_traced(model, plain, &t2);
    CHECK(t2.unet_out[0].size(0) == 1);
    CHECK(!t2.negative_prompt_embeds.defined());
}

TEST_CASE("bad requests and bad model files give atelier::Error naming what is wrong") {
    Model& model = *folder_model();
    GenerateRequest request = fixture_request();
    request.width = 60;
    CHECK_THROWS_WITH_AS(generate(model, request), doctest::Contains("multiples of 8"), Error);
    request = fixture_request();
    request.init_latents->shape = {1, 4, 16, 64};
    CHECK_THROWS_WITH_AS(generate(model, request), doctest::Contains("init_latents"), Error);
    request = fixture_request();
    request.sampler = "plms";
    CHECK_THROWS_WITH_AS(generate(model, request), doctest::Contains("plms"), Error);

    CHECK_THROWS_WITH_AS(load("/nonexistent/model-x"), doctest::Contains("/nonexistent/model-x"), Error);

    const TempDir scratch("pipeline");
    const fs::path dir = scratch.path;
    // a truncated single file
    const fs::path truncated = dir / "truncated.safetensors";
    fs::copy_file(kFixtures + "/tiny-sd-a-original.safetensors", truncated, fs::copy_options::overwrite_existing);
    fs::resize_file(truncated, fs::file_size(truncated) / 2);
    CHECK_THROWS_WITH_AS(load(truncated.string()), doctest::Contains(truncated.string().c_str()), Error);
    // a pickle is refused
    const fs::path pickle = dir / "model.ckpt";
    std::ofstream(pickle) << "not loaded";
    CHECK_THROWS_WITH_AS(load(pickle.string()), doctest::Contains("model.ckpt"), Error);
    // a diffusers folder whose UNet weights are truncated
    const fs::path folder = dir / "tiny";
    fs::copy(kFixtures + "/tiny-sd-a", folder, fs::copy_options::recursive);
    for (auto& entry : fs::recursive_directory_iterator(folder)) {
        fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
    }
    fs::permissions(folder, fs::perms::owner_write, fs::perm_options::add);
    const fs::path unet = folder / "unet" / "diffusion_pytorch_model.safetensors";
    fs::resize_file(unet, 1000);
    CHECK_THROWS_WITH_AS(load(folder.string()), doctest::Contains(unet.string().c_str()), Error);
    fs::remove(unet);
    CHECK_THROWS_WITH_AS(load(folder.string()), doctest::Contains("unet"), Error);
}

TEST_CASE("a model folder's atelier.json sets the steps and guidance a request leaves open") {
    const TempDir scratch("defaults");
    const fs::path folder = scratch.path / "tiny";
    fs::copy(kFixtures + "/tiny-sd-a", folder, fs::copy_options::recursive);
    fs::permissions(folder, fs::perms::owner_write, fs::perm_options::add);
    std::ofstream(folder / "atelier.json") << R"({"default_steps": 3, "default_guidance": 1.0, "example_prompt": "a cat"})";
    auto model = load(folder.string());
    CHECK(model->info().default_steps == 3);
    CHECK(model->info().default_guidance == 1.0f);
    CHECK(model->info().example_prompt == "a cat");
    GenerateRequest r;
    r.prompt = "a cat";
    r.preview_interval = 0;
    int total = 0;
    r.on_progress = [&](int, int n) {
        total = n;
        return true;
    };
    const GenerateResult defaults = generate(*model, r);
    CHECK(total == 3);
    CHECK(defaults.params.at(0).steps == 3);
    CHECK(defaults.params.at(0).guidance == 1.0f);
    r.steps = 2;  // what the request says wins
    r.guidance = 7.5f;
    CHECK(generate(*model, r).params.at(0).steps == 2);
    CHECK(folder_model()->info().default_steps == 20);  // no atelier.json: SD's usual
    CHECK(folder_model()->info().default_guidance == 7.5f);
    CHECK(folder_model()->info().example_prompt.empty());

    std::ofstream(folder / "atelier.json") << R"({"example_prompt": 3})";
    CHECK_THROWS_WITH_AS(load(folder.string()), doctest::Contains("a string example_prompt"), Error);
    std::ofstream(folder / "atelier.json") << R"({"example_prompt": ")" << std::string(1001, 'a') << R"("})";
    CHECK_THROWS_WITH_AS(load(folder.string()), doctest::Contains("example_prompt is 1001 characters long"), Error);

    std::ofstream(folder / "atelier.json") << R"({"default_steps": "many"})";
    CHECK_THROWS_WITH_AS(load(folder.string()), doctest::Contains("atelier.json"), Error);
    std::ofstream(folder / "atelier.json") << R"({"default_steps": 0})";
    CHECK_THROWS_WITH_AS(load(folder.string()), doctest::Contains("default_steps must be in 1..1000"), Error);
}
