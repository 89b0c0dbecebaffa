// Helpers shared by the procedural world's files (not part of the public API).
#pragma once
#include <cstdint>

namespace atelier::world::detail {

// splitmix64's finaliser: a good 64-bit mix, used for seeds, caption choices and noise lattices.
inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Deterministic choice among n options for one "slot" of a caption's wording.
inline int choose(uint32_t phrasing, uint32_t slot, int n) {
    const uint64_t h = mix64((uint64_t(phrasing) << 8) ^ slot ^ 0xA5A5'0000'0000'0000ull);
    return static_cast<int>((h >> 32) % static_cast<uint64_t>(n));
}

}  // namespace atelier::world::detail
