// labels: fast
// The motion classifier (personalize/motion_classifier.h) learns the nine motions of rendered clips from
// scratch (well above chance after a short run), and keeps what it learnt through save/load.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <filesystem>
#include <unistd.h>

#include "atelier/error.h"
#include "personalize/motion_classifier.h"
#include "personalize/motion_clips.h"
#include "temp_dir.h"

using namespace atelier;

TEST_CASE("motion classifier: learns the nine motions of rendered clips; save and load") {
    at::set_num_threads(1);
    const ClipBatch held_out = render_clip_batch(kMotionEvalBase, 0, 180, 16);
    auto accuracy = [&](const MotionClassifier& c) {
        const auto predicted = c.predict(held_out.frames);
        int hits = 0;
        for (size_t i = 0; i < predicted.size(); ++i) hits += predicted[i] == held_out.motions[i];
        return double(hits) / double(predicted.size());
    };
    const double untrained = accuracy(MotionClassifier(11));
    MotionClassifierTrainOptions o;
    o.steps = 250;  // ~30 s on one core; 700 steps reach 99% (bench_motion trains 800)
    o.batch = 24;
    const auto start = std::chrono::steady_clock::now();
    const MotionClassifier trained = MotionClassifier::train(o);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double acc = accuracy(trained);
    MESSAGE("untrained " << 100 * untrained << "%, after " << o.steps << " steps of " << o.batch << " clips ("
                         << seconds << " s): " << 100 * acc << "% on 180 held-out clips");
    CHECK(untrained < 0.3);
    // Chance is 11%; 250 steps give about half (54% here), a broken input or loss stays near chance.
    CHECK(acc > 0.35);

    const TempDir dir("motion-classifier");
    const std::string path = dir / "classifier.safetensors";
    trained.save(path);
    CHECK(accuracy(MotionClassifier::load(path)) == doctest::Approx(acc));
    TensorMap broken = MotionClassifier(1).weights();
    broken.erase("fc2.bias");
    try {
        MotionClassifier bad(broken);
        FAIL("no error for a missing tensor");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("missing tensor 'fc2.bias'") != std::string::npos);
    }
}
