// The bits of Unicode the CLIP tokenizer needs, matching Python 3 (str.lower, unicodedata NFC) and the
// `regex` module's \p{L} / \p{N} (internal, torch-free). Tables: unicode_tables.inc (generated).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace atelier::unicode {

// How transformers' BasicTokenizer and the CLIP pre-split regex see a code point.
enum class CharClass : uint8_t {
    kOther = 1,  // punctuation, symbols, marks: [^\s\p{L}\p{N}]
    kLetter,     // \p{L}
    kNumber,     // \p{N}
    kSpace,      // BasicTokenizer._is_whitespace: becomes " "
    kRemove,     // NUL, U+FFFD, control/format/unassigned/private-use (category C*): dropped
    kSplit,      // other whitespace that str.split() splits on (U+2028, U+2029)
};

CharClass char_class(uint32_t cp);

// UTF-8 -> code points; an invalid byte sequence becomes U+FFFD (one per bad byte).
std::vector<uint32_t> decode_utf8(const std::string& text);
void append_utf8(uint32_t cp, std::string& out);
std::string encode_utf8(const std::vector<uint32_t>& cps);

// Python's str.lower(): full mapping (U+0130 -> "i\u0307") and the final-sigma rule.
std::vector<uint32_t> to_lower(const std::vector<uint32_t>& cps);
// unicodedata.normalize("NFC", ...).
std::vector<uint32_t> nfc(const std::vector<uint32_t>& cps);

}  // namespace atelier::unicode
