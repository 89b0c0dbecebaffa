// A profile's taste model from the store: its judgements as taste data, fitted with the memory as prior.
#include <algorithm>

#include "atelier/taste.h"

namespace atelier::taste {

const std::vector<float>& AssetFeatureCache::features(int64_t asset_id) {
    auto it = by_asset_.find(asset_id);
    if (it == by_asset_.end()) it = by_asset_.emplace(asset_id, extractor_.extract(store_.load_asset(asset_id, 3))).first;
    return it->second;
}

namespace {
std::vector<Comparison> all_comparisons(Store& store, int64_t profile_id) {
    std::vector<Comparison> out;
    for (int offset = 0;; offset += 1000) {
        std::vector<Comparison> page = store.list_comparisons(profile_id, -1, false, 1000, offset);
        out.insert(out.end(), page.begin(), page.end());
        if (page.size() < 1000) break;
    }
    std::reverse(out.begin(), out.end());  // oldest first
    return out;
}
}  // namespace

TasteData profile_data(Store& store, int64_t profile_id, AssetFeatureCache& cache) {
    TasteData data;
    for (const Comparison& c : all_comparisons(store, profile_id)) {
        if (c.choice != Choice::left && c.choice != Choice::right && c.choice != Choice::tie) continue;
        if (!c.left_asset_id || !c.right_asset_id) continue;
        const int a = data.add_item(cache.features(c.left_asset_id), c.left_asset_id);
        const int b = data.add_item(cache.features(c.right_asset_id), c.right_asset_id);
        data.labels.push_back({a, b, c.choice, c.strength, c.id});
    }
    return data;
}

FitOptions fit_options_with_memory(const MemoryPrior& prior, const FeatureExtractor& extractor) {
    const size_t dim = size_t(extractor.dim());
    FitOptions options;
    options.min_feature_sd = min_feature_sd(extractor);
    if (!prior.mean.empty()) {
        options.prior_mean = prior.mean;
        options.prior_precision = prior.precision;
        for (size_t i = 0; i < dim; ++i)
            if (options.prior_precision[i] <= 0) {  // no constraint here: the default prior
                options.prior_mean[i] = 0;
                options.prior_precision[i] = 1.0 / (options.prior_sd * options.prior_sd);
            }
    }
    return options;
}

ProfileFit fit_profile(Store& store, int64_t profile_id, const FeatureExtractor& extractor, int folds,
                       bool use_memory, bool with_learning_curve) {
    AssetFeatureCache cache(store, extractor);
    ProfileFit fit{RewardModel(extractor.feature_set(), extractor.names()), profile_data(store, profile_id, cache), {},
                   0, {}, {}};
    if (fit.data.labels.empty())
        throw Error("profile '" + store.profile(profile_id).name + "' has no decided comparisons to learn from");
    if (use_memory) fit.prior = memory_prior(store, profile_id, extractor.names());
    const FitOptions options = fit_options_with_memory(fit.prior, extractor);
    fit.report = fit.model.fit(fit.data, options);
    fit.heldout_accuracy = cross_validated_accuracy(fit.data, options, folds, 0, extractor.feature_set());
    if (with_learning_curve) {
        const int total = int(fit.data.labels.size());
        for (int n : {5, 10, 20, 50, 100, 200, 500}) {
            if (n >= total) break;
            TasteData first = fit.data;
            first.labels.resize(size_t(n));
            fit.learning_curve.emplace_back(n, cross_validated_accuracy(first, options, std::min(folds, n), 0,
                                                                        extractor.feature_set()));
        }
        fit.learning_curve.emplace_back(total, fit.heldout_accuracy);
    }
    return fit;
}

}  // namespace atelier::taste
