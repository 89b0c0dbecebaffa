// Animated GIF writer: GIF89a (https://www.w3.org/Graphics/GIF/spec-gif89a.txt) with a median-cut palette
// (Heckbert 1982, "Color image quantization for frame buffer display") and LZW codes of 9..12 bits.
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <unordered_map>

#include "atelier/error.h"
#include "atelier/video.h"
#include "io/file_util.h"

namespace fs = std::filesystem;

namespace atelier {
namespace {

using Rgb = std::array<uint8_t, 3>;

uint32_t pack(const Rgb& c) { return uint32_t(c[0]) << 16 | uint32_t(c[1]) << 8 | c[2]; }
Rgb unpack(uint32_t v) { return {uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }

Rgb pixel_rgb(const Image& image, size_t i) {
    const uint8_t* p = &image.pixels[i * size_t(image.channels)];
    return image.channels < 3 ? Rgb{p[0], p[0], p[0]} : Rgb{p[0], p[1], p[2]};
}

struct ColorCount {
    Rgb color;
    uint64_t count;
};

// Median cut: split the box whose widest channel range x pixel count is largest at its weighted median
// until there are `size` boxes (or no box can be split); each box gives its count-weighted mean colour.
std::vector<Rgb> median_cut(std::vector<ColorCount> colors, size_t size) {
    struct Box {
        size_t begin, end;
        int axis;
        int range;
        uint64_t count;
    };
    auto measure = [&](size_t begin, size_t end) {
        Box box{begin, end, 0, 0, 0};
        for (int a = 0; a < 3; ++a) {
            int lo = 255, hi = 0;
            for (size_t i = begin; i < end; ++i) {
                lo = std::min<int>(lo, colors[i].color[a]);
                hi = std::max<int>(hi, colors[i].color[a]);
            }
            if (hi - lo > box.range) {
                box.range = hi - lo;
                box.axis = a;
            }
        }
        for (size_t i = begin; i < end; ++i) box.count += colors[i].count;
        return box;
    };
    std::vector<Box> boxes{measure(0, colors.size())};
    while (boxes.size() < size) {
        size_t best = boxes.size();
        double best_score = 0;
        for (size_t b = 0; b < boxes.size(); ++b) {
            const double score = double(boxes[b].range) * double(boxes[b].count);
            if (boxes[b].end - boxes[b].begin > 1 && boxes[b].range > 0 && score > best_score) {
                best = b;
                best_score = score;
            }
        }
        if (best == boxes.size()) break;
        const Box box = boxes[best];
        const int axis = box.axis;
        std::sort(colors.begin() + long(box.begin), colors.begin() + long(box.end),
                  [axis](const ColorCount& a, const ColorCount& b) { return a.color[axis] < b.color[axis]; });
        uint64_t seen = 0;
        size_t split = box.begin + 1;
        for (size_t i = box.begin; i < box.end - 1; ++i) {
            seen += colors[i].count;
            split = i + 1;
            if (2 * seen >= box.count) break;
        }
        boxes[best] = measure(box.begin, split);
        boxes.push_back(measure(split, box.end));
    }
    std::vector<Rgb> palette;
    for (const Box& box : boxes) {
        double sum[3] = {0, 0, 0};
        for (size_t i = box.begin; i < box.end; ++i)
            for (int a = 0; a < 3; ++a) sum[a] += double(colors[i].color[a]) * double(colors[i].count);
        Rgb mean;
        for (int a = 0; a < 3; ++a) mean[a] = uint8_t(std::lround(sum[a] / double(std::max<uint64_t>(box.count, 1))));
        palette.push_back(mean);
    }
    return palette;
}

// LZW codes packed least-significant bit first into sub-blocks of at most 255 bytes.
class CodeWriter {
public:
    explicit CodeWriter(std::vector<uint8_t>& out) : out_(out) {}
    void write(int code, int width) {
        bits_ |= uint32_t(code) << nbits_;
        nbits_ += width;
        while (nbits_ >= 8) {
            push(uint8_t(bits_ & 0xff));
            bits_ >>= 8;
            nbits_ -= 8;
        }
    }
    void finish() {
        if (nbits_ > 0) push(uint8_t(bits_ & 0xff));
        if (!block_.empty()) flush();
        out_.push_back(0);  // block terminator
    }

private:
    void push(uint8_t byte) {
        block_.push_back(byte);
        if (block_.size() == 255) flush();
    }
    void flush() {
        out_.push_back(uint8_t(block_.size()));
        out_.insert(out_.end(), block_.begin(), block_.end());
        block_.clear();
    }
    std::vector<uint8_t>& out_;
    std::vector<uint8_t> block_;
    uint32_t bits_ = 0;
    int nbits_ = 0;
};

void lzw_encode(const std::vector<uint8_t>& indices, std::vector<uint8_t>& out) {
    constexpr int kMinCodeSize = 8, kClear = 256, kEnd = 257, kMaxCodes = 4096;
    out.push_back(kMinCodeSize);
    CodeWriter writer(out);
    // table[prefix * 256 + byte] = code of the string prefix + byte, or -1.
    std::vector<int16_t> table(size_t(kMaxCodes) * 256, -1);
    std::vector<uint32_t> used;
    int next = kEnd + 1, width = kMinCodeSize + 1;
    auto reset = [&] {
        for (uint32_t key : used) table[key] = -1;
        used.clear();
        next = kEnd + 1;
        width = kMinCodeSize + 1;
    };
    // Decoders (giflib, stb_image, browsers) widen the code once their count of codes read, plus the
    // first free code, passes 2^width; the encoder mirrors that count with `next`.
    auto advance = [&] {
        ++next;
        if (next > (1 << width) && width < 12) ++width;
    };
    writer.write(kClear, width);
    int prefix = indices[0];
    for (size_t i = 1; i < indices.size(); ++i) {
        const uint32_t key = uint32_t(prefix) * 256 + indices[i];
        if (table[key] >= 0) {
            prefix = table[key];
            continue;
        }
        writer.write(prefix, width);
        table[key] = int16_t(next);
        used.push_back(key);
        advance();
        if (next == kMaxCodes) {
            writer.write(kClear, width);
            reset();
        }
        prefix = indices[i];
    }
    writer.write(prefix, width);
    advance();
    writer.write(kEnd, width);
    writer.finish();
}

void put_u16(std::vector<uint8_t>& out, int v) {
    out.push_back(uint8_t(v & 0xff));
    out.push_back(uint8_t((v >> 8) & 0xff));
}

}  // namespace

std::vector<int> gif_frame_delays_cs(size_t count, double fps) {
    if (!(fps > 0) || fps > 100) throw Error("GIF: fps must be in (0, 100], got " + std::to_string(fps));
    std::vector<int> delays;
    for (size_t i = 0; i < count; ++i) {
        const long start = std::lround(100.0 * double(i) / fps), end = std::lround(100.0 * double(i + 1) / fps);
        delays.push_back(int(std::max<long>(end - start, 1)));
    }
    return delays;
}

std::vector<uint8_t> encode_gif(const std::vector<Image>& frames, const GifOptions& options) {
    if (frames.empty()) throw Error("GIF: no frames");
    const int width = frames[0].width, height = frames[0].height;
    if (width <= 0 || height <= 0 || width > 65535 || height > 65535)
        throw Error("GIF: frame size " + std::to_string(width) + "x" + std::to_string(height) + " (expected 1..65535)");
    for (size_t f = 0; f < frames.size(); ++f) {
        const Image& im = frames[f];
        if (im.width != width || im.height != height)
            throw Error("GIF: frame " + std::to_string(f) + " is " + std::to_string(im.width) + "x" +
                        std::to_string(im.height) + ", frame 0 is " + std::to_string(width) + "x" + std::to_string(height));
        if (im.channels < 1 || im.channels > 4 || im.pixels.size() != size_t(width) * size_t(height) * size_t(im.channels))
            throw Error("GIF: frame " + std::to_string(f) + " has " + std::to_string(im.pixels.size()) + " bytes for " +
                        std::to_string(width) + "x" + std::to_string(height) + "x" + std::to_string(im.channels));
    }
    if (options.loop_count < 0 || options.loop_count > 65535)
        throw Error("GIF: loop_count must be in 0..65535, got " + std::to_string(options.loop_count));
    const std::vector<int> delays = gif_frame_delays_cs(frames.size(), options.fps);
    const size_t pixels = size_t(width) * size_t(height);

    // ---- one palette for the clip
    std::unordered_map<uint32_t, uint64_t> histogram;
    for (const Image& im : frames)
        for (size_t i = 0; i < pixels; ++i) ++histogram[pack(pixel_rgb(im, i))];
    std::vector<ColorCount> colors;
    colors.reserve(histogram.size());
    for (const auto& [c, n] : histogram) colors.push_back({unpack(c), n});
    std::sort(colors.begin(), colors.end(), [](const ColorCount& a, const ColorCount& b) { return pack(a.color) < pack(b.color); });
    std::vector<Rgb> palette;
    if (colors.size() <= 256) {
        for (const auto& c : colors) palette.push_back(c.color);
    } else {
        palette = median_cut(std::move(colors), 256);
    }
    std::unordered_map<uint32_t, uint8_t> nearest;  // colour -> palette index, filled on demand
    auto index_of = [&](const Rgb& c) {
        const auto it = nearest.find(pack(c));
        if (it != nearest.end()) return it->second;
        int best = 0, best_d = 1 << 30;
        for (size_t p = 0; p < palette.size(); ++p) {
            const int dr = int(c[0]) - palette[p][0], dg = int(c[1]) - palette[p][1], db = int(c[2]) - palette[p][2];
            const int d = 2 * dr * dr + 4 * dg * dg + 3 * db * db;  // a cheap perceptual weighting
            if (d < best_d) {
                best_d = d;
                best = int(p);
            }
        }
        nearest.emplace(pack(c), uint8_t(best));
        return uint8_t(best);
    };

    // ---- header, logical screen, global colour table (256 entries), looping
    std::vector<uint8_t> out = {'G', 'I', 'F', '8', '9', 'a'};
    put_u16(out, width);
    put_u16(out, height);
    out.push_back(0xF7);  // global table, 8-bit colour resolution, 2^(7+1) entries
    out.push_back(0);     // background colour index
    out.push_back(0);     // pixel aspect ratio: unspecified
    for (size_t p = 0; p < 256; ++p) {
        const Rgb c = p < palette.size() ? palette[p] : Rgb{0, 0, 0};
        out.insert(out.end(), c.begin(), c.end());
    }
    const char netscape[] = "NETSCAPE2.0";
    out.insert(out.end(), {0x21, 0xFF, 0x0B});
    out.insert(out.end(), netscape, netscape + 11);
    out.insert(out.end(), {0x03, 0x01});
    put_u16(out, options.loop_count);
    out.push_back(0);

    std::vector<uint8_t> indices(pixels);
    for (size_t f = 0; f < frames.size(); ++f) {
        out.insert(out.end(), {0x21, 0xF9, 0x04, 0x04});  // graphic control: disposal 1 (keep), no transparency
        put_u16(out, delays[f]);
        out.insert(out.end(), {0x00, 0x00});
        out.push_back(0x2C);  // image descriptor: whole screen, no local table, not interlaced
        put_u16(out, 0);
        put_u16(out, 0);
        put_u16(out, width);
        put_u16(out, height);
        out.push_back(0);
        for (size_t i = 0; i < pixels; ++i) indices[i] = index_of(pixel_rgb(frames[f], i));
        lzw_encode(indices, out);
    }
    out.push_back(0x3B);  // trailer
    return out;
}

void write_gif(const std::string& path, const std::vector<Image>& frames, const GifOptions& options) {
    write_file_atomically(path, encode_gif(frames, options));
}

std::vector<std::string> write_png_frames(const std::string& dir, const std::vector<Image>& frames,
                                          const std::map<std::string, std::string>& text, const std::string& prefix) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(dir + ": cannot create the folder (" + ec.message() + ")");
    std::vector<std::string> paths;
    for (size_t f = 0; f < frames.size(); ++f) {
        char name[64];
        std::snprintf(name, sizeof name, "-%03zu.png", f);
        const std::string path = (fs::path(dir) / (prefix + name)).string();
        write_png(path, frames[f], text);
        paths.push_back(path);
    }
    return paths;
}

}  // namespace atelier
