// SHA-256 (FIPS 180-4), for content-addressed assets and export manifests (internal).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace atelier {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t size);
    std::string hex_digest();  // finishes; call once

private:
    void block(const uint8_t* p);
    uint32_t h_[8];
    uint8_t buffer_[64];
    size_t buffered_ = 0;
    uint64_t total_bytes_ = 0;
};

std::string sha256_hex(const void* data, size_t size);
inline std::string sha256_hex(const std::vector<uint8_t>& bytes) { return sha256_hex(bytes.data(), bytes.size()); }
inline std::string sha256_hex(const std::string& text) { return sha256_hex(text.data(), text.size()); }

}  // namespace atelier
