// Steering generation with the personal reward: best-of-N ranking with posterior probabilities, and a greedy
// prompt-addition search in the spirit of PAMELA's prompt optimization (candidates scored by the predicted
// reward of a few samples generated with the same seeds).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>

#include "atelier/prompt_travel.h"
#include "atelier/taste.h"
#include "taste/taste_internal.h"

namespace atelier::taste {

namespace {

std::string lower_trim(const std::string& text) {
    std::string out;
    for (char ch : text) out.push_back(char(std::tolower(static_cast<unsigned char>(ch))));
    const size_t b = out.find_first_not_of(" \t\r\n,.;");
    if (b == std::string::npos) return {};
    return out.substr(b, out.find_last_not_of(" \t\r\n,.;") - b + 1);
}

// Lower Cholesky factor of a symmetric positive semi-definite matrix (jitter on a zero pivot).
std::vector<double> cholesky(const std::vector<double>& a, size_t n) {
    std::vector<double> l(n * n, 0.0);
    for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j <= i; ++j) {
            double s = a[i * n + j];
            for (size_t k = 0; k < j; ++k) s -= l[i * n + k] * l[j * n + k];
            if (i == j) l[i * n + i] = s > 1e-14 ? std::sqrt(s) : 0.0;
            else l[i * n + j] = l[j * n + j] > 0 ? s / l[j * n + j] : 0.0;
        }
    return l;
}

}  // namespace

std::vector<RankedImage> rank_images(const RewardModel& model, const std::vector<std::vector<float>>& features,
                                     uint64_t seed, int samples) {
    const size_t n = features.size();
    std::vector<RankedImage> out(n);
    if (n == 0) return out;
    const size_t d = size_t(model.dim());
    std::vector<std::vector<double>> z(n);
    for (size_t i = 0; i < n; ++i) {
        out[i].index = int(i);
        out[i].reward = model.reward(features[i]);
        out[i].reward_sd = model.reward_sd(features[i]);
        z[i] = model.standardizer().apply(features[i]);
    }
    // P(best): draws w ~ N(mode, Sigma_ww).
    const std::vector<double>& cov = model.covariance();
    const size_t p = d + 1;
    std::vector<double> sww(d * d, 0.0);
    if (cov.size() == p * p)
        for (size_t i = 0; i < d; ++i)
            for (size_t j = 0; j < d; ++j) sww[i * d + j] = cov[i * p + j];
    const std::vector<double> l = cholesky(sww, d);
    std::vector<int> wins(n, 0);
    SplitMix rng(seed ^ 0xb357ULL);
    std::vector<double> e(d), w(d);
    samples = std::max(1, samples);
    for (int s = 0; s < samples; ++s) {
        for (size_t i = 0; i < d; ++i) e[i] = rng.normal();
        for (size_t i = 0; i < d; ++i) {
            double v = model.weights()[i];
            for (size_t k = 0; k <= i; ++k) v += l[i * d + k] * e[k];
            w[i] = v;
        }
        size_t best = 0;
        double best_r = -1e300;
        for (size_t i = 0; i < n; ++i) {
            double r = 0;
            for (size_t k = 0; k < d; ++k) r += w[k] * z[i][k];
            if (r > best_r) {
                best_r = r;
                best = i;
            }
        }
        ++wins[best];
    }
    for (size_t i = 0; i < n; ++i) out[i].p_best = double(wins[i]) / samples;
    std::stable_sort(out.begin(), out.end(), [](const RankedImage& a, const RankedImage& b) { return a.reward > b.reward; });
    for (size_t i = 0; i + 1 < n; ++i) {
        const Prediction pr = model.predict(features[size_t(out[i].index)], features[size_t(out[i + 1].index)]);
        out[i].p_beats_next = pr.p_first + pr.p_tie / 2;
    }
    if (n > 0) out[n - 1].p_beats_next = 0;
    return out;
}

const std::vector<std::string>& style_vocabulary() {
    static const std::vector<std::string> words = {
        "warm colours", "cool colours", "high contrast", "soft low contrast", "vivid colours", "muted colours",
        "soft pastel colours", "minimalist", "plenty of negative space", "intricate detail", "soft texture",
        "symmetrical composition", "dark moody lighting", "bright airy lighting", "bold outlines",
        "plain background", "flat style", "outlined", "soft shadow", "watercolour", "neon", "pixel art",
    };
    return words;
}

std::vector<std::string> memory_style_phrases(const std::vector<MemoryEntry>& entries) {
    std::vector<std::string> out;
    for (const MemoryEntry& e : entries) {
        if (e.deleted || !e.active || (e.kind != "style" && e.kind != "like")) continue;
        const std::string t = lower_trim(e.text);
        if (t.empty()) continue;
        bool seen = false;
        for (const std::string& o : out) seen = seen || lower_trim(o) == t;
        if (!seen) out.push_back(e.text);
    }
    return out;
}

PromptSearchResult search_prompt_additions(const std::string& prompt, const std::vector<std::string>& candidates,
                                           const GenerateImagesFn& generate, const FeatureExtractor& extractor,
                                           const RewardModel& model, const PromptSearchOptions& options) {
    if (!generate) throw Error("prompt search: no image generator");
    if (extractor.feature_set() != model.feature_set())
        throw Error("prompt search: extractor '" + extractor.feature_set() + "' but the model was fitted on '" +
                    model.feature_set() + "'");
    const int count = std::max(1, options.samples_per_prompt);
    PromptSearchResult result;
    auto evaluate = [&](const std::string& addition, const std::string& p) {
        const std::vector<Image> images = generate(p, options.seed, count);
        if (images.empty()) throw Error("prompt search: the generator returned no image for '" + p + "'");
        double sum = 0;
        for (const Image& image : images) sum += model.reward(extractor.extract(image));
        const double mean = sum / double(images.size());
        result.trials.push_back({addition, p, mean});
        return mean;
    };
    result.prompt = prompt;
    result.base_reward = result.reward = evaluate("", prompt);
    std::vector<bool> used(candidates.size(), false);
    for (int round = 0; round < options.max_additions; ++round) {
        int best = -1;
        double best_reward = result.reward;
        for (size_t c = 0; c < candidates.size(); ++c) {
            const std::string phrase = lower_trim(candidates[c]);
            if (used[c] || phrase.empty() || lower_trim(result.prompt).find(phrase) != std::string::npos) continue;
            const double r = evaluate(candidates[c], append_to_prompt(result.prompt, candidates[c]));
            if (r > best_reward) {
                best_reward = r;
                best = int(c);
            }
        }
        if (best < 0 || best_reward - result.reward < options.min_gain) break;
        used[size_t(best)] = true;
        result.additions.push_back(candidates[size_t(best)]);
        result.gains.push_back(best_reward - result.reward);
        result.prompt = append_to_prompt(result.prompt, candidates[size_t(best)]);
        result.reward = best_reward;
    }
    return result;
}

std::vector<int64_t> write_prompt_rules(Store& store, int64_t profile_id, const PromptSearchResult& result) {
    MemoryFilter filter;
    filter.profile_id = profile_id;
    filter.include_deleted = true;
    const std::vector<MemoryEntry> entries = store.list_memory(filter);
    std::vector<int64_t> ids;
    for (size_t i = 0; i < result.additions.size(); ++i) {
        const std::string t = lower_trim(result.additions[i]);
        bool present = false;
        for (const MemoryEntry& e : entries) present = present || lower_trim(e.text) == t;
        if (present) continue;
        MemoryEntry e;
        e.profile_id = profile_id;
        e.kind = "style";
        e.text = result.additions[i];
        e.weight = std::clamp(std::round((i < result.gains.size() ? result.gains[i] : 1.0) * 100) / 100, 0.1, 3.0);
        e.source = "learned";
        ids.push_back(store.add_memory(e, Actor::learner));
    }
    return ids;
}

}  // namespace atelier::taste
