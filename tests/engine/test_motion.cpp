// labels: fast
// AnimateDiff on TINY-A against diffusers v0.25.1 (fixtures tiny-animatediff-a): one motion module, the
// UNet with motion modules, every step of the text-to-video pipeline and the decoded frames, from the
// diffusers MotionAdapter folder and from the original AnimateDiff layout; errors on bad files.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "atelier/engine.h"
#include "atelier/error.h"
#include "models/motion_module.h"
#include "runtime/model_impl.h"
#include "runtime/tensors.h"
#include "sampling/pipeline.h"

namespace fs = std::filesystem;
using namespace atelier;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;
const std::string kAdapterDir = kFixtures + "/tiny-animatediff-a/motion-adapter";
const std::string kOriginal = kFixtures + "/tiny-animatediff-a/motion-module-original.safetensors";
constexpr double kTolerance = 1e-4;  // fixtures README: relative L2 per tensor

const TensorMap& reference() {
    static const TensorMap ref = load_tensors(kFixtures + "/tiny-animatediff-a/reference.safetensors");
    return ref;
}

std::shared_ptr<Model>& model() {
    static std::shared_ptr<Model> m = [] {
        LoadOptions options;
        options.path = kFixtures + "/tiny-sd-a";
        options.device = "cpu";
        return Model::load(options);
    }();
    return m;
}

std::string temp_path(const std::string& name) {
    return (fs::temp_directory_path() / ("atelier-motion-" + std::to_string(getpid()) + "-" + name)).string();
}

double rel(const at::Tensor& a, const at::Tensor& ref) { return relative_l2(a, ref); }

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("motion module: positional table and one module (diffusers and per-frame GroupNorm)") {
    const TensorMap& ref = reference();
    for (const std::string& path : {kAdapterDir, kOriginal}) {
        INFO(path);
        auto adapter = MotionAdapter::load(path, path == kOriginal ? 4 : 0);
        CHECK(adapter->config().block_out_channels == std::vector<int>{32, 64});
        CHECK(adapter->config().layers_per_block == 2);
        CHECK(adapter->config().mid_layers == 1);
        CHECK(adapter->config().max_frames == 32);
        const MotionModule& m = adapter->down[0][0];
        CHECK(rel(m.blocks[0].pe, ref.at("motion_module.pe")) < 1e-7);
        CHECK(rel(MotionModule::sinusoidal_table(32, 32), ref.at("motion_module.pe")) < 1e-6);
        const at::Tensor out = m.forward(ref.at("motion_module.input"), 8);
        const double e = rel(out, ref.at("motion_module.output"));
        MESSAGE("motion_module.output rel L2 " << e);
        CHECK(e < kTolerance);
        adapter->set_per_frame_groupnorm(true);
        const double e2 = rel(adapter->down[0][0].forward(ref.at("motion_module.input"), 8),
                              ref.at("motion_module.output_per_frame_groupnorm"));
        MESSAGE("motion_module.output_per_frame_groupnorm rel L2 " << e2);
        CHECK(e2 < kTolerance);
    }
}

TEST_CASE("UNet with motion modules: unet.out.t500 from both layouts, per-frame GroupNorm, no adapter") {
    const TensorMap& ref = reference();
    UNet2DCondition& unet = *model()->impl().unet;
    const at::Tensor sample = ref.at("unet.sample"), context = ref.at("unet.encoder_hidden_states");
    const at::Tensor t = ref.at("unet.timesteps");
    at::InferenceMode guard;
    unet.set_motion_adapter(nullptr);
    const double plain = rel(unet.forward(sample, t, context), ref.at("unet2d_per_frame.out.t500"));
    MESSAGE("unet2d_per_frame.out.t500 rel L2 " << plain);
    CHECK(plain < kTolerance);
    for (const std::string& path : {kAdapterDir, kOriginal}) {
        INFO(path);
        auto adapter = MotionAdapter::load(path, path == kOriginal ? 4 : 0);
        unet.set_motion_adapter(adapter);
        const double e = rel(unet.forward(sample, t, context), ref.at("unet.out.t500"));
        MESSAGE("unet.out.t500 (" << fs::path(path).filename().string() << ") rel L2 " << e);
        CHECK(e < kTolerance);
        adapter->set_per_frame_groupnorm(true);
        const double e2 = rel(unet.forward(sample, t, context), ref.at("unet.out_per_frame_groupnorm.t500"));
        MESSAGE("unet.out_per_frame_groupnorm.t500 rel L2 " << e2);
        CHECK(e2 < kTolerance);
    }
    unet.set_motion_adapter(nullptr);
}

TEST_CASE("bad motion-module files give clear errors") {
    const std::string adapter_file = kAdapterDir + "/diffusion_pytorch_model.safetensors";
    SUBCASE("truncated") {
        const std::string path = temp_path("truncated.safetensors");
        std::ifstream in(adapter_file, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
        const std::string e = error_of([&] { MotionAdapter::load(path); });
        MESSAGE(e);
        CHECK(e.find(path) != std::string::npos);
        fs::remove(path);
    }
    SUBCASE("missing tensor") {
        TensorMap weights = load_tensors(adapter_file);
        weights.erase("up_blocks.1.motion_modules.2.proj_out.bias");
        const std::string path = temp_path("missing.safetensors");
        save_tensors(path, weights);
        const std::string e = error_of([&] { MotionAdapter::load(path); });
        MESSAGE(e);
        CHECK(e.find("missing tensor 'up_blocks.1.motion_modules.2.proj_out.bias'") != std::string::npos);
        CHECK(e.find("[32]") != std::string::npos);
        fs::remove(path);
    }
    SUBCASE("wrong channels for the UNet") {
        // Levels swapped (64 then 32 channels) and no mid module: a consistent adapter for another UNet.
        TensorMap weights;
        for (const auto& [name, t] : load_tensors(adapter_file)) {
            std::string n = name;
            if (n.rfind("mid_block.", 0) == 0) continue;
            for (const char* block : {"down_blocks.", "up_blocks."})
                if (n.rfind(block, 0) == 0) {
                    const size_t digit = std::string(block).size();
                    n[digit] = n[digit] == '0' ? '1' : '0';
                }
            weights[n] = t;
        }
        const std::string path = temp_path("swapped.safetensors");
        save_tensors(path, weights);
        auto adapter = MotionAdapter::load(path);
        CHECK(adapter->config().block_out_channels == std::vector<int>{64, 32});
        CHECK(adapter->config().mid_layers == 0);
        const std::string e = error_of([&] { model()->impl().unet->set_motion_adapter(adapter); });
        MESSAGE(e);
        CHECK(e.find("down_blocks.0.motion_modules.0.proj_in.weight") != std::string::npos);
        CHECK(e.find("[64, 64]") != std::string::npos);
        CHECK(e.find("[32, 32]") != std::string::npos);
        CHECK(model()->impl().unet->motion_adapter() == nullptr);
        fs::remove(path);
    }
    SUBCASE("not a motion module") {
        const std::string e = error_of([&] { MotionAdapter::load(kFixtures + "/tiny-sd-a/unet/diffusion_pytorch_model.safetensors"); });
        MESSAGE(e);
        CHECK(e.find("no motion modules found") != std::string::npos);
    }
}
