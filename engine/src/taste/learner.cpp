// User prototypes (k-means++ over reward vectors, Arthur & Vassilvitskii 2007; the prototype idea of P-GenRM
// and UNICON), the next most informative pair (expected log-determinant shrinkage of the Laplace posterior,
// as in D-optimal / BALD-style active learning), and a person's Learner that ties data, model and
// prototype mixture together (Bayesian model averaging over the person's labels).
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "atelier/taste.h"
#include "taste/taste_internal.h"

namespace atelier::taste {

// ---- prototypes ---------------------------------------------------------------------------------

namespace {

std::vector<double> sd_or_ones(const Standardizer& s, size_t dim) {
    return s.dim() == int(dim) ? s.sd() : std::vector<double>(dim, 1.0);
}

double squared_distance(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

constexpr char kProtoMagic[] = "ATPS";
constexpr uint32_t kProtoVersion = 1;

}  // namespace

std::vector<double> PrototypeSet::weights_for(const Standardizer& target, int prototype) const {
    if (prototype < 0 || prototype >= int(prototypes.size()))
        throw Error("prototype set: no prototype " + std::to_string(prototype) + " of " +
                    std::to_string(prototypes.size()));
    const std::vector<double>& w = prototypes[size_t(prototype)].weights;
    const std::vector<double> from = sd_or_ones(standardizer, w.size());
    const std::vector<double> to = sd_or_ones(target, w.size());
    std::vector<double> out(w.size());
    for (size_t i = 0; i < w.size(); ++i) out[i] = w[i] / from[i] * to[i];
    return out;
}

std::vector<uint8_t> PrototypeSet::serialize() const {
    BlobWriter w;
    w.header(kProtoMagic, kProtoVersion);
    w.str(feature_set);
    w.standardizer(standardizer);
    w.u32(uint32_t(prototypes.size()));
    for (const Prototype& p : prototypes) {
        w.doubles(p.weights);
        w.f64(p.tie_log_nu);
        w.f64(p.share);
        w.i64(p.members);
    }
    return w.out;
}

PrototypeSet PrototypeSet::deserialize(const std::vector<uint8_t>& blob) {
    BlobReader r(blob, "prototype set blob");
    r.header(kProtoMagic, kProtoVersion);
    PrototypeSet s;
    s.feature_set = r.str("feature_set");
    s.standardizer = r.standardizer();
    const uint32_t k = r.u32("prototype count");
    for (uint32_t i = 0; i < k; ++i) {
        Prototype p;
        p.weights = r.doubles("prototype weights");
        p.tie_log_nu = r.f64("prototype tie");
        p.share = r.f64("prototype share");
        p.members = int(r.i64("prototype members"));
        if (!s.prototypes.empty() && p.weights.size() != s.prototypes.front().weights.size())
            throw Error("prototype set blob: prototypes of different dimensions");
        s.prototypes.push_back(std::move(p));
    }
    r.finish();
    return s;
}

PrototypeSet fit_prototypes(const std::vector<RewardModel>& models, int k, uint64_t seed, int restarts) {
    if (models.empty()) throw Error("fit_prototypes: no models");
    const std::string fs = models.front().feature_set();
    const size_t dim = size_t(models.front().dim());
    for (const RewardModel& m : models)
        if (m.feature_set() != fs || size_t(m.dim()) != dim)
            throw Error("fit_prototypes: models of different feature sets ('" + fs + "' and '" + m.feature_set() + "')");
    PrototypeSet set;
    set.feature_set = fs;
    for (const RewardModel& m : models) set.standardizer.merge(m.standardizer());
    const std::vector<double> pooled = sd_or_ones(set.standardizer, dim);
    std::vector<std::vector<double>> points;
    for (const RewardModel& m : models) {
        const std::vector<double> own = sd_or_ones(m.standardizer(), dim);
        std::vector<double> p(dim);
        for (size_t i = 0; i < dim; ++i) p[i] = m.weights()[i] / own[i] * pooled[i];
        points.push_back(std::move(p));
    }
    const size_t n = points.size();
    k = std::clamp(k, 1, int(n));

    double best_sse = std::numeric_limits<double>::infinity();
    std::vector<std::vector<double>> best_centres;
    std::vector<int> best_assign;
    SplitMix rng(seed ^ 0x9e3779b97f4a7c15ULL);
    for (int restart = 0; restart < std::max(1, restarts); ++restart) {
        // k-means++ seeding: each next centre drawn with probability proportional to D(x)^2.
        std::vector<std::vector<double>> centres{points[size_t(rng.below(n))]};
        std::vector<double> d2(n);
        while (int(centres.size()) < k) {
            double total = 0;
            for (size_t i = 0; i < n; ++i) {
                d2[i] = std::numeric_limits<double>::infinity();
                for (const auto& c : centres) d2[i] = std::min(d2[i], squared_distance(points[i], c));
                total += d2[i];
            }
            size_t pick = size_t(rng.below(n));
            if (total > 0) {
                double u = rng.uniform() * total;
                for (size_t i = 0; i < n; ++i) {
                    u -= d2[i];
                    if (u <= 0) {
                        pick = i;
                        break;
                    }
                }
            }
            centres.push_back(points[pick]);
        }
        // Lloyd iterations.
        std::vector<int> assign(n, -1);
        for (int it = 0; it < 100; ++it) {
            bool changed = false;
            for (size_t i = 0; i < n; ++i) {
                int best = 0;
                double bd = std::numeric_limits<double>::infinity();
                for (size_t c = 0; c < centres.size(); ++c) {
                    const double d = squared_distance(points[i], centres[c]);
                    if (d < bd) {
                        bd = d;
                        best = int(c);
                    }
                }
                if (assign[i] != best) {
                    assign[i] = best;
                    changed = true;
                }
            }
            for (size_t c = 0; c < centres.size(); ++c) {
                std::vector<double> sum(dim, 0.0);
                int count = 0;
                for (size_t i = 0; i < n; ++i)
                    if (assign[i] == int(c)) {
                        for (size_t j = 0; j < dim; ++j) sum[j] += points[i][j];
                        ++count;
                    }
                if (count == 0) {   // empty cluster: restart it at the point farthest from its centre
                    size_t far = 0;
                    double fd = -1;
                    for (size_t i = 0; i < n; ++i) {
                        const double d = squared_distance(points[i], centres[size_t(assign[i])]);
                        if (d > fd) {
                            fd = d;
                            far = i;
                        }
                    }
                    centres[c] = points[far];
                    changed = true;
                    continue;
                }
                for (size_t j = 0; j < dim; ++j) sum[j] /= count;
                centres[c] = sum;
            }
            if (!changed) break;
        }
        double sse = 0;
        for (size_t i = 0; i < n; ++i) sse += squared_distance(points[i], centres[size_t(assign[i])]);
        if (sse < best_sse) {
            best_sse = sse;
            best_centres = centres;
            best_assign = assign;
        }
    }
    for (size_t c = 0; c < best_centres.size(); ++c) {
        Prototype p;
        p.weights = best_centres[c];
        double tie = 0;
        for (size_t i = 0; i < n; ++i)
            if (best_assign[i] == int(c)) {
                ++p.members;
                tie += models[i].tie_log_nu();
            }
        if (p.members == 0) continue;
        p.tie_log_nu = tie / p.members;
        p.share = double(p.members) / double(n);
        set.prototypes.push_back(std::move(p));
    }
    std::stable_sort(set.prototypes.begin(), set.prototypes.end(),
                     [](const Prototype& a, const Prototype& b) { return a.members > b.members; });
    return set;
}

// ---- the next pair ------------------------------------------------------------------------------

PairSuggestion choose_next_pair(const RewardModel& model, const std::vector<std::vector<float>>& candidates,
                                const PairChoiceOptions& options) {
    return choose_next_pair_in_mixture(model, candidates, options, {}, 1.0);
}

namespace {
double entropy(const Prediction& p) {
    double h = 0;
    for (double q : {p.p_first, p.p_second, p.p_tie})
        if (q > 1e-12) h -= q * std::log(q);
    return h;
}
}  // namespace

PairSuggestion choose_next_pair_in_mixture(const RewardModel& model, const std::vector<std::vector<float>>& candidates,
                                           const PairChoiceOptions& options,
                                           const std::vector<PairMixtureComponent>& components, double model_weight) {
    const size_t m = candidates.size();
    if (m < 2) throw Error("choose_next_pair: " + std::to_string(m) + " candidates, need at least 2");
    const size_t d = size_t(model.dim());
    for (const auto& c : candidates)
        if (c.size() != d)
            throw Error("choose_next_pair: a candidate has " + std::to_string(c.size()) + " features, the model " +
                        std::to_string(d));
    std::set<std::pair<int, int>> excluded;
    for (auto [a, b] : options.exclude) excluded.insert({std::min(a, b), std::max(a, b)});
    const size_t all_pairs = m * (m - 1) / 2;
    if (excluded.size() >= all_pairs) {
        size_t allowed = 0;
        for (size_t i = 0; i < m; ++i)
            for (size_t j = i + 1; j < m; ++j) allowed += excluded.count({int(i), int(j)}) ? 0 : 1;
        if (allowed == 0) throw Error("choose_next_pair: every pair of the candidates is excluded");
    }

    SplitMix rng(mix_seed(options.seed, options.step));
    if (options.epsilon > 0 && rng.uniform() < options.epsilon) {
        for (int tries = 0; tries < 10000; ++tries) {
            const int a = int(rng.below(m)), b = int(rng.below(m));
            if (a == b || excluded.count({std::min(a, b), std::max(a, b)})) continue;
            return {a, b, 0.0, true};
        }
    }

    const std::vector<double> sd = model.standardizer().dim() == int(d) ? model.standardizer().sd()
                                                                        : std::vector<double>(d, 1.0);
    const std::vector<double>& cov = model.covariance();
    const size_t p = d + 1;
    const bool has_cov = cov.size() == p * p;
    // z_i standardized (without the mean, which cancels), r_i = w . z_i, u_i = Sigma z_i.
    std::vector<std::vector<double>> z(m, std::vector<double>(d)), u(m, std::vector<double>(d, 0.0));
    std::vector<double> r(m, 0.0), q(m, 0.0);
    for (size_t i = 0; i < m; ++i) {
        for (size_t j = 0; j < d; ++j) {
            z[i][j] = candidates[i][j] / sd[j];
            r[i] += model.weights()[j] * z[i][j];
        }
        if (has_cov)
            for (size_t a = 0; a < d; ++a) {
                double s = 0;
                for (size_t b = 0; b < d; ++b) s += cov[a * p + b] * z[i][b];
                u[i][a] = s;
            }
        for (size_t a = 0; a < d; ++a) q[i] += z[i][a] * u[i][a];
    }
    PairSuggestion best;
    best.score = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < m; ++i)
        for (size_t j = i + 1; j < m; ++j) {
            if (excluded.count({int(i), int(j)})) continue;
            double cross = 0;
            for (size_t a = 0; a < d; ++a) cross += z[i][a] * u[j][a];
            const double v = std::max(0.0, q[i] + q[j] - 2 * cross);
            double score = v;
            if (options.criterion == PairChoiceOptions::Criterion::information_gain) {
                const Prediction pr = predictive(r[i] - r[j], v, model.tie_log_nu());
                const double diff = pr.p_first - pr.p_second;
                const double info = (pr.p_first + pr.p_second) * 0.25 - diff * diff * 0.25;
                score = 0.5 * std::log1p(info * v);
                if (!components.empty()) {
                    Prediction mix;
                    mix.p_first = model_weight * pr.p_first;
                    mix.p_second = model_weight * pr.p_second;
                    mix.p_tie = model_weight * pr.p_tie;
                    double conditional = model_weight * entropy(pr);
                    for (const PairMixtureComponent& c : components) {
                        const Prediction pc = predictive(c.reward[i] - c.reward[j], 0.0, c.tie_log_nu);
                        mix.p_first += c.weight * pc.p_first;
                        mix.p_second += c.weight * pc.p_second;
                        mix.p_tie += c.weight * pc.p_tie;
                        conditional += c.weight * entropy(pc);
                    }
                    score = std::max(0.0, entropy(mix) - conditional) + model_weight * score;
                }
            }
            if (score > best.score) best = {int(i), int(j), score, false};
        }
    return best;
}

// ---- learner ------------------------------------------------------------------------------------

Learner::Learner(std::string feature_set, std::vector<std::string> feature_names, LearnerOptions options)
    : options_(std::move(options)), model_(std::move(feature_set), std::move(feature_names)) {}

void Learner::set_prototypes(const PrototypeSet& prototypes) {
    if (prototypes.feature_set != model_.feature_set())
        throw Error("learner: prototypes of feature set '" + prototypes.feature_set + "', the model uses '" +
                    model_.feature_set() + "'");
    for (const Prototype& p : prototypes.prototypes)
        if (int(p.weights.size()) != model_.dim())
            throw Error("learner: a prototype has " + std::to_string(p.weights.size()) + " weights, expected " +
                        std::to_string(model_.dim()));
    prototypes_ = prototypes;
    log_weights_.clear();
    const double ps = std::clamp(options_.personal_prior_share, 1e-6, 1.0 - 1e-6);
    double total_share = 0;
    for (const Prototype& p : prototypes_.prototypes) total_share += p.share;
    for (const Prototype& p : prototypes_.prototypes) {
        const double share = total_share > 0 ? p.share / total_share : 1.0 / prototypes_.prototypes.size();
        log_weights_.push_back(std::log(std::max(share, 1e-12) * (1 - ps)));
    }
    log_weights_.push_back(std::log(ps));
}

void Learner::set_prior(std::vector<double> prior_mean, std::vector<double> prior_precision) {
    if ((!prior_mean.empty() && int(prior_mean.size()) != model_.dim()) ||
        prior_mean.size() != prior_precision.size())
        throw Error("learner: prior of " + std::to_string(prior_mean.size()) + "/" +
                    std::to_string(prior_precision.size()) + " values, expected " + std::to_string(model_.dim()));
    constraint_mean_ = std::move(prior_mean);
    constraint_precision_ = std::move(prior_precision);
}

std::vector<double> Learner::raw_mixture_weights() const {
    std::vector<double> w(log_weights_.size());
    if (w.empty()) return w;
    const double mx = *std::max_element(log_weights_.begin(), log_weights_.end());
    double total = 0;
    for (size_t i = 0; i < w.size(); ++i) total += (w[i] = std::exp(log_weights_[i] - mx));
    for (double& x : w) x /= total;
    return w;
}

std::vector<double> Learner::mixture_weights() const {
    std::vector<double> w = raw_mixture_weights();
    if (w.empty()) return w;
    const double n = double(decided_labels_);
    const double floor = n / (n + std::max(1e-9, options_.shrink_labels));
    double& personal = w.back();
    if (personal < floor) {
        const double scale = personal < 1 ? (1 - floor) / (1 - personal) : 0.0;
        for (size_t i = 0; i + 1 < w.size(); ++i) w[i] *= scale;
        personal = floor;
    }
    return w;
}

std::vector<double> Learner::prior_mean_now() const {
    std::vector<double> mean(size_t(model_.dim()), 0.0);
    if (has_prototypes() && options_.prototype_prior) {
        std::vector<double> w = raw_mixture_weights();
        double total = 0;
        for (size_t k = 0; k + 1 < w.size(); ++k) total += w[k];
        for (size_t k = 0; k + 1 < w.size(); ++k) {
            const std::vector<double> pw = prototypes_.weights_for(model_.standardizer(), int(k));
            for (size_t i = 0; i < mean.size(); ++i) mean[i] += w[k] / total * pw[i];
        }
    }
    return mean;
}

FitReport Learner::refit() {
    Standardizer s;
    for (const auto& item : data_.items) s.add(item);
    s.min_sd = options_.fit.min_feature_sd;
    if (s.count > 0) model_.set_standardizer(s);
    FitOptions fit = options_.fit;
    fit.update_standardizer = false;
    fit.prior_mean = prior_mean_now();
    fit.prior_precision.assign(size_t(model_.dim()), 1.0 / (fit.prior_sd * fit.prior_sd));
    for (size_t i = 0; i < constraint_precision_.size(); ++i)
        if (constraint_precision_[i] > 0) {
            fit.prior_mean[i] = constraint_mean_[i];
            fit.prior_precision[i] = constraint_precision_[i];
        }
    return model_.fit(data_, fit);
}

FitReport Learner::add_judgement(int first, int second, Choice choice, int strength, int64_t comparison_id) {
    observe(first, second, choice, strength, comparison_id);
    return refit();
}

FitReport Learner::add_judgements(const std::vector<PairLabel>& labels) {
    for (const PairLabel& l : labels) observe(l.first, l.second, l.choice, l.strength, l.comparison_id);
    return refit();
}

void Learner::observe(int first, int second, Choice choice, int strength, int64_t comparison_id) {
    const int n = int(data_.items.size());
    if (first < 0 || second < 0 || first >= n || second >= n || first == second)
        throw Error("learner: judgement between items " + std::to_string(first) + " and " + std::to_string(second) +
                    " (have " + std::to_string(n) + " items)");
    if (choice == Choice::invalid) throw Error("learner: judgement without a choice");
    if (choice != Choice::skip) {
        if (has_prototypes()) {
            const double c = options_.fit.strength_weights[size_t(std::clamp(strength, 0, 3))];
            auto log_prob = [&](const Prediction& p) {
                const double q = choice == Choice::left ? p.p_first : choice == Choice::right ? p.p_second : p.p_tie;
                return c * std::log(std::max(q, 1e-12));
            };
            const auto& a = data_.items[size_t(first)];
            const auto& b = data_.items[size_t(second)];
            RewardModel point(model_.feature_set(), model_.feature_names());
            if (model_.standardizer().dim() == model_.dim()) point.set_standardizer(model_.standardizer());
            for (size_t k = 0; k < prototypes_.prototypes.size(); ++k) {
                point.set_weights(prototypes_.weights_for(model_.standardizer(), int(k)),
                                  prototypes_.prototypes[k].tie_log_nu);
                log_weights_[k] += log_prob(point.predict(a, b));
            }
            log_weights_.back() += log_prob(model_.predict(a, b));
            const double mx = *std::max_element(log_weights_.begin(), log_weights_.end());
            for (double& lw : log_weights_) lw -= mx;   // keep them bounded
        }
        ++decided_labels_;
    }
    data_.labels.push_back({first, second, choice, strength, comparison_id});
}

Prediction Learner::predict(const std::vector<float>& first, const std::vector<float>& second) const {
    const Prediction personal = model_.predict(first, second);
    if (!has_prototypes()) return personal;
    const std::vector<double> w = mixture_weights();
    Prediction mix;
    mix.p_first = mix.p_second = mix.p_tie = 0;
    double mean = 0, second_moment = 0;
    RewardModel point(model_.feature_set(), model_.feature_names());
    if (model_.standardizer().dim() == model_.dim()) point.set_standardizer(model_.standardizer());
    for (size_t k = 0; k < w.size(); ++k) {
        Prediction p = personal;
        if (k + 1 < w.size()) {
            point.set_weights(prototypes_.weights_for(model_.standardizer(), int(k)),
                              prototypes_.prototypes[k].tie_log_nu);
            p = point.predict(first, second);
        }
        mix.p_first += w[k] * p.p_first;
        mix.p_second += w[k] * p.p_second;
        mix.p_tie += w[k] * p.p_tie;
        mean += w[k] * p.mean;
        second_moment += w[k] * (p.sd * p.sd + p.mean * p.mean);
    }
    mix.mean = mean;
    mix.sd = std::sqrt(std::max(0.0, second_moment - mean * mean));
    return mix;
}

Prediction Learner::predict(int first, int second) const {
    const int n = int(data_.items.size());
    if (first < 0 || second < 0 || first >= n || second >= n)
        throw Error("learner: predict items " + std::to_string(first) + ", " + std::to_string(second) + " of " +
                    std::to_string(n));
    return predict(data_.items[size_t(first)], data_.items[size_t(second)]);
}

PairSuggestion Learner::next_pair(const std::vector<int>& candidate_rows, PairChoiceOptions options) const {
    std::vector<std::vector<float>> candidates;
    std::vector<int> index_of(data_.items.size(), -1);
    for (int row : candidate_rows) {
        if (row < 0 || row >= int(data_.items.size()))
            throw Error("learner: candidate row " + std::to_string(row) + " of " + std::to_string(data_.items.size()));
        index_of[size_t(row)] = int(candidates.size());
        candidates.push_back(data_.items[size_t(row)]);
    }
    std::vector<std::pair<int, int>> exclude;
    for (auto [a, b] : options.exclude)
        if (a >= 0 && b >= 0 && a < int(index_of.size()) && b < int(index_of.size()) && index_of[size_t(a)] >= 0 &&
            index_of[size_t(b)] >= 0)
            exclude.push_back({index_of[size_t(a)], index_of[size_t(b)]});
    for (const PairLabel& l : data_.labels)
        if (index_of[size_t(l.first)] >= 0 && index_of[size_t(l.second)] >= 0)
            exclude.push_back({index_of[size_t(l.first)], index_of[size_t(l.second)]});
    options.exclude = exclude;
    // With prototypes, the pair that best tells the components apart counts too (see
    // choose_next_pair_in_mixture), with the weights predictions use.
    std::vector<PairMixtureComponent> components;
    double personal_weight = 1.0;
    if (has_prototypes()) {
        const std::vector<double> w = mixture_weights();
        personal_weight = w.back();
        const std::vector<double> sd = model_.standardizer().dim() == model_.dim() ? model_.standardizer().sd()
                                                                                   : std::vector<double>(size_t(model_.dim()), 1.0);
        for (size_t k = 0; k + 1 < w.size(); ++k) {
            PairMixtureComponent c;
            c.weight = w[k];
            c.tie_log_nu = prototypes_.prototypes[k].tie_log_nu;
            const std::vector<double> pw = prototypes_.weights_for(model_.standardizer(), int(k));
            for (const auto& x : candidates) {
                double r = 0;
                for (size_t a = 0; a < pw.size(); ++a) r += pw[a] * x[a] / sd[a];
                c.reward.push_back(r);
            }
            components.push_back(std::move(c));
        }
    }
    PairSuggestion s = choose_next_pair_in_mixture(model_, candidates, options, components, personal_weight);
    s.first = candidate_rows[size_t(s.first)];
    s.second = candidate_rows[size_t(s.second)];
    return s;
}

}  // namespace atelier::taste
