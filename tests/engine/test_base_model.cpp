// labels: slow
// The shipped default model judged by an attribute classifier trained here from scratch (a smaller version of
// bench_base_model): 40 held-out captions generated with the default sampler, steps and guidance must show
// the asked shape, colour, background, position and count at rates a margin below those measured, so a
// broken model, sampler or pipeline fails. The classifier is first checked on real renders.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <string>

#include "atelier/engine.h"
#include "atelier/world.h"
#include "personalize/attribute_classifier.h"
#include "personalize/base_model.h"

using namespace atelier;
namespace fs = std::filesystem;

namespace {
// bench_base_model's measured rates for the shipped model at its defaults (10 steps, guidance 2; 200 captions,
// 6000-step judge, 2026-11-24): shape 51.5%, colour 94.5%, background 99.5%, background colour 100%, position
// 99%, count 94.5%. This test's judge is smaller (400 steps: it reads colour at 80% on real renders) and sees
// 40 captions; it measured colour 75%, background 95%, background colour 100%, position 100%. The thresholds
// sit 10-15 points below (binomial sd at 40 captions: about 3-7 points), far above chance (1/12 colour, 1/6
// background, 1/5 position) and above what guidance 5, the old default, gave (colour 47.5%, background
// 72.5%). This judge reads shapes at 7.5% and counts at 60% on real renders, too close to chance to check.
constexpr double kMinColour = 0.6, kMinBackground = 0.8, kMinBackgroundColour = 0.85, kMinPosition = 0.85;
}  // namespace

TEST_CASE("generated pictures show what their held-out captions ask") {
    at::set_num_threads(1);
    ClassifierTrainOptions o;
    o.steps = 400;
    const AttributeClassifier classifier = AttributeClassifier::train(o);

    constexpr int kCaptions = 40;
    std::vector<world::Scene> scenes;
    std::vector<Image> renders;
    for (int i = 0; i < kCaptions; ++i) {
        scenes.push_back(world::sample_scene(world::derive_seed(kBaseModelEvalBase, uint64_t(i)), world::HeldOut::exclude));
        renders.push_back(world::render_scene(scenes.back(), 64));
    }
    AttributeScores real;
    const auto on_real = classifier.predict(renders);
    for (int i = 0; i < kCaptions; ++i) real.add(on_real[size_t(i)], scenes[size_t(i)]);
    MESSAGE("classifier on real renders: shape " << real.rate(real.shape) << ", colour " << real.rate(real.colour)
            << ", background " << real.rate(real.background) << ", position " << real.rate(real.position)
            << ", count " << real.rate(real.count));
    CHECK(real.rate(real.colour) >= 0.6);  // 0.75 measured after 400 steps (1.0 after 1500)
    CHECK(real.rate(real.position) >= 0.85);
    CHECK(real.rate(real.background) >= 0.75);

    LoadOptions load;
    load.path = (fs::path(ATELIER_SOURCE_DIR) / "resources" / "models" / "atelier-tiny").string();
    auto model = Model::load(load);
    // Generates every caption (with `suffix` appended, if any) at the model's defaults and judges the pictures.
    auto judge = [&](const std::string& what, const std::function<std::string(int)>& suffix) {
        std::vector<Image> generated;
        for (int i = 0; i < kCaptions; ++i) {
            GenerateRequest r;  // the defaults: the model's sampler, the request's steps and guidance
            r.prompt = world::caption(scenes[size_t(i)]) + suffix(i);
            r.seed = uint64_t(i);
            r.preview_interval = 0;
            generated.push_back(generate(*model, r).images.at(0));
        }
        AttributeScores s;
        const auto judged = classifier.predict(generated);
        for (int i = 0; i < kCaptions; ++i) s.add(judged[size_t(i)], scenes[size_t(i)]);
        MESSAGE(what << ": shape " << s.rate(s.shape) << ", colour " << s.rate(s.colour) << ", background "
                     << s.rate(s.background) << ", background colour " << s.rate(s.background_colour) << ", position "
                     << s.rate(s.position) << ", count " << s.rate(s.count));
        // Thresholds: bench_base_model's measured rates (200 captions) minus a margin for 40 captions and a
        // smaller judge.
        CHECK(s.rate(s.colour) >= kMinColour);
        CHECK(s.rate(s.background) >= kMinBackground);
        CHECK(s.rate(s.background_colour) >= kMinBackgroundColour);
        CHECK(s.rate(s.position) >= kMinPosition);
    };
    judge("generated", [](int) { return std::string(); });
    // The same captions with words the model never learned appended (", warm colours", ...): the text
    // encoder's "words" phase taught it to ignore them. Before it, the background colour fell from 72.5% to
    // 36% (bench_base_model); now it holds, and so must this.
    judge("with foreign words", [](int i) { return std::string(", ") + kForeignPromptWords[i % 10]; });
}
