// The procedural world's attributes: names, the random generator, scene sampling and layout, JSON.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "atelier/error.h"
#include "atelier/world.h"
#include "world/world_internal.h"

namespace atelier::world {

namespace {

constexpr std::string_view kShapeNames[kShapeCount] = {"circle", "square", "triangle", "star",
                                                       "heart",  "ring",   "cross",    "diamond",
                                                       "hexagon", "crescent", "arrow", "flower"};
constexpr std::string_view kShapePlurals[kShapeCount] = {"circles", "squares", "triangles", "stars",
                                                         "hearts",  "rings",   "crosses",   "diamonds",
                                                         "hexagons", "crescents", "arrows", "flowers"};
constexpr std::string_view kColourNames[kColourCount] = {"red",    "orange", "yellow", "green",
                                                         "cyan",   "blue",   "purple", "pink",
                                                         "white",  "black",  "brown",  "grey"};
constexpr std::string_view kBackgroundNames[kBackgroundCount] = {
    "plain", "vertical gradient", "horizontal gradient", "stripes", "dots", "checkered"};
constexpr std::string_view kSizeNames[kSizeCount] = {"small", "medium", "large"};
constexpr std::string_view kPositionNames[kPositionCount] = {"left", "right", "top", "bottom", "centre"};
constexpr std::string_view kStyleNames[kStyleCount] = {"flat", "outlined", "soft shadow",
                                                       "watercolour", "neon", "pixel art"};
constexpr std::string_view kLayoutNames[3] = {"row", "column", "triangle"};
constexpr std::string_view kMotionNames[kMotionCount] = {"left", "right",  "up",           "down",  "grow",
                                                         "shrink", "rotate", "colour change", "bounce"};

// sRGB values, chosen well apart (CIELAB distance >= 27 between any two, most above 40).
constexpr uint8_t kColourRgb[kColourCount][3] = {
    {220, 40, 40},   {245, 140, 20}, {250, 215, 40},  {40, 165, 60},  {40, 200, 220}, {40, 80, 220},
    {135, 55, 185},  {245, 135, 195}, {245, 245, 245}, {25, 25, 25},  {125, 75, 35},  {128, 128, 128}};

// Object/background pairs whose CIELAB distance (to the background or its second tone) is below 35.
constexpr std::pair<Colour, Colour> kLowContrast[] = {
    {Colour::blue, Colour::purple}, {Colour::pink, Colour::purple}, {Colour::grey, Colour::white},
    {Colour::grey, Colour::black},  {Colour::grey, Colour::brown},  {Colour::grey, Colour::cyan},
    {Colour::brown, Colour::orange}};

// Circumradius ranges (canvas units) by size and count: groups are a little smaller so three large
// objects still fit side by side, but every size stays apart from the next within one count.
constexpr float kRadius[kSizeCount][kMaxCount][2] = {
    {{0.085f, 0.100f}, {0.080f, 0.092f}, {0.078f, 0.088f}},
    {{0.140f, 0.165f}, {0.122f, 0.138f}, {0.105f, 0.118f}},
    {{0.210f, 0.245f}, {0.170f, 0.190f}, {0.135f, 0.145f}}};
// Where the group's centre may lie, by position: {x_lo, x_hi, y_lo, y_hi}.
constexpr float kPlace[kPositionCount][4] = {
    {0.20f, 0.30f, 0.40f, 0.60f}, {0.70f, 0.80f, 0.40f, 0.60f}, {0.40f, 0.60f, 0.20f, 0.30f},
    {0.40f, 0.60f, 0.70f, 0.80f}, {0.45f, 0.55f, 0.45f, 0.55f}};
constexpr float kMargin = 0.015f;  // objects stay this far inside the canvas
constexpr float kRotationMax = 0.25f;

template <typename E, size_t N>
std::optional<E> lookup(const std::string_view (&names)[N], std::string_view text) {
    std::string t(text);
    for (char& c : t) {
        if (c == '_' || c == '-') c = ' ';
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    }
    for (size_t i = 0; i < N; ++i) {
        if (names[i] == t) return static_cast<E>(i);
    }
    return std::nullopt;
}

template <size_t N>
std::vector<std::string> name_list(const std::string_view (&names)[N]) {
    return std::vector<std::string>(std::begin(names), std::end(names));
}

// Values of an enum with `count` members that are (held == true) or are not (false) in `held_list`.
template <typename E, size_t H>
std::vector<E> pool_of(int count, const std::array<E, H>& held_list, bool held) {
    std::vector<E> out;
    for (int i = 0; i < count; ++i) {
        const E v = static_cast<E>(i);
        const bool is = std::find(held_list.begin(), held_list.end(), v) != held_list.end();
        if (is == held) out.push_back(v);
    }
    return out;
}

template <typename E>
E pick(Rng& rng, const std::vector<E>& pool) {
    return pool[static_cast<size_t>(rng.below(static_cast<int>(pool.size())))];
}

}  // namespace

// ---- random numbers ----

Rng::Rng(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& s : s_) {
        x += 0x9E3779B97F4A7C15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        s = z ^ (z >> 31);
    }
}

uint64_t Rng::next_u64() {
    const auto rotl = [](uint64_t v, int k) { return (v << k) | (v >> (64 - k)); };
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

int Rng::below(int n) {
    if (n <= 0) throw Error("world::Rng::below: n must be positive, found " + std::to_string(n));
    // Multiply-shift on the top 32 bits: bias below 2^-32 * n, and the same on every platform.
    return static_cast<int>(((next_u64() >> 32) * static_cast<uint64_t>(n)) >> 32);
}

float Rng::uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Rng::uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

uint64_t derive_seed(uint64_t base, uint64_t index) { return detail::mix64(detail::mix64(base) ^ index); }

// ---- names ----

std::string_view name(Shape v) { return kShapeNames[static_cast<int>(v)]; }
std::string_view name(Colour v) { return kColourNames[static_cast<int>(v)]; }
std::string_view name(Background v) { return kBackgroundNames[static_cast<int>(v)]; }
std::string_view name(Size v) { return kSizeNames[static_cast<int>(v)]; }
std::string_view name(Position v) { return kPositionNames[static_cast<int>(v)]; }
std::string_view name(Style v) { return kStyleNames[static_cast<int>(v)]; }
std::string_view name(Layout v) { return kLayoutNames[static_cast<int>(v)]; }
std::string_view name(Motion v) { return kMotionNames[static_cast<int>(v)]; }
std::string_view plural(Shape v) { return kShapePlurals[static_cast<int>(v)]; }

std::optional<Shape> parse_shape(std::string_view text) {
    if (auto v = lookup<Shape>(kShapeNames, text)) return v;
    return lookup<Shape>(kShapePlurals, text);
}
std::optional<Colour> parse_colour(std::string_view text) {
    if (auto v = lookup<Colour>(kColourNames, text)) return v;
    constexpr std::string_view gray[1] = {"gray"};
    if (lookup<int>(gray, text)) return Colour::grey;
    return std::nullopt;
}
std::optional<Background> parse_background(std::string_view text) {
    return lookup<Background>(kBackgroundNames, text);
}
std::optional<Size> parse_size(std::string_view text) { return lookup<Size>(kSizeNames, text); }
std::optional<Position> parse_position(std::string_view text) {
    if (auto v = lookup<Position>(kPositionNames, text)) return v;
    constexpr std::string_view center[1] = {"center"};
    if (lookup<int>(center, text)) return Position::centre;
    return std::nullopt;
}
std::optional<Style> parse_style(std::string_view text) {
    if (auto v = lookup<Style>(kStyleNames, text)) return v;
    constexpr std::string_view watercolor[1] = {"watercolor"};
    if (lookup<int>(watercolor, text)) return Style::watercolour;
    return std::nullopt;
}
std::optional<Motion> parse_motion(std::string_view text) {
    if (auto v = lookup<Motion>(kMotionNames, text)) return v;
    constexpr std::string_view color_change[1] = {"color change"};
    if (lookup<int>(color_change, text)) return Motion::colour_change;
    return std::nullopt;
}

std::vector<std::string> all_shape_names() { return name_list(kShapeNames); }
std::vector<std::string> all_colour_names() { return name_list(kColourNames); }
std::vector<std::string> all_background_names() { return name_list(kBackgroundNames); }
std::vector<std::string> all_size_names() { return name_list(kSizeNames); }
std::vector<std::string> all_position_names() { return name_list(kPositionNames); }
std::vector<std::string> all_style_names() { return name_list(kStyleNames); }
std::vector<std::string> all_motion_names() { return name_list(kMotionNames); }

std::array<uint8_t, 3> colour_rgb(Colour colour) {
    const uint8_t* c = kColourRgb[static_cast<int>(colour)];
    return {c[0], c[1], c[2]};
}

// ---- attribute rules ----

bool colours_contrast(Colour object, Colour background) {
    if (object == background) return false;
    for (const auto& [a, b] : kLowContrast) {
        if ((a == object && b == background) || (a == background && b == object)) return false;
    }
    return true;
}

bool is_held_out(Shape shape) {
    return std::find(kHeldOutShapes.begin(), kHeldOutShapes.end(), shape) != kHeldOutShapes.end();
}
bool is_held_out(Style style) {
    return std::find(kHeldOutStyles.begin(), kHeldOutStyles.end(), style) != kHeldOutStyles.end();
}
bool uses_held_out(const Scene& scene) { return is_held_out(scene.shape) || is_held_out(scene.style); }

bool same_attributes(const Scene& a, const Scene& b) {
    return a.shape == b.shape && a.colour == b.colour && a.background == b.background &&
           a.background_colour == b.background_colour && a.size == b.size && a.position == b.position &&
           a.count == b.count && a.style == b.style;
}

std::vector<float> attribute_one_hot(const Scene& s) {
    const int groups[8][2] = {{kShapeCount, int(s.shape)},     {kColourCount, int(s.colour)},
                              {kBackgroundCount, int(s.background)}, {kColourCount, int(s.background_colour)},
                              {kSizeCount, int(s.size)},       {kPositionCount, int(s.position)},
                              {kMaxCount, s.count - 1},        {kStyleCount, int(s.style)}};
    std::vector<float> out;
    for (const auto& [n, v] : groups) {
        if (v < 0 || v >= n) throw Error("world::attribute_one_hot: attribute value " + std::to_string(v) + " out of range");
        for (int i = 0; i < n; ++i) out.push_back(i == v ? 1.f : 0.f);
    }
    return out;
}

std::vector<std::string> attribute_one_hot_names() {
    std::vector<std::string> out;
    const auto add = [&](const std::string& group, const std::vector<std::string>& names) {
        for (const std::string& n : names) out.push_back(group + "=" + n);
    };
    add("shape", all_shape_names());
    add("colour", all_colour_names());
    add("background", all_background_names());
    add("background_colour", all_colour_names());
    add("size", all_size_names());
    add("position", all_position_names());
    add("count", {"1", "2", "3"});
    add("style", all_style_names());
    return out;
}

// ---- layout ----

namespace {

void check_scene(const Scene& s, const char* where) {
    if (s.count < 1 || s.count > kMaxCount) {
        throw Error(std::string(where) + ": scene count must be 1..3, found " + std::to_string(s.count));
    }
}

// Offsets of each object from the group centre, for a given radius and gap.
std::vector<std::pair<float, float>> offsets(int count, Layout layout, float radius, float gap) {
    const float step = 2 * radius + gap;
    std::vector<std::pair<float, float>> out;
    if (count == 1) {
        out.push_back({0.f, 0.f});
    } else if (layout == Layout::triangle && count == 3) {
        const float circum = step / std::sqrt(3.0f);  // triangle's circumradius; centroid at the centre
        out.push_back({0.f, -circum});
        out.push_back({-0.5f * step, 0.5f * circum});
        out.push_back({0.5f * step, 0.5f * circum});
    } else {
        for (int i = 0; i < count; ++i) {
            const float t = (static_cast<float>(i) - 0.5f * static_cast<float>(count - 1)) * step;
            if (layout == Layout::column) out.push_back({0.f, t});
            else out.push_back({t, 0.f});
        }
    }
    return out;
}

// Chooses layout, gap and centre so that every object lies inside the canvas and the group's centre lies
// as close to the drawn (x, y) as that allows.
void fit_layout(Scene& s, float want_x, float want_y, float want_gap) {
    const int n = s.count;
    if (n > 1) {
        // The gap shrinks when a long row/column would not fit; never below 0.03 (two pixels at 64).
        const float extent = 2 * s.radius * static_cast<float>(n);
        const float room = (1 - 2 * kMargin - extent) / static_cast<float>(n - 1);
        want_gap = std::max(0.03f, std::min(want_gap, room));
    }
    s.spacing = want_gap;
    float min_x = 0, max_x = 0, min_y = 0, max_y = 0;
    for (const auto& [dx, dy] : offsets(n, s.layout, s.radius, s.spacing)) {
        min_x = std::min(min_x, dx); max_x = std::max(max_x, dx);
        min_y = std::min(min_y, dy); max_y = std::max(max_y, dy);
    }
    const auto clamp_centre = [&](float want, float lo_off, float hi_off) {
        const float lo = kMargin + s.radius - lo_off, hi = 1 - kMargin - s.radius - hi_off;
        return lo > hi ? 0.5f * (lo + hi) : std::min(std::max(want, lo), hi);
    };
    s.x = clamp_centre(want_x, min_x, max_x);
    s.y = clamp_centre(want_y, min_y, max_y);
}

Layout layout_for(Position p, int count, int choice) {
    if (count == 1) return Layout::row;
    if (p == Position::left || p == Position::right) return Layout::column;
    if (p == Position::top || p == Position::bottom) return Layout::row;
    if (count == 2) return choice % 2 == 0 ? Layout::row : Layout::column;
    return static_cast<Layout>(choice % 3);
}

}  // namespace

void draw_layout(Scene& s, Rng& rng) {
    check_scene(s, "world::draw_layout");
    const float* r = kRadius[static_cast<int>(s.size)][s.count - 1];
    const float* place = kPlace[static_cast<int>(s.position)];
    s.radius = rng.uniform(r[0], r[1]);
    s.rotation = rng.uniform(-kRotationMax, kRotationMax);
    s.layout = layout_for(s.position, s.count, rng.below(6));
    const float gap = rng.uniform(0.035f, 0.06f);
    const float want_x = rng.uniform(place[0], place[1]);
    const float want_y = rng.uniform(place[2], place[3]);
    fit_layout(s, want_x, want_y, gap);
    s.noise_seed = rng.next_u64();
}

void canonical_layout(Scene& s) {
    check_scene(s, "world::canonical_layout");
    const float* r = kRadius[static_cast<int>(s.size)][s.count - 1];
    const float* place = kPlace[static_cast<int>(s.position)];
    s.radius = 0.5f * (r[0] + r[1]);
    s.rotation = 0;
    s.layout = layout_for(s.position, s.count, 0);
    fit_layout(s, 0.5f * (place[0] + place[1]), 0.5f * (place[2] + place[3]), 0.045f);
    s.noise_seed = 0;
}

std::vector<std::pair<float, float>> object_centres(const Scene& s) {
    check_scene(s, "world::object_centres");
    std::vector<std::pair<float, float>> out = offsets(s.count, s.layout, s.radius, s.spacing);
    for (auto& [dx, dy] : out) {
        dx += s.x;
        dy += s.y;
    }
    return out;
}

// ---- sampling ----

Scene sample_scene(Rng& rng, HeldOut held_out, const SceneAttributes& c) {
    const std::string where = "world::sample_scene";
    const auto shapes_held = pool_of<Shape>(kShapeCount, kHeldOutShapes, true);
    const auto shapes_kept = pool_of<Shape>(kShapeCount, kHeldOutShapes, false);
    const auto styles_held = pool_of<Style>(kStyleCount, kHeldOutStyles, true);
    const auto styles_kept = pool_of<Style>(kStyleCount, kHeldOutStyles, false);
    auto all_shapes = shapes_kept;
    all_shapes.insert(all_shapes.end(), shapes_held.begin(), shapes_held.end());
    std::sort(all_shapes.begin(), all_shapes.end());
    auto all_styles = styles_kept;
    all_styles.insert(all_styles.end(), styles_held.begin(), styles_held.end());
    std::sort(all_styles.begin(), all_styles.end());

    Scene s;
    switch (held_out) {
    case HeldOut::include:
        s.shape = c.shape ? *c.shape : pick(rng, all_shapes);
        s.style = c.style ? *c.style : pick(rng, all_styles);
        break;
    case HeldOut::exclude:
        if (c.shape && is_held_out(*c.shape)) {
            throw Error(where + ": shape '" + std::string(name(*c.shape)) + "' is held out, but exclude was asked");
        }
        if (c.style && is_held_out(*c.style)) {
            throw Error(where + ": style '" + std::string(name(*c.style)) + "' is held out, but exclude was asked");
        }
        s.shape = c.shape ? *c.shape : pick(rng, shapes_kept);
        s.style = c.style ? *c.style : pick(rng, styles_kept);
        break;
    case HeldOut::only:
        if (c.shape && c.style) {
            if (!is_held_out(*c.shape) && !is_held_out(*c.style)) {
                throw Error(where + ": held-out only was asked, but neither shape '" +
                            std::string(name(*c.shape)) + "' nor style '" + std::string(name(*c.style)) +
                            "' is held out");
            }
            s.shape = *c.shape;
            s.style = *c.style;
        } else if (c.shape) {
            s.shape = *c.shape;
            s.style = pick(rng, is_held_out(s.shape) ? all_styles : styles_held);
        } else if (c.style) {
            s.style = *c.style;
            s.shape = pick(rng, is_held_out(s.style) ? all_shapes : shapes_held);
        } else {
            const int mode = rng.below(3);  // 0: held-out shape, 1: held-out style, 2: both
            s.shape = pick(rng, mode != 1 ? shapes_held : shapes_kept);
            s.style = pick(rng, mode != 0 ? styles_held : styles_kept);
        }
        break;
    }

    s.colour = c.colour ? *c.colour : static_cast<Colour>(rng.below(kColourCount));
    if (c.background_colour) {
        if (!colours_contrast(s.colour, *c.background_colour)) {
            throw Error(where + ": background colour '" + std::string(name(*c.background_colour)) +
                        "' does not contrast with object colour '" + std::string(name(s.colour)) + "'");
        }
        s.background_colour = *c.background_colour;
    } else {
        std::vector<Colour> backs;
        for (int i = 0; i < kColourCount; ++i) {
            if (colours_contrast(s.colour, static_cast<Colour>(i))) backs.push_back(static_cast<Colour>(i));
        }
        s.background_colour = pick(rng, backs);
    }
    s.background = c.background ? *c.background : static_cast<Background>(rng.below(kBackgroundCount));
    s.size = c.size ? *c.size : static_cast<Size>(rng.below(kSizeCount));
    s.position = c.position ? *c.position : static_cast<Position>(rng.below(kPositionCount));
    if (c.count && (*c.count < 1 || *c.count > kMaxCount)) {
        throw Error(where + ": count must be 1..3, found " + std::to_string(*c.count));
    }
    s.count = c.count ? *c.count : 1 + rng.below(kMaxCount);
    s.phrasing = static_cast<uint32_t>(rng.next_u64() >> 32);
    draw_layout(s, rng);
    return s;
}

Scene sample_scene(uint64_t seed, HeldOut held_out, const SceneAttributes& constraints) {
    Rng rng(seed);
    return sample_scene(rng, held_out, constraints);
}

// ---- JSON ----

std::string scene_to_json(const Scene& s) {
    nlohmann::ordered_json j;
    j["shape"] = name(s.shape);
    j["colour"] = name(s.colour);
    j["background"] = name(s.background);
    j["background_colour"] = name(s.background_colour);
    j["size"] = name(s.size);
    j["position"] = name(s.position);
    j["count"] = s.count;
    j["style"] = name(s.style);
    j["held_out"] = uses_held_out(s);
    j["rotation"] = s.rotation;
    j["x"] = s.x;
    j["y"] = s.y;
    j["radius"] = s.radius;
    j["spacing"] = s.spacing;
    j["layout"] = name(s.layout);
    j["noise_seed"] = s.noise_seed;
    j["phrasing"] = s.phrasing;
    return j.dump();
}

Scene scene_from_json(const std::string& text) {
    const std::string where = "world::scene_from_json";
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw Error(where + ": not JSON (" + e.what() + ")");
    }
    if (!j.is_object()) throw Error(where + ": expected a JSON object");
    const auto field = [&](const char* key) -> const nlohmann::json& {
        if (!j.contains(key)) throw Error(where + ": field '" + key + "' is missing");
        return j.at(key);
    };
    const auto text_of = [&](const char* key) {
        const auto& v = field(key);
        if (!v.is_string()) throw Error(where + ": field '" + key + "' must be a string");
        return v.get<std::string>();
    };
    const auto number_of = [&](const char* key) {
        const auto& v = field(key);
        if (!v.is_number()) throw Error(where + ": field '" + key + "' must be a number");
        return v.get<double>();
    };
    const auto need = [&](auto parsed, const char* key) {
        if (!parsed) throw Error(where + ": field '" + key + "' has unknown value '" + text_of(key) + "'");
        return *parsed;
    };
    Scene s;
    s.shape = need(parse_shape(text_of("shape")), "shape");
    s.colour = need(parse_colour(text_of("colour")), "colour");
    s.background = need(parse_background(text_of("background")), "background");
    s.background_colour = need(parse_colour(text_of("background_colour")), "background_colour");
    s.size = need(parse_size(text_of("size")), "size");
    s.position = need(parse_position(text_of("position")), "position");
    s.style = need(parse_style(text_of("style")), "style");
    s.count = static_cast<int>(number_of("count"));
    if (s.count < 1 || s.count > kMaxCount) {
        throw Error(where + ": field 'count' must be 1..3, found " + std::to_string(s.count));
    }
    s.rotation = static_cast<float>(number_of("rotation"));
    s.x = static_cast<float>(number_of("x"));
    s.y = static_cast<float>(number_of("y"));
    s.radius = static_cast<float>(number_of("radius"));
    s.spacing = static_cast<float>(number_of("spacing"));
    s.layout = need(lookup<Layout>(kLayoutNames, text_of("layout")), "layout");
    if (!field("noise_seed").is_number_unsigned()) throw Error(where + ": field 'noise_seed' must be unsigned");
    s.noise_seed = field("noise_seed").get<uint64_t>();
    if (!field("phrasing").is_number_unsigned()) throw Error(where + ": field 'phrasing' must be unsigned");
    s.phrasing = field("phrasing").get<uint32_t>();
    return s;
}

}  // namespace atelier::world
