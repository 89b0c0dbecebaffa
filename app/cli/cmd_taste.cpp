// atelier-cli taste: fit a profile's reward model from its comparisons, show what it learned, predict a
// pair, choose the next pair, write the learned directions into the memory, rank pictures (best-of-N),
// fit prototypes over profiles, and simulate people (learning curves, or a demo profile in the store).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "atelier/store.h"
#include "atelier/taste.h"
#include "atelier/world.h"
#include "commands.h"

namespace atelier::cli {
namespace {

using namespace atelier::taste;

std::string num(double v, int digits = 3) {
    if (std::isnan(v)) return "n/a";
    std::ostringstream out;
    out << std::fixed << std::setprecision(digits) << v;
    return out.str();
}

std::string signed_num(double v, int digits = 2) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%+.*f", digits, v);
    return buf;
}

// Features of a stored picture (an asset id) or of a picture file.
std::vector<float> any_features(AssetFeatureCache& cache, const FeatureExtractor& extractor, const std::string& what) {
    if (all_digits(what)) return cache.features(std::stoll(what));
    return extractor.extract(read_image(what, 3));
}

RewardModel latest_model(Store& store, const Profile& profile, const FeatureExtractor& fx) {
    const auto record = store.latest_reward_model(profile.id, fx.feature_set());
    if (!record)
        throw Error("profile '" + profile.name + "' has no fitted " + fx.feature_set() +
                    " model (run: atelier-cli taste fit --profile " + profile.name + ")");
    return from_record(*record);
}

void print_directions(const RewardModel& model, const TasteData* data) {
    const std::vector<double> sd = model.weight_sd();
    std::vector<int> order(size_t(model.dim()));
    for (int i = 0; i < model.dim(); ++i) order[size_t(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return std::abs(model.weights()[size_t(a)]) > std::abs(model.weights()[size_t(b)]);
    });
    std::cout << "  feature              weight      sd       z   reads as\n";
    TasteData empty;
    const std::vector<LearnedDirection> strong = learned_directions(model, data ? *data : empty);
    for (int i : order) {
        const double w = model.weights()[size_t(i)], s = sd[size_t(i)];
        const DirectionPhrase* phrase = find_phrase(model.feature_names()[size_t(i)], w >= 0 ? 1 : -1);
        bool is_strong = false;
        for (const LearnedDirection& d : strong) is_strong = is_strong || d.feature == i;
        std::cout << "  " << std::left << std::setw(20) << model.feature_names()[size_t(i)] << std::right << std::setw(7)
                  << signed_num(w) << std::setw(8) << num(s, 2) << std::setw(8) << (s > 0 ? num(std::abs(w) / s, 1) : "-")
                  << "   " << (phrase ? phrase->description : "") << (is_strong ? "  *" : "") << "\n";
    }
    std::cout << "  (* strong enough to be written into the memory)\n";
}

void print_curves(const SimulationReport& r) {
    std::cout << "held-out pairwise accuracy vs. the noise-free preference (mean over " << r.people
              << " people; sd between people)\n";
    std::cout << std::left << std::setw(20) << "judgements" << std::right;
    for (int c : r.checkpoints) std::cout << std::setw(14) << c;
    std::cout << "\n";
    for (const LearningCurve& c : r.curves) {
        std::cout << std::left << std::setw(20) << c.name << std::right;
        for (size_t k = 0; k < c.accuracy.size(); ++k)
            std::cout << std::setw(14) << (num(100 * c.accuracy[k], 1) + " ± " + num(100 * c.accuracy_sd[k], 1));
        std::cout << "\n";
    }
    std::cout << "against the noisy labels of the same pairs\n";
    for (const LearningCurve& c : r.curves) {
        std::cout << std::left << std::setw(20) << c.name << std::right;
        for (double a : c.label_accuracy) std::cout << std::setw(14) << num(100 * a, 1);
        std::cout << "\n";
    }
    std::cout << "mean refit " << num(r.mean_refit_ms, 2) << " ms, features " << num(r.feature_ms, 2)
              << " ms per picture\n";
}

}  // namespace

void add_taste_commands(CLI::App& app, GlobalOptions& global) {
    CLI::App* taste = app.add_subcommand("taste", "learn a profile's taste from its pairwise choices");
    taste->require_subcommand(1);
    auto features = std::make_shared<std::string>();
    taste->add_option("--features", *features,
                      "feature set the taste is learnt with (atelier-basic-v1, or world-attributes-v1 where its "
                      "encoder is installed; default: " + default_feature_set() + ")");
    taste->fallthrough();   // --features may follow the subcommand's name too

    // ---- fit ----
    {
        auto* cmd = taste->add_subcommand("fit", "fit the profile's reward model from its comparisons and save it");
        struct Args {
            std::string profile;
            int folds = 5;
            bool no_memory = false, dry_run = false;
        };
        auto a = std::make_shared<Args>();
        add_profile_option(cmd, a->profile);
        cmd->add_option("--folds", a->folds, "cross-validation folds for the held-out accuracy");
        cmd->add_flag("--ignore-memory", a->no_memory, "do not use the person's memory entries as a prior");
        cmd->add_flag("--dry-run", a->dry_run, "fit and report, save nothing");
        cmd->callback([&global, a, features] {
            auto store = open_store(global);
            const Profile profile = resolve_profile(*store, a->profile);
            const auto fx = make_feature_extractor(*features);
            ProfileFit f = fit_profile(*store, profile.id, *fx, a->folds, !a->no_memory);
            std::cout << "profile      " << profile.name << " (" << profile.id << ")\n";
            std::cout << "features     " << fx->feature_set() << " (" << fx->dim() << ")\n";
            std::cout << "labels       " << f.report.labels_used << " on " << f.data.items.size() << " pictures\n";
            std::cout << "fit          " << f.report.iterations << " Newton steps, " << num(f.report.fit_ms, 1) << " ms"
                      << (f.report.converged ? "" : " (NOT converged)") << "\n";
            std::cout << "held-out     " << num(100 * f.heldout_accuracy, 1) << "% (" << a->folds << "-fold cross-validation)\n";
            std::cout << "tie nu       " << num(std::exp(f.model.tie_log_nu()), 3) << "\n";
            for (const std::string& note : f.prior.notes) std::cout << "memory       " << note << "\n";
            print_directions(f.model, &f.data);
            if (!a->dry_run) {
                std::ostringstream notes;
                notes << "{\"folds\":" << a->folds << ",\"newton_steps\":" << f.report.iterations
                      << ",\"memory_constraints\":" << f.prior.notes.size() << "}";
                const int64_t id = store->save_reward_model(to_record(f.model, profile.id, f.heldout_accuracy, notes.str()));
                std::cout << "saved reward model " << id << "\n";
            }
        });
    }

    // ---- show ----
    {
        auto* cmd = taste->add_subcommand("show", "what the saved model learned: directions, accuracy");
        auto profile_name = std::make_shared<std::string>();
        add_profile_option(cmd, *profile_name);
        cmd->callback([&global, profile_name, features] {
            auto store = open_store(global);
            const Profile profile = resolve_profile(*store, *profile_name);
            const auto fx = make_feature_extractor(*features);
            const auto record = store->latest_reward_model(profile.id, fx->feature_set());
            if (!record) throw Error("profile '" + profile.name + "' has no fitted model (run: atelier-cli taste fit)");
            const RewardModel model = from_record(*record);
            std::cout << "reward model " << record->id << " of " << profile.name << ": " << record->feature_set << ", "
                      << record->label_count << " labels, held-out accuracy " << num(100 * record->heldout_accuracy, 1)
                      << "%, tie nu " << num(std::exp(model.tie_log_nu()), 3) << "\n";
            print_directions(model, nullptr);
            for (const std::string& note : memory_prior(*store, profile.id, fx->names()).notes)
                std::cout << "memory: " << note << "\n";
        });
    }

    // ---- predict ----
    {
        auto* cmd = taste->add_subcommand("predict", "P(first preferred), P(tie), P(second preferred)");
        auto profile_name = std::make_shared<std::string>();
        auto first = std::make_shared<std::string>(), second = std::make_shared<std::string>();
        add_profile_option(cmd, *profile_name);
        cmd->add_option("first", *first, "asset id or picture file")->required();
        cmd->add_option("second", *second, "asset id or picture file")->required();
        cmd->callback([&global, profile_name, first, second, features] {
            auto store = open_store(global);
            const Profile profile = resolve_profile(*store, *profile_name);
            const auto fx = make_feature_extractor(*features);
            const RewardModel model = latest_model(*store, profile, *fx);
            AssetFeatureCache cache(*store, *fx);
            const Prediction p = model.predict(any_features(cache, *fx, *first), any_features(cache, *fx, *second));
            std::cout << "P(first)  " << num(p.p_first) << "\nP(tie)    " << num(p.p_tie) << "\nP(second) " << num(p.p_second)
                      << "\nreward difference " << signed_num(p.mean, 3) << " ± " << num(p.sd, 3) << "\n";
        });
    }

    // ---- next-pair ----
    {
        auto* cmd = taste->add_subcommand("next-pair", "the candidate pair whose answer would teach the model most");
        struct Args {
            std::string profile;
            std::vector<std::string> candidates;
            uint64_t seed = 0, step = 0;
            double epsilon = 0.1;
            bool uncertainty = false;
        };
        auto a = std::make_shared<Args>();
        add_profile_option(cmd, a->profile);
        cmd->add_option("candidates", a->candidates, "asset ids or picture files (at least 2)")->required();
        cmd->add_option("--seed", a->seed, "seed of the exploration draw");
        cmd->add_option("--step", a->step, "the how-manieth choice of the session (mixed into the seed)");
        cmd->add_option("--epsilon", a->epsilon, "probability of a random pair instead");
        cmd->add_flag("--uncertainty", a->uncertainty, "largest predictive variance instead of information gain");
        cmd->callback([&global, a, features] {
            auto store = open_store(global);
            const Profile profile = resolve_profile(*store, a->profile);
            const auto fx = make_feature_extractor(*features);
            RewardModel model(fx->feature_set(), fx->names());
            if (store->latest_reward_model(profile.id, fx->feature_set())) model = latest_model(*store, profile, *fx);
            else std::cout << "(no fitted model yet: using the prior)\n";
            AssetFeatureCache cache(*store, *fx);
            std::vector<std::vector<float>> feats;
            for (const std::string& c : a->candidates) feats.push_back(any_features(cache, *fx, c));
            PairChoiceOptions o;
            o.seed = a->seed;
            o.step = a->step;
            o.epsilon = a->epsilon;
            if (a->uncertainty) o.criterion = PairChoiceOptions::Criterion::uncertainty;
            // Pairs this person already judged are not asked again.
            std::map<int64_t, int> index;
            for (size_t i = 0; i < a->candidates.size(); ++i)
                if (all_digits(a->candidates[i])) index[std::stoll(a->candidates[i])] = int(i);
            for (int offset = 0;; offset += 1000) {
                const std::vector<Comparison> page = store->list_comparisons(profile.id, -1, false, 1000, offset);
                for (const Comparison& c : page)
                    if (index.count(c.left_asset_id) && index.count(c.right_asset_id))
                        o.exclude.push_back({index[c.left_asset_id], index[c.right_asset_id]});
                if (page.size() < 1000) break;
            }
            const PairSuggestion s = choose_next_pair(model, feats, o);
            const Prediction p = model.predict(feats[size_t(s.first)], feats[size_t(s.second)]);
            std::cout << a->candidates[size_t(s.first)] << " " << a->candidates[size_t(s.second)] << "\n";
            std::cout << (s.explored ? "explored (random pair)" : "score " + num(s.score, 4)) << ", P(first) "
                      << num(p.p_first) << ", sd " << num(p.sd) << "\n";
        });
    }

    // ---- learn-memory ----
    {
        auto* cmd = taste->add_subcommand("learn-memory", "refit and write the strongest directions into the memory");
        struct Args {
            std::string profile;
            bool dry_run = false, keep_stale = false;
            double min_z = 3.0, min_weight = 0.25;
        };
        auto a = std::make_shared<Args>();
        add_profile_option(cmd, a->profile);
        cmd->add_flag("--dry-run", a->dry_run, "say what would change, change nothing");
        cmd->add_flag("--keep-stale", a->keep_stale, "keep the learner's entries whose direction is gone");
        cmd->add_option("--min-z", a->min_z, "weight / posterior sd at least this");
        cmd->add_option("--min-weight", a->min_weight, "standardized weight at least this");
        cmd->callback([&global, a, features] {
            auto store = open_store(global);
            const Profile profile = resolve_profile(*store, a->profile);
            const auto fx = make_feature_extractor(*features);
            ProfileFit f = fit_profile(*store, profile.id, *fx, 5, true);
            MemoryWriteOptions o;
            o.dry_run = a->dry_run;
            o.retire_stale = !a->keep_stale;
            o.directions.min_z = a->min_z;
            o.directions.min_weight = a->min_weight;
            const MemoryWriteReport r = write_memory(*store, profile.id, f.model, f.data, o);
            const char* verb = a->dry_run ? "would " : "";
            for (const auto& s : r.added) std::cout << verb << "add      " << s << "\n";
            for (const auto& s : r.updated) std::cout << verb << "update   " << s << "\n";
            for (const auto& s : r.unchanged) std::cout << "same     " << s << "\n";
            for (const auto& s : r.retired) std::cout << verb << "retire   " << s << "\n";
            for (const auto& s : r.kept_user) std::cout << "yours    " << s << " (your entry stands)\n";
            if (r.added.empty() && r.updated.empty() && r.unchanged.empty() && r.retired.empty() && r.kept_user.empty())
                std::cout << "no direction is strong enough yet (" << f.report.labels_used << " labels)\n";
        });
    }

    // ---- rank ----
    {
        auto* cmd = taste->add_subcommand("rank", "best-of-N: pictures ranked by the profile's predicted reward");
        auto profile_name = std::make_shared<std::string>();
        auto pictures = std::make_shared<std::vector<std::string>>();
        add_profile_option(cmd, *profile_name);
        cmd->add_option("pictures", *pictures, "asset ids or picture files")->required();
        cmd->callback([&global, profile_name, pictures, features] {
            auto store = open_store(global);
            const Profile profile = resolve_profile(*store, *profile_name);
            const auto fx = make_feature_extractor(*features);
            const RewardModel model = latest_model(*store, profile, *fx);
            AssetFeatureCache cache(*store, *fx);
            std::vector<std::vector<float>> feats;
            for (const std::string& p : *pictures) feats.push_back(any_features(cache, *fx, p));
            std::cout << "rank  reward     sd  P(best)  P(beats next)  picture\n";
            int rank = 1;
            for (const RankedImage& r : rank_images(model, feats)) {
                std::cout << std::setw(4) << rank++ << std::setw(8) << signed_num(r.reward) << std::setw(7) << num(r.reward_sd, 2)
                          << std::setw(9) << num(r.p_best, 3) << std::setw(15) << num(r.p_beats_next, 3) << "  "
                          << (*pictures)[size_t(r.index)] << "\n";
            }
        });
    }

    // ---- prototypes ----
    {
        auto* cmd = taste->add_subcommand("prototypes", "cluster the profiles' latest models into prototypes");
        auto out = std::make_shared<std::string>();
        auto k = std::make_shared<int>(6);
        cmd->add_option("--out", *out, "file to write the prototype set to")->required();
        cmd->add_option("--k", *k, "number of prototypes");
        cmd->callback([&global, out, k, features] {
            auto store = open_store(global);
            const auto fx = make_feature_extractor(*features);
            std::vector<RewardModel> models;
            for (const Profile& p : store->list_profiles())
                if (auto r = store->latest_reward_model(p.id, fx->feature_set())) models.push_back(from_record(*r));
            if (models.empty()) throw Error("no profile has a fitted " + fx->feature_set() + " model");
            const PrototypeSet set = fit_prototypes(models, *k);
            const std::vector<uint8_t> blob = set.serialize();
            std::ofstream file(*out, std::ios::binary);
            file.write(reinterpret_cast<const char*>(blob.data()), std::streamsize(blob.size()));
            if (!file) throw Error("cannot write " + *out);
            std::cout << set.prototypes.size() << " prototypes from " << models.size() << " profiles -> " << *out << "\n";
            for (size_t i = 0; i < set.prototypes.size(); ++i) {
                const Prototype& p = set.prototypes[i];
                std::vector<int> order(p.weights.size());
                for (size_t j = 0; j < order.size(); ++j) order[j] = int(j);
                std::sort(order.begin(), order.end(),
                          [&](int x, int y) { return std::abs(p.weights[size_t(x)]) > std::abs(p.weights[size_t(y)]); });
                std::cout << "  " << i << ": " << p.members << " people:";
                for (size_t j = 0; j < std::min<size_t>(3, order.size()); ++j) {
                    const int f = order[j];
                    const DirectionPhrase* ph = find_phrase(fx->names()[size_t(f)], p.weights[size_t(f)] >= 0 ? 1 : -1);
                    std::cout << " " << (ph ? ph->description : fx->names()[size_t(f)]) << " ("
                              << signed_num(p.weights[size_t(f)]) << ")";
                }
                std::cout << "\n";
            }
        });
    }

    // ---- simulate ----
    {
        auto* cmd = taste->add_subcommand(
            "simulate", "simulated people: learning curves, or (--into-profile) a demo profile's judgements in the store");
        struct Args {
            int people = 30, population = 60, prototypes = 6, pool = 160, heldout = 80, pairs = 400;
            std::vector<int> checkpoints{5, 10, 20, 50, 100};
            uint64_t seed = 1;
            std::string into_profile;
            int judgements = 60, archetype = -1;
            double noise = 0.1;
        };
        auto a = std::make_shared<Args>();
        cmd->add_option("--people", a->people, "evaluated people");
        cmd->add_option("--population", a->population, "people whose models give the prototypes (0: none)");
        cmd->add_option("--prototypes", a->prototypes, "k");
        cmd->add_option("--pool", a->pool, "candidate pictures per person");
        cmd->add_option("--heldout", a->heldout, "held-out pictures per person");
        cmd->add_option("--pairs", a->pairs, "held-out test pairs per person");
        cmd->add_option("--seed", a->seed, "seed");
        cmd->add_option("--noise", a->noise, "label noise (probability of a flipped answer)");
        cmd->add_option("--checkpoints", a->checkpoints, "judgement counts to score at")->delimiter(',');
        cmd->add_option("--into-profile", a->into_profile, "store one simulated person's judgements under this profile");
        cmd->add_option("--judgements", a->judgements, "with --into-profile: how many");
        cmd->add_option("--archetype", a->archetype, "with --into-profile: 0..4 (default: drawn from the seed)");
        cmd->callback([&global, a, features] {
            if (a->into_profile.empty()) {
                SimulationOptions o;
                o.people = a->people;
                o.population = a->population;
                o.prototypes = a->prototypes;
                o.pool_images = a->pool;
                o.heldout_images = a->heldout;
                o.heldout_pairs = a->pairs;
                o.seed = a->seed;
                o.label_noise = a->noise;
                o.checkpoints = a->checkpoints;
                o.features = std::shared_ptr<const FeatureExtractor>(make_feature_extractor(*features));
                o.threads = global.threads > 0 ? global.threads : 2;
                o.on_progress = [](const std::string& line) { std::cerr << line << "\n"; };
                print_curves(run_simulation(o));
                return;
            }
            auto store = open_store(global);
            const Profile profile = store->ensure_profile(a->into_profile, "designer");
            const SimulatedPerson person = make_simulated_person(a->seed, a->noise, a->archetype);
            const int pictures = store_simulated_judgements(*store, profile.id, person, a->judgements);
            std::cout << "profile '" << profile.name << "': " << a->judgements << " simulated judgements on " << pictures
                      << " pictures (archetype " << person.archetype << ")\n";
        });
    }
}

}  // namespace atelier::cli
