// What the reward model learned, in words: the feature -> phrase map, the strongest directions, writing
// them into the preference memory as the learner, and reading the person's own entries back as a prior.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "atelier/taste.h"
#include "atelier/world.h"
#include "taste/taste_internal.h"

namespace atelier::taste {

const std::vector<DirectionPhrase>& direction_phrases() {
    static const std::vector<DirectionPhrase> phrases = [] {
        std::vector<DirectionPhrase> p = {
            {"lightness_mean", +1, "like", "bright airy tones", "prefers bright, light pictures"},
            {"lightness_mean", -1, "like", "dark moody tones", "prefers dark, moody pictures"},
            {"contrast", +1, "like", "high contrast", "prefers high contrast"},
            {"contrast", -1, "like", "soft low contrast", "prefers soft, low contrast"},
            {"chroma_mean", +1, "like", "saturated colours", "prefers saturated colours"},
            {"chroma_mean", -1, "like", "muted colours", "prefers muted colours"},
            {"colourfulness", +1, "like", "vivid colourful palette", "prefers vivid, colourful palettes"},
            {"colourfulness", -1, "like", "restrained palette", "prefers restrained palettes"},
            {"warmth", +1, "like", "warm colours", "prefers warm palettes"},
            {"warmth", -1, "like", "cool colours", "prefers cool palettes"},
            {"edge_density", +1, "like", "intricate detail", "likes intricate detail"},
            {"edge_density", -1, "dislike", "busy textures", "dislikes busy textures"},
            {"high_freq_ratio", +1, "like", "crisp fine texture", "likes crisp, fine texture"},
            {"high_freq_ratio", -1, "like", "soft texture", "prefers soft texture"},
            {"saliency_x", +1, "like", "subject on the right", "prefers the subject on the right"},
            {"saliency_x", -1, "like", "subject on the left", "prefers the subject on the left"},
            {"saliency_y", +1, "like", "subject low in the frame", "prefers the subject low in the frame"},
            {"saliency_y", -1, "like", "subject high in the frame", "prefers the subject high in the frame"},
            {"saliency_spread", +1, "like", "spread-out composition", "prefers spread-out compositions"},
            {"saliency_spread", -1, "like", "a single focal point", "prefers a single focal point"},
            {"symmetry_lr", +1, "like", "symmetrical composition", "prefers symmetrical compositions"},
            {"symmetry_lr", -1, "like", "asymmetric composition", "prefers asymmetric compositions"},
            {"negative_space", +1, "like", "plenty of negative space",
             "prefers minimal compositions with negative space"},
            {"negative_space", -1, "like", "a full, busy frame", "prefers full, busy frames"},
            {"subject_lightness", +1, "like", "a light subject", "prefers light subjects"},
            {"subject_lightness", -1, "like", "a dark subject", "prefers dark subjects"},
            {"subject_chroma", +1, "like", "a vividly coloured subject", "prefers vividly coloured subjects"},
            {"subject_chroma", -1, "like", "a muted subject", "prefers muted subjects"},
            {"subject_warmth", +1, "like", "a warm-coloured subject", "prefers warm-coloured subjects"},
            {"subject_warmth", -1, "like", "a cool-coloured subject", "prefers cool-coloured subjects"},
            {"background_lightness", +1, "like", "a light background", "prefers light backgrounds"},
            {"background_lightness", -1, "like", "a dark background", "prefers dark backgrounds"},
            {"background_chroma", +1, "like", "a colourful background", "prefers colourful backgrounds"},
            {"background_chroma", -1, "like", "a neutral background", "prefers neutral backgrounds"},
            {"background_warmth", +1, "like", "a warm background", "prefers warm backgrounds"},
            {"background_warmth", -1, "like", "a cool background", "prefers cool backgrounds"},
        };
        for (const char* hue : {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"}) {
            const std::string h = hue;
            p.push_back({"hue_" + h, +1, "like", h + " tones", "likes " + h + " tones"});
            p.push_back({"hue_" + h, -1, "dislike", h + " tones", "dislikes " + h + " tones"});
            p.push_back({"subject_" + h, +1, "like", "a " + h + " subject", "likes " + h + " subjects"});
            p.push_back({"subject_" + h, -1, "dislike", "a " + h + " subject", "dislikes " + h + " subjects"});
        }
        p.push_back({"subject_parts", +1, "like", "several subjects", "prefers several subjects"});
        p.push_back({"subject_parts", -1, "like", "a single subject", "prefers a single subject"});
        // world-attributes-v1: one phrase per attribute value, in the words the world's captions use, so that
        // a learned entry is something the embedded model can draw (a like joins the prompt, a dislike the
        // negative prompt).
        auto both = [&](const std::string& feature, const std::string& text, const std::string& what) {
            p.push_back({feature, +1, "like", text, "likes " + what});
            p.push_back({feature, -1, "dislike", text, "dislikes " + what});
        };
        using namespace world;
        for (int i = 0; i < kShapeCount; ++i) {
            const std::string plural_name(plural(Shape(i)));
            both("shape=" + std::string(name(Shape(i))), plural_name, plural_name);
        }
        for (int i = 0; i < kColourCount; ++i) {
            const std::string c(name(Colour(i)));
            both("colour=" + c, c, c + " objects");
            both("bg_colour=" + c, "a " + c + " background", c + " backgrounds");
        }
        struct Words {
            const char* text;   // in the prompt
            const char* what;   // in the description
        };
        const std::pair<Background, Words> backgrounds[] = {
            {Background::plain, {"a plain background", "plain backgrounds"}},
            {Background::vertical_gradient, {"a vertical gradient", "vertical gradients"}},
            {Background::horizontal_gradient, {"a horizontal gradient", "horizontal gradients"}},
            {Background::stripes, {"stripes", "striped backgrounds"}},
            {Background::dots, {"polka dots", "dotted backgrounds"}},
            {Background::checkered, {"a checkerboard", "checkered backgrounds"}}};
        for (const auto& [b, w] : backgrounds) both("background=" + std::string(name(b)), w.text, w.what);
        const std::pair<Position, const char*> positions[] = {{Position::left, "on the left"}, {Position::right, "on the right"},
                                                              {Position::top, "at the top"},   {Position::bottom, "at the bottom"},
                                                              {Position::centre, "in the centre"}};
        for (const auto& [at, text] : positions) both("position=" + std::string(name(at)), text, std::string("objects ") + text);
        both("count=1", "a single object", "a single object");
        both("count=2", "two objects", "two objects");
        both("count=3", "three objects", "three objects");
        for (int i = 0; i < kSizeCount; ++i) {
            const std::string size(name(Size(i)));
            both("size=" + size, (i == int(Size::medium) ? "medium-sized" : size) + " objects", size + " objects");
        }
        const std::pair<Style, Words> styles[] = {
            {Style::flat, {"flat style", "the flat style"}},      {Style::outlined, {"outlined", "outlined shapes"}},
            {Style::soft_shadow, {"soft shadow", "soft shadows"}}, {Style::watercolour, {"watercolour", "watercolour"}},
            {Style::neon, {"neon", "neon glow"}},                  {Style::pixel_art, {"pixel art", "pixel art"}}};
        for (const auto& [style, w] : styles) both("style=" + std::string(name(style)), w.text, w.what);
        return p;
    }();
    return phrases;
}

const DirectionPhrase* find_phrase(const std::string& feature, int sign) {
    for (const DirectionPhrase& p : direction_phrases())
        if (p.feature == feature && p.sign == (sign >= 0 ? 1 : -1)) return &p;
    return nullptr;
}

namespace {

std::string normalize(const std::string& text) {
    std::string out;
    for (char ch : text) out.push_back(char(std::tolower(static_cast<unsigned char>(ch))));
    const size_t b = out.find_first_not_of(" \t\r\n,.;");
    if (b == std::string::npos) return {};
    const size_t e = out.find_last_not_of(" \t\r\n,.;");
    return out.substr(b, e - b + 1);
}

// The feature and signed direction an entry speaks about: "like warm colours" +1 on warmth, "dislike warm
// colours" -1, "like busy textures" +1 on edge_density. Returns false when the text is no direction phrase.
bool entry_direction(const MemoryEntry& e, std::string& feature, int& sign) {
    const std::string text = normalize(e.text);
    for (const DirectionPhrase& p : direction_phrases()) {
        if (text != normalize(p.text) && text != normalize(p.description)) continue;
        feature = p.feature;
        const bool negative_kind = e.kind == "dislike";
        const bool phrase_negative_kind = p.kind == "dislike";
        sign = (negative_kind == phrase_negative_kind) ? p.sign : -p.sign;
        return true;
    }
    return false;
}

struct EntryState {
    bool user_owned = false;        // written or changed by the person
    bool deleted_by_user = false;
};

EntryState entry_state(Store& store, const MemoryEntry& e) {
    EntryState s;
    s.user_owned = e.source == "user" || e.source == "imported";
    for (const MemoryHistoryEvent& h : store.memory_history(e.id)) {
        if (h.actor != Actor::user || h.undone) continue;
        s.user_owned = true;
        if (h.event == "DELETE") s.deleted_by_user = true;
        if (h.event == "RESTORE") s.deleted_by_user = false;
    }
    return s;
}

int feature_index(const std::vector<std::string>& names, const std::string& feature) {
    for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == feature) return int(i);
    return -1;
}

double round2(double x) { return std::round(x * 100.0) / 100.0; }

}  // namespace

std::vector<LearnedDirection> learned_directions(const RewardModel& model, const TasteData& data,
                                                 const DirectionOptions& options) {
    std::vector<LearnedDirection> out;
    const std::vector<double> wsd = model.weight_sd();
    const std::vector<double> fsd = model.standardizer().dim() == model.dim()
                                        ? model.standardizer().sd()
                                        : std::vector<double>(size_t(model.dim()), 1.0);
    for (int i = 0; i < model.dim(); ++i) {
        const double w = model.weights()[size_t(i)];
        const double sd = wsd[size_t(i)];
        const DirectionPhrase* phrase = find_phrase(model.feature_names()[size_t(i)], w >= 0 ? 1 : -1);
        if (!phrase || std::abs(w) < options.min_weight) continue;
        if (sd > 0 && std::abs(w) / sd < options.min_z) continue;
        LearnedDirection d;
        d.feature = i;
        d.feature_name = model.feature_names()[size_t(i)];
        d.weight = w;
        d.sd = sd;
        d.phrase = phrase;
        // Supporting: decided labels whose winner has noticeably (a quarter sd) more of the direction.
        for (const PairLabel& l : data.labels) {
            if (l.choice != Choice::left && l.choice != Choice::right) continue;
            if (l.first >= int(data.items.size()) || l.second >= int(data.items.size())) continue;
            const int winner = l.choice == Choice::left ? l.first : l.second;
            const int loser = l.choice == Choice::left ? l.second : l.first;
            const double delta = (double(data.items[size_t(winner)][size_t(i)]) - data.items[size_t(loser)][size_t(i)]) /
                                 fsd[size_t(i)];
            if (delta * (w >= 0 ? 1 : -1) > 0.25 && l.comparison_id != 0) d.supporting_comparisons.push_back(l.comparison_id);
            else if (delta * (w >= 0 ? 1 : -1) > 0.25) d.supporting_comparisons.push_back(0);
        }
        out.push_back(std::move(d));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const LearnedDirection& a, const LearnedDirection& b) { return std::abs(a.weight) > std::abs(b.weight); });
    if (int(out.size()) > options.max_directions) out.resize(size_t(std::max(0, options.max_directions)));
    return out;
}

MemoryPrior memory_prior(Store& store, int64_t profile_id, const std::vector<std::string>& feature_names,
                         double user_precision) {
    MemoryPrior prior;
    MemoryFilter filter;
    filter.profile_id = profile_id;
    filter.include_deleted = true;
    for (const MemoryEntry& e : store.list_memory(filter)) {
        std::string feature;
        int sign = 0;
        if (!entry_direction(e, feature, sign)) continue;
        const int i = feature_index(feature_names, feature);
        if (i < 0) continue;
        const EntryState state = entry_state(store, e);
        double mean = 0, precision = 0;
        std::string note;
        if ((e.deleted && state.deleted_by_user) || (!e.deleted && !e.active)) {
            mean = 0;
            precision = 1e6;
            note = "'" + e.text + "' switched off by the person: " + feature + " held at 0";
        } else if (!e.deleted && state.user_owned) {
            mean = sign * e.weight;
            precision = user_precision;
            note = "'" + e.text + "' written or edited by the person: " + feature + " near " + std::to_string(mean);
        } else {
            continue;
        }
        if (prior.mean.empty()) {
            prior.mean.assign(feature_names.size(), 0.0);
            prior.precision.assign(feature_names.size(), 0.0);
            prior.removed.assign(feature_names.size(), false);
        }
        // The strongest constraint wins when several entries speak about one feature.
        if (precision >= prior.precision[size_t(i)]) {
            prior.mean[size_t(i)] = mean;
            prior.precision[size_t(i)] = precision;
            prior.removed[size_t(i)] = precision >= 1e6;
        }
        prior.notes.push_back(note);
    }
    return prior;
}

MemoryWriteReport write_memory(Store& store, int64_t profile_id, const RewardModel& model, const TasteData& data,
                               const MemoryWriteOptions& options) {
    MemoryWriteReport report;
    const std::vector<LearnedDirection> directions = learned_directions(model, data, options.directions);
    MemoryFilter filter;
    filter.profile_id = profile_id;
    filter.include_deleted = true;
    const std::vector<MemoryEntry> entries = store.list_memory(filter);

    // Entries by the feature they speak about.
    std::map<std::string, std::vector<std::pair<MemoryEntry, EntryState>>> by_feature;
    for (const MemoryEntry& e : entries) {
        std::string feature;
        int sign = 0;
        if (!entry_direction(e, feature, sign)) continue;
        by_feature[feature].push_back({e, entry_state(store, e)});
    }

    std::map<std::string, bool> current;
    for (const LearnedDirection& d : directions) {
        current[d.feature_name] = true;
        const DirectionPhrase& phrase = *d.phrase;
        char number[32];
        std::snprintf(number, sizeof number, "%+.2f", d.weight);
        const std::string label = phrase.description + " (" + d.feature_name + " " + number + ")";
        const auto& matches = by_feature[d.feature_name];
        bool user_says = false;
        const MemoryEntry* own = nullptr;
        for (const auto& [e, state] : matches) {
            if (e.deleted ? state.deleted_by_user : (state.user_owned || !e.active)) user_says = true;
            if (!e.deleted && !state.user_owned && e.active && e.source == "learned" && !own) own = &e;
        }
        if (user_says) {
            report.kept_user.push_back(label);
            continue;
        }
        const double weight = round2(std::abs(d.weight));
        std::vector<int64_t> sources;
        for (int64_t id : d.supporting_comparisons)
            if (id != 0) sources.push_back(id);
        // A learned entry's provenance follows the choices that support it now.
        auto refresh_sources = [&](const MemoryEntry& entry) {
            if (options.dry_run) return;
            if (entry.source_count == int64_t(d.supporting_comparisons.size()) && entry.source_comparison_ids == sources) return;
            store.update_memory_sources(entry.id, int64_t(d.supporting_comparisons.size()), sources);
        };
        if (own) {
            if (own->kind == phrase.kind && normalize(own->text) == normalize(phrase.text) &&
                std::abs(own->weight - weight) < 0.005) {
                refresh_sources(*own);
                report.unchanged.push_back(label);
                report.entry_ids.push_back(own->id);
                continue;
            }
            if (!options.dry_run) {
                MemoryEntry updated = *own;
                updated.kind = phrase.kind;
                updated.text = phrase.text;
                updated.weight = weight;
                store.update_memory(updated, Actor::learner);
                refresh_sources(*own);
            }
            report.updated.push_back(label);
            report.entry_ids.push_back(own->id);
            continue;
        }
        MemoryEntry e;
        e.profile_id = profile_id;
        e.kind = phrase.kind;
        e.text = phrase.text;
        e.weight = weight;
        e.active = true;
        e.source = "learned";
        e.source_comparison_ids = sources;
        e.source_count = int64_t(d.supporting_comparisons.size());
        if (!options.dry_run) report.entry_ids.push_back(store.add_memory(e, Actor::learner));
        report.added.push_back(label);
    }

    if (options.retire_stale) {
        for (const auto& [feature, matches] : by_feature) {
            if (current.count(feature)) continue;
            for (const auto& [e, state] : matches) {
                if (e.deleted || state.user_owned || !e.active || e.source != "learned") continue;
                if (!options.dry_run) store.delete_memory(e.id, Actor::learner);
                report.retired.push_back(e.text + " (" + feature + ")");
            }
        }
    }
    return report;
}

}  // namespace atelier::taste
