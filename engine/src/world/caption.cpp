// Captions of the procedural world: varied natural wording, and a keyword parser that reads them back.
#include <algorithm>
#include <set>

#include "atelier/world.h"
#include "world/world_internal.h"

namespace atelier::world {

namespace {

using detail::choose;

// Slots of the wording that scene.phrasing chooses independently.
enum Slot : uint32_t { kTemplate = 1, kCount, kSize, kPosition, kBackgroundPhrase, kStyleForm };

bool starts_with_vowel(std::string_view word) {
    return !word.empty() && std::string_view("aeiou").find(word.front()) != std::string_view::npos;
}

// "a" + phrase -> "a red ..." / "an orange ...".
std::string with_article(const std::string& phrase) {
    return (starts_with_vowel(phrase) ? "an " : "a ") + phrase;
}

std::string size_word(Size size, CaptionStyle style, uint32_t phrasing) {
    if (style == CaptionStyle::canonical) return std::string(name(size));
    switch (size) {
    case Size::small: return choose(phrasing, kSize, 2) == 0 ? "small" : "tiny";
    case Size::medium: {
        const int k = choose(phrasing, kSize, 3);
        return k == 0 ? "medium" : k == 1 ? "medium-sized" : "";  // medium may go unsaid
    }
    case Size::large: return choose(phrasing, kSize, 2) == 0 ? "large" : "big";
    }
    return "";
}

// "two small red stars", "an orange ring", "a pair of big green crosses".
std::string noun_phrase(const Scene& s, const CaptionOptions& o) {
    const std::string noun = !o.shape_word.empty() ? o.shape_word
                             : s.count == 1        ? std::string(name(s.shape))
                                                   : std::string(plural(s.shape));
    const std::string size = size_word(s.size, o.style, s.phrasing);
    const std::string rest = (size.empty() ? "" : size + " ") + std::string(name(s.colour)) + " " + noun;
    if (s.count == 1) return with_article(rest);
    if (s.count == 2) {
        const bool pair = o.style != CaptionStyle::canonical && choose(s.phrasing, kCount, 3) == 0;
        return (pair ? "a pair of " : "two ") + rest;
    }
    return "three " + rest;
}

std::string position_phrase(Position p, CaptionStyle style, uint32_t phrasing) {
    const int k = style == CaptionStyle::canonical ? 0 : choose(phrasing, kPosition, 3);
    switch (p) {
    case Position::left: return k == 0 ? "on the left" : k == 1 ? "at the left" : "to the left";
    case Position::right: return k == 0 ? "on the right" : k == 1 ? "at the right" : "to the right";
    case Position::top: return k == 1 ? "near the top" : "at the top";
    case Position::bottom: return k == 1 ? "near the bottom" : "at the bottom";
    case Position::centre: return k == 1 ? "in the middle" : "in the centre";
    }
    return "";
}

// "a striped blue background", "orange polka dots", "a vertical white gradient".
std::string background_phrase(Background b, Colour colour, CaptionStyle style, uint32_t phrasing) {
    const std::string c(name(colour));
    const auto pick = [&](std::initializer_list<const char*> forms) {
        const int n = static_cast<int>(forms.size());
        const int k = style == CaptionStyle::canonical ? 0 : choose(phrasing, kBackgroundPhrase, n);
        return std::string(*(forms.begin() + k));
    };
    std::string form;
    switch (b) {
    case Background::plain: form = pick({"a plain # background", "a # background", "a solid # background"}); break;
    case Background::vertical_gradient: form = pick({"a vertical # gradient", "a # vertical gradient background"}); break;
    case Background::horizontal_gradient:
        form = pick({"a horizontal # gradient", "a # horizontal gradient background"});
        break;
    case Background::stripes: form = pick({"a striped # background", "# stripes", "a # striped background"}); break;
    case Background::dots: form = pick({"a dotted # background", "# polka dots", "a # background with dots"}); break;
    case Background::checkered: form = pick({"a checkered # background", "a # checkerboard"}); break;
    }
    const size_t hash = form.find('#');
    form.replace(hash, 1, c);
    if (form.rfind("a ", 0) == 0) form = with_article(form.substr(2));
    return form;
}

struct StyleWords {
    std::string prefix;  // "a watercolour painting of " (before the noun phrase)
    std::string suffix;  // ", outlined" (at the end)
};

StyleWords style_words(const Scene& s, const CaptionOptions& o) {
    if (!o.style_word.empty()) return {"", ", in " + o.style_word + " style"};
    const bool many = s.count > 1;
    // Suffix forms first, then prefix forms; canonical takes the first suffix (flat says ", flat").
    std::vector<StyleWords> forms;
    switch (s.style) {
    case Style::flat: forms = {{"", ", flat"}, {"", ""}, {"", ", in a flat style"}, {"", ""}}; break;
    case Style::outlined:
        forms = {{"", ", outlined"}, {"", many ? ", with dark outlines" : ", with a dark outline"},
                 {"an outlined drawing of ", ""}};
        break;
    case Style::soft_shadow:
        forms = {{"", many ? ", with soft shadows" : ", with a soft shadow"},
                 {"", many ? ", casting soft shadows" : ", casting a soft shadow"}};
        break;
    case Style::watercolour:
        forms = {{"", ", in watercolour"}, {"", ", watercolour style"}, {"a watercolour painting of ", ""}};
        break;
    case Style::neon: forms = {{"", ", neon glow"}, {"", ", glowing neon"}, {"a neon sign of ", ""}}; break;
    case Style::pixel_art: forms = {{"", ", pixel art"}, {"", ", in pixel art style"}, {"pixel art of ", ""}}; break;
    }
    if (o.style == CaptionStyle::canonical) return forms.front();
    return forms[static_cast<size_t>(choose(s.phrasing, kStyleForm, static_cast<int>(forms.size())))];
}

}  // namespace

std::string caption_for(const Scene& s, const CaptionOptions& o) {
    if (o.style == CaptionStyle::short_form) {
        const std::string noun = !o.shape_word.empty() ? o.shape_word
                                 : s.count == 1        ? std::string(name(s.shape))
                                                       : std::string(plural(s.shape));
        const std::string count = s.count == 2 ? "two " : s.count == 3 ? "three " : "";
        return count + std::string(name(s.colour)) + " " + noun;
    }
    const StyleWords style = style_words(s, o);
    const std::string np = style.prefix + noun_phrase(s, o);
    const std::string pos = position_phrase(s.position, o.style, s.phrasing);
    const std::string back = background_phrase(s.background, s.background_colour, o.style, s.phrasing);
    const int form = o.style == CaptionStyle::canonical ? 0 : choose(s.phrasing, kTemplate, 3);
    switch (form) {
    case 1: return np + " on " + back + ", " + pos + style.suffix;
    case 2: return np + " " + pos + " on " + back + style.suffix;
    default: return np + " " + pos + ", on " + back + style.suffix;
    }
}

std::string caption_for(const Scene& scene, CaptionStyle style) {
    CaptionOptions options;
    options.style = style;
    return caption_for(scene, options);
}

std::string caption(const Scene& scene) { return caption_for(scene, CaptionStyle::full); }

std::string motion_phrase(Motion motion) {
    switch (motion) {
    case Motion::left: return " moving to the left";
    case Motion::right: return " moving to the right";
    case Motion::up: return " moving up";
    case Motion::down: return " moving down";
    case Motion::grow: return " growing";
    case Motion::shrink: return " shrinking";
    case Motion::rotate: return " spinning";
    case Motion::colour_change: return " changing colour";
    case Motion::bounce: return " bouncing";
    }
    return "";
}

// ---- parsing ----

namespace {

// What the words of a caption say; a "conflict" is two different values for one attribute.
struct Reading {
    SceneAttributes found;
    bool conflict = false;
    bool plural_without_number = false;
};

template <typename T>
void note(std::optional<T>& slot, T value, bool& conflict) {
    if (slot && *slot != value) conflict = true;
    slot = value;
}

std::vector<std::string> words_of(std::string_view text) {
    std::vector<std::string> words;
    std::string cur;
    for (char ch : text) {
        if (ch >= 'A' && ch <= 'Z') ch = char(ch - 'A' + 'a');
        if (ch >= 'a' && ch <= 'z') {
            cur.push_back(ch);
        } else if (!cur.empty()) {
            words.push_back(cur);
            cur.clear();
        }
    }
    if (!cur.empty()) words.push_back(cur);
    return words;
}

std::optional<Colour> colour_word(const std::string& w) { return parse_colour(w); }

std::optional<Style> style_word(const std::string& w) {
    if (w == "flat") return Style::flat;
    if (w == "outlined" || w == "outline" || w == "outlines") return Style::outlined;
    if (w == "shadow" || w == "shadows") return Style::soft_shadow;
    if (w == "watercolour" || w == "watercolor") return Style::watercolour;
    if (w == "neon" || w == "glowing") return Style::neon;
    if (w == "pixel") return Style::pixel_art;
    return std::nullopt;
}

std::optional<Background> background_word(const std::string& w) {
    if (w == "plain" || w == "solid") return Background::plain;
    if (w == "vertical") return Background::vertical_gradient;
    if (w == "horizontal") return Background::horizontal_gradient;
    if (w == "striped" || w == "stripes" || w == "stripe") return Background::stripes;
    if (w == "dotted" || w == "dots" || w == "dot" || w == "polka") return Background::dots;
    if (w == "checkered" || w == "chequered" || w == "checkerboard") return Background::checkered;
    return std::nullopt;
}

std::optional<Position> position_word(const std::string& w) {
    if (w == "left") return Position::left;
    if (w == "right") return Position::right;
    if (w == "top") return Position::top;
    if (w == "bottom") return Position::bottom;
    if (w == "centre" || w == "center" || w == "middle" || w == "centred" || w == "centered") return Position::centre;
    return std::nullopt;
}

std::optional<Size> size_word_of(const std::string& w) {
    if (w == "small" || w == "tiny") return Size::small;
    if (w == "medium") return Size::medium;
    if (w == "large" || w == "big") return Size::large;
    return std::nullopt;
}

Reading read(std::string_view text) {
    Reading r;
    const std::vector<std::string> words = words_of(text);
    // The object's noun: the first shape word. Before it: count, size, colour; after it: the rest.
    size_t noun = words.size();
    bool is_plural = false;
    for (size_t i = 0; i < words.size(); ++i) {
        if (auto shape = parse_shape(words[i])) {
            noun = i;
            r.found.shape = shape;
            is_plural = words[i] == plural(*shape);
            break;
        }
    }
    const bool has_noun = noun < words.size();
    std::optional<int> number;
    std::vector<Colour> colours_before, colours_after;
    for (size_t i = 0; i < words.size(); ++i) {
        const std::string& w = words[i];
        const bool before = i < noun;
        if (auto c = colour_word(w)) (before ? colours_before : colours_after).push_back(*c);
        if (before && (w == "two" || w == "pair")) note(number, 2, r.conflict);
        if (before && w == "three") note(number, 3, r.conflict);
        if (auto s = size_word_of(w)) note(r.found.size, *s, r.conflict);
        if (auto p = position_word(w)) note(r.found.position, *p, r.conflict);
        if (auto b = background_word(w)) note(r.found.background, *b, r.conflict);
        if (auto s = style_word(w)) note(r.found.style, *s, r.conflict);
    }
    if (has_noun) {
        if (!colours_before.empty()) r.found.colour = colours_before.back();
        if (!colours_after.empty()) r.found.background_colour = colours_after.front();
        if (colours_after.size() > 1 || colours_before.size() > 1) r.conflict = true;
        if (is_plural) {
            if (number) r.found.count = number;
            else r.plural_without_number = true;
        } else {
            if (number) r.conflict = true;  // "two star"
            r.found.count = 1;
        }
    } else {
        // No shape noun (a concept token stands in for it): the first colour is the object's.
        if (!colours_before.empty()) r.found.colour = colours_before.front();
        if (colours_before.size() > 1) r.found.background_colour = colours_before[1];
        if (number) r.found.count = number;
    }
    return r;
}

}  // namespace

SceneAttributes parse_caption_attributes(std::string_view text) { return read(text).found; }

std::optional<Scene> parse_caption(std::string_view text) {
    const Reading r = read(text);
    const SceneAttributes& a = r.found;
    if (r.conflict || r.plural_without_number) return std::nullopt;
    if (!a.shape || !a.colour || !a.background_colour || !a.position || !a.count) return std::nullopt;
    Scene s;
    s.shape = *a.shape;
    s.colour = *a.colour;
    s.background_colour = *a.background_colour;
    s.position = *a.position;
    s.count = *a.count;
    s.size = a.size.value_or(Size::medium);
    s.style = a.style.value_or(Style::flat);
    s.background = a.background.value_or(Background::plain);
    canonical_layout(s);
    return s;
}

}  // namespace atelier::world
