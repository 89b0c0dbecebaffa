// A minimal POSIX ustar archive writer and validating reader, for export bundles (internal).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace atelier {

struct TarEntry {
    std::string name;
    std::vector<uint8_t> bytes;
};

// Regular files only; names up to 100 bytes (or 255 with a ustar prefix), relative, no "..".
std::vector<uint8_t> tar_pack(const std::vector<TarEntry>& entries);
// Throws Error naming `what` and the offending entry for a bad checksum, size, name or a truncated archive.
std::vector<TarEntry> tar_unpack(const std::vector<uint8_t>& archive, const std::string& what);

}  // namespace atelier
