// Helpers shared by the store tests: a fresh data directory per test and distinct small pictures.
#pragma once
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "atelier/image.h"

namespace store_test {

// A fresh, empty folder under the temp dir; removed when the object goes.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name) {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("atelier-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string str() const { return path.string(); }
};

// A w x h RGB picture whose pixels depend on `seed`, so different seeds give different files.
inline atelier::Image picture(int seed, int w = 24, int h = 16) {
    atelier::Image image{w, h, 3, {}};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            image.pixels.push_back(uint8_t(x * 7 + seed * 31));
            image.pixels.push_back(uint8_t(y * 13 + seed * 17));
            image.pixels.push_back(uint8_t((x ^ y) + seed));
        }
    return image;
}

}  // namespace store_test
