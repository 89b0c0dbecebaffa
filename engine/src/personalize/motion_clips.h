// Short rendered clips of the procedural world for the motion work (internal): a scene, one of the nine
// motions, its frames at evenly spaced t in [0, 1] and the caption with the motion phrase. Ground truth for
// training the motion module and the motion classifier, and the prompts of bench_motion.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "atelier/world.h"

namespace atelier {

struct ClipBatch {
    at::Tensor frames;  // [n, F, 3, size, size] float32 in [-1, 1]
    std::vector<world::Scene> scenes;
    std::vector<world::Motion> motions;
    std::vector<std::string> captions;  // world::caption(scene) + world::motion_phrase(motion)
};

// The motion of clip `index` of the data set with seed `base` (independent of its scene's draws), drawn from
// `motions` (empty: all nine).
world::Motion clip_motion(uint64_t base, int64_t index, const std::vector<world::Motion>& motions = {});
world::Scene clip_scene(uint64_t base, int64_t index, world::HeldOut held_out = world::HeldOut::exclude);
std::string clip_caption(const world::Scene& scene, world::Motion motion);

// Clips index .. index+n-1 of the data set with seed `base`; frame f shows t = f / (frames - 1).
ClipBatch render_clip_batch(uint64_t base, int64_t index, int n, int frames, int size = 64,
                            world::HeldOut held_out = world::HeldOut::exclude,
                            const std::vector<world::Motion>& motions = {});

// As render_clip_batch, but only the frames at `times` (t in [0, 1]): [n, times.size(), 3, size, size].
ClipBatch render_clip_frames(uint64_t base, int64_t index, int n, const std::vector<float>& times, int size = 64,
                             world::HeldOut held_out = world::HeldOut::exclude,
                             const std::vector<world::Motion>& motions = {});

// Data-set seeds: training clips of trainer seed s, evaluation clips that never overlap them, and validation
// clips (a third stream, for choosing settings without looking at the evaluation clips).
uint64_t motion_train_base(uint64_t seed);
constexpr uint64_t kMotionEvalBase = 0xE7A1C11Bull;
constexpr uint64_t kMotionValidationBase = 0x7A11DC11ull;

}  // namespace atelier
