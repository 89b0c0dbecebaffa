// A profile's taste model from the store: its judgements as taste data, fitted with the memory as prior.
#include <algorithm>
#include <map>
#include <set>

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

std::optional<PairToLearn> next_pair_to_learn(Store& store, int64_t profile_id,
                                              const std::vector<int64_t>& candidate_asset_ids, AssetFeatureCache& cache,
                                              const PairChoiceOptions& choice_options) {
    std::vector<int64_t> ids;  // distinct, in the given order
    for (int64_t id : candidate_asset_ids)
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    if (ids.size() < 2) return std::nullopt;

    const FeatureExtractor& extractor = cache.extractor();
    const TasteData data = profile_data(store, profile_id, cache);
    RewardModel model(extractor.feature_set(), extractor.names());
    if (!data.labels.empty())
        model.fit(data, fit_options_with_memory(memory_prior(store, profile_id, extractor.names()), extractor));

    std::map<int64_t, int> index_of;
    std::vector<std::vector<float>> candidates;
    for (int64_t id : ids) {
        index_of[id] = int(candidates.size());
        candidates.push_back(cache.features(id));
    }
    PairChoiceOptions options = choice_options;
    std::set<std::pair<int, int>> judged;
    for (const PairLabel& l : data.labels) {
        const auto a = index_of.find(data.item_ids[size_t(l.first)]), b = index_of.find(data.item_ids[size_t(l.second)]);
        if (a == index_of.end() || b == index_of.end()) continue;
        judged.insert({std::min(a->second, b->second), std::max(a->second, b->second)});
    }
    if (judged.size() >= ids.size() * (ids.size() - 1) / 2) return std::nullopt;
    options.exclude.insert(options.exclude.end(), judged.begin(), judged.end());
    options.step = choice_options.step + uint64_t(data.labels.size());  // a fresh exploration draw per judgement

    const PairSuggestion s = choose_next_pair(model, candidates, options);
    PairToLearn out;
    out.left_asset_id = ids[size_t(s.first)];
    out.right_asset_id = ids[size_t(s.second)];
    out.score = s.score;
    out.explored = s.explored;
    out.prediction = model.predict(candidates[size_t(s.first)], candidates[size_t(s.second)]);
    out.labels = int64_t(data.labels.size());
    return out;
}

}  // namespace atelier::taste
