// atelier/image.h - 8-bit images in memory, PNG/JPEG reading and PNG writing with text chunks.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace atelier {

// Interleaved 8-bit pixels, row-major, top row first.
struct Image {
    int width = 0;
    int height = 0;
    int channels = 3;  // 1, 3 or 4
    std::vector<uint8_t> pixels;

    bool empty() const { return pixels.empty(); }
    size_t size_bytes() const { return pixels.size(); }
};

// Decodes PNG, JPEG, BMP, GIF (first frame), TGA. Throws atelier::Error naming the file and the reason.
Image read_image(const std::string& path, int want_channels = 3);
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& what, int want_channels = 3);

// Encodes PNG; each entry of `text` becomes a tEXt chunk (key -> value), e.g. "parameters".
std::vector<uint8_t> encode_png(const Image& image, const std::map<std::string, std::string>& text = {});
// Writes atomically (temporary file + rename), so a crash never leaves half a PNG.
void write_png(const std::string& path, const Image& image, const std::map<std::string, std::string>& text = {});
// The tEXt/iTXt chunks of a PNG file (empty map if it has none). Throws if the file is not a PNG.
std::map<std::string, std::string> read_png_text(const std::string& path);

}  // namespace atelier
