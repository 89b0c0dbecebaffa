// Image decoding (stb_image) and PNG encoding (stb_image_write) with tEXt chunks for parameters.
#include <stb_image.h>
#include <stb_image_write.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "atelier/error.h"
#include "atelier/image.h"
#include "io/file_util.h"

namespace atelier {

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& what, int want_channels) {
    if (want_channels < 1 || want_channels > 4) throw Error(what + ": channels must be 1..4");
    if (bytes.empty()) throw Error(what + ": empty file, not an image");
    int width = 0, height = 0, found_channels = 0;
    unsigned char* data = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height,
                                                &found_channels, want_channels);
    if (!data) {
        throw Error(what + ": not a readable image (" + std::string(stbi_failure_reason()) +
                    "); expected PNG, JPEG, BMP, GIF or TGA");
    }
    Image image;
    image.width = width;
    image.height = height;
    image.channels = want_channels;
    image.pixels.assign(data, data + static_cast<size_t>(width) * height * want_channels);
    stbi_image_free(data);
    return image;
}

Image read_image(const std::string& path, int want_channels) {
    return decode_image(read_file_bytes(path), path, want_channels);
}

namespace {

void append_u32(std::vector<uint8_t>& out, uint32_t v) {
    out.push_back(uint8_t(v >> 24));
    out.push_back(uint8_t(v >> 16));
    out.push_back(uint8_t(v >> 8));
    out.push_back(uint8_t(v));
}

uint32_t read_u32(const uint8_t* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::vector<uint8_t> text_chunk(const std::string& key, const std::string& value) {
    std::vector<uint8_t> body(key.begin(), key.end());
    body.push_back(0);
    body.insert(body.end(), value.begin(), value.end());
    std::vector<uint8_t> chunk;
    append_u32(chunk, static_cast<uint32_t>(body.size()));
    const char type[4] = {'t', 'E', 'X', 't'};
    chunk.insert(chunk.end(), type, type + 4);
    chunk.insert(chunk.end(), body.begin(), body.end());
    uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(type), 4);
    crc = crc32(crc, body.data(), static_cast<uInt>(body.size()));
    append_u32(chunk, static_cast<uint32_t>(crc));
    return chunk;
}

const uint8_t kPngSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};

}  // namespace

std::vector<uint8_t> encode_png(const Image& image, const std::map<std::string, std::string>& text) {
    if (image.width <= 0 || image.height <= 0 || image.channels < 1 || image.channels > 4 ||
        image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
        throw Error("encode_png: image of " + std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
                    std::to_string(image.channels) + " has " + std::to_string(image.pixels.size()) + " bytes");
    }
    std::vector<uint8_t> encoded;
    auto sink = [](void* context, void* data, int size) {
        auto* out = static_cast<std::vector<uint8_t>*>(context);
        out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
    };
    if (!stbi_write_png_to_func(sink, &encoded, image.width, image.height, image.channels, image.pixels.data(),
                                image.width * image.channels)) {
        throw Error("encode_png: the PNG encoder failed");
    }
    // Insert the text chunks right after IHDR (signature 8 bytes + IHDR chunk 25 bytes).
    std::vector<uint8_t> chunks;
    for (const auto& [key, value] : text) {
        auto chunk = text_chunk(key, value);
        chunks.insert(chunks.end(), chunk.begin(), chunk.end());
    }
    encoded.insert(encoded.begin() + 33, chunks.begin(), chunks.end());
    return encoded;
}

void write_png(const std::string& path, const Image& image, const std::map<std::string, std::string>& text) {
    write_file_atomically(path, encode_png(image, text));
}

std::map<std::string, std::string> read_png_text(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    if (bytes.size() < 8 || std::memcmp(bytes.data(), kPngSignature, 8) != 0) throw Error(path + ": not a PNG file");
    std::map<std::string, std::string> text;
    size_t pos = 8;
    while (pos + 12 <= bytes.size()) {
        const uint32_t length = read_u32(&bytes[pos]);
        if (length > bytes.size() - pos - 12) throw Error(path + ": truncated PNG chunk at byte " + std::to_string(pos));
        const std::string type(reinterpret_cast<const char*>(&bytes[pos + 4]), 4);
        const char* body = reinterpret_cast<const char*>(&bytes[pos + 8]);
        if (type == "tEXt" || type == "iTXt") {
            const std::string chunk(body, length);
            const size_t nul = chunk.find('\0');
            if (nul != std::string::npos) {
                std::string value = chunk.substr(nul + 1);
                if (type == "iTXt") {
                    // compression flag, method, language\0, translated keyword\0, text (uncompressed only)
                    if (value.size() >= 2 && value[0] == 0) {
                        size_t p = value.find('\0', 2);
                        p = p == std::string::npos ? p : value.find('\0', p + 1);
                        value = p == std::string::npos ? std::string() : value.substr(p + 1);
                    } else {
                        value.clear();
                    }
                }
                text[chunk.substr(0, nul)] = value;
            }
        }
        if (type == "IEND") break;
        pos += 12 + length;
    }
    return text;
}

}  // namespace atelier
