// labels: fast
// links: core
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "atelier/error.h"
#include "atelier/image.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

static atelier::Image gradient(int w, int h) {
    atelier::Image image{w, h, 3, {}};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            image.pixels.push_back(uint8_t(x * 255 / (w - 1)));
            image.pixels.push_back(uint8_t(y * 255 / (h - 1)));
            image.pixels.push_back(uint8_t((x + y) % 256));
        }
    return image;
}

TEST_CASE("PNG round trip keeps pixels and text chunks") {
    const TempDir dir("image");
    const std::string path = dir / "a.png";
    const atelier::Image image = gradient(37, 21);
    atelier::write_png(path, image, {{"parameters", "a cat\nSteps: 4, Seed: 7"}, {"Software", "Atelier"}});

    const atelier::Image back = atelier::read_image(path);
    CHECK(back.width == 37);
    CHECK(back.height == 21);
    CHECK(back.pixels == image.pixels);
    const auto text = atelier::read_png_text(path);
    CHECK(text.at("parameters") == "a cat\nSteps: 4, Seed: 7");
    CHECK(text.at("Software") == "Atelier");
}

TEST_CASE("a file that is not an image gives a clear error naming it") {
    const TempDir dir("image");
    const fs::path path = dir.path / "not-an-image.png";
    std::ofstream(path) << "this is text, not pixels";
    try {
        atelier::read_image(path.string());
        FAIL("expected an error");
    } catch (const atelier::Error& e) {
        const std::string message = e.what();
        CHECK(message.find(path.string()) != std::string::npos);
        CHECK(message.find("not a readable image") != std::string::npos);
    }
    CHECK_THROWS_AS(atelier::read_png_text(path.string()), atelier::Error);
    CHECK_THROWS_AS(atelier::read_image("/nonexistent/atelier.png"), atelier::Error);
}

TEST_CASE("a truncated PNG is refused") {
    const auto bytes = atelier::encode_png(gradient(16, 16));
    std::vector<uint8_t> half(bytes.begin(), bytes.begin() + bytes.size() / 2);
    CHECK_THROWS_AS(atelier::decode_image(half, "half.png"), atelier::Error);
}
