// Unicode helpers for the tokenizer: UAX #15 normalization (NFC) and Python's str.lower() semantics.
#include "text/unicode.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace atelier::unicode {

namespace {

struct ClassRange {
    uint32_t first, last;
    CharClass cls;
};
constexpr CharClass kOther = CharClass::kOther, kLetter = CharClass::kLetter, kNumber = CharClass::kNumber,
                    kSpace = CharClass::kSpace, kRemove = CharClass::kRemove, kSplit = CharClass::kSplit;

#include "text/unicode_tables.inc"

bool in_ranges(const uint32_t (*ranges)[2], size_t count, uint32_t cp) {
    size_t lo = 0, hi = count;
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (cp < ranges[mid][0]) {
            hi = mid;
        } else if (cp > ranges[mid][1]) {
            lo = mid + 1;
        } else {
            return true;
        }
    }
    return false;
}

bool is_cased(uint32_t cp) { return in_ranges(kCased, std::size(kCased), cp); }
bool is_case_ignorable(uint32_t cp) { return in_ranges(kCaseIgnorable, std::size(kCaseIgnorable), cp); }

uint32_t simple_lower(uint32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    const auto* end = kLower + std::size(kLower);
    const auto* it = std::lower_bound(kLower, end, cp, [](const uint32_t (&row)[2], uint32_t v) { return row[0] < v; });
    return (it != end && (*it)[0] == cp) ? (*it)[1] : cp;
}

uint8_t combining_class(uint32_t cp) {
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = std::size(kCombiningClass);
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (cp < kCombiningClass[mid][0]) {
            hi = mid;
        } else if (cp > kCombiningClass[mid][1]) {
            lo = mid + 1;
        } else {
            return static_cast<uint8_t>(kCombiningClass[mid][2]);
        }
    }
    return 0;
}

// Hangul syllables are composed/decomposed arithmetically (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
    if (cp >= kSBase && cp < kSBase + kSCount) {
        const uint32_t s = cp - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    if (cp >= 0xC0) {
        const auto* end = kDecomposition + std::size(kDecomposition);
        const auto* it = std::lower_bound(kDecomposition, end, cp,
                                          [](const uint32_t (&row)[3], uint32_t v) { return row[0] < v; });
        if (it != end && (*it)[0] == cp) {
            decompose((*it)[1], out);
            if ((*it)[2]) decompose((*it)[2], out);
            return;
        }
    }
    out.push_back(cp);
}

// The primary composite of (first, second), or 0.
uint32_t compose(uint32_t first, uint32_t second) {
    if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
        return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
    }
    if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
        second < kTBase + kTCount) {
        return first + (second - kTBase);
    }
    const auto* end = kComposition + std::size(kComposition);
    const auto* it = std::lower_bound(kComposition, end, std::make_pair(first, second),
                                      [](const uint32_t (&row)[3], const std::pair<uint32_t, uint32_t>& v) {
                                          return row[0] != v.first ? row[0] < v.first : row[1] < v.second;
                                      });
    return (it != end && (*it)[0] == first && (*it)[1] == second) ? (*it)[2] : 0;
}

}  // namespace

CharClass char_class(uint32_t cp) {
    if (cp < 0x80) {
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return CharClass::kSpace;
        if (cp < 0x20 || cp == 0x7F) return CharClass::kRemove;
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::kLetter;
        if (cp >= '0' && cp <= '9') return CharClass::kNumber;
        return CharClass::kOther;
    }
    const auto* end = kClassRanges + std::size(kClassRanges);
    const auto* it = std::upper_bound(kClassRanges, end, cp,
                                      [](uint32_t v, const ClassRange& r) { return v < r.first; });
    if (it == kClassRanges) return CharClass::kRemove;
    --it;
    return cp <= it->last ? it->cls : CharClass::kRemove;
}

std::vector<uint32_t> decode_utf8(const std::string& text) {
    std::vector<uint32_t> out;
    out.reserve(text.size());
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char b = s[i];
        uint32_t cp = 0;
        size_t len = 0;
        uint32_t min = 0;
        if (b < 0x80) {
            out.push_back(b);
            ++i;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            cp = b & 0x1F, len = 2, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            cp = b & 0x0F, len = 3, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            cp = b & 0x07, len = 4, min = 0x10000;
        }
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) ok = false;
            else cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))) ok = false;
        if (ok) {
            out.push_back(cp);
            i += len;
        } else {
            out.push_back(0xFFFD);
            ++i;
        }
    }
    return out;
}

void append_utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string encode_utf8(const std::vector<uint32_t>& cps) {
    std::string out;
    out.reserve(cps.size());
    for (uint32_t cp : cps) append_utf8(cp, out);
    return out;
}

std::vector<uint32_t> to_lower(const std::vector<uint32_t>& cps) {
    std::vector<uint32_t> out;
    out.reserve(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) {
        const uint32_t cp = cps[i];
        if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE: the one unconditional multi-char mapping
            out.push_back(0x69);
            out.push_back(0x307);
        } else if (cp == 0x3A3) {
            // Final sigma (Unicode 3.13, as CPython implements it): a cased letter before (skipping
            // case-ignorables) and none after.
            bool before = false, after = false;
            for (size_t j = i; j-- > 0;) {
                if (is_case_ignorable(cps[j])) continue;
                before = is_cased(cps[j]);
                break;
            }
            for (size_t j = i + 1; j < cps.size(); ++j) {
                if (is_case_ignorable(cps[j])) continue;
                after = is_cased(cps[j]);
                break;
            }
            out.push_back(before && !after ? 0x3C2 : 0x3C3);
        } else {
            out.push_back(simple_lower(cp));
        }
    }
    return out;
}

std::vector<uint32_t> nfc(const std::vector<uint32_t>& cps) {
    bool ascii = true;
    for (uint32_t cp : cps) ascii = ascii && cp < 0x80;
    if (ascii) return cps;

    std::vector<uint32_t> d;
    d.reserve(cps.size() + 8);
    for (uint32_t cp : cps) decompose(cp, d);
    // Canonical ordering: stable sort of each run of non-starters by combining class.
    for (size_t i = 0; i < d.size();) {
        if (combining_class(d[i]) == 0) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < d.size() && combining_class(d[j]) != 0) ++j;
        std::stable_sort(d.begin() + i, d.begin() + j,
                         [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
        i = j;
    }
    // Canonical composition.
    std::vector<uint32_t> out;
    out.reserve(d.size());
    size_t starter = SIZE_MAX;  // index in `out` of the last starter
    int last_class = -1;        // class of the last character appended after the starter
    for (uint32_t cp : d) {
        const int cc = combining_class(cp);
        if (starter != SIZE_MAX) {
            // Blocked when something in between is a starter or has a class >= this one's.
            const bool blocked = last_class != -1 && (last_class == 0 || last_class >= cc);
            if (!blocked) {
                if (const uint32_t composite = compose(out[starter], cp)) {
                    out[starter] = composite;
                    continue;
                }
            }
        }
        out.push_back(cp);
        if (cc == 0) {
            starter = out.size() - 1;
            last_class = -1;
        } else {
            last_class = cc;
        }
    }
    return out;
}

}  // namespace atelier::unicode
