// labels: slow
// Model features ("model-unet-v2", pooled UNet mid-block activations of the embedded model): deterministic,
// described, different for different pictures, and informative: a person who prefers warm object colours is
// learnt from 40 judgements of rendered scenes well above chance.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <unistd.h>

#include "atelier/engine.h"
#include "atelier/taste.h"
#include "atelier/world.h"
#include "personalize/attribute_classifier.h"
#include "temp_dir.h"

using namespace atelier;
using namespace atelier::taste;

namespace {

double distance(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    return std::sqrt(d);
}

bool warm(world::Colour c) {
    return c == world::Colour::red || c == world::Colour::orange || c == world::Colour::yellow ||
           c == world::Colour::pink;
}

}  // namespace

TEST_CASE("model features: described, deterministic, and they teach the learner a colour preference") {
    at::set_num_threads(1);
    LoadOptions load;
    load.path = (std::filesystem::path(ATELIER_SOURCE_DIR) / "resources" / "models" / "atelier-tiny").string();
    std::shared_ptr<Model> model = Model::load(load);
    const auto features = make_model_features(model);
    CHECK(features->feature_set() == "model-unet-v2");
    REQUIRE(features->names().size() == 48);

    world::SceneAttributes red_circle;
    red_circle.shape = world::Shape::circle;
    red_circle.colour = world::Colour::red;
    red_circle.background = world::Background::plain;
    red_circle.background_colour = world::Colour::white;
    red_circle.count = 1;
    const Image a = world::render_scene(world::sample_scene(1, world::HeldOut::exclude, red_circle));
    const Image a2 = world::render_scene(world::sample_scene(2, world::HeldOut::exclude, red_circle));
    world::SceneAttributes blue_square = red_circle;
    blue_square.shape = world::Shape::square;
    blue_square.colour = world::Colour::blue;
    blue_square.background_colour = world::Colour::black;
    const Image b = world::render_scene(world::sample_scene(3, world::HeldOut::exclude, blue_square));
    const auto fa = features->extract(a), fa2 = features->extract(a2), fb = features->extract(b);
    REQUIRE(fa.size() == 48);
    CHECK(features->extract(a) == fa);  // same picture, same numbers
    // Two red circles on white are closer to each other than to a blue square on black (measured 4.4 vs 8.6 on
    // the GPU-trained model: its features also carry where and how large the circle is, which the earlier
    // model's did not).
    CHECK(distance(fa, fa2) < 0.75 * distance(fa, fb));

    // A person who prefers warm object colours (red, orange, yellow, pink), judging 40 random pairs.
    constexpr int kTrain = 60, kTest = 40;
    std::vector<world::Scene> scenes;
    std::vector<std::vector<float>> rows;
    for (int i = 0; i < kTrain + kTest; ++i) {
        scenes.push_back(world::sample_scene(world::derive_seed(77, uint64_t(i)), world::HeldOut::exclude));
        rows.push_back(features->extract(world::render_scene(scenes.back())));
    }
    LearnerOptions options;
    options.fit.min_feature_sd = min_feature_sd(*features);
    Learner learner(features->feature_set(), features->names(), options);
    for (const auto& r : rows) learner.add_item(r);
    std::mt19937_64 rng(5);
    int labels = 0;
    while (labels < 40) {
        const int x = int(rng() % kTrain), y = int(rng() % kTrain);
        if (warm(scenes[size_t(x)].colour) == warm(scenes[size_t(y)].colour)) continue;
        learner.add_judgement(x, y, warm(scenes[size_t(x)].colour) ? Choice::left : Choice::right);
        ++labels;
    }
    int right = 0, pairs = 0;
    for (int x = kTrain; x < kTrain + kTest; ++x)
        for (int y = x + 1; y < kTrain + kTest; ++y) {
            const bool wx = warm(scenes[size_t(x)].colour), wy = warm(scenes[size_t(y)].colour);
            if (wx == wy) continue;
            ++pairs;
            right += (learner.predict(x, y).p_first > 0.5) == wx;
        }
    REQUIRE(pairs > 50);
    const double accuracy = double(right) / pairs;
    MESSAGE("warm-colour preference from 40 judgements, held-out accuracy " << accuracy << " on " << pairs << " pairs");
    CHECK(accuracy > 0.65);  // measured 0.70 (second model 0.74, the 8x8 first one 0.54; hand-made colour features 0.83)
}

TEST_CASE("world-attribute features: one probability distribution per attribute head; bad files are refused") {
    at::set_num_threads(1);
    const TempDir dir("attr");
    const std::string path = dir / "attributes.safetensors";
    AttributeClassifier(11).save(path);  // untrained: the plumbing, not the quality (bench_taste measures that)
    const auto features = make_world_attribute_features(path);
    CHECK(features->feature_set() == "world-attributes-v1");
    const auto names = features->names();
    REQUIRE(names.size() == 59);  // 12 shapes, 12 colours, 6 backgrounds, 12 bg colours, 5 positions, 3 counts, 3 sizes, 6 styles
    CHECK(names.front() == "shape=circle");
    CHECK(names[12] == "colour=red");
    CHECK(names.back() == "style=" + std::string(world::name(world::Style(world::kStyleCount - 1))));
    const Image a = world::render_scene(world::sample_scene(1), 64);
    const Image b = world::render_scene(world::sample_scene(2), 128);  // other sizes are resampled to 64x64
    const std::vector<float> fa = features->extract(a), fb = features->extract(b);
    REQUIRE(fa.size() == 59);
    REQUIRE(fb.size() == 59);
    CHECK(features->extract(a) == fa);  // deterministic
    CHECK(fa != fb);
    const int heads[] = {12, 12, 6, 12, 5, 3, 3, 6};
    size_t at = 0;
    for (int n : heads) {
        double sum = 0;
        for (int i = 0; i < n; ++i) {
            CHECK(fa[at + size_t(i)] >= 0.0f);
            sum += fa[at + size_t(i)];
        }
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
        at += size_t(n);
    }
    CHECK(at == fa.size());
    std::filesystem::remove(path);
    CHECK_THROWS_WITH_AS(make_world_attribute_features(path), doctest::Contains(path.c_str()), Error);
    CHECK_THROWS_WITH_AS(make_world_attribute_features(path), doctest::Contains("world-attribute features"), Error);
}

TEST_CASE("the shipped world encoder reads the world's renders, and is the studio's default taste features") {
    at::set_num_threads(1);
    const std::vector<std::string> sets = available_feature_sets();
    REQUIRE(std::find(sets.begin(), sets.end(), "world-attributes-v1") != sets.end());
    CHECK(default_feature_set() == "world-attributes-v1");
    CHECK(make_feature_extractor("atelier-basic-v1")->feature_set() == "atelier-basic-v1");
    CHECK_THROWS_WITH_AS(make_feature_extractor("clip-vision-v9"), doctest::Contains("clip-vision-v9"), Error);
    const auto encoder = make_feature_extractor();
    REQUIRE(encoder->feature_set() == "world-attributes-v1");
    const std::vector<std::string> names = encoder->names();
    // Read each head's most probable value back and compare it with the scene the renderer drew.
    const int kScenes = 60;
    int shape = 0, colour = 0, background = 0, count = 0;
    auto argmax_of = [&](const std::vector<float>& f, const std::string& head) {
        std::string best;
        float top = -1;
        for (size_t i = 0; i < names.size(); ++i)
            if (names[i].rfind(head + "=", 0) == 0 && f[i] > top) {
                top = f[i];
                best = names[i].substr(head.size() + 1);
            }
        return best;
    };
    for (int i = 0; i < kScenes; ++i) {
        const world::Scene s = world::sample_scene(world::derive_seed(0x5eed, uint64_t(i)));
        const std::vector<float> f = encoder->extract(world::render_scene(s, 64));
        shape += argmax_of(f, "shape") == world::name(s.shape);
        colour += argmax_of(f, "colour") == world::name(s.colour);
        background += argmax_of(f, "background") == world::name(s.background);
        count += argmax_of(f, "count") == std::to_string(s.count);
    }
    MESSAGE("shape " << shape << ", colour " << colour << ", background " << background << ", count " << count << " of "
                     << kScenes);
    CHECK(shape >= kScenes * 3 / 4);
    CHECK(colour >= kScenes * 9 / 10);
    CHECK(background >= kScenes * 9 / 10);
    CHECK(count >= kScenes * 9 / 10);
}
