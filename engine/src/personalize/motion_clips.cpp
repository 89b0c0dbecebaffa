// Rendered clips for the motion work: world::render_scene_at over evenly spaced t.
#include "personalize/motion_clips.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>

#include "atelier/error.h"

namespace atelier {

world::Motion clip_motion(uint64_t base, int64_t index, const std::vector<world::Motion>& motions) {
    world::Rng rng(world::derive_seed(base ^ 0x4D07105Eull, uint64_t(index)));
    if (motions.empty()) return world::Motion(rng.below(world::kMotionCount));
    return motions[size_t(rng.below(int(motions.size())))];
}

world::Scene clip_scene(uint64_t base, int64_t index, world::HeldOut held_out) {
    return world::sample_scene(world::derive_seed(base, uint64_t(index)), held_out);
}

std::string clip_caption(const world::Scene& scene, world::Motion motion) {
    return world::caption(scene) + world::motion_phrase(motion);
}

ClipBatch render_clip_batch(uint64_t base, int64_t index, int n, int frames, int size, world::HeldOut held_out,
                            const std::vector<world::Motion>& motions) {
    if (frames < 2) throw Error("render_clip_batch: need frames >= 2, found " + std::to_string(frames));
    std::vector<float> times;
    for (int f = 0; f < frames; ++f) times.push_back(float(f) / float(frames - 1));
    return render_clip_frames(base, index, n, times, size, held_out, motions);
}

ClipBatch render_clip_frames(uint64_t base, int64_t index, int n, const std::vector<float>& times, int size,
                             world::HeldOut held_out, const std::vector<world::Motion>& motions) {
    const int frames = int(times.size());
    if (n < 1 || frames < 1 || size < 8)
        throw Error("render_clip_frames: need n >= 1, frames >= 1 and size >= 8 (found " + std::to_string(n) + ", " +
                    std::to_string(frames) + ", " + std::to_string(size) + ")");
    ClipBatch b;
    at::Tensor bytes = at::empty({n, frames, size, size, 3}, at::kByte);
    b.scenes.resize(size_t(n));
    b.motions.resize(size_t(n));
    b.captions.resize(size_t(n));
    uint8_t* pixels = bytes.data_ptr<uint8_t>();
    const int64_t frame_bytes = int64_t(size) * size * 3;
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {  // clips are independent
        for (int64_t i = begin; i < end; ++i) {
            const world::Scene scene = clip_scene(base, index + i, held_out);
            const world::Motion motion = clip_motion(base, index + i, motions);
            for (int f = 0; f < frames; ++f) {
                const Image im = world::render_scene_at(scene, size, times[size_t(f)], motion);
                std::memcpy(pixels + (i * frames + f) * frame_bytes, im.pixels.data(), im.pixels.size());
            }
            b.scenes[size_t(i)] = scene;
            b.motions[size_t(i)] = motion;
            b.captions[size_t(i)] = clip_caption(scene, motion);
        }
    });
    b.frames = bytes.permute({0, 1, 4, 2, 3}).to(at::kFloat).div_(127.5).sub_(1.0).contiguous();
    return b;
}

uint64_t motion_train_base(uint64_t seed) { return world::derive_seed(0x3071011ull, seed); }

}  // namespace atelier
