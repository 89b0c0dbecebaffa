// A small CNN that reads which of the nine motions a clip shows (internal). Trained from scratch on rendered
// clips (personalize/motion_clips.h) with the renderer's ground truth; it judges generated clips in
// bench_motion: does the clip move the way its caption asks?
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "atelier/image.h"
#include "atelier/world.h"
#include "runtime/tensors.h"

namespace atelier {

struct MotionClassifierTrainOptions {
    int64_t steps = 800;  // 700 reach 99% on held-out rendered clips
    int batch = 32;
    int frames = 16;  // per training clip
    double lr = 2e-3;
    uint64_t seed = 11;
    world::HeldOut held_out = world::HeldOut::include;
    std::function<void(int64_t step, int64_t total, double loss)> on_progress;
};

class MotionClassifier {
public:
    // Random initialisation (torch.nn defaults) from `seed`.
    explicit MotionClassifier(uint64_t seed = 11);
    explicit MotionClassifier(TensorMap weights);  // throws atelier::Error naming a missing or mis-shaped tensor

    static MotionClassifier train(const MotionClassifierTrainOptions& options);
    static MotionClassifier load(const std::string& path);
    void save(const std::string& path) const;

    // clips [B, F, 3, 64, 64] float32 in [-1, 1], F >= 5 -> logits [B, kMotionCount].
    at::Tensor logits(const at::Tensor& clips) const;
    std::vector<world::Motion> predict(const at::Tensor& clips) const;
    // One clip's frames (8-bit RGB, 64x64).
    world::Motion predict(const std::vector<Image>& frames) const;

    TensorMap& weights() { return weights_; }

private:
    TensorMap weights_;
};

}  // namespace atelier
