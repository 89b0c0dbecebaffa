// Small file helpers shared by the engine (internal).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace atelier {

std::vector<uint8_t> read_file_bytes(const std::string& path);
std::string read_file_text(const std::string& path);
// Write to `path.tmp-<pid>`, fsync, rename over `path`: readers never see a partial file.
void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes);
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace atelier
