// Text-to-video on the TINY-A fixture with its AnimateDiff adapter: where the time of a clip goes
// (spatial UNet on all frames, motion modules, VAE decode, the whole generate()), at 2 threads.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "atelier/engine.h"
#include "atelier/system.h"
#include "models/motion_module.h"
#include "runtime/model_impl.h"

using namespace atelier;

namespace {

double best_ms(int runs, const std::function<void()>& f) {
    double best = 1e300;
    for (int r = 0; r < runs; ++r) {
        const auto start = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IONBF, 0);  // figures appear as they are measured
    const int frames = argc > 1 ? std::atoi(argv[1]) : 16;
    const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    set_compute_threads(threads);
    const std::string fixtures = ATELIER_FIXTURES_DIR;
    LoadOptions options;
    options.path = fixtures + "/tiny-sd-a";
    options.device = "cpu";
    options.motion_module = fixtures + "/tiny-animatediff-a/motion-adapter";
    auto model = Model::load(options);
    Model::Impl& m = model->impl();
    c10::InferenceMode guard;

    const at::Tensor sample = at::randn({2, 4, frames, 32, 32});
    const at::Tensor t = at::full({2}, 500.0);
    const at::Tensor context = at::randn({2, 77, 32});
    std::printf("TINY-A + tiny AnimateDiff adapter, %d frames of 64x64 (latent 32x32), CFG batch 2, %d threads\n",
                frames, compute_threads());
    std::printf("%-44s %10s\n", "what", "best ms");
    const double with_motion = best_ms(3, [&] { m.unet->forward(sample, t, context); });
    auto adapter = m.unet->motion_adapter();
    m.unet->set_motion_adapter(nullptr);
    const double spatial = best_ms(3, [&] { m.unet->forward(sample, t, context); });
    m.unet->set_motion_adapter(adapter);
    const at::Tensor h = at::randn({2 * frames, 32, 32, 32}).contiguous(at::MemoryFormat::ChannelsLast);
    const double one_module = best_ms(3, [&] { adapter->down[0][0].forward(h, frames); });
    const at::Tensor z = at::randn({1, 4, 32, 32});
    const double decode = best_ms(3, [&] { m.vae->decode(z); });
    std::printf("%-44s %10.1f\n", "UNet step with motion modules", with_motion);
    std::printf("%-44s %10.1f\n", "UNet step, spatial layers only", spatial);
    std::printf("%-44s %10.1f\n", "one motion module (C=32, 32x32)", one_module);
    std::printf("%-44s %10.1f\n", "VAE decode of one frame", decode);

    GenerateRequest request;
    request.prompt = "a photo of a cat";
    request.steps = 4;
    request.width = request.height = 64;
    request.frames = frames;
    request.preview_interval = 0;
    const double clip4 = best_ms(2, [&] { generate(*model, request); });
    request.steps = 20;
    const double clip20 = best_ms(1, [&] { generate(*model, request); });
    std::printf("%-44s %10.1f\n", "generate(): 4 DDIM steps, whole clip", clip4);
    std::printf("%-44s %10.1f\n", "generate(): 20 DDIM steps, whole clip", clip20);
    std::printf("motion modules share of a UNet step: %.0f%%\n", 100.0 * (with_motion - spatial) / with_motion);
    return 0;
}
