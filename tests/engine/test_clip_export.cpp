// labels: fast
// links: core
// Clip export through FFmpeg: MP4 and WebM decode back (by FFmpeg's own decoders) to the frames written,
// scaled up by a whole factor, at the asked frame rate; GIF through write_clip decodes exactly; bad input and
// unwritable places give errors that name the file and leave earlier files alone.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "atelier/error.h"
#include "atelier/video.h"
#include "temp_dir.h"

using namespace atelier;
namespace fs = std::filesystem;

namespace {

// A red square moving right over a blue-to-green gradient: each frame differs, with edges and smooth parts.
std::vector<Image> moving_square(int frames, int size = 64) {
    std::vector<Image> out;
    for (int f = 0; f < frames; ++f) {
        Image im;
        im.width = im.height = size;
        im.channels = 3;
        im.pixels.resize(size_t(size * size * 3));
        for (int y = 0; y < size; ++y)
            for (int x = 0; x < size; ++x) {
                uint8_t* p = &im.pixels[size_t((y * size + x) * 3)];
                const bool square = x >= 8 + 4 * f && x < 24 + 4 * f && y >= 24 && y < 40;
                p[0] = square ? 220 : 20;
                p[1] = square ? 30 : uint8_t(40 + 3 * y);
                p[2] = square ? 30 : uint8_t(230 - 3 * y);
            }
        out.push_back(std::move(im));
    }
    return out;
}

// Mean absolute difference between `small` and `big` sampled at the centre of each factor x factor block.
double block_error(const Image& small, const Image& big, int factor) {
    double sum = 0;
    for (int y = 0; y < small.height; ++y)
        for (int x = 0; x < small.width; ++x)
            for (int c = 0; c < 3; ++c) {
                const int by = y * factor + factor / 2, bx = x * factor + factor / 2;
                sum += std::abs(int(small.pixels[size_t((y * small.width + x) * 3 + c)]) -
                                int(big.pixels[size_t((by * big.width + bx) * 3 + c)]));
            }
    return sum / double(small.width * small.height * 3);
}


}  // namespace

TEST_CASE("MP4 and WebM decode back to the frames written, scaled up, at the frame rate asked") {
    TempDir dir;
    const auto frames = moving_square(8);
    for (const char* name : {"clip.mp4", "clip.webm", "CLIP.MP4"}) {
        CAPTURE(name);
        const std::string path = (dir.path / name).string();
        ClipOptions o;
        o.fps = 12;
        write_clip(path, frames, o);
        const DecodedClip back = read_clip(path);
        REQUIRE(back.frames.size() == 8);
        CHECK(back.fps == doctest::Approx(12).epsilon(0.01));
        CHECK(back.frames[0].width == 256);  // 64 x 4, the smallest whole factor reaching min_side 256
        CHECK(back.frames[0].height == 256);
        for (size_t f = 0; f < frames.size(); ++f) {
            const double err = block_error(frames[f], back.frames[f], 4);
            CAPTURE(f);
            CHECK(err < 6.0);  // lossy, but close: the moving square is where it was written
        }
        // The frames are not all the same picture: frame 7's square has moved 28 pixels right.
        CHECK(block_error(frames[0], back.frames[7], 4) > 10.0);
        // No temporary file left beside it.
        int entries = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
        CHECK(entries >= 1);
        for (const auto& e : fs::directory_iterator(dir.path))
            CHECK(e.path().filename().string().find(".partial-") == std::string::npos);
    }
}

TEST_CASE("odd sizes are padded to even ones; min_side 0 keeps the size") {
    TempDir dir;
    auto frames = moving_square(3, 64);
    ClipOptions o;
    o.min_side = 0;
    write_clip((dir.path / "a.mp4").string(), frames, o);
    CHECK(read_clip((dir.path / "a.mp4").string()).frames.at(0).width == 64);
    o.min_side = 100;  // 64 x 2 = 128
    write_clip((dir.path / "b.webm").string(), frames, o);
    CHECK(read_clip((dir.path / "b.webm").string()).frames.at(0).width == 128);
}

TEST_CASE("a GIF written by write_clip decodes exactly with FFmpeg's GIF decoder") {
    TempDir dir;
    const auto frames = moving_square(4);
    const std::string path = (dir.path / "clip.gif").string();
    write_clip(path, frames);
    const DecodedClip back = read_clip(path);
    REQUIRE(back.frames.size() == 4);
    for (size_t f = 0; f < 4; ++f) CHECK(back.frames[f].pixels == frames[f].pixels);
}

TEST_CASE("bad clips and bad places give errors naming the file, and earlier files survive") {
    TempDir dir;
    const auto frames = moving_square(2);
    CHECK_THROWS_WITH_AS(write_clip((dir.path / "x.avi").string(), frames),
                         doctest::Contains("unknown clip format '.avi'"), Error);
    CHECK_THROWS_WITH_AS(write_clip((dir.path / "x.mp4").string(), {}), doctest::Contains("no frames"), Error);
    auto mixed = frames;
    mixed[1] = moving_square(1, 32)[0];
    CHECK_THROWS_WITH_AS(write_clip((dir.path / "x.mp4").string(), mixed),
                         doctest::Contains("frame 1 is 32x32, frame 0 is 64x64"), Error);
    CHECK_FALSE(fs::exists(dir.path / "x.mp4"));

    // A failed write over an existing clip leaves the old one as it was.
    const std::string kept = (dir.path / "kept.mp4").string();
    write_clip(kept, frames);
    const auto before = fs::file_size(kept);
    CHECK_THROWS_AS(write_clip(kept, mixed), Error);
    CHECK(fs::file_size(kept) == before);
    CHECK(read_clip(kept).frames.size() == 2);

    const std::string nowhere = (dir.path / "no-such-folder" / "c.mp4").string();
    CHECK_THROWS_WITH_AS(write_clip(nowhere, frames), doctest::Contains(nowhere.c_str()), Error);

    // Garbage and truncated files.
    const std::string garbage = (dir.path / "garbage.mp4").string();
    std::ofstream(garbage) << "this is not a video";
    CHECK_THROWS_WITH_AS(read_clip(garbage), doctest::Contains(garbage.c_str()), Error);
    const std::string truncated = (dir.path / "truncated.mp4").string();
    fs::copy_file(kept, truncated);
    fs::resize_file(truncated, before / 3);
    CHECK_THROWS_WITH_AS(read_clip(truncated), doctest::Contains(truncated.c_str()), Error);
    CHECK_THROWS_WITH_AS(read_clip((dir.path / "missing.webm").string()), doctest::Contains("missing.webm"), Error);
}
