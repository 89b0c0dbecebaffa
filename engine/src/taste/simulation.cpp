// Simulated people and learning curves: hidden tastes over procedural-world scene attributes, judged on
// rendered images that the model sees only through its features (issue 8's quality measurement).
#include "taste/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <thread>

#include "taste/taste_internal.h"

namespace atelier::taste {

namespace {

using world::Background;
using world::Colour;
using world::Style;

// Coefficient layout: one-hot blocks, then interactions.
constexpr int kColourOff = 0;                                        // object colour, 12
constexpr int kBackOff = kColourOff + world::kColourCount;           // background kind, 6
constexpr int kBackColourOff = kBackOff + world::kBackgroundCount;   // background colour, 12
constexpr int kSizeOff = kBackColourOff + world::kColourCount;       // size, 3
constexpr int kPosOff = kSizeOff + world::kSizeCount;                // position, 5
constexpr int kCountOff = kPosOff + world::kPositionCount;           // count 1..3, 3
constexpr int kStyleOff = kCountOff + world::kMaxCount;              // style, 6
constexpr int kWarmOnCoolOff = kStyleOff + world::kStyleCount;       // warm object on a cool background, 1
constexpr int kCoefficients = kWarmOnCoolOff + 1;

bool warm(Colour c) {
    return c == Colour::red || c == Colour::orange || c == Colour::yellow || c == Colour::pink || c == Colour::brown;
}
bool cool(Colour c) { return c == Colour::green || c == Colour::cyan || c == Colour::blue || c == Colour::purple; }

std::vector<double> archetype(int a) {
    std::vector<double> c(kCoefficients, 0.0);
    auto colour = [&](Colour k) -> double& { return c[size_t(kColourOff + int(k))]; };
    auto back = [&](Background k) -> double& { return c[size_t(kBackOff + int(k))]; };
    auto back_colour = [&](Colour k) -> double& { return c[size_t(kBackColourOff + int(k))]; };
    auto size = [&](world::Size k) -> double& { return c[size_t(kSizeOff + int(k))]; };
    auto count = [&](int n) -> double& { return c[size_t(kCountOff + n - 1)]; };
    auto style = [&](Style k) -> double& { return c[size_t(kStyleOff + int(k))]; };
    switch (a) {
        case 0:   // warm minimalist
            for (int i = 0; i < world::kColourCount; ++i) {
                if (warm(Colour(i))) colour(Colour(i)) = 1.0;
                if (cool(Colour(i))) colour(Colour(i)) = -0.5;
            }
            count(1) = 0.8;
            count(3) = -0.8;
            back(Background::stripes) = -1.2;
            back(Background::checkered) = -0.8;
            back(Background::dots) = -0.4;
            back(Background::plain) = 0.4;
            break;
        case 1:   // cool busy
            for (int i = 0; i < world::kColourCount; ++i) {
                if (cool(Colour(i))) colour(Colour(i)) = 1.0, back_colour(Colour(i)) = 0.3;
                if (warm(Colour(i))) colour(Colour(i)) = -0.4;
            }
            count(3) = 0.6;
            count(1) = -0.6;
            back(Background::dots) = back(Background::stripes) = back(Background::checkered) = 0.6;
            back(Background::plain) = -0.4;
            break;
        case 2:   // neon night
            style(Style::neon) = 1.2;
            style(Style::flat) = -0.2;
            back_colour(Colour::black) = 1.0;
            back_colour(Colour::white) = -0.6;
            size(world::Size::large) = 0.6;
            size(world::Size::small) = -0.6;
            break;
        case 3:   // soft pastel
            style(Style::watercolour) = 1.0;
            style(Style::soft_shadow) = 0.6;
            style(Style::neon) = -0.8;
            back_colour(Colour::white) = back_colour(Colour::yellow) = back_colour(Colour::pink) = 0.6;
            back_colour(Colour::black) = -1.0;
            size(world::Size::small) = 0.2;
            break;
        default:  // non-linear: an inverted U in size and count, centre, and an interaction
            size(world::Size::medium) = 0.8;
            size(world::Size::small) = size(world::Size::large) = -0.4;
            count(2) = 0.8;
            count(1) = count(3) = -0.4;
            c[size_t(kPosOff + int(world::Position::centre))] = 0.6;
            c[size_t(kWarmOnCoolOff)] = 1.2;
            break;
    }
    return c;
}

struct Bank {
    std::vector<world::Scene> scenes;
    std::vector<std::vector<float>> features;
};

}  // namespace

SimulatedPerson make_simulated_person(uint64_t seed, double label_noise, int archetype_index, double jitter) {
    SplitMix rng(seed ^ 0x7a57e5ULL);
    SimulatedPerson p;
    p.seed = seed;
    p.label_noise = label_noise;
    p.archetype = archetype_index >= 0 ? archetype_index % kSimulatedArchetypes : int(rng.below(kSimulatedArchetypes));
    const double scale = 0.7 + 0.6 * rng.uniform();
    p.coefficients = archetype(p.archetype);
    for (double& c : p.coefficients) c = c * scale + jitter * rng.normal();
    return p;
}

double simulated_utility(const SimulatedPerson& person, const world::Scene& s) {
    if (int(person.coefficients.size()) != kCoefficients)
        throw Error("simulated person: " + std::to_string(person.coefficients.size()) + " coefficients, expected " +
                    std::to_string(kCoefficients));
    const auto& c = person.coefficients;
    double u = c[size_t(kColourOff + int(s.colour))] + c[size_t(kBackOff + int(s.background))] +
               c[size_t(kBackColourOff + int(s.background_colour))] + c[size_t(kSizeOff + int(s.size))] +
               c[size_t(kPosOff + int(s.position))] + c[size_t(kCountOff + std::clamp(s.count, 1, 3) - 1)] +
               c[size_t(kStyleOff + int(s.style))];
    if (warm(s.colour) && cool(s.background_colour)) u += c[size_t(kWarmOnCoolOff)];
    return u;
}

double simulated_utility(const SimulatedPerson& person, const std::string& scene_json) {
    return simulated_utility(person, world::scene_from_json(scene_json));
}

Choice simulated_choice(const SimulatedPerson& person, double ua, double ub, double u_noise) {
    if (std::abs(ua - ub) < 0.05) return Choice::tie;
    const bool first = ua > ub;
    const bool flip = u_noise < person.label_noise;
    return (first != flip) ? Choice::left : Choice::right;
}

SimulationReport run_simulation(const SimulationOptions& o) {
    if (o.people < 1 || o.pool_images < 2 || o.heldout_images < 2 || o.checkpoints.empty())
        throw Error("simulation options: need people >= 1, pool_images >= 2, heldout_images >= 2 and checkpoints");
    const std::shared_ptr<const FeatureExtractor> extractor =
        o.features ? o.features : std::shared_ptr<const FeatureExtractor>(make_basic_features());
    const std::string fs = extractor->feature_set();
    const std::vector<std::string> names = extractor->names();
    const std::vector<double> min_sd = min_feature_sd(*extractor);
    std::vector<int> checkpoints = o.checkpoints;
    std::sort(checkpoints.begin(), checkpoints.end());
    checkpoints.erase(std::unique(checkpoints.begin(), checkpoints.end()), checkpoints.end());
    const int max_labels = checkpoints.back();
    auto progress = [&](const std::string& line) {
        if (o.on_progress) o.on_progress(line);
    };

    // One bank of rendered scenes; every person draws their candidate and test pictures from it.
    const int bank_size = std::max(4 * (o.pool_images + o.heldout_images), 1000);
    Bank bank;
    bank.scenes.resize(size_t(bank_size));
    bank.features.resize(size_t(bank_size));
    const auto t0 = std::chrono::steady_clock::now();
    {
        const int threads = o.features ? 1 : std::max(1, o.threads);
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                for (int i = t; i < bank_size; i += threads) {
                    bank.scenes[size_t(i)] = world::sample_scene(world::derive_seed(o.seed, uint64_t(i)));
                    bank.features[size_t(i)] = extractor->extract(world::render_scene(bank.scenes[size_t(i)], o.image_size));
                }
            });
        for (auto& th : pool) th.join();
    }
    SimulationReport report;
    report.feature_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() *
        (o.features ? 1 : std::max(1, o.threads)) / bank_size;
    report.checkpoints = checkpoints;
    report.people = o.people;
    progress("rendered " + std::to_string(bank_size) + " scenes");

    std::mutex mutex;
    double refit_ms_sum = 0;
    int64_t refits = 0;

    // A person's pictures: pool rows and held-out rows, disjoint, drawn from the bank.
    auto draw_rows = [&](uint64_t seed, std::vector<int>& pool, std::vector<int>& held) {
        std::vector<int> all(static_cast<size_t>(bank_size));
        std::iota(all.begin(), all.end(), 0);
        SplitMix rng(seed);
        const int need = o.pool_images + o.heldout_images;
        for (int i = 0; i < need; ++i) std::swap(all[size_t(i)], all[size_t(i) + rng.below(uint64_t(bank_size - i))]);
        pool.assign(all.begin(), all.begin() + o.pool_images);
        held.assign(all.begin() + o.pool_images, all.begin() + need);
    };

    struct Run {
        std::vector<double> accuracy, label_accuracy;
    };
    // Teaches one person max_labels judgements (random or active pairs) and scores the checkpoints.
    auto run_person = [&](const SimulatedPerson& person, uint64_t person_seed, bool active,
                          const PrototypeSet* prototypes, RewardModel* fitted_out) {
        std::vector<int> pool_rows, held_rows;
        draw_rows(person_seed, pool_rows, held_rows);
        LearnerOptions learner_options;
        learner_options.fit.min_feature_sd = min_sd;
        Learner learner(fs, names, learner_options);
        if (prototypes) learner.set_prototypes(*prototypes);
        std::vector<int> rows;
        std::vector<double> utility;
        for (int r : pool_rows) {
            rows.push_back(learner.add_item(bank.features[size_t(r)]));
            utility.push_back(simulated_utility(person, bank.scenes[size_t(r)]));
        }
        // Held-out pairs with a real preference (no true tie).
        struct Test {
            int a, b;
            bool first_true, first_label;
        };
        std::vector<Test> tests;
        SplitMix test_rng(mix_seed(person_seed, 77));
        for (int tries = 0; int(tests.size()) < o.heldout_pairs && tries < o.heldout_pairs * 20; ++tries) {
            const int a = held_rows[size_t(test_rng.below(held_rows.size()))];
            const int b = held_rows[size_t(test_rng.below(held_rows.size()))];
            const double ua = simulated_utility(person, bank.scenes[size_t(a)]);
            const double ub = simulated_utility(person, bank.scenes[size_t(b)]);
            if (a == b || std::abs(ua - ub) < 0.05) continue;
            const Choice c = simulated_choice(person, ua, ub, test_rng.uniform());
            tests.push_back({a, b, ua > ub, c == Choice::left});
        }
        Run run;
        SplitMix pair_rng(mix_seed(person_seed, 11));
        double local_ms = 0;
        int64_t local_refits = 0;
        size_t next_checkpoint = 0;
        for (int t = 1; t <= max_labels; ++t) {
            int a, b;
            if (active) {
                PairChoiceOptions choice;
                choice.epsilon = o.epsilon;
                choice.seed = person_seed;
                choice.step = uint64_t(t);
                const PairSuggestion s = learner.next_pair(rows, choice);
                a = s.first;
                b = s.second;
            } else {
                a = int(pair_rng.below(rows.size()));
                do b = int(pair_rng.below(rows.size()));
                while (b == a);
            }
            // The person's noise draw depends on the step only, so both regimes see the same noise.
            const double noise = SplitMix(mix_seed(person_seed ^ 0xabcdefULL, uint64_t(t))).uniform();
            const Choice c = simulated_choice(person, utility[size_t(a)], utility[size_t(b)], noise);
            const FitReport fr = learner.add_judgement(a, b, c, 0);
            local_ms += fr.fit_ms;
            ++local_refits;
            if (next_checkpoint < checkpoints.size() && t == checkpoints[next_checkpoint]) {
                int right = 0, right_label = 0;
                for (const Test& test : tests) {
                    const Prediction p = learner.predict(bank.features[size_t(test.a)], bank.features[size_t(test.b)]);
                    const bool first = p.p_first >= p.p_second;
                    right += first == test.first_true;
                    right_label += first == test.first_label;
                }
                run.accuracy.push_back(tests.empty() ? 0.0 : double(right) / double(tests.size()));
                run.label_accuracy.push_back(tests.empty() ? 0.0 : double(right_label) / double(tests.size()));
                ++next_checkpoint;
            }
        }
        if (fitted_out) *fitted_out = learner.model();
        std::lock_guard<std::mutex> lock(mutex);
        refit_ms_sum += local_ms;
        refits += local_refits;
        return run;
    };

    auto parallel_for = [&](int n, const std::function<void(int)>& body) {
        const int threads = std::max(1, std::min(o.threads, n));
        std::atomic<int> next{0};
        std::vector<std::thread> pool;
        std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                try {
                    for (int i = next++; i < n; i = next++) body(i);
                } catch (...) {
                    errors[size_t(t)] = std::current_exception();
                }
            });
        for (auto& th : pool) th.join();
        for (auto& e : errors)
            if (e) std::rethrow_exception(e);
    };

    // The prototype population: other people, each fitted on max_labels random judgements.
    PrototypeSet prototypes;
    if (o.population > 0 && o.prototypes > 0) {
        std::vector<RewardModel> models(size_t(o.population));
        parallel_for(o.population, [&](int i) {
            const uint64_t seed = mix_seed(o.seed ^ 0x9090ULL, uint64_t(i) + 100000);
            run_person(make_simulated_person(seed, o.label_noise, -1, o.jitter), seed, false, nullptr, &models[size_t(i)]);
        });
        prototypes = fit_prototypes(models, o.prototypes, o.seed);
        progress("fitted " + std::to_string(prototypes.prototypes.size()) + " prototypes from " +
                 std::to_string(o.population) + " people");
    }

    const char* curve_names[4] = {"random", "active", "random+prototypes", "active+prototypes"};
    const int conditions = prototypes.prototypes.empty() ? 2 : 4;
    for (int c = 0; c < conditions; ++c) {
        std::vector<Run> runs(size_t(o.people));
        parallel_for(o.people, [&](int i) {
            const uint64_t seed = mix_seed(o.seed, uint64_t(i));
            runs[size_t(i)] = run_person(make_simulated_person(seed, o.label_noise, -1, o.jitter), seed, c % 2 == 1,
                                         c >= 2 ? &prototypes : nullptr, nullptr);
        });
        LearningCurve curve;
        curve.name = curve_names[c];
        for (size_t k = 0; k < checkpoints.size(); ++k) {
            double sum = 0, sum2 = 0, label = 0;
            for (const Run& r : runs) {
                sum += r.accuracy[k];
                sum2 += r.accuracy[k] * r.accuracy[k];
                label += r.label_accuracy[k];
            }
            const double n = double(runs.size());
            curve.accuracy.push_back(sum / n);
            curve.accuracy_sd.push_back(n > 1 ? std::sqrt(std::max(0.0, (sum2 - sum * sum / n) / (n - 1))) : 0.0);
            curve.label_accuracy.push_back(label / n);
        }
        report.curves.push_back(curve);
        progress("finished " + curve.name);
    }
    report.mean_refit_ms = refits ? refit_ms_sum / double(refits) : 0.0;
    return report;
}

int store_simulated_judgements(Store& store, int64_t profile_id, const SimulatedPerson& person, int judgements) {
    if (judgements < 1) throw Error("simulated judgements: need at least one, asked for " + std::to_string(judgements));
    const int pictures = std::max(8, judgements / 2);
    std::vector<world::Scene> scenes;
    std::vector<int64_t> assets;
    for (int i = 0; i < pictures; ++i) {
        const world::RenderedScene r = world::render_sample(world::derive_seed(person.seed, uint64_t(i)));
        scenes.push_back(r.scene);
        assets.push_back(store.import_asset(r.image, "generated", {{"parameters", r.caption}}).id);
    }
    SplitMix rng(mix_seed(person.seed, 0x51A7));
    std::vector<Judgement> out;
    for (int j = 0; j < judgements; ++j) {
        const int x = int(rng.below(uint64_t(pictures)));
        int y = int(rng.below(uint64_t(pictures)));
        if (y == x) y = (x + 1) % pictures;
        const double ux = simulated_utility(person, scenes[size_t(x)]);
        const double uy = simulated_utility(person, scenes[size_t(y)]);
        Judgement jd;
        jd.annotator_id = profile_id;
        jd.left_asset_id = assets[size_t(x)];
        jd.right_asset_id = assets[size_t(y)];
        jd.prompt = world::caption(scenes[size_t(x)]) + " | " + world::caption(scenes[size_t(y)]);
        jd.choice = simulated_choice(person, ux, uy, rng.uniform());
        jd.strength = std::abs(ux - uy) > 1.5 ? 3 : std::abs(ux - uy) > 0.5 ? 2 : 1;
        jd.session = "simulated";
        out.push_back(jd);
    }
    store.record_judgements(out);
    return pictures;
}

}  // namespace atelier::taste
