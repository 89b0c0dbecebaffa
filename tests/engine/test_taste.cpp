// labels: fast
// The taste module: Davidson probabilities, the Newton fit, the Laplace covariance, features of hand-made
// pictures, serialization, pair choice, prototypes, steering, and memory writing that respects the person.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "atelier/taste.h"
#include "atelier/world.h"
#include "engine/store_test_util.h"

using namespace atelier;
using namespace atelier::taste;

namespace {

Image flat(uint8_t r, uint8_t g, uint8_t b, int size = 64) {
    Image im{size, size, 3, {}};
    for (int i = 0; i < size * size; ++i) im.pixels.insert(im.pixels.end(), {r, g, b});
    return im;
}

Image checkerboard(int cell, int size = 64) {
    Image im{size, size, 3, {}};
    for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
            const uint8_t v = ((x / cell + y / cell) % 2) ? 230 : 20;
            im.pixels.insert(im.pixels.end(), {v, v, v});
        }
    return im;
}

// A dark square on a white background, centred at (cx, cy) in pixels.
Image blob(int cx, int cy, int half, int size = 64) {
    Image im = flat(255, 255, 255, size);
    for (int y = cy - half; y < cy + half; ++y)
        for (int x = cx - half; x < cx + half; ++x) {
            uint8_t* p = &im.pixels[size_t(y * size + x) * 3];
            p[0] = 30, p[1] = 60, p[2] = 200;
        }
    return im;
}

int index_of(const std::vector<std::string>& names, const std::string& name) {
    for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return int(i);
    FAIL("no feature " << name);
    return -1;
}

std::vector<std::string> generic_names(int d) {
    std::vector<std::string> n;
    for (int i = 0; i < d; ++i) n.push_back("x" + std::to_string(i));
    return n;
}

// Labels drawn from the Davidson model with raw weights `w` and tie parameter `theta`.
TasteData synthetic(const std::vector<double>& w, double theta, int items, int labels, uint64_t seed, int dim = -1) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> uni;
    TasteData data;
    const int d = dim > 0 ? dim : int(w.size());
    for (int i = 0; i < items; ++i) {
        std::vector<float> x(static_cast<size_t>(d));
        for (float& v : x) v = float(normal(rng));
        data.add_item(x);
    }
    for (int l = 0; l < labels; ++l) {
        const int a = int(rng() % uint64_t(items));
        int b = int(rng() % uint64_t(items));
        if (b == a) b = (a + 1) % items;
        double r = 0;
        for (size_t k = 0; k < w.size(); ++k) r += w[k] * (data.items[size_t(a)][k] - data.items[size_t(b)][k]);
        const Prediction p = davidson(r, theta);
        const double u = uni(rng);
        const Choice c = u < p.p_first ? Choice::left : u < p.p_first + p.p_tie ? Choice::tie : Choice::right;
        data.labels.push_back({a, b, c, 0, 0});
    }
    return data;
}

// Independent negative log posterior (prior N(0, 1/prec) on w, N(t0, 1) on theta) on raw features.
double nlp(const TasteData& data, const std::vector<double>& beta, const FitOptions& o) {
    const size_t d = beta.size() - 1;
    double f = 0;
    for (const PairLabel& l : data.labels) {
        double r = 0;
        for (size_t k = 0; k < d; ++k) r += beta[k] * (data.items[size_t(l.first)][k] - data.items[size_t(l.second)][k]);
        const double pa = std::exp(r), pb = 1.0, nu = std::exp(beta[d]);
        const double z = pa + pb + nu * std::sqrt(pa * pb);
        const double p = l.choice == Choice::left ? pa / z : l.choice == Choice::right ? pb / z : nu * std::sqrt(pa * pb) / z;
        f -= o.strength_weights[size_t(l.strength)] * std::log(p);
    }
    for (size_t k = 0; k < d; ++k) f += 0.5 * beta[k] * beta[k] / (o.prior_sd * o.prior_sd);
    f += 0.5 * (beta[d] - o.tie_prior_mean) * (beta[d] - o.tie_prior_mean) / (o.tie_prior_sd * o.tie_prior_sd);
    return f;
}

std::vector<double> invert(std::vector<double> a, size_t n) {
    std::vector<double> inv(n * n, 0.0);
    for (size_t i = 0; i < n; ++i) inv[i * n + i] = 1;
    for (size_t c = 0; c < n; ++c) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; ++r)
            if (std::abs(a[r * n + c]) > std::abs(a[piv * n + c])) piv = r;
        for (size_t k = 0; k < n; ++k) {
            std::swap(a[c * n + k], a[piv * n + k]);
            std::swap(inv[c * n + k], inv[piv * n + k]);
        }
        const double p = a[c * n + c];
        for (size_t k = 0; k < n; ++k) {
            a[c * n + k] /= p;
            inv[c * n + k] /= p;
        }
        for (size_t r = 0; r < n; ++r) {
            if (r == c) continue;
            const double f = a[r * n + c];
            for (size_t k = 0; k < n; ++k) {
                a[r * n + k] -= f * a[c * n + k];
                inv[r * n + k] -= f * inv[c * n + k];
            }
        }
    }
    return inv;
}

}  // namespace

TEST_CASE("Davidson probabilities sum to 1 and match pi_a / (pi_a + pi_b + nu sqrt(pi_a pi_b))") {
    for (double ra : {-2.0, 0.0, 0.7, 3.0})
        for (double rb : {-1.0, 0.0, 1.5})
            for (double theta : {-3.0, -1.0, 0.0, 1.2}) {
                const Prediction p = davidson(ra - rb, theta);
                const double pa = std::exp(ra), pb = std::exp(rb), nu = std::exp(theta);
                const double z = pa + pb + nu * std::sqrt(pa * pb);
                CHECK(p.p_first + p.p_tie + p.p_second == doctest::Approx(1.0).epsilon(1e-12));
                CHECK(p.p_first == doctest::Approx(pa / z).epsilon(1e-12));
                CHECK(p.p_second == doctest::Approx(pb / z).epsilon(1e-12));
                CHECK(p.p_tie == doctest::Approx(nu * std::sqrt(pa * pb) / z).epsilon(1e-12));
            }
    // Without ties (nu -> 0) it is Bradley-Terry: sigmoid(d).
    const Prediction bt = davidson(1.3, -60);
    CHECK(bt.p_first == doctest::Approx(1 / (1 + std::exp(-1.3))).epsilon(1e-12));
}

TEST_CASE("Newton's method recovers known weights and the tie parameter from synthetic judgements") {
    const std::vector<double> truth{1.5, -1.0, 0.5, 0.0};
    const double theta = std::log(0.4);
    const TasteData data = synthetic(truth, theta, 400, 6000, 7);
    RewardModel model("synthetic-v1", generic_names(4));
    FitOptions o;
    o.prior_sd = 10;           // weak prior: the estimate is the likelihood's
    o.tie_prior_sd = 10;
    const FitReport r = model.fit(data, o);
    CHECK(r.converged);
    CHECK(r.iterations < 20);
    CHECK(r.gradient_norm < 1e-5);
    const std::vector<double> sd = model.standardizer().sd();
    const std::vector<double> wsd = model.weight_sd();
    for (size_t k = 0; k < truth.size(); ++k) {
        const double raw = model.weights()[k] / sd[k];
        INFO("feature " << k << " raw weight " << raw << " truth " << truth[k]);
        CHECK(std::abs(raw - truth[k]) < 0.12);
        CHECK(std::abs(model.weights()[k] - truth[k] * sd[k]) < 4 * wsd[k] + 0.02);   // within ~4 posterior sd
    }
    CHECK(std::abs(model.tie_log_nu() - theta) < 0.15);
    CHECK(model.label_count() == 6000);

    // Refitting after one more label starts from the mode: one or two Newton steps.
    TasteData more = data;
    more.labels.push_back({0, 1, Choice::left, 2, 0});
    const FitReport again = model.fit(more, o);
    CHECK(again.converged);
    CHECK(again.iterations <= 4);
}

TEST_CASE("the Laplace covariance equals the inverse of a finite-difference Hessian of the posterior") {
    TasteData data = synthetic({0.8, -0.6, 0.3}, -0.5, 30, 60, 11);
    for (size_t i = 0; i < data.labels.size(); ++i) data.labels[i].strength = int(i % 4);   // evidence weights
    data.labels.push_back({0, 1, Choice::skip, 0, 0});                                        // ignored
    RewardModel model("synthetic-v1", generic_names(3));
    FitOptions o;
    o.update_standardizer = false;   // raw features, so the reference needs no standardizer
    o.prior_sd = 1.5;
    model.fit(data, o);
    TasteData used = data;
    used.labels.pop_back();

    std::vector<double> mode = model.weights();
    mode.push_back(model.tie_log_nu());
    const size_t n = mode.size();
    const double h = 1e-4;
    // The mode: the finite-difference gradient vanishes.
    for (size_t i = 0; i < n; ++i) {
        std::vector<double> p = mode, m = mode;
        p[i] += h;
        m[i] -= h;
        CHECK(std::abs((nlp(used, p, o) - nlp(used, m, o)) / (2 * h)) < 1e-5);
    }
    std::vector<double> hess(n * n);
    for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < n; ++j) {
            auto f = [&](double di, double dj) {
                std::vector<double> b = mode;
                b[i] += di;
                b[j] += dj;
                return nlp(used, b, o);
            };
            hess[i * n + j] = (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h * h);
        }
    const std::vector<double> reference = invert(hess, n);
    REQUIRE(model.covariance().size() == n * n);
    for (size_t k = 0; k < n * n; ++k) {
        INFO("covariance entry " << k);
        CHECK(model.covariance()[k] == doctest::Approx(reference[k]).epsilon(1e-4).scale(1e-3));
    }

    // Predictions integrate over that posterior: MacKay's probit factor shrinks toward 1/2.
    const Prediction p = model.predict(data.items[0], data.items[1]);
    const Prediction point = davidson(p.mean, model.tie_log_nu());
    CHECK(p.sd > 0);
    CHECK(std::abs(p.p_first - p.p_second) < std::abs(point.p_first - point.p_second));
    CHECK(p.p_first + p.p_tie + p.p_second == doctest::Approx(1.0));
}

TEST_CASE("basic features order hand-made pictures as expected") {
    const auto fx = make_basic_features();
    CHECK(fx->feature_set() == "atelier-basic-v1");
    const std::vector<std::string> names = fx->names();
    REQUIRE(fx->dim() == 38);
    const int warmth = index_of(names, "warmth"), edges = index_of(names, "edge_density");
    const int hue_red = index_of(names, "hue_red"), hue_blue = index_of(names, "hue_blue");
    const int light = index_of(names, "lightness_mean"), sal_x = index_of(names, "saliency_x");
    const int neg = index_of(names, "negative_space"), hf = index_of(names, "high_freq_ratio");
    const int colourful = index_of(names, "colourfulness"), sym_lr = index_of(names, "symmetry_lr");
    const int chroma = index_of(names, "chroma_mean");

    const auto red = fx->extract(flat(255, 0, 0)), blue = fx->extract(flat(0, 0, 255));
    const auto grey = fx->extract(flat(128, 128, 128)), white = fx->extract(flat(255, 255, 255));
    const auto black = fx->extract(flat(0, 0, 0));
    CHECK(red[size_t(warmth)] > 0.5);
    CHECK(blue[size_t(warmth)] < -0.5);
    CHECK(std::abs(grey[size_t(warmth)]) < 1e-3);
    CHECK(red[size_t(hue_red)] > 0.6);
    CHECK(blue[size_t(hue_blue)] > 0.6);
    CHECK(red[size_t(chroma)] == doctest::Approx(0.2577).epsilon(0.01));   // OKLab chroma of sRGB red
    CHECK(white[size_t(light)] == doctest::Approx(1.0).epsilon(1e-3));
    CHECK(black[size_t(light)] == doctest::Approx(0.0).scale(1).epsilon(1e-3));
    CHECK(red[size_t(colourful)] > grey[size_t(colourful)]);

    const auto checker = fx->extract(checkerboard(4)), fine = fx->extract(checkerboard(1));
    CHECK(grey[size_t(edges)] == 0);
    CHECK(checker[size_t(edges)] > 0.4);
    CHECK(checker[size_t(hf)] > grey[size_t(hf)]);
    CHECK(fine[size_t(hf)] > checker[size_t(hf)]);    // finer pattern: more energy above the blur band

    const auto left = fx->extract(blob(14, 32, 6)), right = fx->extract(blob(50, 32, 6));
    const auto centre = fx->extract(blob(32, 32, 6)), big = fx->extract(blob(32, 32, 24));
    CHECK(left[size_t(sal_x)] < 0.3);
    CHECK(right[size_t(sal_x)] > 0.7);
    CHECK(centre[size_t(sym_lr)] > 0.99);
    CHECK(left[size_t(sym_lr)] < 0.5);
    CHECK(centre[size_t(neg)] > big[size_t(neg)]);
    CHECK(centre[size_t(neg)] > 0.9);

    // Subject and background are told apart: a red square on blue vs. a blue square on orange.
    Image red_on_blue = flat(20, 40, 220), blue_on_orange = flat(250, 140, 20);
    for (int y = 24; y < 40; ++y)
        for (int x = 24; x < 40; ++x) {
            uint8_t* p = &red_on_blue.pixels[size_t(y * 64 + x) * 3];
            p[0] = 230, p[1] = 20, p[2] = 20;
            uint8_t* q = &blue_on_orange.pixels[size_t(y * 64 + x) * 3];
            q[0] = 20, q[1] = 40, q[2] = 220;
        }
    const auto rb = fx->extract(red_on_blue), bo = fx->extract(blue_on_orange);
    const int subject_warmth = index_of(names, "subject_warmth"), background_warmth = index_of(names, "background_warmth");
    CHECK(rb[size_t(subject_warmth)] > 0.5);
    CHECK(rb[size_t(background_warmth)] < -0.5);
    CHECK(bo[size_t(subject_warmth)] < -0.5);
    CHECK(bo[size_t(background_warmth)] > 0.5);
    CHECK(rb[size_t(warmth)] < 0);   // the whole picture is mostly blue
    CHECK(rb[size_t(index_of(names, "subject_red"))] > 0.6);
    CHECK(rb[size_t(index_of(names, "subject_parts"))] == 1);
    Image three = flat(255, 255, 255);
    for (int k = 0; k < 3; ++k)
        for (int y = 28; y < 36; ++y)
            for (int x = 6 + 20 * k; x < 14 + 20 * k; ++x) three.pixels[size_t(y * 64 + x) * 3 + 1] = 0;
    CHECK(fx->extract(three)[size_t(index_of(names, "subject_parts"))] == 3);
    CHECK(centre[size_t(index_of(names, "background_lightness"))] == doctest::Approx(1.0).epsilon(1e-3));

    // Resolution does not matter much: a 256 px version of the same picture gives nearly the same numbers.
    const auto big_red = fx->extract(flat(255, 0, 0, 256));
    for (size_t i = 0; i < red.size(); ++i) CHECK(big_red[i] == doctest::Approx(red[i]).scale(1).epsilon(1e-4));
    CHECK_THROWS_AS(fx->extract(Image{}), Error);
}

TEST_CASE("a fitted model survives serialization and a store record; bad blobs are refused") {
    const TasteData data = synthetic({1.0, -0.5, 0.25}, -1.0, 50, 200, 3);
    RewardModel model("synthetic-v1", generic_names(3));
    model.fit(data);
    const std::vector<uint8_t> blob = model.serialize();
    const RewardModel back = RewardModel::deserialize(blob);
    CHECK(back.feature_set() == "synthetic-v1");
    CHECK(back.feature_names() == model.feature_names());
    CHECK(back.weights() == model.weights());
    CHECK(back.covariance() == model.covariance());
    CHECK(back.tie_log_nu() == model.tie_log_nu());
    CHECK(back.label_count() == 200);
    CHECK(back.standardizer().mean == model.standardizer().mean);
    const Prediction a = model.predict(data.items[3], data.items[4]), b = back.predict(data.items[3], data.items[4]);
    CHECK(a.p_first == b.p_first);
    CHECK(a.sd == b.sd);
    CHECK(back.serialize() == blob);

    const RewardModelRecord record = to_record(model, 7, 0.8);
    CHECK(record.feature_set == "synthetic-v1");
    CHECK(record.label_count == 200);
    CHECK(from_record(record).weights() == model.weights());
    RewardModelRecord wrong = record;
    wrong.feature_set = "atelier-basic-v1";
    CHECK_THROWS_AS(from_record(wrong), Error);

    std::vector<uint8_t> truncated(blob.begin(), blob.end() - 5);
    CHECK_THROWS_WITH_AS(RewardModel::deserialize(truncated), doctest::Contains("truncated"), Error);
    std::vector<uint8_t> magic = blob;
    magic[0] = 'X';
    CHECK_THROWS_AS(RewardModel::deserialize(magic), Error);
    std::vector<uint8_t> version = blob;
    version[4] = 99;
    CHECK_THROWS_WITH_AS(RewardModel::deserialize(version), doctest::Contains("version 99"), Error);
    std::vector<uint8_t> trailing = blob;
    trailing.push_back(0);
    CHECK_THROWS_AS(RewardModel::deserialize(trailing), Error);
}

TEST_CASE("the next pair maximizes the expected information gain, deterministically, with exploration") {
    const TasteData data = synthetic({1.0, -1.0, 0.5, 0.2}, -1.0, 30, 25, 5);
    RewardModel model("synthetic-v1", generic_names(4));
    model.fit(data);
    PairChoiceOptions o;
    o.epsilon = 0;
    const PairSuggestion s = choose_next_pair(model, data.items, o);
    CHECK_FALSE(s.explored);
    // Brute force from the public predictive: 1/2 log(1 + I v), I the Davidson information at the
    // probit-shrunk difference.
    double best = -1;
    int bi = -1, bj = -1;
    for (int i = 0; i < int(data.items.size()); ++i)
        for (int j = i + 1; j < int(data.items.size()); ++j) {
            const Prediction p = model.predict(data.items[size_t(i)], data.items[size_t(j)]);
            const double info = (p.p_first + p.p_second) / 4 - (p.p_first - p.p_second) * (p.p_first - p.p_second) / 4;
            const double score = 0.5 * std::log1p(info * p.sd * p.sd);
            if (score > best) best = score, bi = i, bj = j;
        }
    CHECK(s.first == bi);
    CHECK(s.second == bj);
    CHECK(s.score == doctest::Approx(best).epsilon(1e-9));

    o.exclude = {{bj, bi}};
    const PairSuggestion other = choose_next_pair(model, data.items, o);
    CHECK_FALSE((std::min(other.first, other.second) == bi && std::max(other.first, other.second) == bj));

    // Exploration: about epsilon of the choices are random, the same for the same seed and step.
    PairChoiceOptions e;
    e.epsilon = 0.3;
    e.seed = 42;
    int explored = 0;
    for (uint64_t step = 0; step < 200; ++step) {
        e.step = step;
        const PairSuggestion a = choose_next_pair(model, data.items, e), b = choose_next_pair(model, data.items, e);
        CHECK(a.first == b.first);
        CHECK(a.second == b.second);
        CHECK(a.first != a.second);
        explored += a.explored;
    }
    CHECK(explored > 35);
    CHECK(explored < 85);
    CHECK_THROWS_AS(choose_next_pair(model, {data.items[0]}, o), Error);
}

TEST_CASE("prototypes: k-means++ finds the groups; the mixture follows the person's labels and shrinks") {
    // Three groups of people with distinct tastes, 6 people each.
    const std::vector<std::vector<double>> groups{{2, 0, 0}, {0, -2, 0}, {-1, 1, 1.5}};
    std::vector<RewardModel> models;
    for (int g = 0; g < 3; ++g)
        for (int p = 0; p < 6; ++p) {
            RewardModel m("synthetic-v1", generic_names(3));
            m.fit(synthetic(groups[size_t(g)], -1.0, 60, 150, uint64_t(100 * g + p)));
            models.push_back(m);
        }
    const PrototypeSet set = fit_prototypes(models, 3, 1);
    REQUIRE(set.prototypes.size() == 3);
    for (const Prototype& p : set.prototypes) {
        CHECK(p.members == 6);
        CHECK(p.share == doctest::Approx(1.0 / 3));
    }
    const PrototypeSet back = PrototypeSet::deserialize(set.serialize());
    CHECK(back.prototypes.size() == 3);
    CHECK(back.prototypes[1].weights == set.prototypes[1].weights);

    // A new person of group 1: the prototype nearest (0, -2, 0) gains weight with each label.
    int group1 = -1;
    for (int k = 0; k < 3; ++k) {
        const auto w = set.weights_for(Standardizer{}, k);
        if (w[1] < -1 && std::abs(w[0]) < 0.7) group1 = k;
    }
    REQUIRE(group1 >= 0);
    const TasteData person = synthetic(groups[1], -1.0, 60, 12, 999);
    LearnerOptions lo;
    Learner learner("synthetic-v1", generic_names(3), lo);
    learner.set_prototypes(set);
    for (const auto& item : person.items) learner.add_item(item);
    std::vector<double> before = learner.mixture_weights();
    REQUIRE(before.size() == 4);
    CHECK(before.back() == doctest::Approx(lo.personal_prior_share));
    for (const PairLabel& l : person.labels) learner.add_judgement(l.first, l.second, l.choice, l.strength);
    const std::vector<double> after = learner.mixture_weights();
    double total = 0;
    for (double w : after) total += w;
    CHECK(total == doctest::Approx(1.0));
    CHECK(after[size_t(group1)] > before[size_t(group1)]);
    CHECK(after.back() >= 12.0 / (12.0 + lo.shrink_labels) - 1e-12);   // the shrinkage floor
    // Its personal prior follows the mixture: the personal weight on x1 is clearly negative.
    CHECK(learner.model().weights()[1] < -0.3);
    const Prediction p = learner.predict(0, 1);
    CHECK(p.p_first + p.p_tie + p.p_second == doctest::Approx(1.0));
    PrototypeSet other = set;
    other.feature_set = "other-v1";
    CHECK_THROWS_AS(learner.set_prototypes(other), Error);
}

TEST_CASE("with prototypes, the next pair is the one that tells them apart") {
    // Two prototypes that agree about pair (0, 1) and disagree about pair (2, 3).
    PrototypeSet set;
    set.feature_set = "synthetic-v1";
    for (const std::vector<double>& w : {std::vector<double>{2, 0}, std::vector<double>{0, 2}}) {
        Prototype p;
        p.weights = w;
        p.tie_log_nu = -2.0;
        p.share = 0.5;
        p.members = 5;
        set.prototypes.push_back(p);
    }
    const std::vector<std::vector<float>> items{{1.2f, 1.2f}, {0, 0}, {1, 0}, {0, 1}};
    PairChoiceOptions o;
    o.epsilon = 0;
    // The personal model alone (no labels: the prior) prefers the pair that is farther apart, (0, 1).
    RewardModel alone("synthetic-v1", generic_names(2));
    const PairSuggestion personal = choose_next_pair(alone, items, o);
    CHECK(std::min(personal.first, personal.second) == 0);
    CHECK(std::max(personal.first, personal.second) == 1);
    Learner learner("synthetic-v1", generic_names(2));
    learner.set_prototypes(set);
    for (const auto& item : items) learner.add_item(item);
    const PairSuggestion s = learner.next_pair({0, 1, 2, 3}, o);
    CHECK(std::min(s.first, s.second) == 2);
    CHECK(std::max(s.first, s.second) == 3);
    CHECK(s.score > personal.score);
}

TEST_CASE("best-of-N ranks by reward with probabilities; the prompt search picks the additions it rewards") {
    const auto fx = make_basic_features();
    const std::vector<std::string> names = fx->names();
    RewardModel model(fx->feature_set(), names);
    std::vector<double> w(names.size(), 0.0);
    w[size_t(index_of(names, "warmth"))] = 3.0;
    w[size_t(index_of(names, "edge_density"))] = -2.0;
    model.set_weights(w, -1.0);

    const std::vector<std::vector<float>> feats{fx->extract(flat(0, 0, 255)), fx->extract(flat(255, 120, 0)),
                                                fx->extract(checkerboard(4)), fx->extract(flat(200, 30, 30))};
    const std::vector<RankedImage> ranked = rank_images(model, feats, 1, 500);
    REQUIRE(ranked.size() == 4);
    CHECK(ranked[0].index == 1);   // orange: warmest
    CHECK(ranked[3].index == 0);   // blue
    for (size_t i = 0; i + 1 < ranked.size(); ++i) CHECK(ranked[i].reward >= ranked[i + 1].reward);
    double total = 0;
    for (const RankedImage& r : ranked) total += r.p_best;
    CHECK(total == doctest::Approx(1.0));
    CHECK(ranked[0].p_best == doctest::Approx(1.0));   // a point model is certain
    CHECK(ranked[0].p_beats_next > 0.5);

    // A fake generator: the prompt's words decide the picture.
    int calls = 0;
    GenerateImagesFn generate = [&](const std::string& prompt, uint64_t seed, int count) {
        ++calls;
        std::vector<Image> out;
        for (int i = 0; i < count; ++i) {
            const uint8_t jitter = uint8_t((seed + uint64_t(i)) % 7);
            if (prompt.find("warm colours") != std::string::npos) out.push_back(flat(250, 110, uint8_t(10 + jitter)));
            else if (prompt.find("cool colours") != std::string::npos) out.push_back(flat(10, 90, 250));
            else if (prompt.find("intricate detail") != std::string::npos) out.push_back(checkerboard(2));
            else out.push_back(flat(120, uint8_t(120 + jitter), 120));
        }
        return out;
    };
    PromptSearchOptions po;
    po.samples_per_prompt = 2;
    po.max_additions = 2;
    const PromptSearchResult result =
        search_prompt_additions("a star", {"cool colours", "warm colours", "intricate detail", "minimalist"}, generate,
                                *fx, model, po);
    REQUIRE(result.additions.size() == 1);   // nothing beats warm colours once it is in
    CHECK(result.additions[0] == "warm colours");
    CHECK(result.prompt == "a star, warm colours");
    CHECK(result.reward > result.base_reward + 1);
    CHECK(result.trials.size() == 1 + 4 + 3);
    CHECK(calls == int(result.trials.size()));
    CHECK_FALSE(style_vocabulary().empty());
}

TEST_CASE("memory writing: learned directions become entries; the person's edits and switches are respected") {
    store_test::TempDir dir("taste-memory");
    StoreOptions so;
    so.data_dir = dir.str();
    so.durable = false;
    auto store = Store::open(so);
    const Profile me = store->create_profile("ada");
    std::vector<int64_t> assets;
    for (int i = 0; i < 6; ++i) assets.push_back(store->import_asset(store_test::picture(i)).id);

    const auto fx = make_basic_features();
    const std::vector<std::string> names = fx->names();
    const int warmth = index_of(names, "warmth"), edges = index_of(names, "edge_density");
    const int contrast = index_of(names, "contrast");
    std::vector<double> truth(names.size(), 0.0);
    truth[size_t(warmth)] = 2.0;
    truth[size_t(edges)] = -2.0;
    truth[size_t(contrast)] = 1.0;
    TasteData data = synthetic(truth, -2.0, 120, 800, 21, int(names.size()));
    // Real comparisons to link to (the features above are synthetic; provenance needs stored ids).
    for (PairLabel& l : data.labels) {
        Judgement j;
        j.annotator_id = me.id;
        j.left_asset_id = assets[size_t(l.first) % 6];
        j.right_asset_id = assets[size_t(l.second) % 6];
        j.choice = l.choice;
        l.comparison_id = store->record_judgement(j);
    }
    RewardModel model(fx->feature_set(), names);
    model.fit(data);

    const MemoryWriteReport first = write_memory(*store, me.id, model, data);
    for (const std::string& line : first.added) MESSAGE(line);
    CHECK(first.added.size() == 3);
    MemoryFilter filter;
    filter.profile_id = me.id;
    auto find = [&](const std::string& text) {
        std::vector<MemoryEntry> found;
        for (const MemoryEntry& e : store->list_memory(filter))
            if (e.text == text) found.push_back(e);
        return found;
    };
    REQUIRE(find("warm colours").size() == 1);
    REQUIRE(find("busy textures").size() == 1);
    REQUIRE(find("high contrast").size() == 1);
    const MemoryEntry warm = find("warm colours")[0];
    CHECK(warm.kind == "like");
    CHECK(warm.source == "learned");
    CHECK(warm.weight > 1.0);
    CHECK(warm.source_count > 50);
    CHECK(find("busy textures")[0].kind == "dislike");
    const MemoryEntry full = store->memory_entry(warm.id);
    CHECK(int64_t(full.source_comparison_ids.size()) == warm.source_count);
    CHECK(store->memory_history(warm.id).back().actor == Actor::learner);

    // Writing again changes nothing and duplicates nothing.
    const MemoryWriteReport second = write_memory(*store, me.id, model, data);
    CHECK(second.added.empty());
    CHECK(second.unchanged.size() == 3);
    // Supported by fewer choices (only the first 400 labels): the same entries, their provenance follows.
    TasteData early = data;
    early.labels.resize(400);
    write_memory(*store, me.id, model, early);
    const MemoryEntry fewer = store->memory_entry(warm.id);
    CHECK(fewer.source_count < warm.source_count);
    CHECK(int64_t(fewer.source_comparison_ids.size()) == fewer.source_count);
    CHECK(fewer.text == warm.text);
    write_memory(*store, me.id, model, data);
    CHECK(store->memory_entry(warm.id).source_count == warm.source_count);
    CHECK(store->memory_entry(warm.id).source_comparison_ids == full.source_comparison_ids);

    // The person switches "warm colours" off and edits "busy textures" down to 0.5.
    store->set_memory_active(warm.id, false, Actor::user);
    MemoryEntry busy = find("busy textures")[0];
    busy.weight = 0.5;
    store->update_memory(busy, Actor::user);

    const MemoryPrior prior = memory_prior(*store, me.id, names);
    REQUIRE(prior.mean.size() == names.size());
    CHECK(prior.removed[size_t(warmth)]);
    CHECK(prior.mean[size_t(warmth)] == 0.0);
    CHECK(prior.precision[size_t(warmth)] >= 1e6);
    CHECK(prior.mean[size_t(edges)] == doctest::Approx(-0.5));   // "dislike busy textures" = negative edges
    CHECK(prior.precision[size_t(edges)] == doctest::Approx(25.0));
    CHECK_FALSE(prior.removed[size_t(contrast)]);
    CHECK(prior.precision[size_t(contrast)] == 0.0);              // the learner's own entry: no constraint

    // The constrained refit: warmth is pulled to 0 and no longer a direction.
    FitOptions constrained;
    constrained.prior_mean = prior.mean;
    constrained.prior_precision = prior.precision;
    for (size_t i = 0; i < names.size(); ++i)
        if (constrained.prior_precision[i] == 0) constrained.prior_precision[i] = 1.0;
    RewardModel refit = model;
    refit.fit(data, constrained);
    CHECK(std::abs(refit.weights()[size_t(warmth)]) < 1e-3);
    CHECK(refit.weights()[size_t(edges)] < 0);

    const MemoryWriteReport third = write_memory(*store, me.id, model, data);   // the unconstrained model
    CHECK(third.added.empty());
    CHECK(third.updated.empty());
    CHECK(third.kept_user.size() == 2);
    CHECK(find("warm colours").size() == 1);
    CHECK_FALSE(store->memory_entry(warm.id).active);            // not switched back on
    CHECK(store->memory_entry(busy.id).weight == 0.5);           // not overwritten

    // The learner's own entry follows the model: weaker contrast updates it in place. (A point model has
    // no posterior sd: directions then pass on their weight alone.)
    RewardModel weaker = model;
    std::vector<double> w(names.size(), 0.0);
    w[size_t(warmth)] = model.weights()[size_t(warmth)];
    w[size_t(edges)] = model.weights()[size_t(edges)];
    w[size_t(contrast)] = 0.6 * model.weights()[size_t(contrast)];
    weaker.set_weights(w, weaker.tie_log_nu());
    const MemoryWriteReport fourth = write_memory(*store, me.id, weaker, data);
    CHECK(fourth.updated.size() == 1);
    CHECK(find("high contrast").size() == 1);
    CHECK(find("high contrast")[0].weight == doctest::Approx(std::round(std::abs(w[size_t(contrast)]) * 100) / 100));

    // A direction that disappears is retired (deleted by the learner); a user-written phrase stays.
    MemoryEntry mine;
    mine.profile_id = me.id;
    mine.kind = "like";
    mine.text = "muted colours";
    const int64_t mine_id = store->add_memory(mine, Actor::user);
    std::vector<double> none = w;
    none[size_t(contrast)] = 0;
    weaker.set_weights(none, weaker.tie_log_nu());
    const MemoryWriteReport fifth = write_memory(*store, me.id, weaker, data);
    CHECK(fifth.retired.size() == 1);
    CHECK(find("high contrast").empty());
    CHECK_FALSE(store->memory_entry(mine_id).deleted);
    const MemoryPrior with_mine = memory_prior(*store, me.id, names);
    CHECK(with_mine.mean[size_t(index_of(names, "chroma_mean"))] == doctest::Approx(-1.0));   // muted = less chroma
}

TEST_CASE("cross-validated accuracy is high on learnable data and near chance on noise") {
    const TasteData learnable = synthetic({2.0, -1.0}, -3.0, 100, 200, 8);
    CHECK(cross_validated_accuracy(learnable, {}, 5, 1) > 0.8);
    TasteData noise = synthetic({0.0, 0.0}, -3.0, 100, 400, 9);
    const double chance = cross_validated_accuracy(noise, {}, 5, 1);
    CHECK(chance > 0.35);
    CHECK(chance < 0.65);
    CHECK(std::isnan(cross_validated_accuracy(TasteData{}, {}, 5, 1)));
}

TEST_CASE("learn my taste: the next pair comes from the queue's pictures, never repeats, and follows the labels") {
    store_test::TempDir dir("taste-learn");
    StoreOptions so;
    so.data_dir = dir.str();
    so.durable = false;
    auto store = Store::open(so);
    const Profile me = store->create_profile("ada");
    // Five flat colours, warm to cool, in a queue of three pairs (one picture appears twice).
    const std::vector<std::array<uint8_t, 3>> colours = {{230, 40, 30}, {240, 150, 30}, {40, 200, 60}, {30, 60, 230}, {120, 40, 200}};
    std::vector<int64_t> assets;
    for (const auto& c : colours) assets.push_back(store->import_asset(flat(c[0], c[1], c[2])).id);
    const int64_t queue = store->create_queue("colours", me.id,
                                              {{assets[3], assets[0], "x"}, {assets[1], assets[3], "x"}, {assets[2], assets[4], "x"}}, 1);
    const std::vector<int64_t> pool = store->queue_assets(queue);
    CHECK(pool == std::vector<int64_t>{assets[3], assets[0], assets[1], assets[2], assets[4]});

    const auto fx = make_basic_features();
    AssetFeatureCache cache(*store, *fx);
    PairChoiceOptions options;
    options.epsilon = 0;
    std::set<std::pair<int64_t, int64_t>> asked;
    auto warmth = [&](int64_t id) { return int(std::find(assets.begin(), assets.end(), id) - assets.begin()); };
    double last_confidence = 0;
    for (int n = 0; n < 10; ++n) {  // 5 pictures: 10 pairs, each asked once
        const auto next = next_pair_to_learn(*store, me.id, pool, cache, options);
        REQUIRE(next);
        CHECK(next->labels == n);
        CHECK(next->left_asset_id != next->right_asset_id);
        CHECK(std::count(pool.begin(), pool.end(), next->left_asset_id) == 1);
        CHECK(std::count(pool.begin(), pool.end(), next->right_asset_id) == 1);
        const auto key = std::minmax(next->left_asset_id, next->right_asset_id);
        CHECK(asked.insert({key.first, key.second}).second);  // never the same pair twice
        if (n == 0) CHECK(next->prediction.p_first == doctest::Approx(next->prediction.p_second));  // no labels yet
        // This person prefers the warmer picture (lower index in `assets`).
        Judgement j;
        j.annotator_id = me.id;
        j.left_asset_id = next->left_asset_id;
        j.right_asset_id = next->right_asset_id;
        j.choice = warmth(next->left_asset_id) < warmth(next->right_asset_id) ? Choice::left : Choice::right;
        j.session = "learn my taste";
        store->record_judgement(j);
        if (n == 9) {  // by the last pair the model has learnt which way the person leans
            last_confidence = std::abs(next->prediction.p_first - next->prediction.p_second);
            CHECK((next->prediction.p_first > next->prediction.p_second) == (j.choice == Choice::left));
        }
    }
    CHECK_FALSE(next_pair_to_learn(*store, me.id, pool, cache, options));  // every pair judged
    CHECK(last_confidence > 0.2);
    CHECK_FALSE(next_pair_to_learn(*store, me.id, {assets[0]}, cache, options));
}

TEST_CASE("direction phrases: every world attribute has both, and one text never names two features") {
    // The world encoder's feature names, without loading it: the classifier's heads in order.
    std::vector<std::string> world_names;
    auto add = [&](const std::string& head, const std::vector<std::string>& values) {
        for (const auto& v : values) world_names.push_back(head + "=" + v);
    };
    add("shape", world::all_shape_names());
    add("colour", world::all_colour_names());
    add("background", world::all_background_names());
    add("bg_colour", world::all_colour_names());
    add("position", world::all_position_names());
    add("count", {"1", "2", "3"});
    add("size", world::all_size_names());
    add("style", world::all_style_names());
    for (const std::string& n : world_names) {
        INFO(n);
        const DirectionPhrase* like = find_phrase(n, +1);
        const DirectionPhrase* dislike = find_phrase(n, -1);
        REQUIRE(like);
        REQUIRE(dislike);
        CHECK(like->kind == "like");
        CHECK(dislike->kind == "dislike");
        CHECK(like->text == dislike->text);
    }
    CHECK(find_phrase("shape=star", +1)->text == "stars");
    CHECK(find_phrase("background=stripes", -1)->description == "dislikes striped backgrounds");
    CHECK(find_phrase("bg_colour=black", +1)->text == "a black background");
    // A memory entry's text must lead back to one feature, whichever set the model uses.
    std::map<std::string, std::string> feature_of_text;
    for (const DirectionPhrase& p : direction_phrases()) {
        std::string text = p.text;
        std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        const auto [it, inserted] = feature_of_text.emplace(text, p.feature);
        INFO(text);
        CHECK(it->second == p.feature);
    }
}
