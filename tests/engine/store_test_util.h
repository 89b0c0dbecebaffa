// Helpers shared by the store tests: a fresh data directory per test and distinct small pictures.
#pragma once
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "atelier/image.h"
#include "temp_dir.h"

namespace store_test {

using TempDir = ::TempDir;

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
