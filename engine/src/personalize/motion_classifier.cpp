// Motion classifier: five frames at t = 0, 1/4, 1/2, 3/4, 1 and their four successive differences stacked as
// 27 channels (an "early fusion" clip CNN, Karpathy et al. 2014), then a VGG-style conv-ReLU-maxpool stack
// (Simonyan & Zisserman 2015) and a two-layer head. Bounce needs the quarter frames: it is on the ground at
// t = 0, 1/2 and 1.
#include "personalize/motion_classifier.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "atelier/error.h"
#include "personalize/base_model.h"
#include "personalize/motion_clips.h"
#include "personalize/small_cnn.h"
#include "personalize/trainer.h"

namespace atelier {

namespace {

constexpr int kSampledFrames = 5;
const SmallCnnShape kShape{{3 * kSampledFrames + 3 * (kSampledFrames - 1), 32, 64, 96, 128}, 256, world::kMotionCount};

int64_t sampled_frame(int k, int64_t frames) {
    return std::llround(double(k) * double(frames - 1) / (kSampledFrames - 1));
}

at::Tensor clip_features(const at::Tensor& clips) {
    if (clips.dim() != 5 || clips.size(1) < kSampledFrames || clips.size(2) != 3 || clips.size(3) != 64 ||
        clips.size(4) != 64)
        throw Error("motion classifier: expected clips [B, F >= 5, 3, 64, 64], found " + shape_string(clips.sizes()));
    const int64_t F = clips.size(1);
    std::vector<at::Tensor> frames, parts;
    for (int k = 0; k < kSampledFrames; ++k)
        frames.push_back(clips.select(1, sampled_frame(k, F)));
    parts = frames;
    for (int k = 1; k < kSampledFrames; ++k) parts.push_back(frames[size_t(k)] - frames[size_t(k - 1)]);
    return at::cat(parts, 1);
}

}  // namespace

MotionClassifier::MotionClassifier(uint64_t seed) : weights_(small_cnn_init(kShape, seed)) {}

MotionClassifier::MotionClassifier(TensorMap weights)
    : weights_(small_cnn_checked(std::move(weights), kShape, "motion classifier")) {}

MotionClassifier MotionClassifier::load(const std::string& path) { return MotionClassifier(load_tensors(path)); }

void MotionClassifier::save(const std::string& path) const { small_cnn_save(weights_, path); }

at::Tensor MotionClassifier::logits(const at::Tensor& clips) const {
    return small_cnn_forward(weights_, clip_features(clips));
}

std::vector<world::Motion> MotionClassifier::predict(const at::Tensor& clips) const {
    at::NoGradGuard no_grad;
    const at::Tensor best = logits(clips.to(at::kFloat)).argmax(1).contiguous();
    std::vector<world::Motion> out;
    for (int64_t i = 0; i < best.size(0); ++i) out.push_back(world::Motion(best[i].item<int64_t>()));
    return out;
}

world::Motion MotionClassifier::predict(const std::vector<Image>& frames) const {
    return predict(images_to_tensor(frames).unsqueeze(0)).at(0);
}

MotionClassifier MotionClassifier::train(const MotionClassifierTrainOptions& o) {
    if (o.frames < kSampledFrames)
        throw Error("motion classifier: training clips need at least 5 frames, found " + std::to_string(o.frames));
    const OptimizerOptions opt = small_cnn_optimizer(o.lr, o.steps);
    Trainer trainer(MotionClassifier(o.seed).weights_, opt);
    TrainLoopOptions loop;
    loop.total_steps = o.steps;
    loop.checkpoint_every = 0;
    loop.on_progress = [&](const TrainProgress& p) {
        if (o.on_progress) o.on_progress(p.step, p.total, p.loss_avg);
    };
    const uint64_t base = world::derive_seed(o.seed, 0xC11Bull);
    // Only the frames logits() reads of an o.frames clip: a third of the rendering.
    std::vector<float> times;
    for (int k = 0; k < kSampledFrames; ++k)
        times.push_back(float(sampled_frame(k, o.frames)) / float(std::max(o.frames - 1, 1)));
    run_training(trainer, loop, [&](int64_t step) {
        const ClipBatch batch = render_clip_frames(base, step * o.batch, o.batch, times, 64, o.held_out);
        // Robust to generated clips: a quarter blurred, all with a little noise.
        auto gen = at::make_generator<at::CPUGeneratorImpl>(world::derive_seed(o.seed, uint64_t(step)));
        at::Tensor x = batch.frames;
        const int64_t q = o.batch / 4;
        if (q > 0) {
            const at::Tensor head = x.narrow(0, 0, q);
            const at::Tensor blurred = at::avg_pool2d(head.flatten(0, 1), 3, 1, 1, false, false).view(head.sizes());
            x = at::cat({blurred, x.narrow(0, q, x.size(0) - q)});
        }
        x = x + 0.04 * at::randn(x.sizes(), gen);
        std::vector<int64_t> targets;
        for (world::Motion m : batch.motions) targets.push_back(int64_t(m));
        const MotionClassifier model(trainer.params());
        at::Tensor l = at::cross_entropy_loss(model.logits(x), at::tensor(targets, at::kLong));
        l.backward();
        return l.item<double>();
    });
    TensorMap out;
    for (const auto& [k, v] : trainer.params()) out[k] = v.detach().clone();
    return MotionClassifier(std::move(out));
}

}  // namespace atelier
