// CLIP BPE tokenizer as in Hugging Face transformers v4.35 `CLIPTokenizer` (models/clip/tokenization_clip.py)
// on its no-ftfy path (BasicTokenizer clean-up), which is what diffusers pipelines run by default.
#include "text/clip_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "atelier/error.h"
#include "io/file_util.h"
#include "text/unicode.h"

namespace atelier {

namespace {

using unicode::CharClass;

const char* const kBos = "<|startoftext|>";
const char* const kEos = "<|endoftext|>";
// transformers reads merges.txt lines [1, 49152 - 256 - 2 + 1): the first line is a version comment.
constexpr size_t kMaxMerges = 49152 - 256 - 2;

// GPT-2/CLIP byte-to-unicode table: printable bytes map to themselves, the rest to U+0100 onwards,
// so that every byte is a visible character in vocab.json. Stored as UTF-8 strings.
const std::vector<std::string>& byte_encoder() {
    static const std::vector<std::string> table = [] {
        std::vector<std::string> t(256);
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            unicode::append_utf8(printable ? b : next++, t[b]);
        }
        return t;
    }();
    return table;
}

bool starts_with(const std::vector<uint32_t>& cps, size_t pos, const char* ascii) {
    for (size_t k = 0; ascii[k]; ++k) {
        if (pos + k >= cps.size() || cps[pos + k] != static_cast<unsigned char>(ascii[k])) return false;
    }
    return true;
}

// Length of a contraction at `pos` ('s 't 're 've 'm 'll 'd, case-insensitive like the regex), or 0.
size_t contraction_length(const std::vector<uint32_t>& cps, size_t pos) {
    if (cps[pos] != '\'' || pos + 1 >= cps.size()) return 0;
    const auto fold = [](uint32_t c) -> uint32_t {
        if (c >= 'A' && c <= 'Z') return c + 32;
        if (c == 0x17F) return 's';  // LATIN SMALL LETTER LONG S case-folds to 's'
        if (c == 0x212A) return 'k';  // KELVIN SIGN
        return c;
    };
    const uint32_t a = fold(cps[pos + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 < cps.size()) {
        const uint32_t b = fold(cps[pos + 2]);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    return 0;
}

// transformers' BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize: drop control
// characters, whitespace -> " ", spaces around CJK ideographs, NFC, split on whitespace, lower-case.
std::vector<std::vector<uint32_t>> basic_tokenize(const std::string& text) {
    std::vector<uint32_t> cleaned;
    for (uint32_t cp : unicode::decode_utf8(text)) {
        const bool cjk = (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
                         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
                         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
                         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
        switch (unicode::char_class(cp)) {
            case CharClass::kRemove: break;
            case CharClass::kSpace: cleaned.push_back(' '); break;
            default:
                if (cjk) {
                    cleaned.push_back(' ');
                    cleaned.push_back(cp);
                    cleaned.push_back(' ');
                } else {
                    cleaned.push_back(cp);
                }
        }
    }
    const std::vector<uint32_t> normalized = unicode::nfc(cleaned);
    std::vector<std::vector<uint32_t>> words;
    std::vector<uint32_t> current;
    const auto flush = [&] {
        if (!current.empty()) words.push_back(unicode::to_lower(current));
        current.clear();
    };
    for (uint32_t cp : normalized) {
        const CharClass cls = cp < 0x80 ? (cp == ' ' ? CharClass::kSpace : CharClass::kOther) : unicode::char_class(cp);
        if (cls == CharClass::kSpace || cls == CharClass::kSplit) {
            flush();
        } else {
            current.push_back(cp);
        }
    }
    flush();
    return words;
}

// The CLIP pre-split regex, on one whitespace-free word:
// <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
std::vector<std::string> pre_split(const std::vector<uint32_t>& cps) {
    std::vector<std::string> pieces;
    size_t i = 0;
    const auto cls = [&](size_t k) {
        // U+0345 (Mn) case-folds to a letter, so under the regex's IGNORECASE it matches neither
        // [\p{L}]+ nor the negated class: `regex` skips it. Nothing else behaves so (checked for all
        // assigned code points).
        if (cps[k] == 0x345) return CharClass::kRemove;
        const CharClass c = unicode::char_class(cps[k]);
        return (c == CharClass::kLetter || c == CharClass::kNumber) ? c : CharClass::kOther;
    };
    while (i < cps.size()) {
        size_t len = 0;
        if (cls(i) == CharClass::kRemove) {
            ++i;
            continue;
        }
        if (starts_with(cps, i, kBos)) {
            len = 15;
        } else if (starts_with(cps, i, kEos)) {
            len = 13;
        } else if ((len = contraction_length(cps, i)) != 0) {
        } else if (cls(i) == CharClass::kLetter) {
            while (i + len < cps.size() && cls(i + len) == CharClass::kLetter) ++len;
        } else if (cls(i) == CharClass::kNumber) {
            len = 1;
        } else {
            while (i + len < cps.size() && cls(i + len) == CharClass::kOther) ++len;
        }
        pieces.push_back(unicode::encode_utf8(std::vector<uint32_t>(cps.begin() + i, cps.begin() + i + len)));
        i += len;
    }
    return pieces;
}

}  // namespace

ClipTokenizer::ClipTokenizer() : cache_mutex_(std::make_unique<std::mutex>()) {}
ClipTokenizer::~ClipTokenizer() = default;
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;

ClipTokenizer::ClipTokenizer(const ClipTokenizer& other)
    : encoder_(other.encoder_),
      decoder_(other.decoder_),
      merge_ranks_(other.merge_ranks_),
      added_tokens_(other.added_tokens_),
      bos_id_(other.bos_id_),
      eos_id_(other.eos_id_),
      cache_mutex_(std::make_unique<std::mutex>()) {}

ClipTokenizer& ClipTokenizer::operator=(const ClipTokenizer& other) {
    if (this != &other) *this = ClipTokenizer(other);
    return *this;
}

ClipTokenizer ClipTokenizer::from_dir(const std::string& dir) {
    const std::filesystem::path base(dir);
    return from_files((base / "vocab.json").string(), (base / "merges.txt").string());
}

ClipTokenizer ClipTokenizer::from_files(const std::string& vocab_json_path, const std::string& merges_txt_path) {
    ClipTokenizer tok;
    nlohmann::json vocab;
    try {
        vocab = nlohmann::json::parse(read_file_text(vocab_json_path));
    } catch (const nlohmann::json::exception& e) {
        throw Error(vocab_json_path + ": not valid JSON: " + e.what());
    }
    if (!vocab.is_object() || vocab.empty()) {
        throw Error(vocab_json_path + ": expected a JSON object of token -> id, found " +
                    std::string(vocab.type_name()));
    }
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
            it.value().get<int64_t>() > INT32_MAX) {
            throw Error(vocab_json_path + ": token \"" + it.key() + "\": expected a non-negative integer id, found " +
                        it.value().dump());
        }
        const int64_t id = it.value().get<int64_t>();
        tok.encoder_[it.key()] = id;
        if (static_cast<size_t>(id) >= tok.decoder_.size()) tok.decoder_.resize(id + 1);
        tok.decoder_[id] = it.key();
    }
    for (const char* special : {kBos, kEos}) {
        if (!tok.encoder_.count(special)) {
            throw Error(vocab_json_path + ": missing the special token \"" + std::string(special) + "\"");
        }
    }
    tok.bos_id_ = tok.encoder_.at(kBos);
    tok.eos_id_ = tok.encoder_.at(kEos);

    const std::string merges = read_file_text(merges_txt_path);
    // Like transformers: strip the text, split on "\n", skip the first line, keep at most kMaxMerges.
    size_t begin = merges.find_first_not_of(" \t\r\n\f\v");
    size_t end = merges.find_last_not_of(" \t\r\n\f\v");
    if (begin == std::string::npos) throw Error(merges_txt_path + ": empty merges file");
    const std::string body = merges.substr(begin, end - begin + 1);
    size_t line_no = 0, pos = 0;
    int rank = 0;
    while (pos <= body.size() && static_cast<size_t>(rank) < kMaxMerges) {
        size_t nl = body.find('\n', pos);
        if (nl == std::string::npos) nl = body.size();
        const std::string line = body.substr(pos, nl - pos);
        pos = nl + 1;
        if (line_no++ == 0) continue;
        // Python's str.split(): runs of ASCII whitespace.
        std::vector<std::string> parts;
        size_t k = 0;
        while (k < line.size()) {
            while (k < line.size() && std::isspace(static_cast<unsigned char>(line[k]))) ++k;
            size_t e = k;
            while (e < line.size() && !std::isspace(static_cast<unsigned char>(line[e]))) ++e;
            if (e > k) parts.push_back(line.substr(k, e - k));
            k = e;
        }
        if (parts.size() != 2) {
            throw Error(merges_txt_path + ": line " + std::to_string(line_no) + ": expected two symbols, found \"" +
                        line + "\"");
        }
        // A duplicated merge keeps its later rank, as transformers' dict(zip(merges, range(...))) does.
        tok.merge_ranks_[parts[0] + " " + parts[1]] = rank++;
    }
    if (tok.merge_ranks_.empty()) throw Error(merges_txt_path + ": no merges found");
    tok.added_tokens_ = {kBos, kEos};
    return tok;
}

void ClipTokenizer::bpe(const std::string& word, std::vector<int64_t>& out) const {
    {
        std::lock_guard<std::mutex> lock(*cache_mutex_);
        const auto it = cache_.find(word);
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int64_t> ids;
    if (word == kBos || word == kEos) {
        ids.push_back(word == kBos ? bos_id_ : eos_id_);  // transformers pre-seeds its cache with these
    } else {
        // Symbols: one per byte-encoded character; the last carries the end-of-word marker.
        std::vector<std::string> symbols;
        for (size_t i = 0; i < word.size();) {
            size_t len = 1;
            const auto b = static_cast<unsigned char>(word[i]);
            if (b >= 0xF0) len = 4;
            else if (b >= 0xE0) len = 3;
            else if (b >= 0xC0) len = 2;
            symbols.push_back(word.substr(i, len));
            i += len;
        }
        if (!symbols.empty()) symbols.back() += "</w>";
        while (symbols.size() > 1) {
            int best_rank = INT_MAX;
            size_t best = 0;
            for (size_t i = 0; i + 1 < symbols.size(); ++i) {
                const auto it = merge_ranks_.find(symbols[i] + " " + symbols[i + 1]);
                if (it != merge_ranks_.end() && it->second < best_rank) {
                    best_rank = it->second;
                    best = i;
                }
            }
            if (best_rank == INT_MAX) break;
            const std::string first = symbols[best], second = symbols[best + 1];
            // Merge every occurrence of the pair, left to right, without overlaps.
            std::vector<std::string> merged;
            merged.reserve(symbols.size());
            for (size_t i = 0; i < symbols.size();) {
                if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
                    merged.push_back(first + second);
                    i += 2;
                } else {
                    merged.push_back(symbols[i]);
                    ++i;
                }
            }
            symbols.swap(merged);
        }
        for (const std::string& s : symbols) {
            const auto it = encoder_.find(s);
            ids.push_back(it != encoder_.end() ? it->second : eos_id_);  // unk = <|endoftext|>
        }
    }
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard<std::mutex> lock(*cache_mutex_);
    if (cache_.size() > 100000) cache_.clear();  // bound memory on adversarial input
    cache_.emplace(word, std::move(ids));
}

void ClipTokenizer::tokenize_plain(const std::string& text, std::vector<int64_t>& out) const {
    const auto& bytes = byte_encoder();
    for (const auto& word : basic_tokenize(text)) {
        for (const std::string& piece : pre_split(word)) {
            std::string encoded;
            for (unsigned char b : piece) encoded += bytes[b];
            bpe(encoded, out);
        }
    }
}

std::vector<int64_t> ClipTokenizer::tokenize(const std::string& text) const {
    // Added tokens (and the two special ones) are cut out of the raw text first, case-sensitively,
    // leftmost and then longest match first, like transformers' added-token trie.
    std::vector<int64_t> out;
    size_t plain_begin = 0, i = 0;
    while (i < text.size()) {
        size_t best_len = 0;
        const std::string* best = nullptr;
        for (const std::string& token : added_tokens_) {
            if (token.size() > best_len && text.compare(i, token.size(), token) == 0) {
                best_len = token.size();
                best = &token;
            }
        }
        if (!best) {
            ++i;
            continue;
        }
        tokenize_plain(text.substr(plain_begin, i - plain_begin), out);
        out.push_back(encoder_.at(*best));
        i += best_len;
        plain_begin = i;
    }
    tokenize_plain(text.substr(plain_begin), out);
    return out;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text) const {
    std::vector<int64_t> ids{bos_id_};
    const std::vector<int64_t> tokens = tokenize(text);
    ids.insert(ids.end(), tokens.begin(), tokens.end());
    ids.push_back(eos_id_);
    return ids;
}

std::vector<int64_t> ClipTokenizer::encode_padded(const std::string& text, int max_length) const {
    if (max_length < 2) throw Error("ClipTokenizer::encode_padded: max_length " + std::to_string(max_length) +
                                    " is too small (expected >= 2 for BOS and EOS)");
    std::vector<int64_t> tokens = tokenize(text);
    if (tokens.size() > static_cast<size_t>(max_length - 2)) tokens.resize(max_length - 2);
    std::vector<int64_t> ids{bos_id_};
    ids.insert(ids.end(), tokens.begin(), tokens.end());
    ids.push_back(eos_id_);
    ids.resize(max_length, pad_id());
    return ids;
}

int64_t ClipTokenizer::add_token(const std::string& token) {
    if (token.empty()) throw Error("ClipTokenizer::add_token: empty token");
    int64_t id;
    const auto it = encoder_.find(token);
    if (it != encoder_.end()) {
        id = it->second;
    } else {
        id = static_cast<int64_t>(decoder_.size());
        encoder_[token] = id;
        decoder_.push_back(token);
        std::lock_guard<std::mutex> lock(*cache_mutex_);
        cache_.clear();  // a cached BPE piece could have resolved to unk for this string
    }
    if (std::find(added_tokens_.begin(), added_tokens_.end(), token) == added_tokens_.end()) {
        added_tokens_.push_back(token);
    }
    return id;
}

std::optional<int64_t> ClipTokenizer::token_id(const std::string& token) const {
    const auto it = encoder_.find(token);
    if (it == encoder_.end()) return std::nullopt;
    return it->second;
}

std::string ClipTokenizer::id_to_token(int64_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= decoder_.size()) return {};
    return decoder_[id];
}

size_t ClipTokenizer::vocab_size() const { return decoder_.size(); }

}  // namespace atelier
