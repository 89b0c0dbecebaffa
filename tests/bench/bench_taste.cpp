// Taste benchmark: refit time after one more judgement at 100 .. 10,000 judgements, and the learning curves
// of simulated people (random vs. active pairs, with and without prototypes fitted on another population).
//   bench_taste [--people N] [--population N] [--threads N] [--seed S] [--jitter J] [--skip-curves]
//               [--features basic|model|basic+model|attributes|basic+attributes] [--model DIR (model features;
//               default: the embedded model)] [--classifier FILE (attribute features: a saved attribute classifier)]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string>

#include "atelier/engine.h"
#include "atelier/system.h"
#include "atelier/taste.h"

using namespace atelier;
using namespace atelier::taste;

namespace {

struct RefitFigures {
    int labels = 0;
    double first_fit_ms = 0, median_ms = 0, max_ms = 0;
    int newton_steps = 0;
};

// A person with `labels` judgements on 23-dimensional pictures, then 25 more, one refit each.
RefitFigures time_refits(int labels, uint64_t seed) {
    const int dim = 38, items = std::max(200, labels / 4);   // the size of atelier-basic-v1
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> uni;
    std::vector<double> truth(dim);
    for (double& w : truth) w = normal(rng) * 0.7;
    std::vector<std::string> names;
    for (int i = 0; i < dim; ++i) names.push_back("f" + std::to_string(i));
    Learner learner("bench-v1", names);
    std::vector<std::vector<float>> feats;
    for (int i = 0; i < items; ++i) {
        std::vector<float> x(static_cast<size_t>(dim));
        for (float& v : x) v = float(normal(rng));
        feats.push_back(x);
        learner.add_item(x);
    }
    auto label = [&](int& a, int& b) {
        a = int(rng() % uint64_t(items));
        b = int((a + 1 + rng() % uint64_t(items - 1)) % uint64_t(items));
        double r = 0;
        for (int k = 0; k < dim; ++k) r += truth[size_t(k)] * (feats[size_t(a)][size_t(k)] - feats[size_t(b)][size_t(k)]);
        const Prediction p = davidson(r, -1.5);
        const double u = uni(rng);
        return u < p.p_first ? Choice::left : u < p.p_first + p.p_tie ? Choice::tie : Choice::right;
    };
    std::vector<PairLabel> history;
    for (int i = 0; i < labels; ++i) {
        int a, b;
        const Choice c = label(a, b);
        history.push_back({a, b, c, int(rng() % 4), 0});
    }
    RefitFigures f;
    f.labels = labels;
    auto t0 = std::chrono::steady_clock::now();
    learner.add_judgements(history);   // one cold fit of the whole history
    f.first_fit_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> times;
    for (int i = 0; i < 25; ++i) {
        int a, b;
        const Choice c = label(a, b);
        t0 = std::chrono::steady_clock::now();
        const FitReport r = learner.add_judgement(a, b, c, 2);   // refit, warm-started from the previous mode
        times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        f.newton_steps = std::max(f.newton_steps, r.iterations);
    }
    std::sort(times.begin(), times.end());
    f.median_ms = times[times.size() / 2];
    f.max_ms = times.back();
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    SimulationOptions o;
    o.threads = 2;
    bool curves = true;
    std::string features = "basic", model_dir = default_model_dir(), classifier_path;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--people") o.people = std::stoi(next());
        else if (a == "--population") o.population = std::stoi(next());
        else if (a == "--threads") o.threads = std::stoi(next());
        else if (a == "--seed") o.seed = std::stoull(next());
        else if (a == "--jitter") o.jitter = std::stod(next());
        else if (a == "--skip-curves") curves = false;
        else if (a == "--features") features = next();
        else if (a == "--model") model_dir = next();
        else if (a == "--classifier") classifier_path = next();
        else {
            std::cerr << "usage: bench_taste [--people N] [--population N] [--threads N] [--seed S] [--jitter J] "
                         "[--skip-curves] [--features basic|model|basic+model|attributes|basic+attributes] [--model DIR] "
                         "[--classifier FILE]\n";
            return 2;
        }
    }

    for (int threads : {1, 2}) {
        set_compute_threads(threads);
        std::printf("\nrefit after one more judgement (38 features, Newton + Laplace, float64, %d thread%s)\n", threads,
                    threads == 1 ? "" : "s");
        std::printf("%12s %16s %14s %12s %14s\n", "judgements", "cold fit (ms)", "refit median", "refit max",
                    "Newton steps");
        for (int n : {100, 1000, 10000}) {
            const RefitFigures f = time_refits(n, uint64_t(n));
            std::printf("%12d %16.2f %14.2f %12.2f %14d\n", f.labels, f.first_fit_ms, f.median_ms, f.max_ms,
                        f.newton_steps);
        }
    }
    set_compute_threads(1);
    if (!curves) return 0;

    if (features == "attributes" || features == "basic+attributes") {
        auto attributes = make_world_attribute_features(classifier_path);
        if (features == "attributes") o.features = std::move(attributes);
        else o.features = concatenate_features(make_basic_features(), std::move(attributes));
    } else if (features != "basic") {
        LoadOptions load;
        load.path = model_dir;
        std::shared_ptr<Model> model = Model::load(load);
        auto model_features = make_model_features(model);
        if (features == "model") o.features = std::move(model_features);
        else if (features == "basic+model") o.features = concatenate_features(make_basic_features(), std::move(model_features));
        else {
            std::cerr << "unknown --features " << features << "\n";
            return 2;
        }
    }
    std::printf("\nfeature set: %s\n", o.features ? o.features->feature_set().c_str() : "atelier-basic-v1 (38)");
    o.on_progress = [](const std::string& line) { std::fprintf(stderr, "  %s\n", line.c_str()); };
    const auto t0 = std::chrono::steady_clock::now();
    const SimulationReport r = run_simulation(o);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::printf("\nlearning curves: held-out pairwise accuracy (%%) vs. the noise-free preference, mean ± sd over %d "
                "simulated people\n(%d candidate pictures each, %d held-out test pairs, label noise %.0f%%, individual jitter "
                "%.2f, prototypes: k=%d from %d other people)\n",
                r.people, o.pool_images, o.heldout_pairs, 100 * o.label_noise, o.jitter, o.prototypes, o.population);
    std::printf("%-20s", "judgements");
    for (int c : r.checkpoints) std::printf("%13d", c);
    std::printf("\n");
    for (const LearningCurve& c : r.curves) {
        std::printf("%-20s", c.name.c_str());
        for (size_t k = 0; k < c.accuracy.size(); ++k)
            std::printf("%8.1f ±%4.1f", 100 * c.accuracy[k], 100 * c.accuracy_sd[k]);
        std::printf("\n");
    }
    std::printf("vs. the noisy labels of the same pairs\n");
    for (const LearningCurve& c : r.curves) {
        std::printf("%-20s", c.name.c_str());
        for (double a : c.label_accuracy) std::printf("%13.1f", 100 * a);
        std::printf("\n");
    }

    auto at = [&](const std::string& name, int n) {
        for (const LearningCurve& c : r.curves)
            if (c.name == name)
                for (size_t k = 0; k < r.checkpoints.size(); ++k)
                    if (r.checkpoints[k] == n) return c.accuracy[k];
        return std::nan("");
    };
    auto reaches = [&](const std::string& name, double target) {
        for (const LearningCurve& c : r.curves)
            if (c.name == name)
                for (size_t k = 0; k < r.checkpoints.size(); ++k)
                    if (c.accuracy[k] >= target) return r.checkpoints[k];
        return -1;
    };
    const double random50 = at("random", 50);
    std::printf("\ntargets (issue 8):\n");
    std::printf("  active after 20 judgements: %.1f%% (target >= 85%%)\n", 100 * at("active", 20));
    const int n = reaches("active", random50);
    std::printf("  random pairs at 50: %.1f%%; active first reaches it at %s judgements (target <= 25)\n",
                100 * random50, n > 0 ? std::to_string(n).c_str() : "more than the checkpoints'");
    std::printf("  prototypes at 5: random %+.1f points, active %+.1f points (target >= +5)\n",
                100 * (at("random+prototypes", 5) - at("random", 5)), 100 * (at("active+prototypes", 5) - at("active", 5)));
    std::printf("\nmean refit during the simulation %.2f ms; features %.2f ms per 64x64 picture; %.0f s in all\n",
                r.mean_refit_ms, r.feature_ms, seconds);
    return 0;
}
