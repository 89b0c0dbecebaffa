// atelier/taste.h - a person's taste learned from their pairwise choices: image features, a Bayesian
// Bradley-Terry-Davidson reward model, user prototypes, the next most informative pair, steering
// (best-of-N, prompt additions) and the plain-language memory entries that say what was learned.
//
//   auto features = atelier::taste::make_basic_features();          // "atelier-basic-v1", 38 numbers
//   atelier::taste::Learner learner(features->feature_set(), features->names());
//   int a = learner.add_item(features->extract(image_a), asset_a);   // one row per picture
//   int b = learner.add_item(features->extract(image_b), asset_b);
//   learner.add_judgement(a, b, atelier::Choice::left, /*strength=*/2, comparison_id);   // refits (~ms)
//   atelier::taste::Prediction p = learner.predict(a, b);           // P(a wins), P(tie), P(b wins), sd
//   atelier::taste::PairSuggestion next = learner.next_pair(candidate_rows, {});
//   store.save_reward_model(atelier::taste::to_record(learner.model(), profile_id, accuracy));
//
// Everything here is deterministic: the random choices take a seed. Nothing here touches the GUI; the
// types are plain (no torch type crosses this header; libtorch does the fitting inside engine/src/taste).
//
// Thread safety: feature extractors are const and thread-safe (the model-feature extractor runs its
// model, so use it from one thread at a time, like the Model). A RewardModel / Learner is a value:
// use one from one thread at a time; copies are independent.
// Errors: atelier::Error naming the field or blob part that was wrong.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "atelier/error.h"
#include "atelier/image.h"
#include "atelier/store.h"

namespace atelier {
class Model;
}

namespace atelier::taste {

// =====================================================================================================
// Image features
// =====================================================================================================

// One dimension of a feature set. `min`/`max` are the range a value can take (informative; the model
// standardizes anyway).
struct FeatureDescription {
    std::string name;
    std::string meaning;
    double min = 0, max = 1;
};

// Turns a picture into a fixed-length vector. A learned encoder (a CLIP vision tower, a UNet's
// activations) is one more implementation; everything downstream only sees vectors and the
// feature_set string, and a reward model only ever scores vectors of the feature set it was fitted on.
class FeatureExtractor {
public:
    virtual ~FeatureExtractor() = default;
    virtual std::string name() const = 0;      // "atelier-basic"
    virtual std::string version() const = 0;   // "1": bumped whenever any number it computes changes
    virtual std::vector<FeatureDescription> describe() const = 0;
    virtual std::vector<float> extract(const Image& image) const = 0;   // throws Error on an empty image

    std::string feature_set() const { return name() + "-v" + version(); }
    int dim() const { return int(describe().size()); }
    std::vector<std::string> names() const;
};

// "atelier-basic-v1": hand-made perceptual statistics computed on the picture resampled to 64x64
// (area average), in OKLab (Ottosson 2020) where colour is concerned. Dimensions, in this order:
//   0 lightness_mean     mean OKLab L                                           [0, 1]
//   1 lightness_sd       standard deviation of L                                [0, 0.5]
//   2 contrast           L's 95th minus 5th percentile                          [0, 1]
//   3 chroma_mean        mean OKLab chroma sqrt(a^2 + b^2)                      [0, 0.33]
//   4 chroma_sd          its standard deviation                                 [0, 0.17]
//   5 colourfulness      Hasler & Suesstrunk (2003) M on 0..255 sRGB, / 100     [0, ~1.8]
//   6 warmth             chroma-weighted mean of cos(hue - 60 deg) (orange = 1, blue ~ -0.9),
//                        damped toward 0 for near-grey pictures                 [-1, 1]
//   7..14 hue_red, hue_orange, hue_yellow, hue_green, hue_cyan, hue_blue, hue_purple, hue_pink:
//                        8-bin hue histogram weighted by chroma (soft bins centred at OKLab hues
//                        25, 60, 105, 145, 195, 260, 300, 340 deg), divided by sum(C) + 0.02 * pixels [0, 1]
//   15 edge_density      share of pixels whose Sobel gradient of (L, a, b) exceeds 0.1 per pixel  [0, 1]
//   16 high_freq_ratio   energy of L minus its blur (binomial 5x5) over the energy of L minus its mean [0, 1]
//   17 saliency_x        centre of mass of saliency (OKLab distance from the border's median colour),
//   18 saliency_y        0 = left/top, 1 = right/bottom                       [0, 1]
//   19 saliency_spread   saliency-weighted standard distance from that centre   [0, 0.71]
//   20 symmetry_lr       1 - E|p - mirror(p)|^2 / (2 Var p) over OKLab, left-right mirror, clipped  [0, 1]
//   21 symmetry_tb       the same, top-bottom                                   [0, 1]
//   22 negative_space    share of pixels within 0.06 (OKLab) of the border's median colour        [0, 1]
//   23 subject_lightness mean L of the subject (pixels at least 0.1 from the border's median colour;
//                        the background's L when there is none)                                   [0, 1]
//   24 subject_chroma    mean chroma of the subject                             [0, 0.33]
//   25 subject_warmth    warmth (as 6) of the subject                           [-1, 1]
//   26 background_lightness  L of the border's median colour                    [0, 1]
//   27 background_chroma     chroma of the border's median colour               [0, 0.33]
//   28 background_warmth     warmth of the border's median colour               [-1, 1]
//   29..36 subject_red, subject_orange, subject_yellow, subject_green, subject_cyan, subject_blue,
//                        subject_purple, subject_pink: the hue histogram (as 7..14) of the subject  [0, 1]
//   37 subject_parts     separate subject regions (8-connected, at least 8 pixels), at most 8      [0, 8]
std::unique_ptr<FeatureExtractor> make_basic_features();

// "model-unet-v2": what a diffusion model sees in the picture. The image is encoded by the model's VAE
// (posterior mean, scaled), noised deterministically to `timestep`, and run through the UNet's encoder half
// with an empty prompt; the mid block's activations, average-pooled over the picture and its four quadrants
// (5 x channels values), are reduced by a fixed random projection to `dimensions` numbers. Use it from one
// thread at a time.
struct ModelFeatureOptions {
    int image_size = 0;       // the picture is resized to this square size first (0: the model's default)
    int timestep = 250;       // fixed diffusion timestep (low: the picture's content, little noise)
    uint64_t noise_seed = 0;  // the same noise for every picture, so differences come from the pictures
    int dimensions = 48;
};
std::unique_ptr<FeatureExtractor> make_model_features(std::shared_ptr<Model> model,
                                                      const ModelFeatureOptions& options = {});

// "world-attributes-v1": a learned encoder for the procedural world. The attribute classifier saved at
// `classifier_path` (trained on the world's renders: bench_base_model --classifier, 6,000 steps) reads the
// picture (resized to 64x64); its softmax per attribute head — shape, colour, background, background
// colour, position, count, size, style; 59 numbers — are the features. Throws Error naming the file when it
// is not such a classifier.
std::unique_ptr<FeatureExtractor> make_world_attribute_features(const std::string& classifier_path);

// Both sets side by side ("<a>+<b>").
std::unique_ptr<FeatureExtractor> concatenate_features(std::unique_ptr<FeatureExtractor> first,
                                                       std::unique_ptr<FeatureExtractor> second);

// The feature sets a profile can learn with in the studio and the CLI, by name: "atelier-basic-v1" always,
// "world-attributes-v1" when its encoder is installed (taste_encoder_dir()/world-attributes-v1.safetensors).
std::vector<std::string> available_feature_sets();
// What a profile learns with unless the person chose otherwise: the learned world encoder when installed
// (the pictures of the embedded model are its world), else the picture statistics.
std::string default_feature_set();
// The extractor of one of available_feature_sets(); an empty name means default_feature_set(). Throws Error
// naming the set and the ones available otherwise.
std::unique_ptr<FeatureExtractor> make_feature_extractor(const std::string& feature_set = "");

// Running mean and standard deviation (Welford), so that weights of different features are comparable.
struct Standardizer {
    int64_t count = 0;
    std::vector<double> mean, m2;   // m2: sum of squared deviations
    std::vector<double> min_sd;     // optional floor per feature, so that a feature (nearly) constant among
                                    // the pictures seen so far does not blow up on a new one

    void add(const std::vector<float>& x);
    void merge(const Standardizer& other);        // pooled statistics (Chan et al.)
    std::vector<double> sd() const;               // sample sd, at least min_sd; 1 where undefined or below 1e-6
    std::vector<double> apply(const std::vector<float>& x) const;   // (x - mean) / sd
    int dim() const { return int(mean.size()); }
};

// A floor for each feature's sd: (max - min) / 20 of its documented range.
std::vector<double> min_feature_sd(const FeatureExtractor& extractor);

// =====================================================================================================
// The personal reward model
// =====================================================================================================
//
// reward(x) = w . z(x), z = the standardizer applied to the features. For a pair (a, b), d = reward(a) -
// reward(b) and, with the Davidson (1970) tie parameter nu = exp(theta):
//   P(a wins) = e^{d/2} / Z,  P(b wins) = e^{-d/2} / Z,  P(tie) = nu / Z,  Z = e^{d/2} + e^{-d/2} + nu.
// Without ties this is Bradley-Terry: P(a wins) = sigmoid(d). A judgement of strength s counts as
// strength_weights[s] observations (default 1, 0.5, 1, 1.5 for "not given", slight, clear, strong);
// skips are ignored. Prior: w ~ N(prior_mean, diag(1 / prior_precision)) (default N(0, 1) per
// standardized weight), theta ~ N(-1, 1). The posterior mode is found by Newton's method (line search,
// float64, libtorch); the posterior is approximated by N(mode, H^-1) (Laplace), H the Hessian of the
// negative log posterior at the mode. Predictions integrate over w with MacKay's (1992) probit
// approximation: d_eff = m / sqrt(1 + pi v / 8), m = E[d], v = Var[d], then the Davidson formulas.

struct PairLabel {
    int first = 0, second = 0;          // rows of the item table (first = left, second = right)
    Choice choice = Choice::invalid;    // left: first wins; right: second wins; tie; skip (ignored)
    int strength = 0;                   // 0 not given, 1 slight, 2 clear, 3 strong
    int64_t comparison_id = 0;          // the stored comparison, for provenance (0: none)
};

// Feature rows and the labelled pairs between them.
struct TasteData {
    std::vector<std::vector<float>> items;
    std::vector<int64_t> item_ids;      // e.g. asset ids, parallel to items (0: anonymous)
    std::vector<PairLabel> labels;

    // Appends a row; with id != 0 an existing row of that id is reused (returns its index).
    int add_item(std::vector<float> features, int64_t id = 0);
    int find_item(int64_t id) const;    // -1 when absent
    int dim() const { return items.empty() ? 0 : int(items.front().size()); }
};

struct FitOptions {
    double prior_sd = 1.0;                 // sd of each standardized weight when prior_precision is empty
    std::vector<double> prior_mean;        // per dimension (empty: 0)
    std::vector<double> prior_precision;   // per dimension (empty: 1 / prior_sd^2); a large value pins
                                           // the weight to prior_mean (memory constraints use 1e6)
    double tie_prior_mean = -1.0, tie_prior_sd = 1.0;   // theta = log nu
    std::array<double, 4> strength_weights{1.0, 0.5, 1.0, 1.5};   // by strength 0..3
    int max_iterations = 50;
    double tolerance = 1e-10;              // on the Newton decrement (lambda^2 / 2)
    bool update_standardizer = true;       // recompute it from the data's items (else keep the model's)
    std::vector<double> min_feature_sd;    // floors for the recomputed sd (see min_feature_sd(); empty: none)
};

struct FitReport {
    int iterations = 0;
    bool converged = false;
    double objective = 0;                  // negative log posterior at the mode
    double gradient_norm = 0;
    int labels_used = 0;                   // decided or tied labels (skips excluded)
    double fit_ms = 0;
};

// P(first wins), P(tie), P(second wins) (they sum to 1) and the posterior of the reward difference.
struct Prediction {
    double p_first = 0.5, p_tie = 0, p_second = 0.5;
    double mean = 0;   // E[reward(first) - reward(second)]
    double sd = 0;     // its posterior standard deviation
};

class RewardModel {
public:
    RewardModel() = default;
    RewardModel(std::string feature_set, std::vector<std::string> feature_names);

    // Fits to `data`, starting from the current weights (cheap refits after one more label).
    FitReport fit(const TasteData& data, const FitOptions& options = {});

    Prediction predict(const std::vector<float>& first, const std::vector<float>& second) const;
    // Predicted reward (mean) and its posterior sd of one picture; only differences are meaningful.
    double reward(const std::vector<float>& features) const;
    double reward_sd(const std::vector<float>& features) const;

    const std::string& feature_set() const { return feature_set_; }
    const std::vector<std::string>& feature_names() const { return feature_names_; }
    int dim() const { return int(feature_names_.size()); }
    const Standardizer& standardizer() const { return standardizer_; }
    void set_standardizer(const Standardizer& standardizer);
    const std::vector<double>& weights() const { return weights_; }   // per standardized feature
    void set_weights(const std::vector<double>& weights, double tie_log_nu);   // a point model (prototypes)
    std::vector<double> weight_sd() const;                            // sqrt(diag covariance)
    double tie_log_nu() const { return tie_log_nu_; }
    // Laplace posterior covariance over (w, theta), (dim+1) x (dim+1) row-major; theta last.
    const std::vector<double>& covariance() const { return covariance_; }
    int64_t label_count() const { return label_count_; }
    bool fitted() const { return label_count_ > 0; }

    // Versioned binary form (RewardModelRecord::parameters). deserialize() checks every field.
    std::vector<uint8_t> serialize() const;
    static RewardModel deserialize(const std::vector<uint8_t>& blob);

private:
    std::string feature_set_;
    std::vector<std::string> feature_names_;
    Standardizer standardizer_;
    std::vector<double> weights_;
    double tie_log_nu_ = -1.0;
    std::vector<double> covariance_;
    int64_t label_count_ = 0;
};

// The Davidson probabilities for a reward difference d and tie parameter theta (no uncertainty).
Prediction davidson(double d, double tie_log_nu);

// k-fold cross-validated pairwise accuracy on the decided labels (ties and skips are not scored): the
// share of held-out labels whose winner the model fitted on the other folds predicts. NaN with fewer
// than 2 decided labels. Folds are a seeded shuffle.
double cross_validated_accuracy(const TasteData& data, const FitOptions& options, int folds = 5,
                                uint64_t seed = 0, const std::string& feature_set = "");

RewardModelRecord to_record(const RewardModel& model, int64_t profile_id, double heldout_accuracy,
                            const std::string& notes_json = "{}");
RewardModel from_record(const RewardModelRecord& record);   // checks feature_set matches the blob

// =====================================================================================================
// User prototypes (P-GenRM, UNICON): typical tastes of a population, to start a new person from
// =====================================================================================================

struct Prototype {
    std::vector<double> weights;   // in the set's standardized space
    double tie_log_nu = -1.0;
    double share = 0;              // fraction of the population in this cluster
    int members = 0;
};

struct PrototypeSet {
    std::string feature_set;
    Standardizer standardizer;     // pooled over the population's models
    std::vector<Prototype> prototypes;

    // A prototype's weights in another model's standardized space (w_raw = w / sd_set; w * sd_model).
    std::vector<double> weights_for(const Standardizer& target, int prototype) const;
    std::vector<uint8_t> serialize() const;
    static PrototypeSet deserialize(const std::vector<uint8_t>& blob);
};

// k-means++ (Arthur & Vassilvitskii 2007), best of `restarts` by within-cluster sum of squares, on the
// models' weight vectors mapped to a pooled standardization. k is clipped to the number of models.
PrototypeSet fit_prototypes(const std::vector<RewardModel>& models, int k, uint64_t seed = 0, int restarts = 8);

// =====================================================================================================
// Choosing the next pair
// =====================================================================================================

struct PairChoiceOptions {
    enum class Criterion { invalid = 0, information_gain = 1, uncertainty = 2 };
    // information_gain: 1/2 log(1 + I(m) v), the expected shrinkage (log-determinant) of the Laplace
    // posterior of w from one more label of the pair, I(m) the Davidson Fisher information at the
    // predicted difference m, v = Var[d]. uncertainty: v alone.
    Criterion criterion = Criterion::information_gain;
    double epsilon = 0.1;          // probability of a uniformly random pair instead (exploration)
    uint64_t seed = 0;
    uint64_t step = 0;             // mixed into the seed: the n-th choice of a session
    std::vector<std::pair<int, int>> exclude;   // pairs (either order) already asked
};

struct PairSuggestion {
    int first = -1, second = -1;   // indices into the candidates
    double score = 0;
    bool explored = false;         // chosen at random (epsilon)
};

// Needs at least two candidates. With an unfitted model every pair uses the prior covariance.
PairSuggestion choose_next_pair(const RewardModel& model, const std::vector<std::vector<float>>& candidates,
                                const PairChoiceOptions& options = {});

// =====================================================================================================
// A person's learner: data + personal model + (optional) prototype mixture
// =====================================================================================================
//
// With prototypes, predictions are the mixture  sum_k pi_k P_k + pi_personal P_personal. The weights are
// Bayesian model averaging over the person's labels (each label multiplies a component's weight by the
// probability that component gave it before seeing it; the personal model's is its predictive), with
// the personal model's share held at least n / (n + shrink_labels) after n labels, so the mixture
// shrinks to the personal model as labels accumulate. The personal model's prior mean is the
// prototype mixture (its BMA weights renormalized over the prototypes).

struct LearnerOptions {
    FitOptions fit;
    double personal_prior_share = 0.2;   // the personal model's initial mixture weight
    double shrink_labels = 10;           // n0 of the shrinkage floor n / (n + n0)
    bool prototype_prior = true;         // the personal prior mean follows the prototype mixture
};

class Learner {
public:
    Learner(std::string feature_set, std::vector<std::string> feature_names, LearnerOptions options = {});
    void set_prototypes(const PrototypeSet& prototypes);   // feature_set must match
    void set_prior(std::vector<double> prior_mean, std::vector<double> prior_precision);   // memory constraints

    int add_item(std::vector<float> features, int64_t id = 0) { return data_.add_item(std::move(features), id); }
    // Records a label (updates the mixture weights with each component's prediction of it) and refits.
    FitReport add_judgement(int first, int second, Choice choice, int strength = 0, int64_t comparison_id = 0);
    // Loads a history in one fit (a profile's stored comparisons). The mixture weights see the prototypes'
    // likelihoods but only the current personal model's predictions; live labels go through add_judgement.
    FitReport add_judgements(const std::vector<PairLabel>& labels);
    FitReport refit();

    Prediction predict(int first, int second) const;
    Prediction predict(const std::vector<float>& first, const std::vector<float>& second) const;
    PairSuggestion next_pair(const std::vector<int>& candidate_rows, PairChoiceOptions options) const;

    const RewardModel& model() const { return model_; }
    const TasteData& data() const { return data_; }
    bool has_prototypes() const { return !prototypes_.prototypes.empty(); }
    // Mixture weights: one per prototype, then the personal model's (sum 1). Empty without prototypes.
    std::vector<double> mixture_weights() const;

private:
    void observe(int first, int second, Choice choice, int strength, int64_t comparison_id);
    std::vector<double> prior_mean_now() const;
    std::vector<double> raw_mixture_weights() const;

    LearnerOptions options_;
    TasteData data_;
    RewardModel model_;
    PrototypeSet prototypes_;
    std::vector<RewardModel> prototype_models_;   // point models in the personal standardized space
    std::vector<double> log_weights_;             // BMA, prototypes then personal
    std::vector<double> constraint_mean_, constraint_precision_;
    int64_t decided_labels_ = 0;
};

// =====================================================================================================
// Writing what was learned into the preference memory
// =====================================================================================================

// The documented map from a learned direction to words. A feature with a positive weight uses its `+`
// phrase, a negative one its `-` phrase. `text` is usable as a prompt addition (kind "like" goes to the
// prompt, "dislike" to the negative prompt, see prompt_rules.h); `description` is what the studio shows.
struct DirectionPhrase {
    std::string feature;        // feature name (atelier-basic-v1's or world-attributes-v1's)
    int sign = 1;               // +1: the phrase for a positive weight; -1 for a negative weight
    std::string kind;           // "like" or "dislike"
    std::string text;           // "warm colours", "busy textures"
    std::string description;    // "prefers warm palettes", "dislikes busy textures"
};
const std::vector<DirectionPhrase>& direction_phrases();
// The phrase for a feature and a sign; nullptr when the feature has none.
const DirectionPhrase* find_phrase(const std::string& feature, int sign);

struct LearnedDirection {
    int feature = 0;
    std::string feature_name;
    double weight = 0, sd = 0;                      // standardized weight and its posterior sd
    const DirectionPhrase* phrase = nullptr;
    std::vector<int64_t> supporting_comparisons;    // decided labels whose winner has more of the direction
};

struct DirectionOptions {
    double min_z = 3.0;          // |weight| / sd at least this (~ a 5% test over 38 features, Bonferroni)
    double min_weight = 0.25;    // and |weight| at least this (standardized units)
    int max_directions = 8;
};
// Strongest first; only features that have a phrase.
std::vector<LearnedDirection> learned_directions(const RewardModel& model, const TasteData& data,
                                                 const DirectionOptions& options = {});

// What the person's memory says about the directions, as a prior for the fit: an entry the person
// wrote or changed (source "user"/"imported", or any Actor::user change not undone) whose text is a
// direction phrase pins that weight (precision `user_precision`) to +-its weight; an inactive or
// user-deleted one pins it to 0 (precision 1e6) and removes it from steering.
struct MemoryPrior {
    std::vector<double> mean, precision;   // per feature; empty when nothing applies
    std::vector<bool> removed;             // directions switched off
    std::vector<std::string> notes;        // one line per constraint, for `taste show`
};
MemoryPrior memory_prior(Store& store, int64_t profile_id, const std::vector<std::string>& feature_names,
                         double user_precision = 25.0);

struct MemoryWriteOptions {
    DirectionOptions directions;
    bool dry_run = false;
    bool retire_stale = true;    // delete (as the learner) its own entries whose direction is gone
};
struct MemoryWriteReport {
    std::vector<std::string> added, updated, unchanged, retired;
    std::vector<std::string> kept_user;   // directions where the person's entry stands (not touched)
    std::vector<int64_t> entry_ids;       // entries written or updated
};
// Adds/updates the learner's entries (Actor::learner, source "learned", weight = |w|, source_count and
// source_comparison_ids = supporting comparisons) and never touches an entry the person wrote or changed.
MemoryWriteReport write_memory(Store& store, int64_t profile_id, const RewardModel& model, const TasteData& data,
                               const MemoryWriteOptions& options = {});

// =====================================================================================================
// A profile's taste, from the store
// =====================================================================================================

// Features of stored pictures, each computed once.
class AssetFeatureCache {
public:
    AssetFeatureCache(Store& store, const FeatureExtractor& extractor) : store_(store), extractor_(extractor) {}
    const std::vector<float>& features(int64_t asset_id);
    const FeatureExtractor& extractor() const { return extractor_; }

private:
    Store& store_;
    const FeatureExtractor& extractor_;
    std::map<int64_t, std::vector<float>> by_asset_;
};

// The profile's decided judgements (left, right, tie; oldest first) as taste data; skips and pairs
// without pictures are left out.
TasteData profile_data(Store& store, int64_t profile_id, AssetFeatureCache& cache);

// Fit options whose prior follows the person's memory (see memory_prior()).
FitOptions fit_options_with_memory(const MemoryPrior& prior, const FeatureExtractor& extractor);

struct ProfileFit {
    RewardModel model;
    TasteData data;
    FitReport report;
    double heldout_accuracy = 0;     // cross-validated on the person's own choices
    MemoryPrior prior;
    // Held-out accuracy when learning from the first n choices only (n = 5, 10, 20, 50, 100, ..., all).
    std::vector<std::pair<int, double>> learning_curve;
};
// Fits the profile's reward model from its stored judgements (throws Error when it has none).
ProfileFit fit_profile(Store& store, int64_t profile_id, const FeatureExtractor& extractor, int folds = 5,
                       bool use_memory = true, bool with_learning_curve = false);

// "Learn my taste" (Compare's queue mode): among `candidate_asset_ids` (e.g. Store::queue_assets), the pair
// whose judgement would teach the profile's reward model most: choose_next_pair on the model fitted to every
// judgement so far (the memory as prior; the prior alone before the first judgement). Pairs the profile has
// judged are not proposed again. Empty with fewer than two candidates or when every pair has been judged.
struct PairToLearn {
    int64_t left_asset_id = 0, right_asset_id = 0;
    double score = 0;         // the criterion's value (expected information gain in nats by default)
    bool explored = false;    // an exploration pick (options.epsilon)
    Prediction prediction;    // the current model's guess for the pair
    int64_t labels = 0;       // judgements the model was fitted on
};
std::optional<PairToLearn> next_pair_to_learn(Store& store, int64_t profile_id,
                                              const std::vector<int64_t>& candidate_asset_ids, AssetFeatureCache& cache,
                                              const PairChoiceOptions& options = {});

// =====================================================================================================
// Steering
// =====================================================================================================

struct RankedImage {
    int index = 0;              // into the input
    double reward = 0, reward_sd = 0;
    double p_best = 0;          // posterior probability it is the best of the N (Monte Carlo)
    double p_beats_next = 0;    // P(preferred over the next one in the ranking), Davidson ties split
};
// Best-of-N: highest predicted reward first. p_best from `samples` posterior draws (seeded).
std::vector<RankedImage> rank_images(const RewardModel& model, const std::vector<std::vector<float>>& features,
                                     uint64_t seed = 0, int samples = 2000);

// The built-in vocabulary of style modifiers tried by the prompt search.
const std::vector<std::string>& style_vocabulary();
// The texts of active, non-deleted memory entries of kind "style" or "like" (prompt-usable phrases).
std::vector<std::string> memory_style_phrases(const std::vector<MemoryEntry>& entries);

// Makes `count` images for a prompt; the same seed must give the same images (common random numbers).
using GenerateImagesFn = std::function<std::vector<Image>(const std::string& prompt, uint64_t seed, int count)>;

struct PromptSearchOptions {
    int samples_per_prompt = 4;
    int max_additions = 2;       // greedy forward selection rounds
    double min_gain = 0.05;      // an addition must raise the mean reward by this (standardized units)
    uint64_t seed = 0;
};
struct PromptTrial {
    std::string addition, prompt;
    double mean_reward = 0;
};
struct PromptSearchResult {
    std::string prompt;                      // base prompt + chosen additions
    std::vector<std::string> additions;
    std::vector<double> gains;               // the mean reward each addition added when it was chosen
    double base_reward = 0, reward = 0;      // mean predicted reward of the samples
    std::vector<PromptTrial> trials;         // every prompt tried, in order
};
// PAMELA-style prompt search: greedily add the phrase (from `candidates`) that most raises the mean
// predicted reward of `samples_per_prompt` images generated with the same seeds.
PromptSearchResult search_prompt_additions(const std::string& prompt, const std::vector<std::string>& candidates,
                                           const GenerateImagesFn& generate, const FeatureExtractor& extractor,
                                           const RewardModel& model, const PromptSearchOptions& options = {});
// Writes chosen additions as kind "style" memory entries (Actor::learner, source "learned", weight = the
// gain clipped to [0.1, 3]), skipping texts the memory already has (deleted entries included: an addition
// the person deleted is not proposed again). Returns the new entry ids.
std::vector<int64_t> write_prompt_rules(Store& store, int64_t profile_id, const PromptSearchResult& result);

// =====================================================================================================
// Simulated people (quality measurement; `atelier-cli taste simulate`, tests/bench/bench_taste.cpp)
// =====================================================================================================
//
// A simulated person's hidden utility is a function of a procedural-world scene's attributes (see
// world.h), never of pixels; the model only sees the rendered images. Archetypes (individual people
// are an archetype with coefficients scaled and jittered):
//   0 warm minimalist: likes warm colours and few objects, dislikes stripes and checks
//   1 cool busy: likes cool colours, patterned backgrounds, more objects
//   2 neon night: likes neon and dark backgrounds, large objects
//   3 soft pastel: likes watercolour / soft shadow on light backgrounds, dislikes black
//   4 non-linear: likes medium size (not small or large), exactly two objects, centred; warm colours
//     only on cool backgrounds (an interaction)
// Labels: the higher utility wins, flipped with probability `label_noise`; |difference| < 0.05: tie.

struct SimulatedPerson {
    int archetype = 0;
    uint64_t seed = 0;
    double label_noise = 0.1;
    std::vector<double> coefficients;   // internal layout (see simulation.cpp)
};
// Coefficients = archetype x U(0.7, 1.3) + N(0, jitter^2) each (individual quirks on every attribute value).
SimulatedPerson make_simulated_person(uint64_t seed, double label_noise = 0.1, int archetype = -1,
                                      double jitter = 0.25);
constexpr int kSimulatedArchetypes = 5;
// The person's utility of a scene (world::Scene as its JSON text, to keep world.h out of this header).
double simulated_utility(const SimulatedPerson& person, const std::string& scene_json);
// A demo profile: `judgements` choices of `person` between max(8, judgements / 2) rendered scenes of the world
// (seeded by person.seed), stored as `profile_id`'s comparisons (session "simulated"; strength from the
// utility gap, ties under 0.05, person.label_noise of the answers flipped). Returns the number of pictures.
int store_simulated_judgements(Store& store, int64_t profile_id, const SimulatedPerson& person, int judgements);

struct SimulationOptions {
    int people = 30;                 // evaluated people
    int population = 60;             // separate people whose fitted models give the prototypes
    int prototypes = 6;              // k
    int pool_images = 160;           // candidate images per person to pick judgement pairs from
    int heldout_images = 80;         // separate images for the test pairs
    int heldout_pairs = 400;
    std::vector<int> checkpoints{5, 10, 15, 20, 25, 30, 40, 50, 75, 100};
    double label_noise = 0.1;
    double jitter = 0.25;            // individual quirks (see make_simulated_person)
    double epsilon = 0.1;            // exploration of active selection
    int image_size = 64;
    uint64_t seed = 1;
    int threads = 1;                 // people evaluated in parallel
    // What the learner sees of a picture; null: atelier-basic-v1. Other extractors (model features) are
    // called from one thread.
    std::shared_ptr<const FeatureExtractor> features;
    std::function<void(const std::string&)> on_progress;   // a line per finished stage
};
struct LearningCurve {
    std::string name;                // "random", "active", "random+prototypes", "active+prototypes"
    std::vector<double> accuracy;    // per checkpoint, mean over people, against the noise-free preference
    std::vector<double> accuracy_sd; // between people
    std::vector<double> label_accuracy;   // against noisy labels of the same pairs
};
struct SimulationReport {
    std::vector<int> checkpoints;
    std::vector<LearningCurve> curves;
    double mean_refit_ms = 0;        // mean refit time over all refits
    double feature_ms = 0;           // mean feature extraction time per image
    int people = 0;
};
SimulationReport run_simulation(const SimulationOptions& options);

}  // namespace atelier::taste
