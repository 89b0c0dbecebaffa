// Bayesian Bradley-Terry reward model with Davidson ties (Bradley & Terry 1952; Davidson 1970, "On extending
// the Bradley-Terry model to accommodate ties"), Newton's method for the posterior mode and the Laplace
// approximation with MacKay's (1992) probit predictive. Formulas in taste.h.
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "atelier/taste.h"
#include "taste/taste_internal.h"

namespace atelier::taste {

// ---- data -----------------------------------------------------------------------------------------

int TasteData::add_item(std::vector<float> features, int64_t id) {
    if (!items.empty() && features.size() != items.front().size())
        throw Error("taste data: feature vector of " + std::to_string(features.size()) + " values, expected " +
                    std::to_string(items.front().size()));
    if (id != 0) {
        const int found = find_item(id);
        if (found >= 0) return found;
    }
    items.push_back(std::move(features));
    item_ids.push_back(id);
    return int(items.size()) - 1;
}

int TasteData::find_item(int64_t id) const {
    for (size_t i = 0; i < item_ids.size(); ++i)
        if (item_ids[i] == id) return int(i);
    return -1;
}

// ---- Davidson -------------------------------------------------------------------------------------

Prediction davidson(double d, double tie_log_nu) {
    const double a = d / 2, b = -d / 2, t = tie_log_nu;
    const double m = std::max({a, b, t});
    const double ea = std::exp(a - m), eb = std::exp(b - m), et = std::exp(t - m);
    const double z = ea + eb + et;
    Prediction p;
    p.p_first = ea / z;
    p.p_second = eb / z;
    p.p_tie = et / z;
    p.mean = d;
    p.sd = 0;
    return p;
}

// ---- model ----------------------------------------------------------------------------------------

RewardModel::RewardModel(std::string feature_set, std::vector<std::string> feature_names)
    : feature_set_(std::move(feature_set)), feature_names_(std::move(feature_names)) {
    weights_.assign(feature_names_.size(), 0.0);
    const size_t p = feature_names_.size() + 1;
    covariance_.assign(p * p, 0.0);
    for (size_t i = 0; i < p; ++i) covariance_[i * p + i] = 1.0;
}

void RewardModel::set_standardizer(const Standardizer& standardizer) {
    if (standardizer.dim() != dim())
        throw Error("reward model: standardizer of " + std::to_string(standardizer.dim()) + " features, expected " +
                    std::to_string(dim()));
    standardizer_ = standardizer;
}

void RewardModel::set_weights(const std::vector<double>& weights, double tie_log_nu) {
    if (int(weights.size()) != dim())
        throw Error("reward model: " + std::to_string(weights.size()) + " weights, expected " + std::to_string(dim()));
    weights_ = weights;
    tie_log_nu_ = tie_log_nu;
    covariance_.assign(size_t(dim() + 1) * size_t(dim() + 1), 0.0);   // a point model: no uncertainty
}

std::vector<double> RewardModel::weight_sd() const {
    std::vector<double> out(size_t(dim()), 0.0);
    const size_t p = size_t(dim()) + 1;
    if (covariance_.size() != p * p) return out;
    for (size_t i = 0; i < out.size(); ++i) out[i] = std::sqrt(std::max(0.0, covariance_[i * p + i]));
    return out;
}

namespace {

void check_dim(const std::vector<float>& x, int dim, const char* what) {
    if (int(x.size()) != dim)
        throw Error(std::string("reward model: ") + what + " has " + std::to_string(x.size()) +
                    " features, expected " + std::to_string(dim));
}

}  // namespace

// The standardized difference (the standardizer's mean cancels).
std::vector<double> standardized_difference(const RewardModel& model, const std::vector<float>& a,
                                            const std::vector<float>& b) {
    const std::vector<double> sd = model.standardizer().dim() == model.dim() ? model.standardizer().sd()
                                                                             : std::vector<double>(size_t(model.dim()), 1.0);
    std::vector<double> x(a.size());
    for (size_t i = 0; i < a.size(); ++i) x[i] = (double(a[i]) - double(b[i])) / sd[i];
    return x;
}

double quadratic_form(const std::vector<double>& cov, int dim, const std::vector<double>& x) {
    const size_t p = size_t(dim) + 1;
    if (cov.size() != p * p) return 0;
    double v = 0;
    for (size_t i = 0; i < size_t(dim); ++i) {
        double row = 0;
        for (size_t j = 0; j < size_t(dim); ++j) row += cov[i * p + j] * x[j];
        v += x[i] * row;
    }
    return std::max(0.0, v);
}

Prediction predictive(double mean, double var, double tie_log_nu) {
    const double kPi = 3.14159265358979323846;
    const double kappa = 1.0 / std::sqrt(1.0 + kPi * var / 8.0);
    Prediction p = davidson(kappa * mean, tie_log_nu);
    p.mean = mean;
    p.sd = std::sqrt(var);
    return p;
}

Prediction RewardModel::predict(const std::vector<float>& first, const std::vector<float>& second) const {
    check_dim(first, dim(), "first picture");
    check_dim(second, dim(), "second picture");
    const std::vector<double> x = standardized_difference(*this, first, second);
    double m = 0;
    for (size_t i = 0; i < x.size(); ++i) m += weights_[i] * x[i];
    return predictive(m, quadratic_form(covariance_, dim(), x), tie_log_nu_);
}

double RewardModel::reward(const std::vector<float>& features) const {
    check_dim(features, dim(), "picture");
    const std::vector<double> z = standardizer_.apply(features);
    double r = 0;
    for (size_t i = 0; i < z.size(); ++i) r += weights_[i] * z[i];
    return r;
}

double RewardModel::reward_sd(const std::vector<float>& features) const {
    check_dim(features, dim(), "picture");
    return std::sqrt(quadratic_form(covariance_, dim(), standardizer_.apply(features)));
}

// ---- fitting --------------------------------------------------------------------------------------

namespace {

struct Problem {
    at::Tensor X;        // [N, D] standardized differences (first - second)
    at::Tensor s;        // [N] +1/2 first won, -1/2 second won, 0 tie
    at::Tensor tie;      // [N] 1 for ties
    at::Tensor c;        // [N] evidence weights
    at::Tensor prior_mean;       // [D + 1]
    at::Tensor prior_precision;  // [D + 1]
    int64_t n = 0, d = 0;
};

// Negative log posterior (up to a constant) and, if asked, its gradient and Hessian.
double evaluate(const Problem& pr, const at::Tensor& beta, at::Tensor* grad, at::Tensor* hess) {
    const at::Tensor w = beta.slice(0, 0, pr.d);
    const at::Tensor theta = beta.slice(0, pr.d, pr.d + 1);
    const at::Tensor delta = beta - pr.prior_mean;
    double prior = 0.5 * (pr.prior_precision * delta * delta).sum().item<double>();
    if (pr.n == 0) {
        if (grad) *grad = pr.prior_precision * delta;
        if (hess) *hess = at::diag(pr.prior_precision);
        return prior;
    }
    const at::Tensor dd = pr.X.mv(w);
    const at::Tensor half = dd * 0.5;
    const at::Tensor logits = at::stack({half, -half, theta.expand({pr.n})}, 1);   // [N, 3]
    const at::Tensor lz = at::logsumexp(logits, {1});
    const double nll = (pr.c * (lz - pr.s * dd - pr.tie * theta)).sum().item<double>();
    if (grad || hess) {
        const at::Tensor probs = at::exp(logits - lz.unsqueeze(1));
        const at::Tensor pa = probs.select(1, 0), pb = probs.select(1, 1), pt = probs.select(1, 2);
        const at::Tensor diff = pa - pb;
        if (grad) {
            const at::Tensor gd = pr.c * (diff * 0.5 - pr.s);
            const at::Tensor gt = (pr.c * (pt - pr.tie)).sum().reshape({1});
            *grad = at::cat({pr.X.t().mv(gd), gt}) + pr.prior_precision * delta;
        }
        if (hess) {
            const at::Tensor hdd = pr.c * ((pa + pb) * 0.25 - diff * diff * 0.25);
            const at::Tensor hdt = pr.c * (-0.5 * diff * pt);
            const at::Tensor htt = (pr.c * pt * (1 - pt)).sum();
            at::Tensor h = at::zeros({pr.d + 1, pr.d + 1}, beta.options());
            h.slice(0, 0, pr.d).slice(1, 0, pr.d).copy_(pr.X.t().mm(pr.X * hdd.unsqueeze(1)));
            const at::Tensor cross = pr.X.t().mv(hdt);
            h.slice(0, 0, pr.d).select(1, pr.d).copy_(cross);
            h.select(0, pr.d).slice(0, 0, pr.d).copy_(cross);
            h.select(0, pr.d).select(0, pr.d).copy_(htt);
            *hess = h + at::diag(pr.prior_precision);
        }
    }
    return nll + prior;
}

}  // namespace

namespace {

// The problems are small (d ~ 30): intra-op threads only add synchronisation, and a busy machine makes
// OpenMP's spinning workers very costly. The thread count is per calling thread (OpenMP ICV), so this
// changes nothing for other threads.
class SingleThreaded {
public:
    SingleThreaded() : saved_(at::get_num_threads()) {
        if (saved_ != 1) at::set_num_threads(1);
    }
    ~SingleThreaded() {
        if (saved_ != 1) at::set_num_threads(saved_);
    }

private:
    int saved_;
};

}  // namespace

FitReport RewardModel::fit(const TasteData& data, const FitOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    SingleThreaded single_threaded;
    const int64_t D = dim();
    if (D == 0) throw Error("reward model: no features (construct it with the feature names)");
    if (data.dim() != 0 && data.dim() != D)
        throw Error("reward model: data has " + std::to_string(data.dim()) + " features, the model " +
                    std::to_string(D) + " (" + feature_set_ + ")");
    if (!options.prior_mean.empty() && int64_t(options.prior_mean.size()) != D)
        throw Error("fit options: prior_mean has " + std::to_string(options.prior_mean.size()) + " values, expected " +
                    std::to_string(D));
    if (!options.prior_precision.empty() && int64_t(options.prior_precision.size()) != D)
        throw Error("fit options: prior_precision has " + std::to_string(options.prior_precision.size()) +
                    " values, expected " + std::to_string(D));
    if (!(options.prior_sd > 0) || !(options.tie_prior_sd > 0))
        throw Error("fit options: prior_sd and tie_prior_sd must be > 0");

    if (options.update_standardizer && !data.items.empty()) {
        Standardizer s;
        for (const auto& item : data.items) s.add(item);
        s.min_sd = options.min_feature_sd;
        standardizer_ = s;
    }
    const std::vector<double> sd =
        standardizer_.dim() == D ? standardizer_.sd() : std::vector<double>(size_t(D), 1.0);

    // Design matrix of the usable labels.
    std::vector<double> xs, ss, ts, cs;
    xs.reserve(data.labels.size() * size_t(D));
    ss.reserve(data.labels.size());
    ts.reserve(data.labels.size());
    cs.reserve(data.labels.size());
    int64_t n = 0;
    for (const PairLabel& label : data.labels) {
        if (label.choice == Choice::skip || label.choice == Choice::invalid) continue;
        if (label.first < 0 || label.second < 0 || label.first >= int(data.items.size()) ||
            label.second >= int(data.items.size()))
            throw Error("taste data: label refers to item " + std::to_string(std::max(label.first, label.second)) +
                        " of " + std::to_string(data.items.size()));
        const auto& a = data.items[size_t(label.first)];
        const auto& b = data.items[size_t(label.second)];
        for (int64_t i = 0; i < D; ++i) xs.push_back((double(a[size_t(i)]) - double(b[size_t(i)])) / sd[size_t(i)]);
        ss.push_back(label.choice == Choice::left ? 0.5 : label.choice == Choice::right ? -0.5 : 0.0);
        ts.push_back(label.choice == Choice::tie ? 1.0 : 0.0);
        cs.push_back(options.strength_weights[size_t(std::clamp(label.strength, 0, 3))]);
        ++n;
    }
    const auto f64 = at::TensorOptions().dtype(at::kDouble);
    Problem pr;
    pr.n = n;
    pr.d = D;
    pr.X = n ? at::from_blob(xs.data(), {n, D}, f64).clone() : at::zeros({0, D}, f64);
    pr.s = at::from_blob(ss.data(), {n}, f64).clone();
    pr.tie = at::from_blob(ts.data(), {n}, f64).clone();
    pr.c = at::from_blob(cs.data(), {n}, f64).clone();
    std::vector<double> pm(size_t(D) + 1, 0.0), pp(size_t(D) + 1, 1.0 / (options.prior_sd * options.prior_sd));
    for (int64_t i = 0; i < D; ++i) {
        if (!options.prior_mean.empty()) pm[size_t(i)] = options.prior_mean[size_t(i)];
        if (!options.prior_precision.empty()) pp[size_t(i)] = options.prior_precision[size_t(i)];
    }
    pm[size_t(D)] = options.tie_prior_mean;
    pp[size_t(D)] = 1.0 / (options.tie_prior_sd * options.tie_prior_sd);
    pr.prior_mean = at::tensor(pm, f64);
    pr.prior_precision = at::tensor(pp, f64);

    // Warm start from the current weights.
    std::vector<double> start_beta(weights_);
    start_beta.resize(size_t(D), 0.0);
    start_beta.push_back(std::isfinite(tie_log_nu_) ? tie_log_nu_ : options.tie_prior_mean);
    at::Tensor beta = at::tensor(start_beta, f64);

    FitReport report;
    report.labels_used = int(n);
    at::Tensor grad, hess;
    double f = evaluate(pr, beta, &grad, &hess);
    for (int it = 0; it < options.max_iterations; ++it) {
        const at::Tensor chol = at::linalg_cholesky(hess);
        const at::Tensor step = at::cholesky_solve(grad.unsqueeze(1), chol).squeeze(1);
        const double decrement = (grad * step).sum().item<double>();
        report.iterations = it + 1;
        if (decrement / 2 <= options.tolerance) {
            report.converged = true;
            break;
        }
        double t = 1.0, f_new = f;
        at::Tensor candidate;
        while (t > 1e-10) {
            candidate = beta - t * step;
            f_new = evaluate(pr, candidate, nullptr, nullptr);
            if (f_new <= f - 1e-4 * t * decrement) break;
            t *= 0.5;
        }
        if (t <= 1e-10) {   // no decrease possible: at the mode to numerical precision
            report.converged = true;
            break;
        }
        beta = candidate;
        f = evaluate(pr, beta, &grad, &hess);
    }
    report.objective = f;
    report.gradient_norm = grad.norm().item<double>();

    // Laplace: the covariance is the inverse Hessian at the mode.
    const at::Tensor cov = at::cholesky_inverse(at::linalg_cholesky(hess)).contiguous();
    covariance_.assign(cov.data_ptr<double>(), cov.data_ptr<double>() + cov.numel());
    const at::Tensor b = beta.contiguous();
    weights_.assign(b.data_ptr<double>(), b.data_ptr<double>() + D);
    tie_log_nu_ = b.data_ptr<double>()[D];
    label_count_ = n;
    report.fit_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return report;
}

double cross_validated_accuracy(const TasteData& data, const FitOptions& options, int folds, uint64_t seed,
                                const std::string& feature_set) {
    std::vector<size_t> decided;
    for (size_t i = 0; i < data.labels.size(); ++i)
        if (data.labels[i].choice == Choice::left || data.labels[i].choice == Choice::right) decided.push_back(i);
    if (decided.size() < 2 || data.dim() == 0) return std::numeric_limits<double>::quiet_NaN();
    folds = std::clamp(folds, 2, int(decided.size()));
    SplitMix rng(seed ^ 0x5eedf01d5ULL);
    for (size_t i = decided.size(); i > 1; --i) std::swap(decided[i - 1], decided[size_t(rng.below(i))]);
    std::vector<int> fold_of(data.labels.size(), -1);
    for (size_t k = 0; k < decided.size(); ++k) fold_of[decided[k]] = int(k % size_t(folds));
    std::vector<std::string> names(size_t(data.dim()));
    for (size_t i = 0; i < names.size(); ++i) names[i] = "f" + std::to_string(i);
    int correct = 0, total = 0;
    for (int f = 0; f < folds; ++f) {
        TasteData train;
        train.items = data.items;
        train.item_ids = data.item_ids;
        for (size_t i = 0; i < data.labels.size(); ++i)
            if (fold_of[i] != f) train.labels.push_back(data.labels[i]);
        RewardModel model(feature_set, names);
        model.fit(train, options);
        for (size_t i = 0; i < data.labels.size(); ++i) {
            if (fold_of[i] != f) continue;
            const PairLabel& l = data.labels[i];
            const Prediction p = model.predict(data.items[size_t(l.first)], data.items[size_t(l.second)]);
            const bool first_predicted = p.p_first >= p.p_second;
            correct += (first_predicted == (l.choice == Choice::left)) ? 1 : 0;
            ++total;
        }
    }
    return total ? double(correct) / total : std::numeric_limits<double>::quiet_NaN();
}

// ---- serialization --------------------------------------------------------------------------------

namespace {

constexpr char kMagic[] = "ATRM";
constexpr uint32_t kBlobVersion = 1;

}  // namespace

std::vector<uint8_t> RewardModel::serialize() const {
    BlobWriter w;
    w.header(kMagic, kBlobVersion);
    w.str(feature_set_);
    w.u32(uint32_t(dim()));
    for (const std::string& name : feature_names_) w.str(name);
    w.standardizer(standardizer_);
    w.doubles(weights_);
    w.f64(tie_log_nu_);
    w.doubles(covariance_);
    w.i64(label_count_);
    return w.out;
}

RewardModel RewardModel::deserialize(const std::vector<uint8_t>& blob) {
    BlobReader r(blob, "reward model blob");
    r.header(kMagic, kBlobVersion);
    RewardModel m;
    m.feature_set_ = r.str("feature_set");
    const uint32_t d = r.u32("dim");
    if (d == 0 || d > 100000) throw Error("reward model blob: dim " + std::to_string(d) + " out of range");
    for (uint32_t i = 0; i < d; ++i) m.feature_names_.push_back(r.str("feature name"));
    m.standardizer_ = r.standardizer();
    m.weights_ = r.doubles("weights");
    m.tie_log_nu_ = r.f64("tie parameter");
    m.covariance_ = r.doubles("covariance");
    m.label_count_ = r.i64("label count");
    r.finish();
    const size_t p = size_t(d) + 1;
    if (m.weights_.size() != d) throw Error("reward model blob: weights has " + std::to_string(m.weights_.size()) +
                                            " values, expected " + std::to_string(d));
    if (m.covariance_.size() != p * p)
        throw Error("reward model blob: covariance has " + std::to_string(m.covariance_.size()) + " values, expected " +
                    std::to_string(p * p));
    if (m.standardizer_.count > 0 && (m.standardizer_.mean.size() != d || m.standardizer_.m2.size() != d))
        throw Error("reward model blob: standardizer of the wrong dimension");
    return m;
}

RewardModelRecord to_record(const RewardModel& model, int64_t profile_id, double heldout_accuracy,
                            const std::string& notes_json) {
    RewardModelRecord record;
    record.profile_id = profile_id;
    record.feature_set = model.feature_set();
    record.parameters = model.serialize();
    record.label_count = model.label_count();
    record.heldout_accuracy = std::isfinite(heldout_accuracy) ? heldout_accuracy : 0.0;
    record.notes_json = notes_json;
    return record;
}

RewardModel from_record(const RewardModelRecord& record) {
    RewardModel m = RewardModel::deserialize(record.parameters);
    if (m.feature_set() != record.feature_set)
        throw Error("reward model record " + std::to_string(record.id) + ": feature_set '" + record.feature_set +
                    "' but the blob says '" + m.feature_set() + "'");
    return m;
}

}  // namespace atelier::taste
