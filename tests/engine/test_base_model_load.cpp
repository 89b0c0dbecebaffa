// labels: fast
// The shipped default model (resources/models/atelier-tiny): its folder has the diffusers layout and fits
// the size budget, it loads as SD-family components of the expected shapes, and it draws a 64x64 picture
// deterministically (same seed, same bytes; another seed, another picture).
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <vector>

#include "atelier/engine.h"
#include "atelier/system.h"

using namespace atelier;
namespace fs = std::filesystem;

namespace {
const fs::path kModel = fs::path(ATELIER_SOURCE_DIR) / "resources" / "models" / "atelier-tiny";
}

TEST_CASE("the shipped model folder has the diffusers layout; the still model stays within 30 MB") {
    for (const char* f : {"model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                          "text_encoder/model.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt",
                          "tokenizer/tokenizer_config.json", "tokenizer/special_tokens_map.json", "unet/config.json",
                          "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
                          "vae/diffusion_pytorch_model.safetensors"})
        CHECK_MESSAGE(fs::is_regular_file(kModel / f), f);
    // The still model within 30 MB; the motion module it brings (with its motion LoRAs) ships beside it.
    uintmax_t still = 0, motion = 0;
    for (const auto& e : fs::recursive_directory_iterator(kModel))
        if (e.is_regular_file())
            (e.path().string().find("/motion_adapter/") != std::string::npos ? motion : still) += e.file_size();
    CHECK(still <= 30u * 1000u * 1000u);
    CHECK(motion <= 20u * 1000u * 1000u);  // the module (3.5 MB) and room for a rank-32 LoRA per motion (1.5 MB each)
    CHECK_FALSE(fs::exists(kModel / "checkpoints"));
}

TEST_CASE("the shipped model loads and generates a 64x64 picture deterministically") {
    at::set_num_threads(1);
    LoadOptions load;
    load.path = kModel.string();
    auto model = Model::load(load);
    const ModelInfo& info = model->info();
    CHECK(info.format == "diffusers");
    CHECK(info.default_width == 64);
    CHECK(info.default_height == 64);
    CHECK(info.latent_channels == 4);
    CHECK(info.vae_scale_factor == 4);  // 16x16 latents: small shapes survive the autoencoder
    CHECK(info.default_steps == 10);    // atelier.json: fast defaults for a CPU
    CHECK(info.example_prompt == "a large yellow star on a plain blue background");  // the first picture
    CHECK(info.default_guidance == 2.0f);
    CHECK(info.default_sampler == "dpmpp_2m");
    CHECK(info.prediction_type == "epsilon");

    GenerateRequest r;
    r.prompt = "a large red circle in the centre, on a plain white background";
    r.steps = 10;
    r.seed = 3;
    r.preview_interval = 0;
    const GenerateResult a = generate(*model, r);
    REQUIRE(a.images.size() == 1);
    const Image& im = a.images[0];
    CHECK(im.width == 64);
    CHECK(im.height == 64);
    // Not a flat or broken picture: the pixels vary.
    double mean = 0, var = 0;
    for (uint8_t p : im.pixels) mean += p;
    mean /= double(im.pixels.size());
    for (uint8_t p : im.pixels) var += (p - mean) * (p - mean);
    CHECK(std::sqrt(var / double(im.pixels.size())) > 10.0);
    const GenerateResult again = generate(*model, r);
    CHECK(again.images.at(0).pixels == im.pixels);
    r.seed = 4;
    CHECK(generate(*model, r).images.at(0).pixels != im.pixels);
}

TEST_CASE("the shipped model carries its motion module: clips work with no other file") {
    at::set_num_threads(1);
    LoadOptions load;
    load.path = kModel.string();
    auto model = Model::load(load);
    CHECK(fs::path(model->info().motion_module).filename() == "motion_adapter");
    CHECK(model->info().motion_max_frames == 32);
    GenerateRequest r;
    r.prompt = "a red star moving to the left on a plain white background";
    r.frames = 8;
    r.steps = 4;
    r.seed = 1;
    r.preview_interval = 0;
    const GenerateResult clip = generate(*model, r);
    CHECK(clip.frames == 8);
    REQUIRE(clip.images.size() == 8);
    CHECK(clip.images.front().pixels != clip.images.back().pixels);
    // A still picture never runs the module: the same as with the module taken off.
    GenerateRequest still;
    still.prompt = "a red star on a plain white background";
    still.steps = 4;
    still.preview_interval = 0;
    const std::vector<uint8_t> with_module = generate(*model, still).images.at(0).pixels;
    model->set_motion_module("");
    CHECK(generate(*model, still).images.at(0).pixels == with_module);
}

namespace {

// The object's pixels: those far (L1 > 120) from the picture's top-left corner, the plain background.
struct ObjectPixels {
    int count = 0;
    double red = 0, blue = 0;  // mean channel values over them
    double x = 0, y = 0;       // their centre, in pixels from the left and from the top
};

ObjectPixels object_pixels(const Image& image) {
    ObjectPixels o;
    const uint8_t* bg = image.pixels.data();
    for (size_t p = 0; p + 2 < image.pixels.size(); p += 3) {
        const uint8_t* px = image.pixels.data() + p;
        if (std::abs(px[0] - bg[0]) + std::abs(px[1] - bg[1]) + std::abs(px[2] - bg[2]) <= 120) continue;
        ++o.count;
        o.red += px[0];
        o.blue += px[2];
        o.x += double(p / 3 % size_t(image.width));
        o.y += double(p / 3 / size_t(image.width));
    }
    if (o.count) o.red /= o.count, o.blue /= o.count, o.x /= o.count, o.y /= o.count;
    return o;
}

// The object in the first four and in the last four frames of a 16-frame clip (means over the four), and the
// height of its centre in every frame.
struct ClipEnds {
    struct Mean {
        double count = 0, red = 0, blue = 0, x = 0, y = 0;
    } first, last;
    std::vector<double> y;
};
ClipEnds clip_ends(const GenerateResult& clip) {
    ClipEnds e;
    for (const Image& frame : clip.images) e.y.push_back(object_pixels(frame).y);
    for (int f = 0; f < 4; ++f) {
        for (auto [mean, frame] : {std::pair{&e.first, f}, std::pair{&e.last, 12 + f}}) {
            const ObjectPixels o = object_pixels(clip.images.at(size_t(frame)));
            mean->count += o.count / 4.0, mean->red += o.red / 4, mean->blue += o.blue / 4, mean->x += o.x / 4, mean->y += o.y / 4;
        }
    }
    return e;
}

}  // namespace

TEST_CASE("prompt travel on the shipped model: size and colour words change the object over the clip") {
    at::set_num_threads(1);
    LoadOptions load;
    load.path = kModel.string();
    auto model = Model::load(load);
    GenerateRequest r;
    r.frames = 16;
    r.preview_interval = 0;
    for (uint64_t seed : {1, 2}) {
        INFO("seed " << seed);
        r.seed = seed;
        r.prompt = "0: a small green star in the centre on a plain white background\n"
                   "15: a large green star in the centre on a plain white background";
        const GenerateResult grow = generate(*model, r);
        REQUIRE(grow.images.size() == 16);
        const int early = object_pixels(grow.images[2]).count, late = object_pixels(grow.images[14]).count;
        MESSAGE("object pixels, frame 2: " << early << ", frame 14: " << late);
        CHECK(late > 3 * std::max(early, 1));

        r.prompt = "0: a red circle in the centre on a plain white background\n"
                   "15: a blue circle in the centre on a plain white background";
        const GenerateResult change = generate(*model, r);
        const ObjectPixels first = object_pixels(change.images[1]), last = object_pixels(change.images[15]);
        MESSAGE("frame 1: red " << first.red << " blue " << first.blue << "; frame 15: red " << last.red << " blue " << last.blue);
        REQUIRE(first.count > 20);
        REQUIRE(last.count > 20);
        CHECK(first.red > first.blue + 60);
        CHECK(last.blue > last.red + 60);
    }
}

TEST_CASE("the shipped motion words move the object the way the prompt says") {
    // The shipped module's motion LoRAs (motion_adapter/motion_loras.json), each reached by its phrase. Over four
    // seeds, a red circle must go further the asked way with the motion words than without: its centre along the
    // direction, the log of its area for growing / shrinking, its colour for changing colour (first four frames
    // against the last four), and for bouncing how far it rises above both ends (a drift up or down rises above
    // one end only).
    at::set_num_threads(1);
    LoadOptions load;
    load.path = kModel.string();
    auto model = Model::load(load);
    const std::vector<std::string>& phrases = model->info().motion_phrases;
    struct Asked {
        const char* phrase;
        std::function<double(const ClipEnds&)> measure;  // how far the clip went the asked way
        double margin;                                   // by how much more than without the words
    };
    auto along = [](double dx, double dy) {
        return [dx, dy](const ClipEnds& e) { return (e.last.x - e.first.x) * dx + (e.last.y - e.first.y) * dy; };
    };
    auto growth = [](const ClipEnds& e) { return std::log(std::max(e.last.count, 1.0) / std::max(e.first.count, 1.0)); };
    const std::vector<Asked> all = {
        {"moving to the left", along(-1, 0), 1.0},
        {"moving to the right", along(1, 0), 1.0},
        {"moving up", along(0, -1), 1.0},
        {"moving down", along(0, 1), 1.0},
        {"growing", growth, 0.2},
        {"shrinking", [&](const ClipEnds& e) { return -growth(e); }, 0.2},
        {"changing colour", [](const ClipEnds& e) { return std::hypot(e.last.red - e.first.red, e.last.blue - e.first.blue); }, 10.0},
        {"bouncing", [](const ClipEnds& e) { return std::min(e.y.front(), e.y.back()) - *std::min_element(e.y.begin(), e.y.end()); }, 1.0},
    };
    int checked = 0;
    for (const Asked& asked : all) {
        INFO(asked.phrase);
        if (std::find(phrases.begin(), phrases.end(), asked.phrase) == phrases.end()) continue;  // not shipped
        ++checked;
        auto went = [&](bool words) {  // mean over the seeds
            double sum = 0;
            for (uint64_t seed = 1; seed <= 4; ++seed) {
                GenerateRequest r;
                r.prompt = std::string("a red circle ") + asked.phrase + " on a plain white background";
                r.frames = 16;
                r.seed = seed;
                r.preview_interval = 0;
                r.motion_words = words;
                sum += asked.measure(clip_ends(generate(*model, r))) / 4;
            }
            return sum;
        };
        const double with_words = went(true), without = went(false);
        MESSAGE(std::string(asked.phrase) << ": " << with_words << " the asked way with the motion words, " << without << " without");
        CHECK(with_words > without + asked.margin);
        CHECK(with_words > asked.margin);
    }
    CHECK(checked >= 1);
}

TEST_CASE("default_model_dir finds the shipped model in the source tree") {
    const std::string dir = default_model_dir();
    REQUIRE_FALSE(dir.empty());
    CHECK(fs::equivalent(fs::path(dir), kModel));
}
