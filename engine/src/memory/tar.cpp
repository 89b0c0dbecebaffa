// POSIX.1-1988 ustar format (pax "ustar" interchange format, IEEE Std 1003.1).
#include "memory/tar.h"

#include <cstdio>
#include <cstring>

#include "atelier/error.h"

namespace atelier {
namespace {

constexpr size_t k_block = 512;

void put_octal(uint8_t* field, size_t width, uint64_t value) {
    // width-1 octal digits, then NUL
    std::snprintf(reinterpret_cast<char*>(field), width, "%0*llo", int(width - 1), static_cast<unsigned long long>(value));
}

bool safe_name(const std::string& name) {
    if (name.empty() || name[0] == '/' || name.find('\\') != std::string::npos) return false;
    size_t start = 0;
    while (start <= name.size()) {
        const size_t end = name.find('/', start);
        const std::string part = name.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (part == ".." ) return false;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return true;
}

uint64_t parse_octal(const uint8_t* field, size_t width, bool& ok) {
    uint64_t value = 0;
    size_t i = 0;
    while (i < width && (field[i] == ' ')) ++i;
    bool any = false;
    for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) {
        value = value * 8 + uint64_t(field[i] - '0');
        any = true;
    }
    for (; i < width; ++i)
        if (field[i] != ' ' && field[i] != 0) ok = false;
    if (!any) ok = false;
    return value;
}

std::string field_string(const uint8_t* field, size_t width) {
    size_t n = 0;
    while (n < width && field[n]) ++n;
    return std::string(reinterpret_cast<const char*>(field), n);
}

}  // namespace

std::vector<uint8_t> tar_pack(const std::vector<TarEntry>& entries) {
    std::vector<uint8_t> out;
    for (const TarEntry& e : entries) {
        if (!safe_name(e.name)) throw Error("tar: unsafe entry name '" + e.name + "'");
        uint8_t h[k_block] = {};
        std::string name = e.name, prefix;
        if (name.size() > 100) {
            const size_t cut = name.rfind('/', 155);
            if (cut == std::string::npos || name.size() - cut - 1 > 100)
                throw Error("tar: entry name too long for ustar: '" + e.name + "'");
            prefix = name.substr(0, cut);
            name = name.substr(cut + 1);
        }
        std::memcpy(h, name.data(), name.size());
        put_octal(h + 100, 8, 0644);
        put_octal(h + 108, 8, 0);
        put_octal(h + 116, 8, 0);
        put_octal(h + 124, 12, e.bytes.size());
        put_octal(h + 136, 12, 0);
        h[156] = '0';
        std::memcpy(h + 257, "ustar", 6);
        std::memcpy(h + 263, "00", 2);
        std::memcpy(h + 345, prefix.data(), prefix.size());
        std::memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (uint8_t b : h) sum += b;
        std::snprintf(reinterpret_cast<char*>(h + 148), 8, "%06o", sum);
        h[155] = ' ';
        out.insert(out.end(), h, h + k_block);
        out.insert(out.end(), e.bytes.begin(), e.bytes.end());
        out.resize(out.size() + (k_block - e.bytes.size() % k_block) % k_block, 0);
    }
    out.resize(out.size() + 2 * k_block, 0);
    return out;
}

std::vector<TarEntry> tar_unpack(const std::vector<uint8_t>& archive, const std::string& what) {
    std::vector<TarEntry> entries;
    size_t offset = 0;
    for (;;) {
        if (offset + k_block > archive.size())
            throw Error(what + ": truncated tar archive (no end marker after " + std::to_string(entries.size()) + " entries)");
        const uint8_t* h = archive.data() + offset;
        bool zero = true;
        for (size_t i = 0; i < k_block; ++i) zero = zero && h[i] == 0;
        if (zero) break;   // end of archive
        const std::string at = what + ": tar entry at byte " + std::to_string(offset);
        if (std::memcmp(h + 257, "ustar", 5) != 0) throw Error(at + ": not a ustar header");
        bool ok = true;
        const uint64_t stored_sum = parse_octal(h + 148, 8, ok);
        unsigned sum = 0;
        for (size_t i = 0; i < k_block; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (!ok || stored_sum != sum) throw Error(at + ": header checksum mismatch (damaged archive)");
        const uint64_t size = parse_octal(h + 124, 12, ok);
        if (!ok) throw Error(at + ": unreadable size field");
        std::string name = field_string(h, 100);
        const std::string prefix = field_string(h + 345, 155);
        if (!prefix.empty()) name = prefix + "/" + name;
        const char type = char(h[156]);
        offset += k_block;
        if (size > archive.size() - offset) throw Error(at + " ('" + name + "'): truncated (size " + std::to_string(size) + ")");
        if (type == '0' || type == 0) {
            if (!safe_name(name)) throw Error(at + ": unsafe name '" + name + "'");
            entries.push_back({name, std::vector<uint8_t>(archive.begin() + long(offset), archive.begin() + long(offset + size))});
        } else if (type != '5') {
            throw Error(at + " ('" + name + "'): only regular files and folders are accepted (type '" +
                        std::string(1, type) + "')");
        }
        offset += size + (k_block - size % k_block) % k_block;
    }
    return entries;
}

}  // namespace atelier
