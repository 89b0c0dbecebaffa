// Rendering the procedural world: exact signed distances per pixel give analytic anti-aliasing (coverage =
// clamp(0.5 - d_px)), so no supersampling is needed. Shapes live in a unit circle; scenes in canvas units.
#include <algorithm>
#include <cmath>
#include <vector>

#include "atelier/error.h"
#include "atelier/world.h"
#include "world/world_internal.h"

namespace atelier::world {

namespace {

constexpr int kPixelGrid = 32;  // pixel art: cells per side, at every output size

struct V2 {
    float x, y;
};

// A closed polygon with its edges' inverse squared lengths precomputed.
struct Polygon {
    std::vector<V2> v;
    std::vector<float> inv_len2;
    void finish() {
        inv_len2.resize(v.size());
        for (size_t i = 0, j = v.size() - 1; i < v.size(); j = i++) {
            const float ex = v[j].x - v[i].x, ey = v[j].y - v[i].y;
            inv_len2[i] = 1.0f / (ex * ex + ey * ey);
        }
    }
};

// Exact signed distance to a simple polygon: nearest edge, sign from the even-odd crossing rule.
float polygon_sdf(const Polygon& poly, float px, float py) {
    const V2* v = poly.v.data();
    const size_t n = poly.v.size();
    float best = 1e30f;
    bool inside = false;
    for (size_t i = 0, j = n - 1; i < n; j = i++) {
        const float ex = v[j].x - v[i].x, ey = v[j].y - v[i].y;
        const float wx = px - v[i].x, wy = py - v[i].y;
        const float t = std::min(std::max((wx * ex + wy * ey) * poly.inv_len2[i], 0.0f), 1.0f);
        const float bx = wx - ex * t, by = wy - ey * t;
        best = std::min(best, bx * bx + by * by);
        if ((v[i].y > py) != (v[j].y > py) && px < ex * (py - v[i].y) / ey + v[i].x) inside = !inside;
    }
    const float d = std::sqrt(best);
    return inside ? -d : d;
}

Polygon regular(int n, float radius, float start_angle) {
    Polygon p;
    for (int k = 0; k < n; ++k) {
        const float a = start_angle + 6.2831853f * static_cast<float>(k) / static_cast<float>(n);
        p.v.push_back({radius * std::cos(a), radius * std::sin(a)});
    }
    p.finish();
    return p;
}

struct Tables {
    Polygon triangle, star, diamond, hexagon, cross, arrow, heart_body;
    V2 heart_centre[2];
    float heart_radius;
    V2 crescent_tip[2];  // where the crescent's two circles meet
};

// Crescent: disc(0, 0.92) minus disc((0.55, 0.2), 0.7), both eroded by the rounding radius.
constexpr float kCrescentRound = 0.14f;
constexpr float kCrescentOuter = 0.92f - kCrescentRound, kCrescentBite = 0.7f + kCrescentRound;
constexpr V2 kCrescentBiteCentre = {0.55f, 0.2f};

// Unit-circle shapes, y pointing up. Sizes are balanced by eye so that the shapes look alike in size.
Tables build_tables() {
    Tables t;
    t.triangle = regular(3, 0.98f, 1.5707963f);
    for (int k = 0; k < 10; ++k) {
        const float a = 1.5707963f + 3.1415927f * static_cast<float>(k) / 5.0f;
        const float r = k % 2 == 0 ? 0.88f : 0.40f;  // rounded by 0.1 below: tips reach 0.98
        t.star.v.push_back({r * std::cos(a), r * std::sin(a)});
    }
    t.star.finish();
    t.diamond.v = {{0.f, 0.95f}, {-0.6f, 0.f}, {0.f, -0.95f}, {0.6f, 0.f}};
    t.diamond.finish();
    t.hexagon = regular(6, 0.9f, 0.0f);
    const float w = 0.27f, l = 0.88f;
    t.cross.v = {{w, l}, {-w, l}, {-w, w}, {-l, w}, {-l, -w}, {-w, -w}, {-w, -l}, {w, -l}, {w, -w}, {l, -w},
                 {l, w}, {w, w}};
    t.cross.finish();
    t.arrow.v = {{0.92f, 0.f}, {0.12f, 0.62f}, {0.12f, 0.22f}, {-0.9f, 0.22f},
                 {-0.9f, -0.22f}, {0.12f, -0.22f}, {0.12f, -0.62f}};
    t.arrow.finish();
    // Heart: two lobes and the polygon from the tip to the lobes' outer tangent points.
    t.heart_radius = 0.42f;
    t.heart_centre[0] = {-0.38f, 0.405f};
    t.heart_centre[1] = {0.38f, 0.405f};
    const V2 tip = {0.f, -0.825f};
    V2 tangent[2];
    for (int side = 0; side < 2; ++side) {
        const V2 c = t.heart_centre[side];
        const float dx = c.x - tip.x, dy = c.y - tip.y, len = std::sqrt(dx * dx + dy * dy);
        const float a = std::asin(t.heart_radius / len) * (side == 0 ? 1.f : -1.f);  // outward
        const float ux = (dx * std::cos(a) - dy * std::sin(a)) / len;
        const float uy = (dx * std::sin(a) + dy * std::cos(a)) / len;
        const float reach = std::sqrt(len * len - t.heart_radius * t.heart_radius);
        tangent[side] = {tip.x + ux * reach, tip.y + uy * reach};
    }
    t.heart_body.v = {tip, tangent[1], t.heart_centre[1], t.heart_centre[0], tangent[0]};
    t.heart_body.finish();
    // The crescent's circles intersect at distance `along` on the centre line, h either side of it.
    const float cx = kCrescentBiteCentre.x, cy = kCrescentBiteCentre.y, d = std::sqrt(cx * cx + cy * cy);
    const float along = (kCrescentOuter * kCrescentOuter - kCrescentBite * kCrescentBite + d * d) / (2 * d);
    const float h = std::sqrt(std::max(kCrescentOuter * kCrescentOuter - along * along, 0.f));
    const float ex = cx / d, ey = cy / d;
    t.crescent_tip[0] = {along * ex - h * ey, along * ey + h * ex};
    t.crescent_tip[1] = {along * ex + h * ey, along * ey - h * ex};
    return t;
}

const Tables& tables() {
    static const Tables t = build_tables();
    return t;
}

inline float circle_sdf(float x, float y, float cx, float cy, float r) {
    const float dx = x - cx, dy = y - cy;
    return std::sqrt(dx * dx + dy * dy) - r;
}

// Exact signed distance to a disc minus a disc: inside, the nearer circle; outside, the nearest point of the
// two boundary arcs (a circle's nearest point when it lies on the arc, else an arc end, the tips).
float crescent_sdf(const Tables& t, float x, float y) {
    const float cx = kCrescentBiteCentre.x, cy = kCrescentBiteCentre.y;
    const float a = std::sqrt(x * x + y * y), b = std::sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
    if (a < kCrescentOuter && b > kCrescentBite) return -std::min(kCrescentOuter - a, b - kCrescentBite);
    float best = 1e30f;
    for (const V2& tip : t.crescent_tip) best = std::min(best, std::hypot(x - tip.x, y - tip.y));
    if (a > 0) {
        const float qx = kCrescentOuter * x / a, qy = kCrescentOuter * y / a;
        if (std::hypot(qx - cx, qy - cy) >= kCrescentBite) best = std::min(best, std::fabs(a - kCrescentOuter));
    }
    if (b > 0) {
        const float qx = cx + kCrescentBite * (x - cx) / b, qy = cy + kCrescentBite * (y - cy) / b;
        if (std::hypot(qx, qy) <= kCrescentOuter) best = std::min(best, std::fabs(b - kCrescentBite));
    }
    return best;
}

// Signed distance in unit-circle units (negative inside). Unions use min (exact outside, a bound inside).
float shape_sdf(Shape shape, const Tables& t, float x, float y) {
    switch (shape) {
    case Shape::circle: return std::sqrt(x * x + y * y) - 0.9f;
    case Shape::square: {
        const float h = 0.66f;
        const float qx = std::fabs(x) - h, qy = std::fabs(y) - h;
        const float ox = std::max(qx, 0.f), oy = std::max(qy, 0.f);
        return std::sqrt(ox * ox + oy * oy) + std::min(std::max(qx, qy), 0.f);
    }
    case Shape::triangle: return polygon_sdf(t.triangle, x, y);
    case Shape::star: return polygon_sdf(t.star, x, y) - 0.1f;  // round tips stay whole when tiny
    case Shape::heart: {
        // Moved down so its centre of mass (not its box) is at the origin, scaled back into the unit circle.
        const float scale = 0.97f;
        x = x / scale;
        y = y / scale + 0.188f;
        const float lobes = std::min(circle_sdf(x, y, t.heart_centre[0].x, t.heart_centre[0].y, t.heart_radius),
                                     circle_sdf(x, y, t.heart_centre[1].x, t.heart_centre[1].y, t.heart_radius));
        return scale * std::min(lobes, polygon_sdf(t.heart_body, x, y));
    }
    case Shape::ring: return std::fabs(std::sqrt(x * x + y * y) - 0.68f) - 0.24f;
    case Shape::cross: return polygon_sdf(t.cross, x, y);
    case Shape::diamond: return polygon_sdf(t.diamond, x, y);
    case Shape::hexagon: return polygon_sdf(t.hexagon, x, y);
    case Shape::crescent: {
        // The bite's edges rounded by 0.14 (so the horns never thin out into loose pixels), the centre of mass
        // moved to the origin (so its position reads right), scaled back into the unit circle.
        const float scale = 0.916f;
        return scale * (crescent_sdf(t, x / scale - 0.302f, y / scale - 0.110f) - kCrescentRound);
    }
    case Shape::arrow: return polygon_sdf(t.arrow, x, y);
    case Shape::flower: {
        float d = std::sqrt(x * x + y * y) - 0.42f;
        for (int k = 0; k < 5; ++k) {
            static const float petal[5][2] = {{0.f, 0.54f}, {-0.5136f, 0.1669f}, {-0.3174f, -0.4369f},
                                              {0.3174f, -0.4369f}, {0.5136f, 0.1669f}};
            d = std::min(d, circle_sdf(x, y, petal[k][0], petal[k][1], 0.36f));
        }
        return d;
    }
    }
    return 1.f;
}

// ---- colour helpers (0..255 floats) ----

struct Rgb {
    float r, g, b;
};
inline Rgb mix(Rgb a, Rgb b, float t) { return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t}; }
inline Rgb scale(Rgb a, float k) { return {a.r * k, a.g * k, a.b * k}; }
inline float luminance(Rgb c) { return (0.2126f * c.r + 0.7152f * c.g + 0.0722f * c.b) / 255.f; }
const Rgb kWhite = {255, 255, 255}, kBlack = {0, 0, 0};

Rgb to_rgb(Colour c) {
    const auto v = colour_rgb(c);
    return {float(v[0]), float(v[1]), float(v[2])};
}
// The background's second tone (gradient end, stripes, dots, checks): darker for light colours.
Rgb second_tone(Rgb c) { return luminance(c) > 0.55f ? scale(c, 0.75f) : mix(c, kWhite, 0.3f); }
// Outline of the outlined style: dark, or light for (near) black objects.
Rgb outline_of(Rgb c) { return luminance(c) < 0.15f ? mix(c, kWhite, 0.7f) : mix(c, kBlack, 0.75f); }

inline float unit_hash(uint64_t h) { return static_cast<float>(detail::mix64(h) >> 40) * (1.0f / 16777216.0f); }

// Smooth value noise in [0, 1) on an integer lattice.
float value_noise(float x, float y, uint64_t seed) {
    const float fx = std::floor(x), fy = std::floor(y);
    const int64_t ix = static_cast<int64_t>(fx), iy = static_cast<int64_t>(fy);
    float tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const auto at = [seed](int64_t a, int64_t b) {
        return unit_hash(seed ^ (uint64_t(uint32_t(a)) << 32) ^ uint64_t(uint32_t(b)) * 0x9E3779B1ull);
    };
    const float a = at(ix, iy), b = at(ix + 1, iy), c = at(ix, iy + 1), d = at(ix + 1, iy + 1);
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}

// ---- the canvas ----

struct Canvas {
    int size;
    bool hard;  // pixel art: no anti-aliasing (coverage is 0 or 1)
    float* px;  // size*size*3, 0..255
    Rgb get(int i, int j) const {
        const float* p = px + (size_t(j) * size + i) * 3;
        return {p[0], p[1], p[2]};
    }
    void set(int i, int j, Rgb c) {
        float* p = px + (size_t(j) * size + i) * 3;
        p[0] = c.r;
        p[1] = c.g;
        p[2] = c.b;
    }
    // Coverage of a pixel by a region, from the signed distance (pixels) to its edge.
    float coverage(float d) const { return hard ? (d < 0 ? 1.f : 0.f) : std::min(std::max(0.5f - d, 0.f), 1.f); }
};

void paint_background(const Scene& s, Canvas& cv) {
    const int n = cv.size;
    const float fn = static_cast<float>(n);
    const Rgb c = to_rgb(s.background_colour), c2 = second_tone(c);
    switch (s.background) {
    case Background::plain:
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < n; ++i) cv.set(i, j, c);
        break;
    case Background::vertical_gradient:
        for (int j = 0; j < n; ++j) {
            const Rgb row = mix(c, c2, (static_cast<float>(j) + 0.5f) / fn);
            for (int i = 0; i < n; ++i) cv.set(i, j, row);
        }
        break;
    case Background::horizontal_gradient:
        for (int i = 0; i < n; ++i) cv.set(i, 0, mix(c, c2, (static_cast<float>(i) + 0.5f) / fn));
        for (int j = 1; j < n; ++j) std::copy(cv.px, cv.px + size_t(n) * 3, cv.px + size_t(j) * n * 3);
        break;
    case Background::stripes: {
        // Diagonal bands, half of each period wide; distances measured across the stripes, in pixels.
        const float period = 0.09f * fn;
        for (int j = 0; j < n; ++j) {
            for (int i = 0; i < n; ++i) {
                const float u = (static_cast<float>(i + j) + 1.0f) * 0.70710678f / period;
                const float f = u - std::floor(u);
                const float inside = (0.25f - std::fabs(f - 0.5f)) * period;
                cv.set(i, j, mix(c, c2, cv.coverage(-inside)));
            }
        }
        break;
    }
    case Background::dots: {
        const float period = 0.125f * fn, radius = 0.035f * fn;
        for (int j = 0; j < n; ++j) {
            const float y = (static_cast<float>(j) + 0.5f) / period;
            const float row = std::floor(y);
            const float dy = (y - row - 0.5f) * period;
            const float shift = (static_cast<int64_t>(row) & 1) ? 0.5f : 0.f;  // staggered rows
            for (int i = 0; i < n; ++i) {
                const float x = (static_cast<float>(i) + 0.5f) / period + shift;
                const float dx = (x - std::floor(x) - 0.5f) * period;
                cv.set(i, j, mix(c, c2, cv.coverage(std::sqrt(dx * dx + dy * dy) - radius)));
            }
        }
        break;
    }
    case Background::checkered: {
        // A checkerboard is the product of two square waves; box-filtering each axis separately is exact.
        const float cell = 0.125f * fn;
        const auto wave = [&](int i) {
            const float u = (static_cast<float>(i) + 0.5f) / cell;
            const float fl = std::floor(u), f = u - fl;
            const float sign = (static_cast<int64_t>(fl) & 1) ? -1.f : 1.f;
            if (cv.hard) return sign;
            const float edge = std::min(f, 1 - f) * cell;  // pixels to the nearest cell edge
            return sign * std::min(1.f, 2 * edge);
        };
        std::vector<float> wx(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) wx[size_t(i)] = wave(i);
        for (int j = 0; j < n; ++j) {
            const float wy = wave(j);
            for (int i = 0; i < n; ++i) cv.set(i, j, mix(c, c2, 0.5f - 0.5f * wx[size_t(i)] * wy));
        }
        break;
    }
    }
}

// Everything one object needs to be drawn, in pixels.
struct Placed {
    float cx, cy, r;  // centre and circumradius in pixels
};

// Calls fn(i, j, d_px) for every pixel within `margin` pixels of the object's circumcircle, where d_px is
// the signed distance to the shape displaced by (ox, oy) pixels.
template <typename Fn>
void for_pixels(const Scene& s, const Canvas& cv, const Placed& o, float margin, float ox, float oy, Fn fn) {
    const Tables& t = tables();
    const float reach = o.r + margin;
    const int i0 = std::max(0, static_cast<int>(std::floor(o.cx + ox - reach)));
    const int i1 = std::min(cv.size - 1, static_cast<int>(std::ceil(o.cx + ox + reach)));
    const int j0 = std::max(0, static_cast<int>(std::floor(o.cy + oy - reach)));
    const int j1 = std::min(cv.size - 1, static_cast<int>(std::ceil(o.cy + oy + reach)));
    const float cs = std::cos(s.rotation), sn = std::sin(s.rotation), inv_r = 1.0f / o.r;
    for (int j = j0; j <= j1; ++j) {
        const float dy = -(static_cast<float>(j) + 0.5f - o.cy - oy) * inv_r;  // y up in shape space
        for (int i = i0; i <= i1; ++i) {
            const float dx = (static_cast<float>(i) + 0.5f - o.cx - ox) * inv_r;
            const float lx = cs * dx + sn * dy, ly = -sn * dx + cs * dy;
            fn(i, j, shape_sdf(s.shape, t, lx, ly) * o.r);
        }
    }
}

void paint_objects(const Scene& s, Rgb colour, Canvas& cv) {
    const float fn = static_cast<float>(cv.size);
    std::vector<Placed> objects;
    for (const auto& [x, y] : object_centres(s)) objects.push_back({x * fn, y * fn, s.radius * fn});
    const Style style = cv.hard ? Style::flat : s.style;

    // Pass 1: what lies under every object (shadows, glow), so it never covers a neighbour.
    if (style == Style::soft_shadow) {
        for (const Placed& o : objects) {
            const float ox = 0.10f * o.r, oy = 0.14f * o.r, blur = 0.35f * o.r + 1.0f;
            for_pixels(s, cv, o, blur, ox, oy, [&](int i, int j, float d) {
                float t = std::min(std::max(0.5f - d / blur, 0.f), 1.f);
                t = t * t * (3 - 2 * t);
                cv.set(i, j, scale(cv.get(i, j), 1.0f - 0.45f * t));
            });
        }
    } else if (style == Style::neon) {
        const Rgb glow = mix(colour, kWhite, 0.2f);
        for (const Placed& o : objects) {
            const float width = 0.2f * o.r + 1.0f;
            for_pixels(s, cv, o, 4 * width, 0, 0, [&](int i, int j, float d) {
                if (d > 0) cv.set(i, j, mix(cv.get(i, j), glow, 0.75f * std::exp(-d / width)));
            });
        }
    }

    // Pass 2: the objects.
    const Rgb outline = outline_of(colour);
    for (const Placed& o : objects) {
        switch (style) {
        case Style::flat:
        case Style::soft_shadow:
        case Style::pixel_art:
            if (cv.hard) {
                // Pixel art: whole cells, a little generous (0.3 cell) so thin parts don't fall apart into
                // loose cells. (A dark outline cell would join neighbours only a cell apart.)
                for_pixels(s, cv, o, 1.0f, 0, 0, [&](int i, int j, float d) {
                    if (d < 0.3f) cv.set(i, j, colour);
                });
            } else {
                for_pixels(s, cv, o, 1.0f, 0, 0, [&](int i, int j, float d) {
                    const float a = cv.coverage(d);
                    if (a > 0) cv.set(i, j, mix(cv.get(i, j), colour, a));
                });
            }
            break;
        case Style::outlined: {
            // The stroke lies outside the silhouette, so that small objects keep their fill colour.
            const float width = std::max(1.0f, 0.08f * o.r);
            for_pixels(s, cv, o, width + 1.0f, 0, 0, [&](int i, int j, float d) {
                const float outer = cv.coverage(d - width), fill = cv.coverage(d);
                if (outer <= 0) return;
                const Rgb under = cv.get(i, j);
                const Rgb c = {under.r * (1 - outer) + outline.r * (outer - fill) + colour.r * fill,
                               under.g * (1 - outer) + outline.g * (outer - fill) + colour.g * fill,
                               under.b * (1 - outer) + outline.b * (outer - fill) + colour.b * fill};
                cv.set(i, j, c);
            });
            break;
        }
        case Style::watercolour: {
            // Washed-out pigment with a wobbly edge, darker where it pooled at the rim.
            const uint64_t seed = s.noise_seed;
            const float wobble = 0.05f * o.r + 0.4f, pool = 0.18f * o.r + 0.5f;
            for_pixels(s, cv, o, wobble + 1.5f, 0, 0, [&](int i, int j, float d) {
                const float u = (static_cast<float>(i) + 0.5f) / fn, v = (static_cast<float>(j) + 0.5f) / fn;
                const float dw = d + (value_noise(u * 14, v * 14, seed) - 0.5f) * 2 * wobble;
                const float a = std::min(std::max(0.5f - dw / 1.5f, 0.f), 1.f);
                if (a <= 0) return;
                const float wash = 0.08f + 0.17f * value_noise(u * 7, v * 7, seed ^ 0x5151u);
                Rgb pigment = mix(colour, kWhite, wash);
                pigment = scale(pigment, 1.0f - 0.18f * std::exp(std::min(dw, 0.f) / pool));
                cv.set(i, j, mix(cv.get(i, j), pigment, 0.96f * a));
            });
            break;
        }
        case Style::neon: {
            // A strong body keeps the colour readable on any background; the pale core and glow make the neon.
            const Rgb core = mix(colour, kWhite, 0.35f);
            const float width = std::max(1.5f, 0.14f * o.r);
            for_pixels(s, cv, o, width, 0, 0, [&](int i, int j, float d) {
                const float a = cv.coverage(d);
                Rgb c = mix(cv.get(i, j), colour, 0.8f * a);
                const float stroke = std::min(std::max(0.5f * width + 0.5f - std::fabs(d), 0.f), 1.f);
                cv.set(i, j, mix(c, core, stroke));
            });
            break;
        }
        }
    }

    // Paper grain over the whole sheet for watercolour.
    if (style == Style::watercolour) {
        const uint64_t seed = s.noise_seed ^ 0x9a9e11ull;
        for (int j = 0; j < cv.size; ++j) {
            for (int i = 0; i < cv.size; ++i) {
                const float g = unit_hash(seed ^ (uint64_t(uint32_t(j)) << 32) ^ uint64_t(uint32_t(i)));
                cv.set(i, j, scale(cv.get(i, j), 0.94f + 0.06f * g));
            }
        }
    }
}

void to_bytes(const float* src, size_t n, uint8_t* dst) {
    for (size_t k = 0; k < n; ++k) {
        const float v = std::min(std::max(src[k], 0.f), 255.f);
        dst[k] = static_cast<uint8_t>(v + 0.5f);
    }
}

void render(const Scene& s, Rgb colour, int size, uint8_t* out) {
    if (size < 8 || size > 8192) {
        throw Error("world::render_scene: size must be 8..8192 pixels, found " + std::to_string(size));
    }
    if (s.count < 1 || s.count > kMaxCount) {
        throw Error("world::render_scene: scene count must be 1..3, found " + std::to_string(s.count));
    }
    thread_local std::vector<float> buffer;
    if (s.style == Style::pixel_art) {
        // Draw on a coarse grid without anti-aliasing, posterise to 6 levels, then enlarge by nearest cell.
        const int g = kPixelGrid;
        buffer.resize(size_t(g) * g * 3);
        Canvas cv{g, true, buffer.data()};
        paint_background(s, cv);
        paint_objects(s, colour, cv);
        for (float& v : buffer) v = std::round(std::min(std::max(v, 0.f), 255.f) / 51.f) * 51.f;
        std::vector<uint8_t> cells(buffer.size());
        to_bytes(buffer.data(), buffer.size(), cells.data());
        for (int j = 0; j < size; ++j) {
            const int cj = static_cast<int>(int64_t(j) * g / size);
            for (int i = 0; i < size; ++i) {
                const int ci = static_cast<int>(int64_t(i) * g / size);
                std::copy_n(&cells[(size_t(cj) * g + ci) * 3], 3, out + (size_t(j) * size + i) * 3);
            }
        }
        return;
    }
    buffer.resize(size_t(size) * size * 3);
    Canvas cv{size, false, buffer.data()};
    paint_background(s, cv);
    paint_objects(s, colour, cv);
    to_bytes(buffer.data(), buffer.size(), out);
}

}  // namespace

void render_scene_into(const Scene& scene, int size, uint8_t* rgb) { render(scene, to_rgb(scene.colour), size, rgb); }

atelier::Image render_scene(const Scene& scene, int size) {
    atelier::Image image;
    image.width = size;
    image.height = size;
    image.channels = 3;
    image.pixels.resize(size_t(std::max(size, 0)) * std::max(size, 0) * 3);
    render_scene_into(scene, size, image.pixels.data());
    return image;
}

RenderedScene render_sample(uint64_t seed, HeldOut held_out, int size) {
    RenderedScene out;
    out.scene = sample_scene(seed, held_out);
    out.caption = caption(out.scene);
    out.image = render_scene(out.scene, size);
    return out;
}

Colour colour_change_target(const Scene& scene) {
    for (int k = 0; k < kColourCount; ++k) {
        const Colour c = static_cast<Colour>((static_cast<int>(scene.colour) + kColourCount / 2 + k) % kColourCount);
        if (c != scene.colour && colours_contrast(c, scene.background_colour)) return c;
    }
    return scene.colour;
}

atelier::Image render_scene_at(const Scene& scene, int size, float t, Motion motion) {
    Scene s = scene;
    Rgb colour = to_rgb(scene.colour);
    const float from_middle = 0.5f - t;  // +0.5 at the start, -0.5 at the end
    constexpr float kTravel = 0.3f;      // canvas units crossed by left/right/up/down
    switch (motion) {
    case Motion::left: s.x += kTravel * from_middle; break;
    case Motion::right: s.x -= kTravel * from_middle; break;
    case Motion::up: s.y += kTravel * from_middle; break;
    case Motion::down: s.y -= kTravel * from_middle; break;
    case Motion::grow: s.radius *= 1.0f - 0.8f * from_middle; break;
    case Motion::shrink: s.radius *= 1.0f + 0.8f * from_middle; break;
    case Motion::rotate: s.rotation -= 3.1415927f * from_middle; break;
    case Motion::colour_change:
        colour = mix(colour, to_rgb(colour_change_target(scene)), std::min(std::max(t, 0.f), 1.f));
        break;
    case Motion::bounce: s.y -= 0.2f * std::fabs(std::sin(6.2831853f * t)); break;
    }
    atelier::Image image;
    image.width = size;
    image.height = size;
    image.channels = 3;
    image.pixels.resize(size_t(std::max(size, 0)) * std::max(size, 0) * 3);
    render(s, colour, size, image.pixels.data());
    return image;
}

}  // namespace atelier::world
