// labels: fast
// links: core
// The animated GIF writer: exact round trips through stb_image's decoder when a clip has at most 256
// colours (also across LZW table resets), a close median-cut palette otherwise, delays, loop, errors.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <array>
#include <functional>

#include "atelier/error.h"
#include "atelier/video.h"

using namespace atelier;

namespace {

struct Decoded {
    int width = 0, height = 0, frames = 0;
    std::vector<uint8_t> rgb;  // frames x height x width x 3
    std::vector<int> delays_ms;
};

Decoded decode(const std::vector<uint8_t>& gif) {
    Decoded d;
    int* delays = nullptr;
    int comp = 0;
    stbi_uc* data = stbi_load_gif_from_memory(gif.data(), int(gif.size()), &delays, &d.width, &d.height, &d.frames, &comp, 3);
    REQUIRE(data != nullptr);
    d.rgb.assign(data, data + size_t(d.width) * d.height * d.frames * 3);
    d.delays_ms.assign(delays, delays + d.frames);
    stbi_image_free(data);
    std::free(delays);
    return d;
}

Image make_image(int w, int h, const std::function<void(int, int, uint8_t*)>& fill) {
    Image im;
    im.width = w;
    im.height = h;
    im.channels = 3;
    im.pixels.resize(size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) fill(x, y, &im.pixels[(size_t(y) * w + x) * 3]);
    return im;
}

std::vector<uint8_t> concat(const std::vector<Image>& frames) {
    std::vector<uint8_t> all;
    for (const Image& f : frames) all.insert(all.end(), f.pixels.begin(), f.pixels.end());
    return all;
}

}  // namespace

TEST_CASE("GIF: clips of at most 256 colours round-trip exactly; delays and frame count") {
    std::mt19937 rng(7);
    std::vector<std::array<uint8_t, 3>> colors(256);
    for (auto& c : colors) c = {uint8_t(rng()), uint8_t(rng()), uint8_t(rng())};
    SUBCASE("random pixels, large enough for several LZW table resets") {
        std::vector<Image> frames;
        for (int f = 0; f < 3; ++f)
            frames.push_back(make_image(301, 203, [&](int, int, uint8_t* p) {
                const auto& c = colors[rng() % colors.size()];
                p[0] = c[0], p[1] = c[1], p[2] = c[2];
            }));
        GifOptions options;
        options.fps = 8;
        const Decoded d = decode(encode_gif(frames, options));
        CHECK(d.width == 301);
        CHECK(d.height == 203);
        REQUIRE(d.frames == 3);
        CHECK(d.rgb == concat(frames));
        CHECK(gif_frame_delays_cs(3, 8) == std::vector<int>{13, 12, 13});
        CHECK(d.delays_ms == std::vector<int>{130, 120, 130});
    }
    SUBCASE("long runs (codes widen to 12 bits within runs) and a single pixel") {
        std::vector<Image> frames;
        frames.push_back(make_image(640, 480, [](int, int, uint8_t* p) { p[0] = 10, p[1] = 20, p[2] = 30; }));
        frames.push_back(make_image(640, 480, [](int x, int y, uint8_t* p) { p[0] = uint8_t((x / 40) * 16), p[1] = uint8_t(y / 60), p[2] = 0; }));
        const Decoded d = decode(encode_gif(frames));
        REQUIRE(d.frames == 2);
        CHECK(d.rgb == concat(frames));
        const Image one = make_image(1, 1, [](int, int, uint8_t* p) { p[0] = 1, p[1] = 2, p[2] = 3; });
        CHECK(decode(encode_gif({one, one})).rgb == std::vector<uint8_t>{1, 2, 3, 1, 2, 3});
    }
}

TEST_CASE("GIF: many colours through a median-cut palette stay close") {
    std::vector<Image> frames;
    for (int f = 0; f < 4; ++f)
        frames.push_back(make_image(96, 64, [f](int x, int y, uint8_t* p) {
            p[0] = uint8_t(x * 255 / 95), p[1] = uint8_t(y * 255 / 63), p[2] = uint8_t((x + y + 20 * f) % 256);
        }));
    const Decoded d = decode(encode_gif(frames));
    REQUIRE(d.frames == 4);
    const std::vector<uint8_t> want = concat(frames);
    double sum = 0;
    int worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        const int e = std::abs(int(d.rgb[i]) - int(want[i]));
        sum += e;
        worst = std::max(worst, e);
    }
    const double mean = sum / double(want.size());
    MESSAGE("median cut: mean abs error " << mean << ", worst " << worst);
    CHECK(mean < 8.0);
    CHECK(worst < 80);
}

TEST_CASE("GIF: errors name the problem") {
    const Image a = make_image(4, 4, [](int, int, uint8_t* p) { p[0] = p[1] = p[2] = 0; });
    const Image b = make_image(5, 4, [](int, int, uint8_t* p) { p[0] = p[1] = p[2] = 0; });
    CHECK_THROWS_WITH_AS(encode_gif({}), "GIF: no frames", Error);
    CHECK_THROWS_WITH_AS(encode_gif({a, b}), "GIF: frame 1 is 5x4, frame 0 is 4x4", Error);
    GifOptions bad;
    bad.fps = 0;
    CHECK_THROWS_AS(encode_gif({a}, bad), Error);
}
