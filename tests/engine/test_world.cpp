// labels: fast
// links: core
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "atelier/error.h"
#include "atelier/world.h"

using namespace atelier::world;
using atelier::Image;

namespace {

int colour_distance(const uint8_t* p, std::array<uint8_t, 3> c) {
    return std::abs(p[0] - c[0]) + std::abs(p[1] - c[1]) + std::abs(p[2] - c[2]);
}

// Pixels that are closer to the object's colour than to the background's (pixel centre inside the shape).
std::vector<uint8_t> object_mask(const Image& image, Colour object, Colour background) {
    const auto o = colour_rgb(object), b = colour_rgb(background);
    std::vector<uint8_t> mask(size_t(image.width) * image.height);
    for (size_t k = 0; k < mask.size(); ++k) {
        const uint8_t* p = &image.pixels[k * 3];
        mask[k] = colour_distance(p, o) < colour_distance(p, b) ? 1 : 0;
    }
    return mask;
}

// Connected components (8-neighbourhood) with at least min_pixels pixels.
int components(const std::vector<uint8_t>& mask, int w, int h, int min_pixels) {
    std::vector<int> label(mask.size(), 0);
    int found = 0, next = 0;
    std::vector<int> stack;
    for (int start = 0; start < w * h; ++start) {
        if (!mask[size_t(start)] || label[size_t(start)]) continue;
        int pixels = 0;
        label[size_t(start)] = ++next;
        stack.push_back(start);
        while (!stack.empty()) {
            const int k = stack.back();
            stack.pop_back();
            ++pixels;
            const int x = k % w, y = k / w;
            for (int dy = -1; dy <= 1; ++dy) {
                for (int dx = -1; dx <= 1; ++dx) {
                    const int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                    const size_t n = size_t(ny) * w + nx;
                    if (mask[n] && !label[n]) {
                        label[n] = next;
                        stack.push_back(int(n));
                    }
                }
            }
        }
        if (pixels >= min_pixels) ++found;
    }
    return found;
}

int area(const std::vector<uint8_t>& mask) {
    int n = 0;
    for (uint8_t m : mask) n += m;
    return n;
}

std::pair<float, float> centroid(const std::vector<uint8_t>& mask, int w) {
    double sx = 0, sy = 0, n = 0;
    for (size_t k = 0; k < mask.size(); ++k) {
        if (!mask[k]) continue;
        sx += (double(k % size_t(w)) + 0.5) / w;
        sy += (double(k / size_t(w)) + 0.5) / w;
        n += 1;
    }
    return {float(sx / n), float(sy / n)};
}

}  // namespace

TEST_CASE("Rng: a fixed sequence, integers in range and about uniform") {
    Rng a(42), b(42), c(43);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        const uint64_t x = a.next_u64();
        CHECK(x == b.next_u64());
        differs |= x != c.next_u64();
    }
    CHECK(differs);
    // Pinned so that a change of generator (which would change every data set) is noticed.
    Rng pinned(0);
    CHECK(pinned.next_u64() == 0x99EC5F36CB75F2B4ull);
    CHECK(pinned.next_u64() == 0xBF6E1F784956452Aull);

    Rng r(7);
    std::vector<int> histogram(12, 0);
    for (int i = 0; i < 120000; ++i) {
        const int v = r.below(12);
        REQUIRE(v >= 0);
        REQUIRE(v < 12);
        ++histogram[size_t(v)];
    }
    for (int h : histogram) CHECK(std::abs(h - 10000) < 400);  // ~4 standard deviations
    for (int i = 0; i < 1000; ++i) {
        const float u = r.uniform();
        CHECK(u >= 0.f);
        CHECK(u < 1.f);
    }
    CHECK(derive_seed(5, 0) != derive_seed(5, 1));
    CHECK(derive_seed(5, 1) != derive_seed(6, 1));
    CHECK_THROWS_AS(r.below(0), atelier::Error);
}

TEST_CASE("names: at least 10 shapes and colours; every name parses back") {
    CHECK(all_shape_names().size() >= 10);
    CHECK(all_colour_names().size() >= 10);
    CHECK(all_background_names().size() >= 5);
    CHECK(all_style_names().size() >= 5);
    for (int i = 0; i < kShapeCount; ++i) {
        const Shape s = static_cast<Shape>(i);
        CHECK(parse_shape(name(s)) == s);
        CHECK(parse_shape(plural(s)) == s);
    }
    for (int i = 0; i < kColourCount; ++i) CHECK(parse_colour(name(static_cast<Colour>(i))) == static_cast<Colour>(i));
    for (int i = 0; i < kBackgroundCount; ++i)
        CHECK(parse_background(name(static_cast<Background>(i))) == static_cast<Background>(i));
    for (int i = 0; i < kStyleCount; ++i) CHECK(parse_style(name(static_cast<Style>(i))) == static_cast<Style>(i));
    for (int i = 0; i < kMotionCount; ++i) CHECK(parse_motion(name(static_cast<Motion>(i))) == static_cast<Motion>(i));
    CHECK(parse_style("pixel_art") == Style::pixel_art);
    CHECK(parse_style("Watercolor") == Style::watercolour);
    CHECK(parse_colour("gray") == Colour::grey);
    CHECK(parse_position("center") == Position::centre);
    CHECK(parse_background("vertical-gradient") == Background::vertical_gradient);
    CHECK_FALSE(parse_shape("blob").has_value());
    CHECK(plural(Shape::cross) == "crosses");
    CHECK(plural(Shape::star) == "stars");
    // Colours are distinct.
    std::set<std::array<uint8_t, 3>> rgbs;
    for (int i = 0; i < kColourCount; ++i) rgbs.insert(colour_rgb(static_cast<Colour>(i)));
    CHECK(rgbs.size() == size_t(kColourCount));
}

TEST_CASE("attribute_one_hot: one entry per group set, named") {
    const auto names = attribute_one_hot_names();
    CHECK(names.size() == size_t(kShapeCount + 2 * kColourCount + kBackgroundCount + kSizeCount + kPositionCount +
                                 kMaxCount + kStyleCount));
    for (uint64_t seed = 0; seed < 100; ++seed) {
        const Scene s = sample_scene(seed);
        const auto v = attribute_one_hot(s);
        REQUIRE(v.size() == names.size());
        std::set<std::string> on;
        for (size_t i = 0; i < v.size(); ++i) {
            if (v[i] == 1.f) on.insert(names[i]);
            else CHECK(v[i] == 0.f);
        }
        CHECK(on.size() == 8);
        CHECK(on.count("shape=" + std::string(name(s.shape))) == 1);
        CHECK(on.count("background_colour=" + std::string(name(s.background_colour))) == 1);
        CHECK(on.count("count=" + std::to_string(s.count)) == 1);
        CHECK(on.count("style=" + std::string(name(s.style))) == 1);
    }
}

TEST_CASE("determinism: the same seed gives identical scenes and bytes; different seeds differ") {
    for (uint64_t seed = 0; seed < 300; ++seed) {
        const Scene a = sample_scene(seed), b = sample_scene(seed);
        CHECK(scene_to_json(a) == scene_to_json(b));
        const Image ia = render_scene(a, 64), ib = render_scene(b, 64);
        REQUIRE(ia.pixels.size() == size_t(64 * 64 * 3));
        CHECK(ia.pixels == ib.pixels);
        const Image ic = render_scene(sample_scene(seed + 1000), 64);
        CHECK(ia.pixels != ic.pixels);
    }
    // Rendering one scene between others leaves nothing behind (no state carried between calls).
    const Scene s = sample_scene(uint64_t(11));
    const Image first = render_scene(s, 64);
    render_scene(sample_scene(uint64_t(12)), 64);
    render_scene(sample_scene(uint64_t(13)), 40);
    CHECK(render_scene(s, 64).pixels == first.pixels);
}

TEST_CASE("captions: every full and canonical caption over 5000 seeds parses back to its scene") {
    int failures = 0;
    std::set<std::string> distinct;
    for (uint64_t seed = 0; seed < 5000; ++seed) {
        const Scene s = sample_scene(seed, HeldOut::include);
        for (CaptionStyle style : {CaptionStyle::full, CaptionStyle::canonical}) {
            const std::string text = caption_for(s, style);
            distinct.insert(text);
            const std::optional<Scene> back = parse_caption(text);
            if (!back || !same_attributes(*back, s)) {
                ++failures;
                if (failures < 10) MESSAGE("does not round-trip: " << text);
            }
        }
    }
    CHECK(failures == 0);
    CHECK(distinct.size() > 9000);  // captions vary
    CHECK(caption(sample_scene(uint64_t(3))) == caption_for(sample_scene(uint64_t(3)), CaptionStyle::full));
}

TEST_CASE("captions: grammar, articles, plurals and fixed wordings") {
    Scene s;
    s.shape = Shape::ring;
    s.colour = Colour::orange;
    s.size = Size::large;
    s.position = Position::top;
    s.background = Background::plain;
    s.background_colour = Colour::white;
    s.count = 1;
    s.style = Style::flat;
    canonical_layout(s);
    CHECK(caption_for(s, CaptionStyle::canonical) == "a large orange ring at the top, on a plain white background, flat");
    CHECK(caption_for(s, CaptionStyle::short_form) == "orange ring");

    s.shape = Shape::cross;
    s.colour = Colour::red;
    s.count = 2;
    s.size = Size::small;
    s.position = Position::left;
    s.background = Background::stripes;
    s.background_colour = Colour::orange;
    s.style = Style::outlined;
    canonical_layout(s);
    CHECK(caption_for(s, CaptionStyle::canonical) ==
          "two small red crosses on the left, on a striped orange background, outlined");
    CHECK(caption_for(s, CaptionStyle::short_form) == "two red crosses");
    s.count = 3;
    s.shape = Shape::star;
    CHECK(caption_for(s, CaptionStyle::short_form) == "three red stars");

    CaptionOptions concept;
    concept.style = CaptionStyle::canonical;
    concept.shape_word = "<my-shape>";
    s.count = 1;
    CHECK(caption_for(s, concept) == "a small red <my-shape> on the left, on a striped orange background, outlined");
    concept.style_word = "<my-style>";
    CHECK(caption_for(s, concept) ==
          "a small red <my-shape> on the left, on a striped orange background, in <my-style> style");

    // Over many wordings: "an" exactly before vowels, one noun form per count, number words right.
    std::map<std::string, int> seen;
    for (uint64_t seed = 0; seed < 3000; ++seed) {
        const Scene t = sample_scene(seed);
        const std::string text = caption(t);
        for (const char* bad : {" a orange", " a arrow", " a outlined", " an red", " an small", " an large",
                                " a ", "  "}) {
            if (std::string(bad) == " a ") continue;
            CHECK_MESSAGE(text.find(bad) == std::string::npos, text);
        }
        if (text.rfind("a orange", 0) == 0 || text.rfind("a arrow", 0) == 0) CHECK_MESSAGE(false, text);
        const std::string noun = std::string(t.count == 1 ? name(t.shape) : plural(t.shape));
        CHECK_MESSAGE(text.find(" " + noun) != std::string::npos, text);
        if (t.count > 1) {
            CHECK_MESSAGE((text.find(t.count == 2 ? "two " : "three ") != std::string::npos ||
                           (t.count == 2 && text.find("a pair of ") != std::string::npos)),
                          text);
        }
        if (text.rfind("an ", 0) == 0) ++seen["an"];
        if (text.find("a pair of") != std::string::npos) ++seen["pair"];
        if (text.find("tiny") != std::string::npos) ++seen["tiny"];
        if (text.find("painting of") != std::string::npos) ++seen["prefix"];
    }
    CHECK(seen["an"] > 10);
    CHECK(seen["pair"] > 10);
    CHECK(seen["tiny"] > 10);
    CHECK(seen["prefix"] > 10);
}

TEST_CASE("parse_caption: hand-written captions, synonyms, and what it refuses") {
    auto s = parse_caption("Two small red stars on a striped blue background, on the left, outlined");
    REQUIRE(s);
    CHECK(s->shape == Shape::star);
    CHECK(s->count == 2);
    CHECK(s->size == Size::small);
    CHECK(s->colour == Colour::red);
    CHECK(s->background == Background::stripes);
    CHECK(s->background_colour == Colour::blue);
    CHECK(s->position == Position::left);
    CHECK(s->style == Style::outlined);

    s = parse_caption("an orange ring in the center on a gray vertical gradient, watercolor");
    REQUIRE(s);
    CHECK(s->size == Size::medium);  // unsaid
    CHECK(s->colour == Colour::orange);
    CHECK(s->background_colour == Colour::grey);
    CHECK(s->background == Background::vertical_gradient);
    CHECK(s->style == Style::watercolour);
    CHECK(s->count == 1);

    s = parse_caption("a big green circle at the top, on a white background");
    REQUIRE(s);
    CHECK(s->size == Size::large);
    CHECK(s->background == Background::plain);
    CHECK(s->style == Style::flat);

    CHECK_FALSE(parse_caption("a red star"));                                            // no place, no background
    CHECK_FALSE(parse_caption("red stars at the top on a white background"));            // plural without number
    CHECK_FALSE(parse_caption("two red star at the top on a white background"));         // number with singular
    CHECK_FALSE(parse_caption("a red star at the top on the left on a white background"));  // two positions
    CHECK_FALSE(parse_caption(""));

    const SceneAttributes a = parse_caption_attributes("two red stars");
    CHECK(a.shape == Shape::star);
    CHECK(a.count == 2);
    CHECK(a.colour == Colour::red);
    CHECK_FALSE(a.position.has_value());
    const SceneAttributes token = parse_caption_attributes("a blue <my-shape> on the left, on a white background");
    CHECK_FALSE(token.shape.has_value());
    CHECK(token.colour == Colour::blue);
    CHECK(token.background_colour == Colour::white);
    CHECK(token.position == Position::left);
}

TEST_CASE("held-out split: exclude never, only always, include sometimes") {
    CHECK(is_held_out(Shape::heart));
    CHECK(is_held_out(Shape::crescent));
    CHECK(is_held_out(Style::pixel_art));
    CHECK_FALSE(is_held_out(Shape::star));
    std::set<Shape> shapes_ex, shapes_in;
    std::set<Style> styles_ex, styles_in;
    std::set<Colour> colours;
    int only_shape = 0, only_style = 0, only_both = 0, include_held = 0;
    const int n = 6000;
    for (uint64_t seed = 0; seed < uint64_t(n); ++seed) {
        const Scene ex = sample_scene(seed, HeldOut::exclude);
        CHECK_FALSE(uses_held_out(ex));
        shapes_ex.insert(ex.shape);
        styles_ex.insert(ex.style);
        const Scene on = sample_scene(seed, HeldOut::only);
        CHECK(uses_held_out(on));
        only_shape += is_held_out(on.shape) && !is_held_out(on.style);
        only_style += !is_held_out(on.shape) && is_held_out(on.style);
        only_both += is_held_out(on.shape) && is_held_out(on.style);
        const Scene in = sample_scene(seed, HeldOut::include);
        shapes_in.insert(in.shape);
        styles_in.insert(in.style);
        colours.insert(in.colour);
        include_held += uses_held_out(in);
        CHECK(colours_contrast(in.colour, in.background_colour));
        CHECK(in.count >= 1);
        CHECK(in.count <= 3);
    }
    CHECK(shapes_ex.size() == size_t(kShapeCount - int(kHeldOutShapes.size())));
    CHECK(styles_ex.size() == size_t(kStyleCount - int(kHeldOutStyles.size())));
    CHECK(shapes_in.size() == size_t(kShapeCount));
    CHECK(styles_in.size() == size_t(kStyleCount));
    CHECK(colours.size() == size_t(kColourCount));
    // A third of "only" scenes each; include's share is 1 - (10/12)(5/6) = 0.31.
    CHECK(std::abs(only_shape - n / 3) < 250);
    CHECK(std::abs(only_style - n / 3) < 250);
    CHECK(std::abs(only_both - n / 3) < 250);
    CHECK(std::abs(include_held - int(0.3056 * n)) < 250);

    SceneAttributes hearts;
    hearts.shape = Shape::heart;
    hearts.style = Style::flat;
    for (uint64_t seed = 0; seed < 50; ++seed) {
        const Scene s = sample_scene(seed, HeldOut::only, hearts);
        CHECK(s.shape == Shape::heart);
        CHECK(s.style == Style::flat);
    }
    CHECK_THROWS_AS(sample_scene(uint64_t(1), HeldOut::exclude, hearts), atelier::Error);
    SceneAttributes neither;
    neither.shape = Shape::star;
    neither.style = Style::flat;
    CHECK_THROWS_AS(sample_scene(uint64_t(1), HeldOut::only, neither), atelier::Error);
    SceneAttributes star_only;
    star_only.shape = Shape::star;
    for (uint64_t seed = 0; seed < 50; ++seed) CHECK(sample_scene(seed, HeldOut::only, star_only).style == Style::pixel_art);
    SceneAttributes clash;
    clash.colour = Colour::grey;
    clash.background_colour = Colour::white;
    CHECK_THROWS_AS(sample_scene(uint64_t(1), HeldOut::include, clash), atelier::Error);
}

TEST_CASE("layout: objects stay inside the canvas and never overlap") {
    for (uint64_t seed = 0; seed < 5000; ++seed) {
        const Scene s = sample_scene(seed);
        const auto centres = object_centres(s);
        REQUIRE(centres.size() == size_t(s.count));
        for (size_t a = 0; a < centres.size(); ++a) {
            CHECK(centres[a].first - s.radius >= 0.0f);
            CHECK(centres[a].first + s.radius <= 1.0f);
            CHECK(centres[a].second - s.radius >= 0.0f);
            CHECK(centres[a].second + s.radius <= 1.0f);
            for (size_t b = a + 1; b < centres.size(); ++b) {
                const float d = std::hypot(centres[a].first - centres[b].first, centres[a].second - centres[b].second);
                CHECK(d >= 2 * s.radius + 0.029f);
            }
        }
    }
}

TEST_CASE("shapes: every shape lies within its circumradius and fills a fair part of it") {
    for (int shape = 0; shape < kShapeCount; ++shape) {
        for (float rotation : {-0.25f, 0.f, 0.25f}) {
            Scene s;
            s.shape = static_cast<Shape>(shape);
            s.colour = Colour::black;
            s.background_colour = Colour::white;
            s.size = Size::large;
            canonical_layout(s);
            s.rotation = rotation;
            const int n = 256;
            const auto mask = object_mask(render_scene(s, n), s.colour, s.background_colour);
            float reach = 0;
            for (size_t k = 0; k < mask.size(); ++k) {
                if (!mask[k]) continue;
                const float x = (float(k % n) + 0.5f) / n - s.x, y = (float(k / n) + 0.5f) / n - s.y;
                reach = std::max(reach, std::sqrt(x * x + y * y));
            }
            CAPTURE(name(s.shape));
            CHECK(reach <= s.radius + 1.0f / n);
            const double fill = area(mask) / (3.14159265 * std::pow(s.radius * n, 2));
            CHECK(fill > 0.25);  // thin shapes (ring, star, arrow) still cover a quarter of their circle
            CHECK(fill < 0.85);
        }
    }
}

TEST_CASE("position: the object's pixels lie where the caption says (plain backgrounds)") {
    SceneAttributes c;
    c.background = Background::plain;
    int checked = 0;
    for (uint64_t seed = 0; seed < 1500; ++seed) {
        c.style = static_cast<Style>(seed % 3);  // flat, outlined, soft shadow: the fill keeps the colour
        const Scene s = sample_scene(seed, HeldOut::include, c);
        const Image image = render_scene(s, 64);
        const auto mask = object_mask(image, s.colour, s.background_colour);
        CAPTURE(area(mask));
        CAPTURE(caption(s));
        REQUIRE(area(mask) > 6);
        const auto [x, y] = centroid(mask, 64);
        CAPTURE(caption(s));
        switch (s.position) {
        case Position::left: CHECK(x < 1.f / 3); break;
        case Position::right: CHECK(x > 2.f / 3); break;
        case Position::top: CHECK(y < 1.f / 3); break;
        case Position::bottom: CHECK(y > 2.f / 3); break;
        case Position::centre:
            CHECK(std::abs(x - 0.5f) < 0.1f);
            CHECK(std::abs(y - 0.5f) < 0.1f);
            break;
        }
        ++checked;
    }
    CHECK(checked == 1500);
}

TEST_CASE("count: connected components of object-coloured pixels (flat, plain contrasting background)") {
    SceneAttributes c;
    c.background = Background::plain;
    c.style = Style::flat;
    std::map<int, int> per_count;
    for (uint64_t seed = 0; seed < 2000; ++seed) {
        const Scene s = sample_scene(seed, HeldOut::include, c);
        const Image image = render_scene(s, 64);
        const auto mask = object_mask(image, s.colour, s.background_colour);
        CAPTURE(caption(s));
        CAPTURE(seed);
        CHECK(components(mask, 64, 64, 1) == s.count);
        ++per_count[s.count];
    }
    CHECK(per_count.size() == 3);
}

TEST_CASE("size: small < medium < large in pixel area, for every shape and count") {
    for (int shape = 0; shape < kShapeCount; ++shape) {
        for (int count = 1; count <= 3; ++count) {
            int max_area[3] = {0, 0, 0}, min_area[3] = {1 << 30, 1 << 30, 1 << 30};
            for (uint64_t seed = 0; seed < 60; ++seed) {
                SceneAttributes c;
                c.shape = static_cast<Shape>(shape);
                c.count = count;
                c.size = static_cast<Size>(seed % 3);
                c.background = Background::plain;
                c.style = Style::flat;
                const Scene s = sample_scene(seed, HeldOut::include, c);
                const int a = area(object_mask(render_scene(s, 64), s.colour, s.background_colour));
                const int k = static_cast<int>(s.size);
                max_area[k] = std::max(max_area[k], a);
                min_area[k] = std::min(min_area[k], a);
            }
            CAPTURE(shape);
            CAPTURE(count);
            CHECK(max_area[0] < min_area[1]);
            CHECK(max_area[1] < min_area[2]);
        }
    }
}

TEST_CASE("rendering: anti-aliased edges, scale-independent scenes, pixel art without anti-aliasing") {
    SceneAttributes c;
    c.background = Background::plain;
    c.style = Style::flat;
    c.shape = Shape::circle;
    c.size = Size::large;
    c.count = 1;
    const Scene s = sample_scene(uint64_t(5), HeldOut::include, c);
    const Image small = render_scene(s, 64), big = render_scene(s, 256);
    CHECK(big.width == 256);
    // Edge pixels blend the two colours (anti-aliasing): some pixels are neither.
    const auto o = colour_rgb(s.colour), b = colour_rgb(s.background_colour);
    int blended = 0;
    for (size_t k = 0; k < small.pixels.size(); k += 3) {
        blended += colour_distance(&small.pixels[k], o) > 6 && colour_distance(&small.pixels[k], b) > 6;
    }
    CHECK(blended > 20);
    // The 256 render averaged down 4x4 is the 64 render, up to edge rounding.
    double diff = 0;
    for (int y = 0; y < 64; ++y) {
        for (int x = 0; x < 64; ++x) {
            for (int ch = 0; ch < 3; ++ch) {
                int sum = 0;
                for (int dy = 0; dy < 4; ++dy)
                    for (int dx = 0; dx < 4; ++dx) sum += big.pixels[(size_t(y * 4 + dy) * 256 + x * 4 + dx) * 3 + ch];
                diff += std::abs(sum / 16.0 - small.pixels[(size_t(y) * 64 + x) * 3 + ch]);
            }
        }
    }
    const double mean_diff = diff / (64 * 64 * 3);
    MESSAGE("mean |downscaled 256 - 64| = " << mean_diff);
    CHECK(mean_diff < 1.5);
    // Circle area matches pi r^2 at 256.
    const int circle_area = area(object_mask(big, s.colour, s.background_colour));
    const double expect = 3.14159265 * std::pow(0.9 * s.radius * 256, 2);
    CHECK(std::abs(circle_area - expect) / expect < 0.02);

    // Pixel art: only posterised levels (multiples of 51), in blocks of 2x2 at 64.
    Scene p = s;
    p.style = Style::pixel_art;
    const Image pix = render_scene(p, 64);
    for (uint8_t v : pix.pixels) CHECK(v % 51 == 0);
    for (int y = 0; y < 64; y += 2)
        for (int x = 0; x < 64; x += 2)
            CHECK(pix.pixels[(size_t(y) * 64 + x) * 3] == pix.pixels[(size_t(y + 1) * 64 + x + 1) * 3]);

    // Every style and background renders at every size without throwing and differs from the plain render.
    for (int st = 0; st < kStyleCount; ++st) {
        for (int bg = 0; bg < kBackgroundCount; ++bg) {
            Scene v = s;
            v.style = static_cast<Style>(st);
            v.background = static_cast<Background>(bg);
            for (int size : {8, 37, 64, 128}) CHECK(render_scene(v, size).pixels.size() == size_t(size * size * 3));
            if (st != 0 || bg != 0) CHECK(render_scene(v, 64).pixels != small.pixels);
        }
    }
    CHECK_THROWS_AS(render_scene(s, 4), atelier::Error);
    Scene bad = s;
    bad.count = 4;
    CHECK_THROWS_AS(render_scene(bad, 64), atelier::Error);
}

TEST_CASE("json: scenes round-trip exactly; bad fields are named") {
    for (uint64_t seed = 0; seed < 200; ++seed) {
        const Scene s = sample_scene(seed);
        const Scene back = scene_from_json(scene_to_json(s));
        CHECK(scene_to_json(back) == scene_to_json(s));
        CHECK(render_scene(back, 32).pixels == render_scene(s, 32).pixels);
    }
    std::string text = scene_to_json(sample_scene(uint64_t(1)));
    const size_t at = text.find("\"shape\":\"");
    REQUIRE(at != std::string::npos);
    text.replace(at, text.find('"', at + 9) - at + 1, "\"shape\":\"blob\"");
    try {
        scene_from_json(text);
        CHECK_MESSAGE(false, "expected an error");
    } catch (const atelier::Error& e) {
        CHECK(std::string(e.what()).find("shape") != std::string::npos);
        CHECK(std::string(e.what()).find("blob") != std::string::npos);
    }
    CHECK_THROWS_AS(scene_from_json("{"), atelier::Error);
}

TEST_CASE("motion: t = 0.5 is the scene; objects move the way the motion says") {
    SceneAttributes c;
    c.background = Background::plain;
    c.style = Style::flat;
    c.position = Position::centre;
    c.count = 1;
    c.size = Size::small;
    const Scene s = sample_scene(uint64_t(9), HeldOut::include, c);
    const Image still = render_scene(s, 64);
    for (Motion m : {Motion::left, Motion::right, Motion::up, Motion::down, Motion::grow, Motion::shrink,
                     Motion::rotate}) {
        CHECK(render_scene_at(s, 64, 0.5f, m).pixels == still.pixels);
    }
    const auto at = [&](float t, Motion m) {
        return centroid(object_mask(render_scene_at(s, 64, t, m), s.colour, s.background_colour), 64);
    };
    CHECK(at(1, Motion::left).first < at(0, Motion::left).first - 0.2f);
    CHECK(at(1, Motion::right).first > at(0, Motion::right).first + 0.2f);
    CHECK(at(1, Motion::up).second < at(0, Motion::up).second - 0.2f);
    CHECK(at(1, Motion::down).second > at(0, Motion::down).second + 0.2f);
    CHECK(at(0.25f, Motion::bounce).second < at(0, Motion::bounce).second - 0.1f);
    const auto area_at = [&](float t, Motion m) {
        return area(object_mask(render_scene_at(s, 64, t, m), s.colour, s.background_colour));
    };
    CHECK(area_at(1, Motion::grow) > 2 * area_at(0, Motion::grow));
    CHECK(area_at(1, Motion::shrink) * 2 < area_at(0, Motion::shrink));
    const Colour target = colour_change_target(s);
    CHECK(target != s.colour);
    CHECK(colours_contrast(target, s.background_colour));
    CHECK(area(object_mask(render_scene_at(s, 64, 1, Motion::colour_change), target, s.background_colour)) > 10);
    CHECK(motion_phrase(Motion::left) == " moving to the left");
}
